#!/usr/bin/env bash
# Backfill rate vs the ceiling (raw green ingest of prebuilt bulk bodies).
#   bench/convergence/backfill_vs_ceiling.sh [DOCS] [SLICES]
# Needs blue/green running (scripts/services up), python3, curl, and a tandem
# binary with `backfill` (TANDEM_BIN, default build/tandem).
# Prints docs/s for: raw ingest into green (unversioned, 4 parallel curl
# posts of 5 MB-ish bodies) and `tandem backfill` (versioned, N slices).
set -euo pipefail
DOCS=${1:-50000}
SLICES=${2:-4}
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
GREEN=${TANDEM_GREEN_URL:-http://127.0.0.1:19201}
BIN=${TANDEM_BIN:-$(dirname "$0")/../../build/tandem}
IDX=bench-bf-$$
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; curl -s -XDELETE "$BLUE/$IDX" >/dev/null; curl -s -XDELETE "$GREEN/$IDX" >/dev/null; curl -s -XDELETE "$GREEN/$IDX-raw" >/dev/null' EXIT

python3 - "$DOCS" "$TMP" "$IDX" <<'PY'
import json, sys
n, tmp, idx = int(sys.argv[1]), sys.argv[2], sys.argv[3]
per = 5000
for f in range(0, n, per):
    with open(f"{tmp}/bulk-{f//per:05d}.ndjson", "w") as out:
        for i in range(f, min(n, f + per)):
            out.write(json.dumps({"index": {"_id": f"id{i}"}}) + "\n")
            out.write(json.dumps({"i": i, "title": f"document number {i}", "body": "lorem ipsum " * 20}) + "\n")
PY
settings='{"settings":{"number_of_shards":2,"number_of_replicas":0}}'
for c in "$BLUE/$IDX" "$GREEN/$IDX" "$GREEN/$IDX-raw"; do
  curl -sf -XPUT "$c" -H 'content-type: application/json' -d "$settings" >/dev/null
done
ls "$TMP"/bulk-*.ndjson | xargs -P 4 -I{} curl -sf -XPOST "$BLUE/$IDX/_bulk" -H 'content-type: application/x-ndjson' --data-binary @{} -o /dev/null
curl -sf -XPOST "$BLUE/$IDX/_refresh" >/dev/null

t0=$(date +%s.%N)
ls "$TMP"/bulk-*.ndjson | xargs -P 4 -I{} curl -sf -XPOST "$GREEN/$IDX-raw/_bulk" -H 'content-type: application/x-ndjson' --data-binary @{} -o /dev/null
t1=$(date +%s.%N)
raw=$(python3 -c "print(round($DOCS/($t1-$t0)))")

t0=$(date +%s.%N)
"$BIN" backfill --blue "$BLUE" --green "$GREEN" --index "$IDX" --slices "$SLICES" \
  --state "$TMP/state.db" --progress-s 0 2>"$TMP/backfill.log" || { cat "$TMP/backfill.log"; exit 1; }
t1=$(date +%s.%N)
bf=$(python3 -c "print(round($DOCS/($t1-$t0)))")
echo "docs=$DOCS slices=$SLICES raw_green_ingest=${raw}/s backfill=${bf}/s ($(python3 -c "print(round(100*$bf/$raw))")% of ceiling)"
