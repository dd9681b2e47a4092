#!/usr/bin/env bash
# Side-by-side write benchmark (issue: capture proxy, "write path"): wrk
# POSTs the same _bulk of 100 x ~1 KB documents (auto ids, so every request
# adds 100 new documents) to (a) blue directly and (b) tandem proxy in sync
# mode capturing to Kafka, then (c) tandem proxy with the embedded file log.
# Same wrk settings each time; a fresh index per run so every run starts from
# the same state. tandem's own added latency (proxy time minus blue's time,
# which for sync capture includes waiting for Kafka's acks=all) comes from
# its /metrics histogram.
#
# Usage: bench/proxy/write.sh [path/to/tandem]
#   env: TANDEM_BLUE_URL (http://127.0.0.1:19200), TANDEM_KAFKA_BROKERS
#        (127.0.0.1:19092), DURATION (20s), CONNS (8), THREADS (2), WORKERS (2),
#        PROXY_CONFIG (a tandem proxy YAML file for both tandem runs, optional)
# Needs: wrk, curl, python3; blue and Kafka running. Every process it
# starts is stopped by PID on exit.
set -euo pipefail

TANDEM=${1:-build/tandem}
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
KAFKA=${TANDEM_KAFKA_BROKERS:-127.0.0.1:19092}
DURATION=${DURATION:-20s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-8}
WORKERS=${WORKERS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/tandem-write-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  curl -s -o /dev/null -X DELETE "$BLUE/bench-write-*" || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
command -v wrk >/dev/null || { echo "error: wrk not installed" >&2; exit 1; }
[ -x "$TANDEM" ] || { echo "error: tandem binary '$TANDEM' not found" >&2; exit 1; }
curl -sf -o /dev/null "$BLUE/_cluster/health" || { echo "error: blue not reachable at $BLUE" >&2; exit 1; }

python3 - "$TMP/bulk.ndjson" <<'PY'
import json, sys
pad = "x" * 900
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write('{"index":{}}\n')
        f.write(json.dumps({"title": f"document {i}", "n": i, "tags": ["a", "b"], "pad": pad}) + "\n")
PY
cat > "$TMP/bulk.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
local f = io.open("$TMP/bulk.ndjson", "rb")
wrk.body = f:read("*a")
f:close()
LUA

fresh_index() {  # name
  curl -s -o /dev/null -X DELETE "$BLUE/$1" || true
  curl -sf -o /dev/null -X PUT "$BLUE/$1" -H 'Content-Type: application/json' \
    -d '{"settings":{"number_of_shards":1,"number_of_replicas":0,"refresh_interval":"1s"}}'
}

run() {  # name, port, index
  fresh_index "$3"
  wrk -t1 -c2 -d2s -s "$TMP/bulk.lua" "http://127.0.0.1:$2/$3/_bulk" > /dev/null  # warm-up
  local out rps p50 p99 errs
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/bulk.lua" \
        "http://127.0.0.1:$2/$3/_bulk")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  printf "%-14s %9s bulks/s (%6.0f docs/s)   p50 %-9s p99 %-9s %s\n" "$1" "$rps" \
    "$(python3 -c "print(float('$rps')*100)")" "$p50" "$p99" "$errs"
}

start_tandem() {  # log flags...; sets T_PORT and T_ADMIN
  local dir
  T_PORT=$(free_port); T_ADMIN=$(free_port); dir="$TMP/tandem-$T_PORT"
  mkdir -p "$dir"
  "$TANDEM" proxy --listen "127.0.0.1:$T_PORT" --primary "$BLUE" --data-dir "$dir" \
    --admin "127.0.0.1:$T_ADMIN" --workers "$WORKERS" ${PROXY_CONFIG:+--config "$PROXY_CONFIG"} \
    "$@" > "$dir/out.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$T_ADMIN/status" && return 0
    sleep 0.1
  done
  echo "error: tandem proxy did not start: $(tail -5 "$dir/out.log")" >&2
  exit 1
}

added() {  # admin port: added-latency quantiles from the histogram
  curl -s "http://127.0.0.1:$1/metrics" | python3 -c '
import sys
b = []
for line in sys.stdin:
    if line.startswith("tandem_proxy_added_latency_seconds_bucket"):
        le = line.split("le=\"")[1].split("\"")[0]
        b.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
total = b[-1][1] if b else 0
def q(p):
    for le, c in b:
        if c >= p * total:
            return "<= %g ms" % (le * 1000)
    return "?"
print("  tandem added latency (%d requests): p50 %s, p99 %s, p99.9 %s" % (total, q(.5), q(.99), q(.999)))'
}

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency -s bulk.lua http://127.0.0.1:PORT/INDEX/_bulk"
echo "body: $(wc -c < "$TMP/bulk.ndjson") bytes, 100 index actions (auto ids)"
echo

BLUE_PORT=${BLUE#http://}; BLUE_PORT=${BLUE_PORT%%/*}; BLUE_PORT=${BLUE_PORT##*:}
run direct "$BLUE_PORT" bench-write-direct
start_tandem --kafka "$KAFKA" --topic "bench-write-$$"
run "tandem+kafka" "$T_PORT" bench-write-kafka
added "$T_ADMIN"
start_tandem --log-dir "$TMP/filelog"
run "tandem+file" "$T_PORT" bench-write-file
added "$T_ADMIN"
run direct-again "$BLUE_PORT" bench-write-direct2
