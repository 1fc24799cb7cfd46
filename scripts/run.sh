#!/usr/bin/env bash
# `make run`: start castmeter.
#   - with a configuration (castmeter.toml, $CASTMETER_CONFIG, or LIVEKIT_URL / PROMETHEUS_URL in the
#     environment): the collectors (`castmeter run`) in the background + `castmeter dashboard`;
#   - without one: the demo fleet (`castmeter demo`, which backfills history first and then runs a
#     simulated fleet live), and `castmeter dashboard` once the backfill is done.
# The `castmeter` command runs from the checkout as `python -m castmeter` (what the installed
# console script runs), so `make run` needs no `pip install`.
# Ctrl-C stops everything.
#
# Environment: CASTMETER_HOST (default 127.0.0.1), PORT (default 8501), CASTMETER_DEMO_DAYS (7),
# CASTMETER_DEMO_SCENARIO (hybrid: the LiveKit radio plus Agora -> Cloudflare Stream/IVS relays),
# CASTMETER_DEMO_TIMEOUT_S (900), CASTMETER_DEMO_ARGS (extra demo arguments), CASTMETER_PASSWORD_HASH.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PY="$ROOT/.venv/bin/python"
CASTMETER=("$PY" -m castmeter)
HOST="${CASTMETER_HOST:-127.0.0.1}"
PORT="${PORT:-8501}"
LOG_DIR="${CASTMETER_LOG_DIR:-$ROOT/data/logs}"
READY_FILE="${CASTMETER_READY_FILE:-$ROOT/data/demo.ready}"

if [[ ! -x "$PY" ]] || [[ requirements.txt -nt .venv/.requirements.stamp ]] || [[ requirements-dev.txt -nt .venv/.requirements.stamp ]]; then
  make -s venv
fi
mkdir -p "$LOG_DIR"

# --- Who may see the dashboard ----------------------------------------------------------------
auth_configured() {
  [[ -n "${CASTMETER_PASSWORD_HASH:-}" ]] && return 0
  [[ -f .streamlit/secrets.toml ]] && grep -Eq '^\s*(\[auth|password_hash\s*=)' .streamlit/secrets.toml && return 0
  return 1
}
case "$HOST" in
  127.0.0.1|localhost|::1|127.*) ;;
  *)
    if ! auth_configured; then
      cat >&2 <<WARN

################################################################################################
#  WARNING: castmeter will listen on $HOST:$PORT WITHOUT ANY LOGIN.
#  Anyone who can reach this address sees your fleet, usage and costs.
#  Set CASTMETER_PASSWORD_HASH to a bcrypt hash of a password:
#    export CASTMETER_PASSWORD_HASH="\$(.venv/bin/python -m core.password)"
#  (or password_hash under [castmeter] in .streamlit/secrets.toml), or configure OIDC
#  in .streamlit/secrets.toml [auth] — or bind to 127.0.0.1.
################################################################################################

WARN
    fi
    ;;
esac

# --- Process handling ---------------------------------------------------------------------------
PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Give each a few seconds to flush, then insist.
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

# A port that is free on loopback: the preferred one when free, else any.
port_or_free() {
  "$PY" - "$1" <<'PYCODE'
import socket, sys
preferred = int(sys.argv[1])
for port in (preferred, 0):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(sock.getsockname()[1])
        break
PYCODE
}

has_config() {
  [[ -n "${CASTMETER_CONFIG:-}" ]] || [[ -f castmeter.toml ]] || [[ -n "${LIVEKIT_URL:-}" ]] || [[ -n "${PROMETHEUS_URL:-}" ]]
}

COLLECTOR_LOG="$LOG_DIR/collectors.log"
if has_config; then
  echo "castmeter: configured fleet — starting collectors (log: ${COLLECTOR_LOG#"$ROOT"/})"
  "${CASTMETER[@]}" run >>"$COLLECTOR_LOG" 2>&1 &
  PIDS+=($!)
  sleep 2
  if ! kill -0 "${PIDS[0]}" 2>/dev/null; then
    echo "castmeter: the collectors stopped at once:" >&2
    tail -n 20 "$COLLECTOR_LOG" >&2
    exit 2
  fi
else
  DAYS="${CASTMETER_DEMO_DAYS:-7}"
  TIMEOUT_S="${CASTMETER_DEMO_TIMEOUT_S:-900}"
  API_PORT="$(port_or_free 7880)"
  PROM_PORT="$(port_or_free 9090)"
  # The demo's own settings (a self-hosted fleet), for the demo collectors and the dashboard alike.
  export CASTMETER_CONFIG="$ROOT/simulator/demo.castmeter.toml"
  echo "castmeter: no castmeter.toml and no LIVEKIT_URL/PROMETHEUS_URL — starting the DEMO fleet"
  echo "castmeter: backfilling $DAYS days of simulated history (log: ${COLLECTOR_LOG#"$ROOT"/}) ..."
  rm -f "$READY_FILE"
  # shellcheck disable=SC2086  # CASTMETER_DEMO_ARGS is a list of words on purpose
  # The hybrid by default: the whole delivery path (LiveKit rooms with HLS egress beside Agora
  # channels relayed to Cloudflare Stream and IVS, all served by fakes on loopback).
  "${CASTMETER[@]}" demo --days "$DAYS" --scenario "${CASTMETER_DEMO_SCENARIO:-hybrid}" --ready-file "$READY_FILE" \
    --api-port "$API_PORT" --prometheus-port "$PROM_PORT" --metrics-port 0 ${CASTMETER_DEMO_ARGS:-} >>"$COLLECTOR_LOG" 2>&1 &
  PIDS+=($!)
  started=$SECONDS
  until [[ -f "$READY_FILE" ]]; do
    if ! kill -0 "${PIDS[0]}" 2>/dev/null; then
      echo "castmeter: the demo stopped before its backfill was done:" >&2
      tail -n 30 "$COLLECTOR_LOG" >&2
      exit 1
    fi
    if (( SECONDS - started > TIMEOUT_S )); then
      echo "castmeter: the demo backfill did not finish in ${TIMEOUT_S}s (CASTMETER_DEMO_TIMEOUT_S); last log lines:" >&2
      tail -n 30 "$COLLECTOR_LOG" >&2
      exit 1
    fi
    sleep 1
  done
  echo "castmeter: backfill done in $((SECONDS - started)) s; the simulated fleet is live" \
    "(LiveKit API http://127.0.0.1:$API_PORT, Prometheus http://127.0.0.1:$PROM_PORT)"
fi

echo "castmeter: dashboard on http://$HOST:$PORT  (Ctrl-C stops everything)"
"${CASTMETER[@]}" dashboard --host "$HOST" --port "$PORT" &
PIDS+=($!)

# Whichever stops first (collectors or dashboard) stops the other.
status=0
wait -n "${PIDS[@]}" || status=$?
if ! kill -0 "${PIDS[0]}" 2>/dev/null; then
  echo "castmeter: the collectors stopped (exit $status); last log lines:" >&2
  tail -n 20 "$COLLECTOR_LOG" >&2
fi
exit "$status"
