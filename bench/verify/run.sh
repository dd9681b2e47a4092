#!/usr/bin/env bash
# Issue 10, side by side in one run on one dataset (docs/benchmarks.md,
# "Verification"):
#
#   bench/verify/run.sh [DOCS]          (default 1000000)
#
#  0. dataset: DOCS product-catalog documents of about 1 KB
#     (bench/convergence/gen_catalog.py) loaded into a fresh blue index
#     (2 shards, 0 replicas), then copied to green by `tandem backfill`
#     (external versions, as in a migration);
#  1. the reference: verify_scan_bench, a plain read-only sliced scan of
#     both sides at once (same scanner, SLICES slices per side, BATCH page)
#     that only counts documents and bytes;
#  2. `tandem verify --deep` (same SLICES and BATCH) on the equal data;
#  3. `tandem verify --quick`;
#  4. the reference scan and --deep again (the run-to-run spread on a busy
#     machine is large), and a summary table: wall time, documents per side
#     per second, ratio to the mean of the reference scans, peak RSS (GNU
#     time).
#
# KEEP=1 keeps the dataset afterwards; REUSE=1 skips loading when both
# sides already hold DOCS documents in IDX.
#
# Needs blue and green running (scripts/services up blue green) and the
# build: build/tandem, build/bench/verify_scan_bench.
set -euo pipefail

DOCS=${1:-1000000}
SLICES=${SLICES:-2}
BATCH=${BATCH:-1000}
CLIENTS=${CLIENTS:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
TANDEM=$BUILD/tandem
SCAN=$BUILD/bench/verify_scan_bench
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:${TANDEM_BLUE_PORT:-19200}}
GREEN=${TANDEM_GREEN_URL:-http://127.0.0.1:${TANDEM_GREEN_PORT:-19201}}
IDX=${IDX:-bench-verify}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-bench-verify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

die() { echo "error: $*" >&2; exit 1; }
now() { date +%s.%N; }
calc() { python3 -c "from math import *; print($1)"; }
[ -x "$TANDEM" ] || die "build $TANDEM first"
[ -x "$SCAN" ] || die "build $SCAN first (ninja -C build verify_scan_bench)"

echo "== dataset: $DOCS documents, slices=$SLICES batch=$BATCH, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
have() { curl -sf "$1/$IDX/_count" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0; }
if [ "${REUSE:-0}" = 1 ] && [ "$(have "$BLUE")" -eq "$DOCS" ] && [ "$(have "$GREEN")" -eq "$DOCS" ]; then
  echo "== reusing $IDX ($DOCS documents on both sides)"
else
  python3 "$ROOT/bench/convergence/gen_catalog.py" "$DOCS" "$WORK/data" 5000 >/dev/null
  for url in "$BLUE" "$GREEN"; do
    curl -s -XDELETE "$url/$IDX" >/dev/null || true
    curl -sSf -XPUT "$url/$IDX" -H 'Content-Type: application/json' \
      --data-binary @"$WORK/data/mapping.json" >/dev/null
  done
  find "$WORK/data" -name 'bulk-*.ndjson' | sort |
    xargs -P "$CLIENTS" -I{} curl -sSf -o /dev/null -H 'Content-Type: application/x-ndjson' \
      --data-binary @{} "$BLUE/$IDX/_bulk?filter_path=errors"
  rm -f "$WORK"/data/bulk-*.ndjson
  curl -sf -XPOST "$BLUE/$IDX/_refresh" >/dev/null
  "$TANDEM" backfill --blue "$BLUE" --green "$GREEN" --index "$IDX" --state "$WORK/state.db" \
    --slices 2 >"$WORK/backfill.log" 2>&1 || { tail -20 "$WORK/backfill.log"; die "backfill failed"; }
fi
for url in "$BLUE" "$GREEN"; do curl -sf -XPOST "$url/$IDX/_refresh" >/dev/null; done
nb=$(have "$BLUE")
ng=$(have "$GREEN")
[ "$nb" -eq "$DOCS" ] && [ "$ng" -eq "$DOCS" ] || die "counts blue=$nb green=$ng, expected $DOCS"

NAMES=()
RATES=()
SECS=()
RSSES=()
REFS=()
# measure NAME CMD...: wall time and peak RSS of one run.
measure() {
  local name=$1 t0 t1 rc=0
  shift
  t0=$(now)
  /usr/bin/time -f '%M' -o "$WORK/run.rss" "$@" >"$WORK/run.log" 2>&1 || rc=$?
  t1=$(now)
  # verify exits 5 on differences: on equal data that is a failure here.
  [ "$rc" -eq 0 ] || { tail -20 "$WORK/run.log"; die "$name exited with $rc"; }
  local secs rate rss
  secs=$(calc "round($t1 - $t0, 2)")
  rate=$(calc "round($DOCS / ($t1 - $t0))")
  rss=$(calc "round($(tail -n 1 "$WORK/run.rss") / 1024)")
  NAMES+=("$name")
  RATES+=("$rate")
  SECS+=("$secs")
  RSSES+=("$rss")
  case $name in scan*) REFS+=("$rate") ;; esac
  echo "-- $name: ${secs}s, $rate docs/s per side, RSS ${rss} MB"
  tail -n 2 "$WORK/run.log"
}

scan() { measure "$1" "$SCAN" "$BLUE" "$GREEN" "$IDX" "$SLICES" "$BATCH"; }
deep() {
  measure "$1" "$TANDEM" verify --deep --blue "$BLUE" --green "$GREEN" --index "$IDX" \
    --slices "$SLICES" --batch "$BATCH"
}
scan "scan (reference) #1"
deep "verify --deep #1"
measure "verify --quick" "$TANDEM" verify --quick --blue "$BLUE" --green "$GREEN" --index "$IDX" \
  --batch "$BATCH"
scan "scan (reference) #2"
deep "verify --deep #2"

ref=$(calc "round(($(IFS=+; echo "${REFS[*]}")) / ${#REFS[@]})")
echo
echo "== summary: $DOCS documents per side, reference = mean of the scans = $ref docs/s ($(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-24s %9s %12s %8s %10s\n' "run" "seconds" "docs/s/side" "vs scan" "RSS (MB)"
for i in "${!NAMES[@]}"; do
  printf '%-24s %9s %12s %7sx %10s\n' "${NAMES[$i]}" "${SECS[$i]}" "${RATES[$i]}" \
    "$(calc "round(${RATES[$i]} / $ref, 2)")" "${RSSES[$i]}"
done
if [ "${KEEP:-0}" != 1 ]; then
  for url in "$BLUE" "$GREEN"; do curl -s -XDELETE "$url/$IDX" >/dev/null || true; done
fi
