#!/usr/bin/env bash
# Side-by-side write benchmark (issue: capture proxy, "write path"): wrk
# POSTs the same _bulk of 100 x ~1 KB documents (auto ids, so every request
# adds 100 new documents) to (a) blue directly and (b) tandem proxy in sync
# mode capturing to Kafka, then (c) tandem proxy with the embedded file log.
# Same wrk settings each time; a fresh index per run so every run starts from
# the same state. tandem's own added latency (proxy time minus blue's time,
# which for sync capture includes waiting for Kafka's acks=all) comes from
# its /metrics histogram, counted over the measured run only (warm-up
# excluded).
#
# Three sections (issue 14):
#   shared   everything on every core, closed loop (wrk -c CONNS);
#   pinned   the same, with blue on core PIN_BLUE_CPU and the proxy, the
#            broker and wrk on PIN_PROXY_CPU (taskset), so tandem's cost is
#            not CPU taken from blue; needs BLUE_PID and KAFKA_PID (the
#            processes to pin; their affinity is restored afterwards);
#   rate     open loop at RATE bulks/s (bench/proxy/openloop.py) for
#            RATE_DURATION seconds: client latency, and tandem's added
#            latency p50/p99/p99.9 from its histogram;
#   rate-pinned  the rate section with blue and the rest pinned apart as in
#            pinned, so blue's GC and merges cannot preempt the proxy;
#   disk     no proxy: two 1 KB write+fdatasync in a row at RATE/s on the
#            disk of the proxy's data directory, the file log's floor per
#            captured write (intents, then events);
#   wakeups  the hand-offs of one write: 500 bulks at 50/s (one at a time),
#            and the proxy's context switches (voluntary: a thread blocked
#            and was woken) per request, summed over its threads, from
#            /proc/PID/task/*/status (not part of the default SECTIONS).
# With TANDEM_BEFORE=path/to/other/tandem every tandem run is repeated with
# that binary ("before"), in the same section, for a side-by-side.
#
# Usage: bench/proxy/write.sh [path/to/tandem]
#   env: TANDEM_BLUE_URL (http://127.0.0.1:19200), TANDEM_KAFKA_BROKERS
#        (127.0.0.1:19092), DURATION (20s), CONNS (8), THREADS (2), WORKERS (2),
#        PROXY_CONFIG (a tandem proxy YAML file for both tandem runs, optional),
#        SECTIONS ("shared pinned rate"), RATE (100), RATE_DURATION (20),
#        BLUE_PID, KAFKA_PID, PIN_BLUE_CPU (0), PIN_PROXY_CPU (1),
#        TANDEM_BEFORE
# Needs: wrk, curl, python3, taskset (pinned); blue and Kafka running. Every
# process it starts is stopped by PID on exit.
set -euo pipefail

TANDEM=${1:-build/tandem}
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
KAFKA=${TANDEM_KAFKA_BROKERS:-127.0.0.1:19092}
DURATION=${DURATION:-20s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-8}
WORKERS=${WORKERS:-2}
SECTIONS=${SECTIONS:-shared pinned rate}
RATE=${RATE:-100}
RATE_DURATION=${RATE_DURATION:-20}
PIN_BLUE_CPU=${PIN_BLUE_CPU:-0}
PIN_PROXY_CPU=${PIN_PROXY_CPU:-1}
BEFORE=${TANDEM_BEFORE:-}
PIN=()  # prefix for the processes this script starts (pinned section)
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/tandem-write-bench.XXXXXX)
PIDS=()
unpin() {
  for p in ${BLUE_PID:-} ${KAFKA_PID:-}; do taskset -a -p -c "0-$(($(nproc) - 1))" "$p" >/dev/null 2>&1 || true; done
}
cleanup() {
  unpin
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

run() {  # name, port, index[, admin port]
  fresh_index "$3"
  "${PIN[@]}" wrk -t1 -c2 -d2s -s "$TMP/bulk.lua" "http://127.0.0.1:$2/$3/_bulk" > /dev/null  # warm-up
  [ -n "${4:-}" ] && curl -s "http://127.0.0.1:$4/metrics" > "$TMP/metrics.before"
  local out rps p50 p99 errs
  out=$("${PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/bulk.lua" \
        "http://127.0.0.1:$2/$3/_bulk")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  printf "%-20s %9s bulks/s (%6.0f docs/s)   p50 %-9s p99 %-9s %s\n" "$1" "$rps" \
    "$(python3 -c "print(float('$rps')*100)")" "$p50" "$p99" "$errs"
  [ -n "${4:-}" ] && added "$4"
  return 0
}

ctx_switches() {  # pid: voluntary and involuntary switches of all its threads
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2} END {print v, n}'
}

# utime + stime of every thread of PID, in clock ticks (/proc/PID/stat
# fields 14 and 15 count the whole process).
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }

wakeup_run() {  # name, port, index[, admin port]
  [ -z "${4:-}" ] && return 0  # only the proxy's own threads are counted
  fresh_index "$3"
  wrk -t1 -c1 -d2s -s "$TMP/bulk.lua" "http://127.0.0.1:$2/$3/_bulk" > /dev/null  # warm-up
  local pid=${PIDS[-1]} v0 n0 v1 n1 threads c0 c1
  per_thread "$pid" > "$TMP/threads.before"
  read -r v0 n0 < <(ctx_switches "$pid")
  c0=$(cpu_ticks "$pid")
  python3 "$HERE/openloop.py" "http://127.0.0.1:$2/$3/_bulk" "$TMP/bulk.ndjson" 50 10 1 > /dev/null
  c1=$(cpu_ticks "$pid")
  read -r v1 n1 < <(ctx_switches "$pid")
  threads=$(ls /proc/"$pid"/task | wc -l)
  # The proxy's own CPU per request (user + system, all threads): tandem's
  # cost independent of how fast blue and the broker are at the moment.
  printf "%-20s %s threads; per request: %.1f voluntary, %.1f involuntary context switches, %.2f ms CPU\n" \
    "$1" "$threads" "$(python3 -c "print(($v1 - $v0) / 500)")" "$(python3 -c "print(($n1 - $n0) / 500)")" \
    "$(python3 -c "print(($c1 - $c0) * 1000.0 / $(getconf CLK_TCK) / 500)")"
  # Which threads were woken (tandem names its threads; librdkafka's are
  # rdk:*), per request; the file log's writers summed as tandem-flog-*.
  per_thread "$pid" | join - <(sort "$TMP/threads.before") | awk '
    { name = $2; sub(/^tandem-flog-.*/, "tandem-flog-*", name); d[name] += ($3 - $5) / 500 }
    END { for (n in d) if (d[n] >= 0.05) printf "  %s %.2f", n, d[n]; print "" }' |
    sed 's/^/  voluntary switches per request by thread:/'
}

per_thread() {  # pid: "tid name voluntary_switches", sorted by tid
  for t in /proc/"$1"/task/*; do
    echo "$(basename "$t") $(cat "$t/comm") $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")"
  done | sort
}

rate_run() {  # name, port, index[, admin port]
  fresh_index "$3"
  "${PIN[@]}" wrk -t1 -c2 -d2s -s "$TMP/bulk.lua" "http://127.0.0.1:$2/$3/_bulk" > /dev/null  # warm-up
  [ -n "${4:-}" ] && curl -s "http://127.0.0.1:$4/metrics" > "$TMP/metrics.before"
  printf "%-20s %s\n" "$1" "$("${PIN[@]}" python3 "$HERE/openloop.py" "http://127.0.0.1:$2/$3/_bulk" \
    "$TMP/bulk.ndjson" "$RATE" "$RATE_DURATION")"
  [ -n "${4:-}" ] && added "$4"
  return 0
}

start_tandem() {  # binary, log flags...; sets T_PORT and T_ADMIN
  local dir BIN=$1
  shift
  T_PORT=$(free_port); T_ADMIN=$(free_port); dir="$TMP/tandem-$T_PORT"
  mkdir -p "$dir"
  "${PIN[@]}" "$BIN" proxy --listen "127.0.0.1:$T_PORT" --primary "$BLUE" --data-dir "$dir" \
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

added() {  # admin port: added-latency quantiles over the measured run
  curl -s "http://127.0.0.1:$1/metrics" > "$TMP/metrics.after"
  python3 - "$TMP/metrics.before" "$TMP/metrics.after" <<'PY'
import sys
def buckets(path):
    b = []
    for line in open(path):
        if line.startswith("tandem_proxy_added_latency_seconds_bucket"):
            le = line.split("le=\"")[1].split("\"")[0]
            b.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return b
before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
b = [(le, c - (before[i][1] if i < len(before) else 0)) for i, (le, c) in enumerate(after)]
total = b[-1][1] if b else 0
def q(p):
    for le, c in b:
        if c >= p * total:
            return "<= %g ms" % (le * 1000)
    return "?"
print("  tandem added latency (%d requests): p50 %s, p99 %s, p99.9 %s" % (total, q(.5), q(.99), q(.999)))

# Where it went (proxies that export tandem_proxy_write_stage_seconds): each
# stage's p50/p99, and the writes over 5 ms by their longest stage.
def series(path, prefix):
    out = {}
    for line in open(path):
        if line.startswith(prefix):
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
            labels = {k: v.strip('"') for k, v in labels.items()}
            out[(labels.get("stage"), labels.get("le"))] = float(line.split()[-1])
    return out
sb = series(sys.argv[1], "tandem_proxy_write_stage_seconds_bucket")
sa = series(sys.argv[2], "tandem_proxy_write_stage_seconds_bucket")
if sa:
    stages = []
    for st, le in sa:
        if st not in stages:
            stages.append(st)
    parts = []
    for st in stages:
        bs = sorted(((float("inf") if le == "+Inf" else float(le)), c - sb.get((st, le), 0))
                    for (s2, le), c in sa.items() if s2 == st)
        n = bs[-1][1]
        def sq(p):
            for le, c in bs:
                if n and c >= p * n:
                    return "%g" % (le * 1000)
            return "-"
        parts.append("%s %s/%s" % (st, sq(.5), sq(.99)))
    print("  stages, p50/p99 bucket bounds in ms: " + ", ".join(parts))
    cb = series(sys.argv[1], "tandem_proxy_slow_writes_total")
    ca = series(sys.argv[2], "tandem_proxy_slow_writes_total")
    slow = {k[0]: v - cb.get(k, 0) for k, v in ca.items() if v - cb.get(k, 0) > 0}
    print("  writes over 5 ms added, by longest stage: " +
          (", ".join("%s %d" % kv for kv in sorted(slow.items(), key=lambda kv: -kv[1])) or "none"))
PY
}

stop_tandem() {  # stops the last proxy started
  local p=${PIDS[-1]}
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset 'PIDS[-1]'
}

# The proxy variants of one section: label suffix, binary.
variants() {
  [ -n "$BEFORE" ] && echo "before $BEFORE"
  echo "after $TANDEM"
}

section() {  # runner (run | rate_run)
  local runner=$1 tag bin n=0
  "$runner" direct "$BLUE_PORT" bench-write-direct
  while read -r tag bin; do
    n=$((n + 1))
    start_tandem "$bin" --kafka "$KAFKA" --topic "bench-write-$$-$tag-$RANDOM"
    "$runner" "tandem+kafka $tag" "$T_PORT" bench-write-kafka "$T_ADMIN"
    stop_tandem
    start_tandem "$bin" --log-dir "$TMP/filelog-$tag-$RANDOM"
    "$runner" "tandem+file $tag" "$T_PORT" bench-write-file "$T_ADMIN"
    stop_tandem
  done < <(variants)
  "$runner" direct-again "$BLUE_PORT" bench-write-direct2
}

# A section with blue's JVM on PIN_BLUE_CPU and the broker, the proxies and
# the load generator on PIN_PROXY_CPU; affinities restored after.
pinned_section() {  # runner, title
  if [ -z "${BLUE_PID:-}" ] || [ -z "${KAFKA_PID:-}" ]; then
    echo "== ${2%%:*}: skipped (set BLUE_PID and KAFKA_PID)"
    return 0
  fi
  echo "== $2"
  taskset -a -p -c "$PIN_BLUE_CPU" "$BLUE_PID" > /dev/null
  taskset -a -p -c "$PIN_PROXY_CPU" "$KAFKA_PID" > /dev/null
  PIN=(taskset -c "$PIN_PROXY_CPU")
  section "$1"
  PIN=()
  unpin
}

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency -s bulk.lua http://127.0.0.1:PORT/INDEX/_bulk"
echo "body: $(wc -c < "$TMP/bulk.ndjson") bytes, 100 index actions (auto ids)"
echo

BLUE_PORT=${BLUE#http://}; BLUE_PORT=${BLUE_PORT%%/*}; BLUE_PORT=${BLUE_PORT##*:}
[ -n "$BEFORE" ] && [ ! -x "$BEFORE" ] && { echo "error: TANDEM_BEFORE '$BEFORE' not found" >&2; exit 1; }
for sec in $SECTIONS; do
  case $sec in
    shared)
      echo "== shared: all processes on all $(nproc) cores, wrk -c$CONNS"
      section run ;;
    pinned)
      pinned_section run "pinned: blue on cpu $PIN_BLUE_CPU; proxy, broker, wrk on cpu $PIN_PROXY_CPU, wrk -c$CONNS" ;;
    rate)
      echo "== rate: open loop, $RATE bulks/s for ${RATE_DURATION}s, all cores"
      section rate_run ;;
    rate-pinned)
      pinned_section rate_run "rate-pinned: open loop, $RATE bulks/s for ${RATE_DURATION}s; blue on cpu $PIN_BLUE_CPU; proxy, broker, client on cpu $PIN_PROXY_CPU" ;;
    disk)
      # The file log's floor: a captured write needs two fdatasyncs in a row
      # (its intents before the forward, its events after the answer), on
      # the disk the proxy's data directory is on. Same rate as "rate".
      echo "== disk: 1 KB write + fdatasync to two files in turn, $RATE pairs/s for ${RATE_DURATION}s"
      python3 - "$TMP" "$RATE" "$RATE_DURATION" <<'PY'
import os, sys, time
d, rate, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
fds = [os.open(os.path.join(d, n), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600) for n in ("a", "b")]
one, two = [], []
start = time.perf_counter()
for i in range(int(rate * secs)):
    due = start + i / rate
    time.sleep(max(0.0, due - time.perf_counter()))
    t0 = time.perf_counter()
    for k, fd in enumerate(fds):
        t = time.perf_counter()
        os.write(fd, b"x" * 1024)
        os.fdatasync(fd)
        one.append(time.perf_counter() - t)
    two.append(time.perf_counter() - t0)
def q(v, p):
    v = sorted(v)
    return "%.2f" % (v[min(len(v) - 1, int(p * len(v)))] * 1000)
for name, v in (("one fdatasync", one), ("two in a row", two)):
    print("%-14s p50 %s ms, p99 %s ms, p99.9 %s ms (%d)" % (name, q(v, .5), q(v, .99), q(v, .999), len(v)))
PY
      ;;
    wakeups)
      echo "== wakeups: 500 bulks at 50/s, one connection"
      section wakeup_run ;;
    *) echo "error: unknown section $sec" >&2; exit 1 ;;
  esac
  echo
done
