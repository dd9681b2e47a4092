#!/usr/bin/env bash
# Issue 5, side by side in one run on one dataset (docs/benchmarks.md,
# "Convergence"):
#
#   bench/convergence/run.sh [DOCS]          (default 1000000)
#
#  0. dataset: DOCS product-catalog documents of about 1 KB (gen_catalog.py),
#     as prebuilt bulk bodies of BULK_DOCS documents each. They are loaded
#     into a fresh blue index (2 shards, 0 replicas) THROUGH `tandem proxy`
#     capturing to Kafka, so the loader's backlog is DOCS real captured
#     events carrying blue's own _seq_no.
#  1. ceiling: the same bulk bodies (unversioned, ids given) posted to a fresh
#     green index by CLIENTS parallel curl clients.
#  2. `tandem backfill` blue -> fresh green index (SLICES slices), with its
#     wall time and peak RSS.
#  3. elasticdump (npm, pinned ELASTICDUMP_VERSION, installed once into
#     ELASTICDUMP_DIR) blue -> fresh green index, once per value of
#     ELASTICDUMP_CONCURRENCY (its default, 1, and 4 parallel bulk writes);
#     ELASTICDUMP_DOCS < DOCS copies only that many documents (then it is a
#     rate comparison on a prefix of the dataset).
#  4. `tandem load --until-lag-zero` on the DOCS-event backlog -> fresh green
#     index, with its wall time and peak RSS.
#  5. a summary table.
#
# Every green target is created identically: the dataset's mapping, 2 shards,
# 0 replicas, refresh_interval -1 (the settings `tandem meta apply
# --load-tuning` uses for a load), and deleted once its count is checked, so
# each writer meets an otherwise idle green. Rates are documents (events) /
# wall time of the whole command, start-up included.
#
# Needs: blue, green and Kafka running (scripts/services up), python3, curl,
# node + npm (the elasticdump step only), java and the cached Kafka libs (to delete the
# topic at the end; else a note names it), GNU time (/usr/bin/time), and a
# built tandem (TANDEM_BIN, default build/tandem).
#
# BLUE_PIPELINE=1 gives the blue index an (empty) index.default_pipeline:
# blue may then store something other than what a client sent, so the
# loader applies every event as a reconcile (reads blue's stored document,
# batched with _mget). STEPS (default "backfill elasticdump load") picks the
# measurements after the ceiling, e.g. STEPS=load BLUE_PIPELINE=1.
#
# Environment (defaults): BULK_DOCS 5000, CLIENTS 4, SLICES 4, BACKFILL_BATCH
# 2000, LOADER_WORKERS 4, ELASTICDUMP_VERSION 6.125.1, ELASTICDUMP_LIMIT 5000,
# ELASTICDUMP_CONCURRENCY "1 4", ELASTICDUMP_DOCS (DOCS), ELASTICDUMP_DIR
# (~/.cache/tandem-bench/elasticdump-VERSION), BENCH_TMPDIR (TMPDIR or /tmp:
# holds the bulk files, about 1.1 x DOCS KB), TANDEM_BLUE_URL,
# TANDEM_GREEN_URL, TANDEM_KAFKA_BROKERS; BENCH_LOGS=DIR keeps each tool's
# output (proxy, backfill, elasticdump, load) there.
set -euo pipefail

DOCS=${1:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${TANDEM_BIN:-$ROOT/build/tandem}
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
GREEN=${TANDEM_GREEN_URL:-http://127.0.0.1:19201}
KAFKA=${TANDEM_KAFKA_BROKERS:-127.0.0.1:19092}
BULK_DOCS=${BULK_DOCS:-5000}
CLIENTS=${CLIENTS:-4}
SLICES=${SLICES:-4}
BACKFILL_BATCH=${BACKFILL_BATCH:-2000}
LOADER_WORKERS=${LOADER_WORKERS:-4}
STEPS=" ${STEPS:-backfill elasticdump load} "
BLUE_PIPELINE=${BLUE_PIPELINE:-0}
step() { [[ "$STEPS" == *" $1 "* ]]; }
ED_VERSION=${ELASTICDUMP_VERSION:-6.125.1}
ED_LIMIT=${ELASTICDUMP_LIMIT:-5000}
ED_CONC=${ELASTICDUMP_CONCURRENCY:-1 4}
ED_DOCS=${ELASTICDUMP_DOCS:-$DOCS}
ED_DIR=${ELASTICDUMP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tandem-bench/elasticdump-$ED_VERSION}
[ "$ED_DOCS" -gt "$DOCS" ] && ED_DOCS=$DOCS

die() { echo "error: $*" >&2; exit 1; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
[ -x "$BIN" ] || die "no tandem binary (build it, or set TANDEM_BIN)"
[ -x /usr/bin/time ] || die "GNU time is needed for peak RSS (apt-get install time)"
for c in python3 curl; do command -v "$c" >/dev/null || die "$c is needed"; done
if step elasticdump; then
  for c in node npm; do command -v "$c" >/dev/null || die "$c is needed"; done
fi
curl -sf "$BLUE/_cluster/health" >/dev/null || die "blue is not reachable (scripts/services up)"
curl -sf "$GREEN/_cluster/health" >/dev/null || die "green is not reachable (scripts/services up)"

# Disk: the bulk files (about 1.1 KB a document) here, and on the services'
# disk blue's index, one green index at a time and the Kafka topic (about
# 1.2 KB a document each): about 5 GB for 1M documents.
need_mb=$((DOCS * 6 / 1000))
free_mb=$(df -Pm "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}" | awk 'NR==2 {print $4}')
[ "$free_mb" -ge "$need_mb" ] ||
  echo "warning: ${free_mb} MB free where the bulk files go; this run needs about ${need_mb} MB" >&2

IDX=bench-conv-$$
TOPIC=$IDX
WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/tandem-conv.XXXXXX")
PIDS=()

delete_topic() {
  local libs
  libs=$(TANDEM_CACHE=${TANDEM_CACHE:-} bash -c 'source "$1/scripts/lib.sh" >/dev/null 2>&1 && kafka_libs' _ "$ROOT" 2>/dev/null || true)
  if [ -n "$libs" ] && [ -d "$libs" ] && command -v java >/dev/null; then
    java -cp "$libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA" \
      --delete --topic "$TOPIC" >/dev/null 2>&1 && return 0
  fi
  echo "note: could not delete Kafka topic '$TOPIC'; delete it by hand" >&2
}

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      pkill -TERM -P "$p" 2>/dev/null  # the command under /usr/bin/time
      kill -TERM "$p" 2>/dev/null
      wait "$p" 2>/dev/null
    fi
  done
  curl -s -o /dev/null -XDELETE "$BLUE/$IDX"
  [ "$BLUE_PIPELINE" = 1 ] && curl -s -o /dev/null -XDELETE "$BLUE/_ingest/pipeline/$IDX"
  for i in "$IDX" "$IDX-ceiling" "$IDX-elasticdump"; do
    curl -s -o /dev/null -XDELETE "$GREEN/$i"
  done
  [ -n "${TOPIC_CREATED:-}" ] && delete_topic
  if [ -n "${BENCH_LOGS:-}" ]; then
    mkdir -p "$BENCH_LOGS" && cp "$WORK"/*.log "$BENCH_LOGS"/ 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs "$@" in the background under GNU time (so cleanup can stop it) and
# waits; sets SECS (wall) and RSS_MB (peak resident set). Output: $WORK/$1.log
measure() {
  local name=$1 t0 t1 pid rc=0
  shift
  t0=$(now)
  # Peak RSS (KB), user and system CPU seconds of the command and its
  # children: what the copy costs, not only how fast it is (issue 14).
  /usr/bin/time -f '%M %U %S' -o "$WORK/$name.rss" "$@" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  t1=$(now)
  if [ "$rc" -ne 0 ]; then
    echo "error: $name exited with $rc; last lines of its output:" >&2
    tail -n 20 "$WORK/$name.log" >&2
    exit 1
  fi
  SECS=$(calc "round($t1 - $t0, 2)")
  local rss usr sys
  read -r rss usr sys < <(tail -n 1 "$WORK/$name.rss")
  RSS_MB=$(calc "round($rss / 1024)")
  CPU_S=$(calc "round($usr + $sys, 2)")
}
# CPU-seconds per million documents: per_million CPU_S DOCS
per_million() { calc "round($1 * 1000000 / $2, 1)"; }

# post_bulks URL TAG: every bulk file to URL, CLIENTS at a time; each answer
# must say "errors":false (checked after the clock stops).
post_bulks() {
  local url=$1 tag=$2 f bad=0
  find "$WORK/data" -name 'bulk-*.ndjson' | sort |
    xargs -P "$CLIENTS" -I{} curl -sSf -o {}.$tag -H 'Content-Type: application/x-ndjson' \
      --data-binary @{} "$url"
  for f in "$WORK"/data/bulk-*.ndjson."$tag"; do
    head -c 400 "$f" | grep -q '"errors":false' || { bad=1; head -c 600 "$f" >&2; echo >&2; }
    rm -f "$f"
  done
  [ "$bad" -eq 0 ] || die "bulk errors posting to $tag (first bytes of the answers above)"
}

count() {  # url index
  curl -sf -XPOST "$1/$2/_refresh" >/dev/null
  curl -sf "$1/$2/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}

expect_count() {  # url index n what
  local c
  c=$(count "$1" "$2")
  [ "$c" -eq "$3" ] || die "$4: $c documents in the target, expected $3"
}

# settle_copy INDEX N WHAT UNIT, after `measure`: the green index must hold
# N documents; it is then dropped (so the next writer meets an idle green),
# RATE is set to N / wall seconds and one line is printed.
settle_copy() {
  expect_count "$GREEN" "$1" "$2" "$3"
  curl -s -o /dev/null -XDELETE "$GREEN/$1"
  RATE=$(calc "round($2 / $SECS)")
  echo "$3: $2 $4 in $SECS s = $RATE $4/s, peak RSS $RSS_MB MB, CPU $CPU_S s"
}

green_index() {  # name: fresh, same body for every green target
  curl -s -o /dev/null -XDELETE "$GREEN/$1"
  curl -sS --fail-with-body -o "$WORK/create.out" -XPUT "$GREEN/$1" -H 'Content-Type: application/json' \
    --data-binary @"$WORK/data/green-index.json" || die "could not create green index $1: $(cat "$WORK/create.out")"
}

echo "== tandem convergence benchmark (issue 5)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
es_version() {
  curl -sf "$1/_nodes/_local?filter_path=nodes.*.version" |
    python3 -c 'import json,sys; print(list(json.load(sys.stdin)["nodes"].values())[0]["version"])'
}
echo "blue: Elasticsearch $(es_version "$BLUE"), green: Elasticsearch $(es_version "$GREEN"), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tandem: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), docs=$DOCS bulk_docs=$BULK_DOCS clients=$CLIENTS slices=$SLICES batch=$BACKFILL_BATCH loader_workers=$LOADER_WORKERS"

# --- elasticdump, installed first so a failure costs nothing -------------
# (only when it is one of the STEPS: a tandem-only run needs neither node
# nor the npm install)
ED="$ED_DIR/node_modules/elasticdump/bin/elasticdump"
if step elasticdump; then
  if [ ! -f "$ED" ]; then
    echo "-- installing elasticdump@$ED_VERSION (npm, once)"
    mkdir -p "$ED_DIR"
    npm install --no-audit --no-fund --silent --prefix "$ED_DIR" "elasticdump@$ED_VERSION" >/dev/null ||
      die "npm install elasticdump@$ED_VERSION failed"
  fi
  echo "elasticdump: $(node "$ED" --version 2>/dev/null | tail -n 1), node $(node --version)"
fi

# --- dataset ---------------------------------------------------------------
echo "-- generating $DOCS documents"
t0=$(now)
GEN=$(python3 "$HERE/gen_catalog.py" "$DOCS" "$WORK/data" "$BULK_DOCS")
echo "dataset: $GEN"
AVG_SRC=$(echo "$GEN" | sed -n 's/.*avg_source_bytes=\([0-9]*\).*/\1/p')
python3 - "$WORK/data" <<'PY'
import json, sys
d = sys.argv[1]
body = json.load(open(d + "/mapping.json"))
body["settings"]["refresh_interval"] = "-1"
json.dump(body, open(d + "/green-index.json", "w"))
PY
BLUE_BODY="$WORK/data/mapping.json"
if [ "$BLUE_PIPELINE" = 1 ]; then
  curl -sS --fail-with-body -o "$WORK/pipeline.out" -XPUT "$BLUE/_ingest/pipeline/$IDX" \
    -H 'Content-Type: application/json' --data-binary '{"description":"tandem bench","processors":[]}' ||
    die "could not create blue pipeline: $(cat "$WORK/pipeline.out")"
  python3 - "$WORK/data" "$IDX" <<'PY'
import json, sys
d, name = sys.argv[1], sys.argv[2]
body = json.load(open(d + "/mapping.json"))
body["settings"]["index.default_pipeline"] = name
json.dump(body, open(d + "/blue-index.json", "w"))
PY
  BLUE_BODY="$WORK/data/blue-index.json"
fi
echo "dataset: generated in $(calc "round($(now) - $t0, 1)") s, $(du -sm "$WORK/data" | cut -f1) MB of bulk bodies"

echo "-- loading blue through tandem proxy (capture to Kafka topic $TOPIC)"
curl -sS --fail-with-body -o "$WORK/create.out" -XPUT "$BLUE/$IDX" -H 'Content-Type: application/json' \
  --data-binary @"$BLUE_BODY" || die "could not create blue index: $(cat "$WORK/create.out")"
P_PORT=$(free_port)
P_ADMIN=$(free_port)
mkdir -p "$WORK/proxy"
TOPIC_CREATED=1
"$BIN" proxy --listen "127.0.0.1:$P_PORT" --primary "$BLUE" --data-dir "$WORK/proxy" \
  --admin "127.0.0.1:$P_ADMIN" --kafka "$KAFKA" --topic "$TOPIC" >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$P_ADMIN/status" && break
  kill -0 "$PROXY_PID" 2>/dev/null || { tail -n 20 "$WORK/proxy.log" >&2; die "tandem proxy exited"; }
  sleep 0.1
done
t0=$(now)
post_bulks "http://127.0.0.1:$P_PORT/$IDX/_bulk" blue
t1=$(now)
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" || { tail -n 20 "$WORK/proxy.log" >&2; die "tandem proxy did not drain cleanly"; }
expect_count "$BLUE" "$IDX" "$DOCS" "blue load"
BLUE_RATE=$(calc "round($DOCS / ($t1 - $t0))")
EVENTS=$("$BIN" log stats --kafka "$KAFKA" --topic "$TOPIC" 2>/dev/null | awk '$1=="events" {print $2}')
# More events than documents is allowed: a batch that missed the log
# deadline on a busy machine is spilled, and its late acknowledgement plus
# the drained copy put it in the log twice (harmless: external versions).
[ "${EVENTS:-0}" -ge "$DOCS" ] || die "the Kafka topic holds ${EVENTS:-?} events, expected $DOCS"
[ "$EVENTS" -eq "$DOCS" ] || echo "note: the Kafka topic holds $EVENTS events for $DOCS documents (spilled batches logged twice)"
echo "blue: $DOCS documents via the proxy at $BLUE_RATE docs/s; Kafka backlog: $EVENTS events"

# --- 1. ceiling ------------------------------------------------------------
echo "-- 1. ceiling: $CLIENTS parallel clients posting the prebuilt bulks to green"
green_index "$IDX-ceiling"
t0=$(now)
post_bulks "$GREEN/$IDX-ceiling/_bulk?filter_path=errors,items.*.error" ceiling
t1=$(now)
CEIL_SECS=$(calc "round($t1 - $t0, 2)")
expect_count "$GREEN" "$IDX-ceiling" "$DOCS" "ceiling"
curl -s -o /dev/null -XDELETE "$GREEN/$IDX-ceiling"
CEIL=$(calc "round($DOCS / $CEIL_SECS)")
echo "ceiling: $DOCS docs in $CEIL_SECS s = $CEIL docs/s"

# --- 2. tandem backfill ----------------------------------------------------
BF=0
if step backfill; then
echo "-- 2. tandem backfill, $SLICES slices, batch $BACKFILL_BATCH"
green_index "$IDX"
measure backfill "$BIN" backfill --blue "$BLUE" --green "$GREEN" --index "$IDX" \
  --slices "$SLICES" --batch "$BACKFILL_BATCH" --state "$WORK/backfill.db" --progress-s 10
settle_copy "$IDX" "$DOCS" backfill docs
BF=$RATE
BF_RSS=$RSS_MB
BF_CPU=$(per_million "$CPU_S" "$DOCS")
fi

# --- 3. elasticdump --------------------------------------------------------
# One run per ELASTICDUMP_CONCURRENCY value (parallel bulk writes; the scroll
# itself is sequential). The ratio target is checked against the fastest.
ED_ROWS=""
EDR=0
step elasticdump || ED_CONC=""
for conc in $ED_CONC; do
  echo "-- 3. elasticdump --limit $ED_LIMIT --concurrency $conc, $ED_DOCS docs"
  green_index "$IDX-elasticdump"
  ED_ARGS=(--input="$BLUE/$IDX" --output="$GREEN/$IDX-elasticdump" --type=data
    --limit="$ED_LIMIT" --concurrency="$conc" --noRefresh --quiet)
  [ "$ED_DOCS" -lt "$DOCS" ] && ED_ARGS+=(--size="$ED_DOCS")
  # elasticdump_rootless.js: only for green builds without `GET /` (see there)
  measure "elasticdump-c$conc" env ELASTICDUMP_HOME="$ED_DIR" \
    ELASTICDUMP_VERSIONS="${GREEN%/}=$(es_version "$GREEN"),${BLUE%/}=$(es_version "$BLUE")" \
    node --require "$HERE/elasticdump_rootless.js" "$ED" "${ED_ARGS[@]}"
  settle_copy "$IDX-elasticdump" "$ED_DOCS" elasticdump docs
  rate=$RATE
  [ "$rate" -gt "$EDR" ] && EDR=$rate
  ED_ROWS+="| elasticdump $ED_VERSION --limit $ED_LIMIT --concurrency $conc%NOTE% | $rate | backfill/elasticdump $(calc "round($BF / $rate, 1)")x | | $RSS_MB MB | $(per_million "$CPU_S" "$ED_DOCS") |"$'\n'
done

# --- 4. tandem load --------------------------------------------------------
LD=0
if step load; then
echo "-- 4. tandem load --until-lag-zero, $LOADER_WORKERS workers, on the $DOCS-event backlog"
green_index "$IDX"
measure load "$BIN" load --blue "$BLUE" --green "$GREEN" --kafka "$KAFKA" --topic "$TOPIC" \
  --group "$IDX-loader" --state "$WORK/load.db" --until-lag-zero --workers "$LOADER_WORKERS" \
  --progress-s 10
settle_copy "$IDX" "$DOCS" load events
LD=$RATE
LD_RSS=$RSS_MB
LD_CPU=$(per_million "$CPU_S" "$DOCS")
fi

# --- summary ---------------------------------------------------------------
ok() { python3 -c "print('ok' if $1 else 'BELOW TARGET')"; }
ED_NOTE=""
[ "$ED_DOCS" -lt "$DOCS" ] && ED_NOTE=" (rate on the first $ED_DOCS docs)"
ED_ROWS=${ED_ROWS//%NOTE%/$ED_NOTE}
LD_WHAT="$DOCS-event Kafka backlog"
[ "$BLUE_PIPELINE" = 1 ] && LD_WHAT+=", blue index with a default_pipeline (every event reconciled)"
echo
echo "== summary: $DOCS documents, average _source $AVG_SRC bytes, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "| writer | docs/s | ratio | target | peak RSS | CPU-s per 1M docs |"
echo "|---|---|---|---|---|---|"
echo "| ceiling: prebuilt bulks, $CLIENTS parallel curl clients, unversioned | $CEIL | 1.00x | | | |"
if step backfill; then
  BF_CEIL=$(calc "round($BF / $CEIL, 2)")
  echo "| tandem backfill, $SLICES slices, external versions | $BF | ${BF_CEIL}x ceiling | >= 0.8x: $(ok "$BF_CEIL >= 0.8") | $BF_RSS MB | $BF_CPU |"
fi
printf '%s' "$ED_ROWS"
if step backfill && [ "$EDR" -gt 0 ]; then
  BF_ED=$(calc "round($BF / $EDR, 1)")
  echo "| backfill / fastest elasticdump | | ${BF_ED}x | >= 5x: $(ok "$BF_ED >= 5") | | |"
fi
if step load; then
  LD_CEIL=$(calc "round($LD / $CEIL, 2)")
  echo "| tandem load --until-lag-zero, $LD_WHAT | $LD | ${LD_CEIL}x ceiling | >= 0.9x: $(ok "$LD_CEIL >= 0.9") | $LD_RSS MB (<= 256: $(ok "$LD_RSS <= 256")) | $LD_CPU |"
fi
echo "(blue loaded through tandem proxy at $BLUE_RATE docs/s; green targets: 2 shards, 0 replicas, refresh_interval -1)"
