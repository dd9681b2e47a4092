#!/usr/bin/env bash
# The version matrix: one short end-to-end migration per supported pair, on
# real servers, with the real `tandem` binary:
#
#   seed ~10k catalog documents on the source (on 6.8 into an index whose
#   mapping type is the custom name "product") -> `tandem proxy` in front of
#   the source, capturing to Kafka -> live traffic through the proxy (creates,
#   auto-id creates, updates, deletes, recreates, searches; on 6.8 also typed
#   /{index}/product/{id} writes and a typed _bulk) -> `tandem load`
#   (continuous, forward and reverse, as the plan's migration) -> `tandem
#   migrate start` (metadata, the log's end marks, the backfill) while
#   traffic flows ->
#   stop traffic, the loader drains to lag 0 -> `tandem verify --quick` must
#   report 100.00% parity and `tandem verify --deep` 100.00% content parity
#   (and on 6.8 the typed writes are on green) -> `tandem migrate cutover`
#   under traffic (the fenced flip of the proxy to the newer side), the
#   reverse loader keeps the older side current, `migrate verify` and
#   `verify --deep` newer -> older at 100% -> `tandem migrate rollback` under
#   traffic, `migrate verify` older -> newer at 100% again. Between the
#   two, metadata written on the newer side through the proxy (a new
#   field by PUT _mapping, a new index with a custom date format, and
#   documents in both) must reach the older side through the reverse
#   loader, transformed for it (on 6.8 under the index's own type and with
#   the date format prefixed "8"), with the new index at 100% content
#   parity both ways (verify --deep after the cutover and after the
#   rollback). The
#   unsupported reverse of some pairs (8.19 -> 7.17, OpenSearch 2.19 ->
#   Elasticsearch 7.17, OpenSearch 3.8 -> 2.19) must be refused by
#   `tandem meta plan`, naming the move; `backfill --mode snapshot` must be
#   refused where green cannot read blue's snapshots (6.8 -> 8.19: N+2;
#   8.19 -> OpenSearch 3.8).
#
# usage: tests/matrix/run.sh [PAIR ...]        (default: every pair)
# pairs: es68-es819 es717-es819 es819-es92 es717-os219 es819-os38 os219-os38
#
# Each pair starts the servers it needs (scripts/services up <name>) and
# stops the extra ones it started before the next pair needs different ones;
# blue (7.17), green (8.19) and Kafka are stopped only if this run started
# them. Any failure fails the run: a pair is never skipped. The last line is
# "matrix: N passed, M failed".
#
# Env: TANDEM_MATRIX_DOCS (10000), TANDEM_MATRIX_RATE (150 requests/s),
# TANDEM_MATRIX_PROXY_PORT (19580), TANDEM_MATRIX_ADMIN_PORT (19581),
# TANDEM_MATRIX_PAIRS (space-separated, instead of arguments).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib.sh
. tests/matrix/lib.sh

DOCS=${TANDEM_MATRIX_DOCS:-10000}
RATE=${TANDEM_MATRIX_RATE:-150}
PROXY_PORT=${TANDEM_MATRIX_PROXY_PORT:-19580}
ADMIN_PORT=${TANDEM_MATRIX_ADMIN_PORT:-19581}
INDEX=matrix
T=$ROOT/build/tandem
ALL_PAIRS="es68-es819 es717-es819 es819-es92 es717-os219 es819-os38 os219-os38"

pairs=("$@")
if [ ${#pairs[@]} -eq 0 ]; then read -r -a pairs <<<"${TANDEM_MATRIX_PAIRS:-$ALL_PAIRS}"; fi

[ -x "$T" ] || die "matrix: $T is not built (make build)"

for p in "${pairs[@]}"; do
  case " $ALL_PAIRS " in *" $p "*) ;; *) die "matrix: unknown pair '$p' (pairs: $ALL_PAIRS)" ;; esac
done

up kafka || die "matrix: Kafka did not start"
eval "$(scripts/services env)"

WORK="$TANDEM_RUN_DIR/matrix"

# Typed 6.x writes through the proxy: a custom type name in the path and in
# a _bulk, which the proxy must classify and capture like typeless ones.
typed_writes() {  # proxy-url
  local p=$1 j=(-H 'Content-Type: application/json') code
  for id in typed-1 typed-2 typed-3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$p/$INDEX/product/$id" "${j[@]}" \
      -d '{"name":"typed write","brand":"six","stock":1}')
    [ "$code" = 201 ] || [ "$code" = 200 ] || return 1
  done
  code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$p/$INDEX/product/typed-1/_update" "${j[@]}" \
    -d '{"doc":{"stock":2}}')
  [ "$code" = 200 ] || return 1
  code=$(curl -s -o /dev/null -w '%{http_code}' -XDELETE "$p/$INDEX/product/typed-2")
  [ "$code" = 200 ] || return 1
  printf '%s\n' '{"index":{"_index":"'$INDEX'","_type":"product","_id":"typed-bulk-1"}}' \
    '{"name":"typed bulk","stock":3}' \
    '{"delete":{"_index":"'$INDEX'","_type":"product","_id":"typed-3"}}' |
    curl -s -XPOST "$p/_bulk" -H 'Content-Type: application/x-ndjson' --data-binary @- |
    grep -q '"errors":false' || return 1
}

# The proxy's traffic, one segment at a time: started before a step,
# stopped (and checked: writes went through, no errors, no refusals) after.
traffic_pid=""
traffic_seg=0
traffic_start() {
  traffic_seg=$((traffic_seg + 1))
  "$T" workload traffic "http://127.0.0.1:$PROXY_PORT" --index "$INDEX" --seconds 600 \
    --rate "$RATE" --id-space "$DOCS" >"$dir/traffic-$traffic_seg.txt" 2>&1 &
  traffic_pid=$!
  children+=("$traffic_pid")
}
traffic_stop() {  # what the segment was during, [typed-updates-may-fail]
  local f="$dir/traffic-$traffic_seg.txt" writes rejected errors updates
  kill -TERM "$traffic_pid" 2>/dev/null
  wait "$traffic_pid"
  writes=$(grep -oE '[0-9]+ creates' "$f" | awk '{print $1}')
  updates=$(grep -oE '[0-9]+ updates' "$f" | awk '{print $1}')
  errors=$(grep -oE '[0-9]+ transport/5xx errors' "$f" | awk '{print $1}')
  rejected=$(grep -oE '[0-9]+ unexpected 4xx' "$f" | awk '{print $1}')
  [ -n "$writes" ] && [ "$writes" -gt 0 ] ||
    fail "no traffic went through during $1: $(cat "$f")" || return 1
  # A 6.8 client updates at /{index}/_doc/{id}/_update, the only update
  # endpoint 6.8 has; 8.x removed it, so once the proxy's primary is 8.19
  # those updates are refused (400) by the new primary, as they would be for
  # any 6.8 application (docs/compatibility.md). Only they may fail.
  if [ "${2:-}" = typed-updates-may-fail ] && [ "${rejected:-0}" -le "${updates:-0}" ]; then
    rejected=0
  fi
  [ "${errors:-1}" = 0 ] && [ "${rejected:-1}" = 0 ] ||
    fail "traffic during $1 saw errors: $(tail -n 1 "$f")" || return 1
  say "  traffic during $1: $(tail -n 1 "$f")"
}
# Metadata written on the newer side after the cutover, through the proxy:
# a new field on the plan's index (PUT _mapping, and a document using it)
# and a new index with a custom date format (and two documents). The
# reverse loader must bring both to the older side, transformed for it.
post_cutover_meta() {  # proxy-url
  local p=$1 j=(-H 'Content-Type: application/json') code
  code=$(curl -s -o "$dir/post-mapping.txt" -w '%{http_code}' -XPUT "$p/$INDEX/_mapping" "${j[@]}" \
    -d '{"properties":{"rollback_note":{"type":"keyword"}}}')
  [ "$code" = 200 ] || fail "PUT $INDEX/_mapping through the proxy: $code $(cat "$dir/post-mapping.txt")" ||
    return 1
  code=$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$p/$INDEX/_doc/post-cutover-1?refresh=true" "${j[@]}" \
    -d '{"name":"written after the cutover","rollback_note":"kept"}')
  [ "$code" = 201 ] || [ "$code" = 200 ] || fail "document with the new field: $code" || return 1
  code=$(curl -s -o "$dir/post-index.txt" -w '%{http_code}' -XPUT "$p/$INDEX-post" "${j[@]}" \
    -d '{"settings":{"number_of_shards":1,"number_of_replicas":0},
         "mappings":{"properties":{"title":{"type":"text"},
           "when":{"type":"date","format":"yyyy-MM-dd||epoch_millis"}}}}')
  [ "$code" = 200 ] || fail "PUT $INDEX-post through the proxy: $code $(cat "$dir/post-index.txt")" ||
    return 1
  for id in 1 2; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$p/$INDEX-post/_doc/$id?refresh=true" "${j[@]}" \
      -d '{"title":"created on the newer side","when":"2026-12-0'$id'"}')
    [ "$code" = 201 ] || [ "$code" = 200 ] || fail "document $id of $INDEX-post: $code" || return 1
  done
}
# The older side has both, transformed for it: on 6.8 under the index's
# own type ("product" for the plan's index, "_doc" for the new one) and
# the java.time date format prefixed with "8".
check_post_cutover_meta() {  # older-url
  python3 - "$1" "$INDEX" "$src" >"$dir/post-meta-check.txt" 2>&1 <<'PY' || fail "metadata after the cutover on $src: $(tail -n 3 "$dir/post-meta-check.txt")"
import json, sys, urllib.request
url, index, src = sys.argv[1:4]
def get(path):
    with urllib.request.urlopen(url + path) as r:
        return json.load(r)
def props(idx, want_type):
    m = get("/" + idx + "/_mapping")[idx]["mappings"]
    if src == "es68":
        assert list(m) == [want_type], f"{idx}: mapping types {list(m)}, want [{want_type}]"
        m = m[want_type]
    return m["properties"]
p = props(index, "product")
assert p.get("rollback_note") == {"type": "keyword"}, f"{index}.rollback_note: {p.get('rollback_note')}"
q = props(index + "-post", "_doc")
fmt = ("8" if src == "es68" else "") + "yyyy-MM-dd||epoch_millis"
assert q["when"] == {"type": "date", "format": fmt}, f"{index}-post.when: {q['when']}"
assert q["title"]["type"] == "text", f"{index}-post.title: {q['title']}"
print(f"ok: {index}.rollback_note and {index}-post (when: {fmt}) on {src}")
PY
}
# verify --deep of the new index, FROM -> TO, must be 100%: content, as
# for the plan's index after the cutover (the index is outside the plan,
# so its documents' versions -- the reverse loader's epoch-stamped ones on
# the older side -- have no state to be explained by).
verify_post() {  # from-url to-url what
  "$T" verify --deep --blue "$1" --green "$2" --index "$INDEX-post" >"$dir/verify-post-$3.txt" 2>&1
  local rc=$?
  grep -q '^content parity: 100.00%' "$dir/verify-post-$3.txt" && [ $rc = 0 ] ||
    fail "verify --deep $INDEX-post $3: $(grep -E '^content parity' "$dir/verify-post-$3.txt" || tail -n 5 "$dir/verify-post-$3.txt")"
}
# Runs `tandem migrate STEP ... plan`, keeping its output in the pair's dir.
mig() {
  local step=$1 out
  shift
  out="$dir/migrate-$step-$(date +%s%N).txt"
  "$T" migrate "$step" "$@" "$plan" >"$out" 2>&1 ||
    fail "migrate $step failed: $(grep -v '^%' "$out" | tail -n 5)" || return 1
  cat "$out"
}
# Waits (bounded) until the loader into the follower has applied everything.
wait_lag_zero() {  # forward|reverse
  local which=$1 deadline=$((SECONDS + 180)) lag=""
  while [ $SECONDS -lt $deadline ]; do
    lag=$("$T" migrate status "$plan" --json 2>/dev/null | grep '^{' | tail -n 1 |
      python3 -c "import json,sys; print(json.load(sys.stdin)['lag']['$which'])" 2>/dev/null ||
      echo "?")
    [ "$lag" = 0 ] && return 0
    sleep 1
  done
  fail "the $which loader did not reach lag 0 within 180 s (last lag: $lag)"
}

# `migrate cutover|rollback` under traffic, then the follower's loader
# drains to lag 0 and `migrate verify` proves the new direction.
flip() {  # cutover|rollback forward|reverse (the loader into the follower)
  local cmd=$1
  traffic_start
  sleep 2
  mig "$cmd" >"$dir/$cmd.txt" || return 1
  sleep 3
  traffic_stop "the $cmd" "$([ "$src" = es68 ] && echo typed-updates-may-fail)" || return 1
  say "  $cmd: $(grep -iE 'pause|held' "$dir/$cmd.txt" | head -n 1)"
  wait_lag_zero "$2" || return 1
  mig verify >"$dir/verify-after-$cmd.txt"
}

run_pair() {  # pair
  local pair=$1 surl durl topic state proxy_pid t0
  src=$(service_of "${pair%%-*}")
  dst=$(service_of "${pair##*-}")
  up "$src" || fail "could not start $src" || return 1
  up "$dst" || fail "could not start $dst" || return 1
  surl=$(url_of "$src")
  durl=$(url_of "$dst")
  dir="$WORK/$pair"
  rm -rf "$dir"
  mkdir -p "$dir/proxy"
  topic="tandem-matrix-$pair-$(date +%s)"
  state="$dir/state.db"
  local log=(--kafka "$TANDEM_KAFKA_BROKERS" --topic "$topic")
  for u in "$surl" "$durl"; do
    curl -s -o /dev/null -XDELETE "$u/$INDEX" || true
    curl -s -o /dev/null -XDELETE "$u/$INDEX-post" || true
  done

  if [ "$src" = es68 ]; then
    # A 6.8 index with a custom mapping type name: handled end to end.
    curl -sf -o /dev/null -XPUT "$surl/$INDEX" -H 'Content-Type: application/json' -d '{
      "settings":{"number_of_shards":2,"number_of_replicas":0},
      "mappings":{"product":{"properties":{"name":{"type":"text"},"brand":{"type":"keyword"},
        "category":{"type":"keyword"},"price":{"type":"double"},"stock":{"type":"long"},
        "rating":{"type":"float"},"created":{"type":"date"},"tags":{"type":"keyword"},
        "description":{"type":"text"},"offers":{"type":"nested","properties":{
        "seller":{"type":"keyword"},"price":{"type":"double"},"shipping_days":{"type":"integer"}}}}}}}' ||
      fail "could not create the typed 6.8 index" || return 1
  fi
  "$T" workload seed "$surl" --index "$INDEX" --docs "$DOCS" >"$dir/seed.txt" 2>&1 ||
    fail "seed failed: $(tail -n 3 "$dir/seed.txt")" || return 1

  "$T" proxy --listen "127.0.0.1:$PROXY_PORT" --primary "$surl" --secondary "$durl" "${log[@]}" \
    --data-dir "$dir/proxy" --admin "127.0.0.1:$ADMIN_PORT" >"$dir/proxy.log" 2>&1 &
  proxy_pid=$!
  children+=("$proxy_pid")
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" && break
    sleep 0.2
  done
  curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" ||
    fail "the proxy did not come up: $(tail -n 5 "$dir/proxy.log")" || return 1

  # The plan of this pair's migration: the same one `make demo` uses, with
  # one proxy.
  name="matrix-$pair-$(date +%s)"
  plan="$dir/plan.yaml"
  cat >"$plan" <<YAML
name: $name
blue:  {url: "$surl"}
green: {url: "$durl"}
upgrade: true
log:
  backend: kafka
  kafka: {brokers: "$TANDEM_KAFKA_BROKERS", topic: $topic}
  group: $name-forward
  reverse_group: $name-reverse
indices: [$INDEX]
proxies:
  admin: ["http://127.0.0.1:$ADMIN_PORT"]
state: state.db
gates: {max_lag: 50000, verify_max_age: 1h, min_health: yellow}
flip: {drain: 5s, hold: 15s, catchup: 60s}
YAML
  mig plan >/dev/null || return 1

  traffic_start || return 1

  "$T" load --blue "$surl" --green "$durl" "${log[@]}" --group "$name-forward" --from blue \
    --state "$state" --migration "$name" --progress-s 5 >"$dir/load-forward.log" 2>&1 &
  children+=($!)
  "$T" load --blue "$surl" --green "$durl" "${log[@]}" --group "$name-reverse" --reverse \
    --state "$state" --migration "$name" --progress-s 5 >"$dir/load-reverse.log" 2>&1 &
  children+=($!)

  mig start >/dev/null || return 1

  if [ "$src" = es68 ]; then
    typed_writes "http://127.0.0.1:$PROXY_PORT" || fail "typed 6.8 writes through the proxy failed" ||
      return 1
  fi
  sleep 3
  traffic_stop "migrate start" || return 1
  wait_lag_zero forward || return 1
  mig verify >/dev/null || return 1

  "$T" verify --quick --blue "$surl" --green "$durl" --index "$INDEX" --state "$state" \
    >"$dir/verify.txt" 2>&1
  local vrc=$?
  grep -q '^parity: 100.00%' "$dir/verify.txt" && [ $vrc = 0 ] ||
    fail "verify: $(grep -E '^parity' "$dir/verify.txt" || tail -n 5 "$dir/verify.txt")" || return 1
  # Content, not only versions: every document's canonical _source, routing
  # and id compared in buckets (docs/verify.md, "verify --deep").
  "$T" verify --deep --blue "$surl" --green "$durl" --index "$INDEX" --state "$state" \
    >"$dir/deep.txt" 2>&1
  local drc=$?
  grep -q '^content parity: 100.00%' "$dir/deep.txt" && [ $drc = 0 ] ||
    fail "verify --deep: $(grep -E '^content parity' "$dir/deep.txt" || tail -n 5 "$dir/deep.txt")" || return 1

  if [ "$src" = es68 ]; then
    # The typed writes reached green: present ones found, deleted ones gone.
    for id in typed-1 typed-bulk-1; do
      curl -s "$durl/$INDEX/_doc/$id" | grep -q '"found":true' ||
        fail "typed write $id is missing on $dst" || return 1
    done
    for id in typed-2 typed-3; do
      curl -s "$durl/$INDEX/_doc/$id" | grep -q '"found":false' ||
        fail "typed delete of $id did not reach $dst" || return 1
    done
  fi
  # The reverse of this pair where it is unsupported: refused at plan time.
  case $pair in
    es717-es819 | es717-os219 | os219-os38)
      if "$T" meta plan --blue "$durl" --green "$surl" --index "$INDEX" >"$dir/refusal.txt" 2>&1; then
        fail "meta plan $dst -> $src was not refused" || return 1
      fi
      grep -q "unsupported move" "$dir/refusal.txt" ||
        fail "meta plan $dst -> $src failed without naming the unsupported move: $(tail -n 2 "$dir/refusal.txt")" ||
        return 1
      say "  refused $dst -> $src: $(head -c 160 "$dir/refusal.txt")..."
      ;;
  esac

  # Snapshot backfill where the target cannot read the source's snapshots
  # (N+2; OpenSearch reading an Elasticsearch 8 repository): refused, naming
  # --mode scan, before anything is registered or written.
  case $pair in
    es68-es819 | es819-os38)
      if "$T" backfill --mode snapshot --blue "$surl" --green "$durl" --index "$INDEX" \
        --state "$state" --repo-path "$TANDEM_SNAPSHOT_DIR/refused" "${log[@]}" \
        >"$dir/snapshot-refusal.txt" 2>&1; then
        fail "backfill --mode snapshot $src -> $dst was not refused" || return 1
      fi
      grep -q "use --mode scan" "$dir/snapshot-refusal.txt" ||
        fail "snapshot refusal without the alternative: $(tail -n 2 "$dir/snapshot-refusal.txt")" ||
        return 1
      say "  refused snapshot $src -> $dst: $(head -c 160 "$dir/snapshot-refusal.txt")..."
      ;;
  esac

  say "  backfill:$(grep -hE '^  [^ ]+ docs=' "$dir"/migrate-start-*.txt | tail -n 1)"
  say "  $src -> $dst: $(grep -E '^parity' "$dir/verify.txt"), $(grep -E '^content parity' "$dir/deep.txt")"

  # The switch and the way back on this pair: cut over under traffic, the
  # reverse loader keeps the older side current (its writes carry the new
  # epoch, and on 6.8 the index's custom type), proof newer -> older; then
  # roll back under traffic and prove older -> newer again.
  flip cutover reverse || return 1
  "$T" verify --deep --blue "$durl" --green "$surl" --index "$INDEX" >"$dir/deep-reverse.txt" 2>&1
  drc=$?
  grep -q '^content parity: 100.00%' "$dir/deep-reverse.txt" && [ $drc = 0 ] ||
    fail "verify --deep $dst -> $src after the cutover: $(grep -E '^content parity' "$dir/deep-reverse.txt" || tail -n 5 "$dir/deep-reverse.txt")" ||
    return 1
  say "  $dst -> $src after the cutover: $(grep -E '^parity' "$dir/verify-after-cutover.txt" | head -n 1), $(grep -E '^content parity' "$dir/deep-reverse.txt")"
  # Reverse metadata: a mapping change and a new index made on the newer
  # side through the proxy reach the older side, transformed for it.
  post_cutover_meta "http://127.0.0.1:$PROXY_PORT" || return 1
  wait_lag_zero reverse || return 1
  mig verify >"$dir/verify-after-post-meta.txt" || return 1
  verify_post "$durl" "$surl" "after-cutover" || return 1
  flip rollback forward || return 1
  say "  $src -> $dst after the rollback: $(grep -E '^parity' "$dir/verify-after-rollback.txt" | head -n 1)"
  check_post_cutover_meta "$surl" || return 1
  verify_post "$surl" "$durl" "after-rollback" || return 1
  say "  reverse metadata: $(tail -n 1 "$dir/post-meta-check.txt"); $INDEX-post content parity $dst -> $src and $src -> $dst: 100.00%"

  kill_children
}

passed=0 failed=0 failures=()
matrix_t0=$SECONDS
for idx in "${!pairs[@]}"; do
  pair=${pairs[$idx]}
  t0=$SECONDS
  say "== matrix: $pair"
  fail_reason=""
  if run_pair "$pair"; then
    passed=$((passed + 1))
    say "matrix: $pair PASSED in $((SECONDS - t0))s"
  else
    failed=$((failed + 1))
    failures+=("$pair: $fail_reason")
    say "matrix: $pair FAILED in $((SECONDS - t0))s: $fail_reason (logs under $WORK/$pair)"
  fi
  kill_children
  stop_unneeded "$pair" "${pairs[$((idx + 1))]:-}"
done

say "matrix: ${#pairs[@]} pairs in $((SECONDS - matrix_t0))s"
for f in "${failures[@]}"; do say "  FAILED $f"; done
echo "matrix: $passed passed, $failed failed"
[ "$failed" = 0 ]
