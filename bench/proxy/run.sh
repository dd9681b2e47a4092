#!/usr/bin/env bash
# Side-by-side read benchmark: wrk against (a) blue directly, (b) nginx
# proxy_pass with a keep-alive upstream, (c) tandem proxy -- same wrk
# settings, same request -- then the tandem proxy's RSS with 1,000 idle
# keep-alive connections.
#
# Usage: bench/proxy/run.sh [path/to/tandem]
#   env: TANDEM_BLUE_URL (http://127.0.0.1:19200), DURATION (15s),
#        THREADS (2), CONNS (32), WORKERS (2), IDLE (1000)
# Needs: wrk, nginx (nginx-light), curl, python3; blue running.
# Every process it starts is stopped by PID on exit.
set -euo pipefail

TANDEM=${1:-build/tandem}
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-2}
IDLE=${IDLE:-1000}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/tandem-proxy-bench.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # port, name
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "error: $2 did not start on port $1" >&2
  exit 1
}

command -v wrk >/dev/null || { echo "error: wrk not installed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "error: nginx not installed (apt-get install nginx-light)" >&2; exit 1; }
[ -x "$TANDEM" ] || { echo "error: tandem binary '$TANDEM' not found" >&2; exit 1; }
curl -sf -o /dev/null "$BLUE/_cluster/health" || { echo "error: blue not reachable at $BLUE" >&2; exit 1; }
ulimit -n 8192 || true

# A small index: 100 documents, one shard.
curl -s -o /dev/null -X DELETE "$BLUE/bench-proxy" || true
curl -sf -o /dev/null -X PUT "$BLUE/bench-proxy" -H 'Content-Type: application/json' \
  -d '{"settings":{"number_of_shards":1,"number_of_replicas":0}}'
python3 - "$TMP/bulk.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write(json.dumps({"index": {"_id": str(i)}}) + "\n")
        f.write(json.dumps({"title": f"document {i}", "n": i, "tags": ["a", "b"]}) + "\n")
PY
curl -sf -o /dev/null -X POST "$BLUE/bench-proxy/_bulk?refresh=true" \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$TMP/bulk.ndjson"

BLUE_HOSTPORT=${BLUE#http://}
BLUE_HOSTPORT=${BLUE_HOSTPORT%%/*}
TARGET="/bench-proxy/_search?size=10&q=title:document"

# nginx
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
sed -e "s|@PORT@|$NGINX_PORT|" -e "s|@UPSTREAM@|$BLUE_HOSTPORT|" -e "s|@PREFIX@|$TMP/nginx|g" \
    -e "s|@WORKERS@|$WORKERS|" "$HERE/nginx.conf.in" > "$TMP/nginx/nginx.conf"
nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" &
PIDS+=($!)
wait_port "$NGINX_PORT" nginx

# tandem proxy
TANDEM_PORT=$(free_port)
ADMIN_PORT=$(free_port)
TANDEM_PROXY_SPILL_DIR="$TMP/spill" TANDEM_PROXY_INTENTS_DIR="$TMP/intents" \
"$TANDEM" proxy --listen "127.0.0.1:$TANDEM_PORT" --primary "$BLUE" --log-dir "$TMP/log" \
  --state "$TMP/state.db" --admin "127.0.0.1:$ADMIN_PORT" --workers "$WORKERS" \
  > "$TMP/tandem.log" 2>&1 &
TANDEM_PID=$!
PIDS+=($TANDEM_PID)
wait_port "$TANDEM_PORT" "tandem proxy (log: $(tail -5 "$TMP/tandem.log"))"

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency http://127.0.0.1:PORT$TARGET"
echo "response bytes: $(curl -s "$BLUE$TARGET" | wc -c)"
echo

run() {  # name, port
  curl -s -o /dev/null "http://127.0.0.1:$2$TARGET"  # warm the pool
  wrk -t2 -c"$CONNS" -d3s "http://127.0.0.1:$2$TARGET" > /dev/null  # warm-up
  local out
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2$TARGET")
  local rps p50 p99 errs
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  printf "%-8s %12s req/s   p50 %-9s p99 %-9s %s\n" "$1" "$rps" "$p50" "$p99" "$errs"
}

run direct "${BLUE_HOSTPORT##*:}"
run nginx "$NGINX_PORT"
run tandem "$TANDEM_PORT"
echo
echo "tandem added latency (proxy time minus upstream time), from /metrics:"
curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E '^tandem_proxy_added_latency_seconds_(count|sum)|le="0.0001"|le="0.00025"|le="0.0005"|le="0.001"' | grep added
echo
echo "tandem RSS with $IDLE idle keep-alive connections:"
python3 "$HERE/idle_conns.py" "$TANDEM_PORT" "$TANDEM_PID" "$IDLE" 3
NGINX_RSS=$(ps -o rss= --ppid "${PIDS[0]}" | awk '{s+=$1} END {print s}')
echo "(for scale: nginx workers' RSS after the run: ${NGINX_RSS} kB)"
