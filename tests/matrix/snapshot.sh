#!/usr/bin/env bash
# `tandem backfill --mode snapshot` on 7.17 -> 8.19, with updates, deletes
# and recreates racing the snapshot and the restore:
#
#   seed blue -> `tandem proxy` in front of blue (Kafka) -> traffic through
#   it as fast as it goes (4 clients: 35% partial updates, 15% deletes,
#   recreates of deleted ids, creates) -> `backfill --mode snapshot` (marks,
#   snapshot, restore, gap reconcile) while the traffic runs -> `load` from
#   the marks -> stop traffic, drain to lag 0 -> every id and every _source
#   equal on both sides (tests/matrix/compare.py).
#
# `verify --quick` is printed, not asserted: documents restored and never
# written since carry blue's internal _version (docs/backfill-snapshot.md).
#
# usage: tests/matrix/snapshot.sh   (blue, green and Kafka: started if down,
# stopped again if this script started them). Last line:
# "snapshot: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib.sh

DOCS=${TANDEM_SNAPSHOT_DOCS:-20000}
PROXY_PORT=${TANDEM_MATRIX_PROXY_PORT:-19580}
ADMIN_PORT=${TANDEM_MATRIX_ADMIN_PORT:-19581}
INDEX=snapshot-race
T=$ROOT/build/tandem
[ -x "$T" ] || die "snapshot: $T is not built (make build)"

started=()
for s in blue green kafka; do
  scripts/services status "$s" >/dev/null 2>&1 || started+=("$s")
done
children=()
cleanup() {
  local p
  for p in "${children[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${children[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ ${#started[@]} -gt 0 ]; then scripts/services down "${started[@]}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/services up blue green kafka >/dev/null || die "snapshot: services did not start"
eval "$(scripts/services env)"

DIR="$TANDEM_RUN_DIR/matrix/snapshot"
rm -rf "$DIR"
mkdir -p "$DIR/proxy"
fail() {
  say "snapshot: FAILED: $* (logs under $DIR)"
  echo "snapshot: 0 passed, 1 failed"
  exit 1
}

t0=$SECONDS
B=$TANDEM_BLUE_URL G=$TANDEM_GREEN_URL
for u in "$B" "$G"; do curl -s -o /dev/null -XDELETE "$u/$INDEX" || true; done
topic="tandem-snapshot-$(date +%s)"
log=(--kafka "$TANDEM_KAFKA_BROKERS" --topic "$topic")
state="$DIR/state.db"

"$T" workload seed "$B" --index "$INDEX" --docs "$DOCS" >"$DIR/seed.txt" 2>&1 ||
  fail "seed: $(tail -n 3 "$DIR/seed.txt")"
"$T" proxy --listen "127.0.0.1:$PROXY_PORT" --primary "$B" "${log[@]}" --data-dir "$DIR/proxy" \
  --admin "127.0.0.1:$ADMIN_PORT" >"$DIR/proxy.log" 2>&1 &
children+=($!)
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" && break
  sleep 0.2
done
curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" || fail "proxy did not come up"

# Racing writes: as fast as the proxy takes them, on the seeded ids.
"$T" workload traffic "http://127.0.0.1:$PROXY_PORT" --index "$INDEX" --seconds 600 --rate 0 \
  --clients 4 --id-space "$DOCS" >"$DIR/traffic.txt" 2>&1 &
traffic=$!
children+=($traffic)
sleep 2

"$T" backfill --mode snapshot --blue "$B" --green "$G" --index "$INDEX" --state "$state" \
  --repo-path "$TANDEM_SNAPSHOT_DIR/race-$(date +%s)" --group snapshot-loader "${log[@]}" \
  >"$DIR/backfill.txt" 2>&1 || fail "backfill --mode snapshot: $(tail -n 5 "$DIR/backfill.txt")"

"$T" load --blue "$B" --green "$G" "${log[@]}" --group snapshot-loader --state "$state" \
  --progress-s 5 >"$DIR/load.log" 2>&1 &
loader=$!
children+=($loader)
sleep 3
kill -TERM "$traffic"
wait "$traffic"
kill -TERM "$loader"
wait "$loader"
"$T" load --blue "$B" --green "$G" "${log[@]}" --group snapshot-loader --state "$state" \
  --until-lag-zero --progress-s 0 >"$DIR/drain.txt" 2>&1 || fail "drain: $(tail -n 3 "$DIR/drain.txt")"
updates=$(grep -oE '[0-9]+ updates' "$DIR/traffic.txt" | awk '{print $1}')
deletes=$(grep -oE '[0-9]+ deletes' "$DIR/traffic.txt" | awk '{print $1}')
[ "${updates:-0}" -gt 0 ] && [ "${deletes:-0}" -gt 0 ] ||
  fail "no racing updates/deletes: $(cat "$DIR/traffic.txt")"
grep -q 'gap_events=[1-9]' "$DIR/backfill.txt" ||
  fail "no event fell between the marks and the restore: the race did not happen: $(tail -n 1 "$DIR/backfill.txt")"

python3 tests/matrix/compare.py "$B" "$G" "$INDEX" >"$DIR/compare.txt" 2>&1 ||
  fail "content differs: $(cat "$DIR/compare.txt")"
"$T" verify --quick --blue "$B" --green "$G" --index "$INDEX" --state "$state" >"$DIR/verify.txt" 2>&1

say "  $(tail -n 1 "$DIR/traffic.txt")"
say "  $(tail -n 1 "$DIR/backfill.txt")"
say "  $(tail -n 1 "$DIR/drain.txt")"
say "  $(cat "$DIR/compare.txt" | head -n 1)"
say "  verify --quick (informational: untouched restored documents keep blue's internal _version): $(grep -E '^parity' "$DIR/verify.txt")"
say "snapshot: 7.17 -> 8.19 with racing writes PASSED in $((SECONDS - t0))s"
echo "snapshot: 1 passed, 0 failed"
