#!/usr/bin/env bash
# Build livekit-server (the real SFU used by the e2e tests) once, into $CASTMETER_CACHE/go/bin/server.
set -euo pipefail

VERSION="${LIVEKIT_SERVER_VERSION:-v1.13.5}"
CACHE="${CASTMETER_CACHE:-$HOME/.cache/castmeter}"
BIN="$CACHE/go/bin/server"

if [[ -n "${LIVEKIT_SERVER_BIN:-}" && -x "${LIVEKIT_SERVER_BIN}" ]]; then
  echo "livekit-server: using LIVEKIT_SERVER_BIN=$LIVEKIT_SERVER_BIN"
  exit 0
fi
if [[ -x "$BIN" && "${FORCE:-0}" != "1" ]]; then
  echo "livekit-server already built: $BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    echo "go not found (install Go >= 1.23 or put it on PATH)" >&2
    exit 1
  fi
fi

mkdir -p "$CACHE/go/bin"
# Go's own module and build caches (~/go, ~/.cache/go-build) are reused; only the binary goes
# into the castmeter cache.
echo "building livekit-server $VERSION with $(go version) ..."
GOBIN="$CACHE/go/bin" go install "github.com/livekit/livekit-server/cmd/server@${VERSION}"
"$BIN" --version || true
echo "built $BIN"
