#!/usr/bin/env bash
# `tandem backfill --mode snapshot` on every N -> N+1 pair tandem restores
# (7.17 -> 8.19, 8.19 -> 9.2, OpenSearch 2.19 -> 3.8), with updates,
# deletes and recreates racing the snapshot and the restore:
#
#   seed the source -> `tandem proxy` in front of it (Kafka) -> traffic
#   through it as fast as it goes (4 clients: 35% partial updates, 15%
#   deletes, recreates of deleted ids, creates) -> `backfill --mode
#   snapshot` (marks, snapshot, restore, gap reconcile) while the traffic
#   runs -> `load` from the marks -> stop traffic, drain to lag 0 -> every id
#   and every _source equal on both sides (tests/matrix/compare.py) and
#   `verify --deep` at 100% content parity.
#
# On 8.19 -> 9.2 the restore renames (`--rename-suffix -restored`): the index
# is restored as <name>-restored behind an alias <name>, and the loader,
# compare and verify all go through the alias.
#
# `verify --quick` is printed, not asserted: documents restored and never
# written since carry the source's internal _version
# (docs/backfill-snapshot.md).
#
# usage: tests/matrix/snapshot.sh [PAIR ...]   (default: es717-es819
# es819-es92 os219-os38; servers started if down and stopped again if this
# script started them). Last line: "snapshot: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib.sh
. tests/matrix/lib.sh

DOCS=${TANDEM_SNAPSHOT_DOCS:-20000}
PROXY_PORT=${TANDEM_MATRIX_PROXY_PORT:-19580}
ADMIN_PORT=${TANDEM_MATRIX_ADMIN_PORT:-19581}
INDEX=snapshot-race
T=$ROOT/build/tandem
[ -x "$T" ] || die "snapshot: $T is not built (make build)"
ALL_PAIRS="es717-es819 es819-es92 os219-os38"
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || read -r -a pairs <<<"$ALL_PAIRS"
for p in "${pairs[@]}"; do
  case " $ALL_PAIRS " in *" $p "*) ;; *) die "snapshot: unknown pair '$p' (pairs: $ALL_PAIRS)" ;; esac
done

up kafka || die "snapshot: Kafka did not start"
eval "$(scripts/services env)"

run_pair() {  # pair
  local pair=$1 src dst B G DIR topic log state suffix="" traffic loader t0=$SECONDS
  src=$(service_of "${pair%%-*}")
  dst=$(service_of "${pair##*-}")
  up "$src" || fail "could not start $src" || return 1
  up "$dst" || fail "could not start $dst" || return 1
  B=$(url_of "$src") G=$(url_of "$dst")
  [ "$pair" = es819-es92 ] && suffix=-restored
  DIR="$TANDEM_RUN_DIR/matrix/snapshot-$pair"
  rm -rf "$DIR"
  mkdir -p "$DIR/proxy"
  for u in "$B" "$G"; do
    curl -s -o /dev/null -XDELETE "$u/$INDEX" || true
    curl -s -o /dev/null -XDELETE "$u/$INDEX-restored" || true
  done
  topic="tandem-snapshot-$pair-$(date +%s)"
  log=(--kafka "$TANDEM_KAFKA_BROKERS" --topic "$topic")
  state="$DIR/state.db"

  "$T" workload seed "$B" --index "$INDEX" --docs "$DOCS" >"$DIR/seed.txt" 2>&1 ||
    fail "seed: $(tail -n 3 "$DIR/seed.txt")" || return 1
  "$T" proxy --listen "127.0.0.1:$PROXY_PORT" --primary "$B" "${log[@]}" --data-dir "$DIR/proxy" \
    --admin "127.0.0.1:$ADMIN_PORT" >"$DIR/proxy.log" 2>&1 &
  children+=($!)
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" && break
    sleep 0.2
  done
  curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status" || fail "proxy did not come up" || return 1

  # Racing writes: as fast as the proxy takes them, on the seeded ids.
  "$T" workload traffic "http://127.0.0.1:$PROXY_PORT" --index "$INDEX" --seconds 600 --rate 0 \
    --clients 4 --id-space "$DOCS" >"$DIR/traffic.txt" 2>&1 &
  traffic=$!
  children+=($traffic)
  sleep 2

  local rename=()
  [ -n "$suffix" ] && rename=(--rename-suffix "$suffix")
  "$T" backfill --mode snapshot --blue "$B" --green "$G" --index "$INDEX" --state "$state" \
    --repo-path "$TANDEM_SNAPSHOT_DIR/race-$pair-$(date +%s)" --group snapshot-loader "${log[@]}" \
    "${rename[@]}" >"$DIR/backfill.txt" 2>&1 ||
    fail "backfill --mode snapshot: $(tail -n 5 "$DIR/backfill.txt")" || return 1

  "$T" load --blue "$B" --green "$G" "${log[@]}" --group snapshot-loader --state "$state" \
    --progress-s 5 >"$DIR/load.log" 2>&1 &
  loader=$!
  children+=($loader)
  sleep 3
  kill -TERM "$traffic"
  wait "$traffic"
  kill -TERM "$loader"
  wait "$loader"
  "$T" load --blue "$B" --green "$G" "${log[@]}" --group snapshot-loader --state "$state" \
    --until-lag-zero --progress-s 0 >"$DIR/drain.txt" 2>&1 ||
    fail "drain: $(tail -n 3 "$DIR/drain.txt")" || return 1
  local updates deletes
  updates=$(grep -oE '[0-9]+ updates' "$DIR/traffic.txt" | awk '{print $1}')
  deletes=$(grep -oE '[0-9]+ deletes' "$DIR/traffic.txt" | awk '{print $1}')
  [ "${updates:-0}" -gt 0 ] && [ "${deletes:-0}" -gt 0 ] ||
    fail "no racing updates/deletes: $(cat "$DIR/traffic.txt")" || return 1
  grep -q 'gap_events=[1-9]' "$DIR/backfill.txt" ||
    fail "no event fell between the marks and the restore: the race did not happen: $(tail -n 1 "$DIR/backfill.txt")" ||
    return 1
  if [ -n "$suffix" ]; then
    # Restored under the new name, reached through blue's name as an alias.
    curl -s "$G/_alias/$INDEX" | grep -q "\"$INDEX$suffix\"" ||
      fail "no alias $INDEX -> $INDEX$suffix on $dst: $(curl -s "$G/_alias/$INDEX")" || return 1
    grep -q "restored_as=$INDEX$suffix" "$DIR/backfill.txt" ||
      fail "the report does not name the restored index: $(tail -n 1 "$DIR/backfill.txt")" || return 1
  fi

  python3 tests/matrix/compare.py "$B" "$G" "$INDEX" >"$DIR/compare.txt" 2>&1 ||
    fail "content differs: $(cat "$DIR/compare.txt")" || return 1
  "$T" verify --deep --blue "$B" --green "$G" --index "$INDEX" --state "$state" >"$DIR/deep.txt" 2>&1
  grep -q '^content parity: 100.00%' "$DIR/deep.txt" ||
    fail "verify --deep: $(grep -E '^content parity' "$DIR/deep.txt" || tail -n 3 "$DIR/deep.txt")" ||
    return 1
  "$T" verify --quick --blue "$B" --green "$G" --index "$INDEX" --state "$state" >"$DIR/verify.txt" 2>&1

  kill_children
  say "  $(tail -n 1 "$DIR/traffic.txt")"
  say "  $(tail -n 1 "$DIR/backfill.txt")"
  say "  $(tail -n 1 "$DIR/drain.txt")"
  say "  $(head -n 1 "$DIR/compare.txt"); $(grep -E '^content parity' "$DIR/deep.txt")"
  say "  verify --quick (informational: untouched restored documents keep the source's internal _version): $(grep -E '^parity' "$DIR/verify.txt")"
  for u in "$B" "$G"; do
    curl -s -o /dev/null -XDELETE "$u/$INDEX$suffix" || true
  done
  say "snapshot: $pair with racing writes PASSED in $((SECONDS - t0))s"
}

passed=0 failed=0
for idx in "${!pairs[@]}"; do
  pair=${pairs[$idx]}
  say "== snapshot: $pair"
  fail_reason=""
  if run_pair "$pair"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    say "snapshot: $pair FAILED: $fail_reason (logs under $TANDEM_RUN_DIR/matrix/snapshot-$pair)"
  fi
  kill_children
  stop_unneeded "$pair" "${pairs[$((idx + 1))]:-}"
done
echo "snapshot: $passed passed, $failed failed"
[ "$failed" = 0 ]
