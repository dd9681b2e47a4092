#!/usr/bin/env bash
# How fast a restarted loader takes its partitions back (docs/benchmarks.md,
# "Loader hand-over"):
#
#   bench/load/handover.sh [ROUNDS]        (default 3)
#
# Two `tandem load` processes share one consumer group on a 4-partition topic
# while `tandem workload traffic` writes through `tandem proxy` at RATE
# requests/s. One loader is killed with SIGKILL and started again at once;
# the figure is the time from that restart to the restarted loader's first
# progress line with applied > 0 (progress every second), and the group's
# lag at that moment. Three ways, each ROUNDS times:
#   session45  consumer.session.timeout.ms=45000 (Kafka's default, tandem's
#              before this change)
#   session10  tandem's default now (10 s)
#   static     --instance-id (static membership, KIP-345)
#
# Needs blue, green and Kafka (scripts/services up) and a built tandem
# (TANDEM_BIN, default build/tandem).
set -euo pipefail
ROUNDS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${TANDEM_BIN:-$ROOT/build/tandem}
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
GREEN=${TANDEM_GREEN_URL:-http://127.0.0.1:19201}
KAFKA=${TANDEM_KAFKA_BROKERS:-127.0.0.1:19092}
RATE=${RATE:-300}
WORK=$(mktemp -d)
RUN=handover-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  curl -s -XDELETE "$BLUE/$RUN" >/dev/null || true
  curl -s -XDELETE "$GREEN/$RUN" >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/proxy"
"$BIN" proxy --listen "127.0.0.1:$PORT" --primary "$BLUE" --kafka "$KAFKA" --topic "$RUN" \
  --data-dir "$WORK/proxy" >"$WORK/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -sf "127.0.0.1:$PORT/_cluster/health" >/dev/null && break; sleep 0.1; done
curl -sf "127.0.0.1:$PORT/_cluster/health" >/dev/null || { cat "$WORK/proxy.log"; exit 1; }
"$BIN" workload seed "http://127.0.0.1:$PORT" --index "$RUN" --docs 5000 >/dev/null
"$BIN" workload traffic "http://127.0.0.1:$PORT" --index "$RUN" --rate "$RATE" \
  --seconds 100000 --id-space 5000 >"$WORK/traffic.log" 2>&1 &
pids+=($!)

cfg_session45="$WORK/s45.properties"
echo "consumer.session.timeout.ms=45000" >"$cfg_session45"

start_loader() {  # name mode logfile
  local extra=()
  case $2 in
    session45) extra=(--kafka-config "$cfg_session45") ;;
    static) extra=(--instance-id "$1") ;;
  esac
  "$BIN" load --blue "$BLUE" --green "$GREEN" --kafka "$KAFKA" --topic "$RUN" --partitions 4 \
    --group "$RUN-$2" --state "$WORK/$1-$2.db" --progress-s 1 "${extra[@]}" >"$3" 2>&1 &
  echo $!
}

first_applied() {  # logfile deadline_s -> seconds until "applied=N" with N > 0, or "never"
  local t0=$1 log=$2 limit=$3
  while :; do
    if grep -qE 'load applied=[1-9]' "$log" 2>/dev/null; then
      python3 -c "import time; print('%.1f' % (time.time() - $t0))"
      return
    fi
    if python3 -c "import sys,time; sys.exit(0 if time.time() - $t0 > $limit else 1)"; then
      echo never
      return
    fi
    sleep 0.2
  done
}

printf '%-10s %-6s %-22s %s\n' mode round "restart->consuming (s)" "lag then"
for mode in session45 session10 static; do
  a=$(start_loader a "$mode" "$WORK/a.log"); pids+=("$a")
  b=$(start_loader b "$mode" "$WORK/b.log"); pids+=("$b")
  sleep 15
  for r in $(seq "$ROUNDS"); do
    kill -9 "$a"
    t0=$(python3 -c 'import time; print(time.time())')
    a=$(start_loader a "$mode" "$WORK/a-$r.log"); pids+=("$a")
    took=$(first_applied "$t0" "$WORK/a-$r.log" 90)
    lag=$(grep -oE 'lag=[0-9?]+' "$WORK/a-$r.log" | tail -1)
    printf '%-10s %-6s %-22s %s\n' "$mode" "$r" "$took" "${lag:-?}"
    sleep 12
  done
  kill -9 "$a" "$b" 2>/dev/null || true
  sleep 1
done
