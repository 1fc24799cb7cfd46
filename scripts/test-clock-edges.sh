#!/usr/bin/env bash
# The test suite with the clock moved by libfaketime (Debian's faketime package) to the edges
# of a month and of a year, in time zones far from UTC: the last minutes of 31 December (the
# run crosses into 1 January) at UTC+14, and the first seconds of 1 January at UTC-11. Nothing
# may depend on today's date or the machine's zone. The clock moves by a fixed offset, so every
# process of a test (CLIs, servers, PostgreSQL) shares it; tests that need the machine's real
# clock (Go components such as Prometheus and livekit-server, which libfaketime cannot move,
# and tests that move the clock themselves) skip here: they ran in the main pass.
#   bash scripts/test-clock-edges.sh [pytest arguments]
set -euo pipefail

cd "$(dirname "$0")/.."
library="${LIBFAKETIME:-$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1 || true)}"
if [[ -z "$library" || ! -f "$library" ]]; then
  echo "test-clock-edges: libfaketime not found (apt-get install faketime)" >&2
  exit 1
fi

status=0
run_at() {
  local when="$1" zone="$2"
  shift 2
  local offset
  offset=$(( $(date -u -d "$when" +%s) - $(date -u +%s) ))
  echo "== pytest with the clock at $when, TZ=$zone (libfaketime offset ${offset} s)"
  LD_PRELOAD="$library" FAKETIME="$(printf '%+d' "$offset")" FAKETIME_DONT_RESET=1 TZ="$zone" \
    CASTMETER_CLOCK_EDGE="$when" .venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=1
}

# With no arguments: the fast suite (every date, month and zone computation is unit-tested
# there) and the known-answer backfill (costs, month to date, projections over a scripted
# fleet). The slow end-to-end, browser and load tests ran in the main pass: most need the
# real clock anyway, and a full pass at each edge would not fit CI's time budget.
edges() {
  if [[ $# -gt 2 ]]; then
    run_at "$1" "$2" "${@:3}"
    return
  fi
  run_at "$1" "$2" -m "not slow and not browser and not e2e"
  run_at "$1" "$2" -m "not browser" tests/knownanswer/test_known_answers.py -k backfill
}

edges "2026-12-31 23:57:00 UTC" "Pacific/Kiritimati" "$@"   # last day of a month and a year
edges "2027-01-01 00:00:05 UTC" "Pacific/Pago_Pago" "$@"    # first day of a month and a year
exit "$status"
