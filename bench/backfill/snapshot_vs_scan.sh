#!/usr/bin/env bash
# `tandem backfill --mode snapshot` against `--mode scan` on the same
# source, 7.17 -> 8.19, side by side in one run (docs/benchmarks.md,
# "Snapshot vs scan backfill"):
#
#   bench/backfill/snapshot_vs_scan.sh [DOCS] [RATE]     (1000000, 200)
#
# Once: seed DOCS catalog documents into blue (tandem workload seed).
# Then for each mode, scan first and snapshot second, from a green without
# the index:
#   - a fresh topic and a `tandem proxy` in front of blue, and live traffic
#     through it at RATE requests/s (updates, deletes, recreates, creates)
#     until the copy ends, so the loader has a real gap to close;
#   - scan: `meta apply`, `tandem load` running from the start, `backfill
#     --mode scan --slices 4`, then the loader runs until lag 0;
#   - snapshot: `backfill --mode snapshot` (the log's end marks, snapshot of
#     blue, restore on green, gap reconcile), then `tandem load` from the
#     marks until lag 0;
#   - traffic stops when the copy ends; "time to parity" is from the start
#     of the mode to the loader's lag 0 after that: the copy plus the
#     catch-up. Then `verify --deep` must report 100.00% content parity
#     (its time is reported, not counted).
# blue, green and Kafka are started if down and stopped again if this
# script started them. The snapshot repository is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib.sh

DOCS=${1:-1000000}
RATE=${2:-200}
PROXY_PORT=${TANDEM_BENCH_PROXY_PORT:-19590}
ADMIN_PORT=${TANDEM_BENCH_ADMIN_PORT:-19591}
INDEX=bench-snap
T=${TANDEM_BIN:-$ROOT/build/tandem}
[ -x "$T" ] || die "bench: $T is not built (make build)"

started=()
for s in blue green kafka; do
  scripts/services status "$s" >/dev/null 2>&1 || started+=("$s")
done
children=()
REPO=""
cleanup() {
  local p
  for p in "${children[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${children[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$REPO" ] && rm -rf "$REPO"
  if [ ${#started[@]} -gt 0 ]; then scripts/services down "${started[@]}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/services up blue green kafka >/dev/null || die "bench: services did not start"
eval "$(scripts/services env)"
B=$TANDEM_BLUE_URL G=$TANDEM_GREEN_URL
DIR="$TANDEM_RUN_DIR/bench-snapshot"
rm -rf "$DIR"
mkdir -p "$DIR"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

count() { curl -s "$1/$INDEX/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", -1))' 2>/dev/null || echo -1; }
# A source left by an earlier run with exactly DOCS documents is reused
# (seeding a million takes minutes; traffic changes documents, not the count
# of seeded ids much, so a rerun seeds again unless the count is exact).
if [ "$(count "$B")" = "$DOCS" ]; then
  say "bench: blue already holds $DOCS documents in $INDEX; reusing them"
else
  say "bench: seeding $DOCS documents into blue ($B)"
  curl -s -o /dev/null -XDELETE "$B/$INDEX" || true
  t=$(now)
  "$T" workload seed "$B" --index "$INDEX" --docs "$DOCS" >"$DIR/seed.txt" 2>&1 ||
    die "bench: seed failed: $(tail -n 3 "$DIR/seed.txt")"
  say "bench: seeded in $(secs "$t" "$(now)") s"
fi
say "bench: blue: $(count "$B") documents, store $(curl -s "$B/_cat/indices/$INDEX?h=store.size")"

rows=()
run_mode() {  # scan|snapshot
  local mode=$1 d topic state log t0 t_copy t_zero t_v group proxy traffic loader
  d="$DIR/$mode"
  mkdir -p "$d/proxy"
  curl -s -o /dev/null -XDELETE "$G/$INDEX" || true
  topic="tandem-bench-snap-$mode-$(date +%s)"
  group="bench-snap-$mode"
  state="$d/state.db"
  log=(--kafka "$TANDEM_KAFKA_BROKERS" --topic "$topic")
  "$T" proxy --listen "127.0.0.1:$PROXY_PORT" --primary "$B" "${log[@]}" --data-dir "$d/proxy" \
    --admin "127.0.0.1:$ADMIN_PORT" >"$d/proxy.log" 2>&1 &
  proxy=$!
  children+=($proxy)
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" && break
    sleep 0.2
  done
  curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" || die "bench: the proxy did not come up"
  "$T" workload traffic "http://127.0.0.1:$PROXY_PORT" --index "$INDEX" --seconds 7200 \
    --rate "$RATE" --id-space "$DOCS" >"$d/traffic.txt" 2>&1 &
  traffic=$!
  children+=($traffic)
  sleep 2

  say "bench: $mode: backfill under $RATE requests/s of traffic"
  t0=$(now)
  if [ "$mode" = scan ]; then
    "$T" meta apply --blue "$B" --green "$G" --index "$INDEX" --state "$state" >"$d/meta.txt" 2>&1 ||
      die "bench: meta apply: $(tail -n 3 "$d/meta.txt")"
    "$T" load --blue "$B" --green "$G" "${log[@]}" --group "$group" --state "$state" \
      --progress-s 10 >"$d/load.log" 2>&1 &
    loader=$!
    children+=($loader)
    "$T" backfill --blue "$B" --green "$G" --index "$INDEX" --slices 4 --state "$state" "${log[@]}" \
      >"$d/backfill.txt" 2>&1 || die "bench: backfill --mode scan: $(tail -n 3 "$d/backfill.txt")"
    t_copy=$(now)
    kill -TERM "$loader"
    wait "$loader"
  else
    REPO="$TANDEM_SNAPSHOT_DIR/bench-$(date +%s)"
    "$T" backfill --mode snapshot --blue "$B" --green "$G" --index "$INDEX" --state "$state" \
      --repo-path "$REPO" --group "$group" "${log[@]}" >"$d/backfill.txt" 2>&1 ||
      die "bench: backfill --mode snapshot: $(tail -n 3 "$d/backfill.txt")"
    t_copy=$(now)
  fi
  # The catch-up: traffic stops when the copy ends (under live traffic the
  # lag is rarely exactly 0 at a check, so "lag 0" would measure luck), and
  # the loader (from its committed offsets; for snapshot, the marks) applies
  # everything written since it last ran.
  kill -TERM "$traffic"
  wait "$traffic"
  "$T" load --blue "$B" --green "$G" "${log[@]}" --group "$group" --state "$state" \
    --until-lag-zero --progress-s 10 >"$d/catchup.txt" 2>&1 ||
    die "bench: catch-up: $(tail -n 3 "$d/catchup.txt")"
  t_zero=$(now)
  t_v=$t_zero
  "$T" verify --deep --blue "$B" --green "$G" --index "$INDEX" --state "$state" >"$d/deep.txt" 2>&1
  grep -q '^content parity: 100.00%' "$d/deep.txt" ||
    die "bench: $mode: verify --deep: $(grep -E '^content parity' "$d/deep.txt" || tail -n 3 "$d/deep.txt")"
  local v_s
  v_s=$(secs "$t_v" "$(now)")
  kill -TERM "$proxy"
  wait "$proxy"
  children=()
  [ -n "$REPO" ] && rm -rf "$REPO" && REPO=""
  say "bench: $mode: copy $(secs "$t0" "$t_copy") s, catch-up $(secs "$t_copy" "$t_zero") s, to parity $(secs "$t0" "$t_zero") s; $(tail -n 1 "$d/traffic.txt")"
  rows+=("| $mode | $(secs "$t0" "$t_copy") | $(secs "$t_copy" "$t_zero") | $(secs "$t0" "$t_zero") | $(grep -E '^content parity' "$d/deep.txt" | cut -d' ' -f3) in $v_s s |")
}

run_mode scan
run_mode snapshot
echo
echo "| mode | copy, s | loader catch-up to lag 0, s | time to parity, s | verify --deep afterwards |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
