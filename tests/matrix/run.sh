#!/usr/bin/env bash
# The version matrix: one short end-to-end migration per supported pair, on
# real servers, with the real `tandem` binary:
#
#   seed ~10k catalog documents on the source (on 6.8 into an index whose
#   mapping type is the custom name "product") -> `tandem proxy` in front of
#   the source, capturing to Kafka -> live traffic through the proxy (creates,
#   auto-id creates, updates, deletes, recreates, searches; on 6.8 also typed
#   /{index}/product/{id} writes and a typed _bulk) -> `tandem meta apply` ->
#   `tandem load` (continuous) -> `tandem backfill` while traffic flows ->
#   stop traffic, drain the loader to lag 0 -> `tandem verify --quick` must
#   report 100.00% parity and `tandem verify --deep` 100.00% content parity
#   (and on 6.8 the typed writes are on green). The
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

# Pair member -> service name of scripts/services.
service_of() {
  case $1 in
    es68) echo es68 ;;
    es717) echo blue ;;
    es819) echo green ;;
    es92) echo es92 ;;
    os219) echo os219 ;;
    os38) echo os38 ;;
    *) return 1 ;;
  esac
}

for p in "${pairs[@]}"; do
  case " $ALL_PAIRS " in *" $p "*) ;; *) die "matrix: unknown pair '$p' (pairs: $ALL_PAIRS)" ;; esac
done

# Everything this run starts, to stop at the end (base services only if
# they were down when we came).
started=()
is_up() { scripts/services status "$1" >/dev/null 2>&1; }
up() {  # service
  local s=$1
  if ! is_up "$s"; then
    started+=("$s")
  fi
  scripts/services up "$s" >/dev/null || return 1
}
stop_extra() {  # service: stops an extra server this run started
  local s=$1 i
  for i in "${!started[@]}"; do
    if [ "${started[$i]}" = "$s" ]; then
      scripts/services down "$s" >/dev/null 2>&1 || true
      unset 'started[i]'
    fi
  done
}

children=()
kill_children() {
  local p
  for p in "${children[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${children[@]}"; do wait "$p" 2>/dev/null || true; done
  children=()
}
cleanup() {
  kill_children
  if [ ${#started[@]} -gt 0 ]; then scripts/services down "${started[@]}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

up kafka || die "matrix: Kafka did not start"
eval "$(scripts/services env)"

url_of() {  # service
  case $1 in
    blue) echo "$TANDEM_BLUE_URL" ;;
    green) echo "$TANDEM_GREEN_URL" ;;
    es68) echo "$TANDEM_ES68_URL" ;;
    es92) echo "$TANDEM_ES92_URL" ;;
    os219) echo "$TANDEM_OS219_URL" ;;
    os38) echo "$TANDEM_OS38_URL" ;;
  esac
}

WORK="$TANDEM_RUN_DIR/matrix"
fail_reason=""
fail() {
  fail_reason="$*"
  return 1
}

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

run_pair() {  # pair
  local pair=$1 src dst surl durl dir topic state proxy_pid traffic_pid loader_pid t0
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
  for u in "$surl" "$durl"; do curl -s -o /dev/null -XDELETE "$u/$INDEX" || true; done

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

  "$T" proxy --listen "127.0.0.1:$PROXY_PORT" --primary "$surl" "${log[@]}" \
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

  "$T" workload traffic "http://127.0.0.1:$PROXY_PORT" --index "$INDEX" --seconds 600 \
    --rate "$RATE" --id-space "$DOCS" >"$dir/traffic.txt" 2>&1 &
  traffic_pid=$!
  children+=("$traffic_pid")

  "$T" meta apply --blue "$surl" --green "$durl" --index "$INDEX" --state "$state" \
    >"$dir/meta.txt" 2>&1 || fail "meta apply failed: $(tail -n 5 "$dir/meta.txt")" || return 1

  "$T" load --blue "$surl" --green "$durl" "${log[@]}" --group matrix --state "$state" \
    --progress-s 5 >"$dir/load.log" 2>&1 &
  loader_pid=$!
  children+=("$loader_pid")

  "$T" backfill --blue "$surl" --green "$durl" --index "$INDEX" --slices 2 --state "$state" \
    "${log[@]}" >"$dir/backfill.txt" 2>&1 ||
    fail "backfill failed: $(tail -n 5 "$dir/backfill.txt")" || return 1

  if [ "$src" = es68 ]; then
    typed_writes "http://127.0.0.1:$PROXY_PORT" || fail "typed 6.8 writes through the proxy failed" ||
      return 1
  fi
  sleep 3
  kill -TERM "$traffic_pid" 2>/dev/null
  wait "$traffic_pid"
  # The traffic must have written through the proxy and not been refused.
  local writes rejected errors
  writes=$(grep -oE '[0-9]+ creates' "$dir/traffic.txt" | awk '{print $1}')
  errors=$(grep -oE '[0-9]+ transport/5xx errors' "$dir/traffic.txt" | awk '{print $1}')
  rejected=$(grep -oE '[0-9]+ unexpected 4xx' "$dir/traffic.txt" | awk '{print $1}')
  [ -n "$writes" ] && [ "$writes" -gt 0 ] || fail "no traffic went through: $(cat "$dir/traffic.txt")" ||
    return 1
  [ "${errors:-1}" = 0 ] && [ "${rejected:-1}" = 0 ] ||
    fail "traffic saw errors: $(tail -n 1 "$dir/traffic.txt")" || return 1

  kill -TERM "$loader_pid" 2>/dev/null
  wait "$loader_pid"
  "$T" load --blue "$surl" --green "$durl" "${log[@]}" --group matrix --state "$state" \
    --until-lag-zero --progress-s 0 >"$dir/drain.txt" 2>&1 ||
    fail "draining the loader failed: $(tail -n 5 "$dir/drain.txt")" || return 1

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

  kill -TERM "$proxy_pid" 2>/dev/null
  wait "$proxy_pid"
  children=()
  say "  $(tail -n 1 "$dir/traffic.txt")"
  say "  $(tail -n 1 "$dir/backfill.txt")"
  say "  $(grep -E '^parity' "$dir/verify.txt")"
  say "  $(grep -E '^content parity' "$dir/deep.txt")"
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
  # Stop the extra servers this pair used that the next pair does not need.
  next=${pairs[$((idx + 1))]:-}
  for m in "${pair%%-*}" "${pair##*-}"; do
    s=$(service_of "$m")
    case $s in blue | green) continue ;; esac
    case "-$next-" in *"-$m-"*) continue ;; esac
    stop_extra "$s"
  done
done

say "matrix: ${#pairs[@]} pairs in $((SECONDS - matrix_t0))s"
for f in "${failures[@]}"; do say "  FAILED $f"; done
echo "matrix: $passed passed, $failed failed"
[ "$failed" = 0 ]
