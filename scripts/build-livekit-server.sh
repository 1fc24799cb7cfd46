#!/usr/bin/env bash
# Build livekit-server (the real SFU used by the e2e tests) once, into $CASTMETER_CACHE/go/bin/server.
set -euo pipefail

VERSION="${LIVEKIT_SERVER_VERSION:-v1.13.5}"
CACHE="${CASTMETER_CACHE:-$HOME/.cache/castmeter}"
BIN="$CACHE/go/bin/server"

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
# Module and build caches inside the castmeter cache so a CI cache of one directory suffices.
export GOPATH="${GOPATH:-$CACHE/go}"
export GOMODCACHE="${GOMODCACHE:-$CACHE/go/pkg/mod}"
export GOCACHE="${GOCACHE:-$CACHE/go-build}"
export GOFLAGS="${GOFLAGS:--trimpath}"
echo "building livekit-server $VERSION with $(go version) ..."
GOBIN="$CACHE/go/bin" go install "github.com/livekit/livekit-server/cmd/server@${VERSION}"
"$BIN" --version || true
echo "built $BIN"
