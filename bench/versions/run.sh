#!/usr/bin/env bash
# Scan backfill rate per supported pair against the target's raw ingest
# ceiling, side by side in one run per pair (docs/benchmarks.md, "Version
# matrix"):
#
#   bench/versions/run.sh [DOCS] [PAIR ...]     (default 100000, every pair)
#
# For each pair (the names of tests/matrix/run.sh):
#  1. seed DOCS catalog documents into a fresh source index (tandem workload
#     seed: 1 shard, 0 replicas);
#  2. warm-up: DOCS/5 documents seeded into the target and deleted (a freshly
#     started JVM is slower at first, which would favour whatever runs second);
#  3. ceiling: the same generator seeds DOCS documents into a fresh index on
#     the target (unversioned bulks, its default parallelism): what the
#     target ingests when nothing else is asked of it;
#  4. `tandem meta apply` + `tandem backfill --slices 4` source -> target
#     (external versions; PIT or sliced scroll as the capability table says),
#     timed as a whole command;
#  5. the ceiling again; the table shows the mean of both ceiling runs
#     (bracketing the backfill, so load from other work on the machine
#     drifts less into the ratio) and both values.
# Rates are documents / wall time. Servers are started as needed and the
# extra ones stopped afterwards (blue, green only if this run started them).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib.sh
DOCS=${1:-100000}
shift || true
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(es68-es819 es717-es819 es819-es92 es717-os219 es819-os38 os219-os38)
T=${TANDEM_BIN:-$ROOT/build/tandem}
[ -x "$T" ] || die "bench: $T is not built"

service_of() {
  case $1 in
    es68) echo es68 ;; es717) echo blue ;; es819) echo green ;;
    es92) echo es92 ;; os219) echo os219 ;; os38) echo os38 ;;
  esac
}
started=()
up() {
  scripts/services status "$1" >/dev/null 2>&1 || started+=("$1")
  scripts/services up "$1" >/dev/null 2>&1 || die "bench: could not start $1"
}
trap '[ ${#started[@]} -gt 0 ] && scripts/services down "${started[@]}" >/dev/null 2>&1' EXIT
eval "$(scripts/services env)"
url_of() {
  case $1 in
    blue) echo "$TANDEM_BLUE_URL" ;; green) echo "$TANDEM_GREEN_URL" ;;
    es68) echo "$TANDEM_ES68_URL" ;; es92) echo "$TANDEM_ES92_URL" ;;
    os219) echo "$TANDEM_OS219_URL" ;; os38) echo "$TANDEM_OS38_URL" ;;
  esac
}
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

DIR="$TANDEM_RUN_DIR/bench-versions"
mkdir -p "$DIR"
printf '| pair | scan | target ceiling, docs/s (before, after) | tandem backfill (docs/s) | ratio |\n|---|---|---|---|---|\n' \
  >"$DIR/table.md"
for pair in "${pairs[@]}"; do
  src=$(service_of "${pair%%-*}") dst=$(service_of "${pair##*-}")
  up "$src"
  up "$dst"
  s=$(url_of "$src") d=$(url_of "$dst")
  for u in "$s" "$d"; do
    for i in bench-src bench-ceiling; do curl -s -o /dev/null -XDELETE "$u/$i"; done
  done
  "$T" workload seed "$s" --index bench-src --docs "$DOCS" >"$DIR/$pair-seed.txt" 2>&1 ||
    die "bench $pair: seeding the source failed"
  "$T" workload seed "$d" --index bench-warm --docs $((DOCS / 5)) >/dev/null 2>&1 ||
    die "bench $pair: the warm-up failed"
  curl -s -o /dev/null -XDELETE "$d/bench-warm"
  ceiling() {  # -> docs/s
    local a b
    a=$(now)
    "$T" workload seed "$d" --index bench-ceiling --docs "$DOCS" >>"$DIR/$pair-ceiling.txt" 2>&1 ||
      die "bench $pair: the ceiling run failed"
    b=$(now)
    curl -s -o /dev/null -XDELETE "$d/bench-ceiling"
    rate "$DOCS" "$a" "$b"
  }
  c1=$(ceiling)
  t2=$(now)
  "$T" meta apply --blue "$s" --green "$d" --index bench-src --no-templates >"$DIR/$pair-meta.txt" 2>&1 &&
    "$T" backfill --blue "$s" --green "$d" --index bench-src --slices 4 \
      --state "$DIR/$pair-state.db" --progress-s 0 >"$DIR/$pair-backfill.txt" 2>&1 ||
    die "bench $pair: backfill failed: $(tail -n 3 "$DIR/$pair-backfill.txt")"
  t3=$(now)
  c2=$(ceiling)
  rm -f "$DIR/$pair-state.db"*
  scan=$("$T" cluster info "$s" 2>/dev/null | awk '/^scan/ {$1=""; print substr($0,2)}')
  ceil=$(((c1 + c2) / 2))
  back=$(rate "$DOCS" "$t2" "$t3")
  ratio=$(awk -v a="$back" -v b="$ceil" 'BEGIN { printf "%.2f", a / b }')
  printf '| %s | %s | %s (%s, %s) | %s | %sx |\n' "$pair" "$scan" "$ceil" "$c1" "$c2" "$back" "$ratio" |
    tee -a "$DIR/table.md"
  for u in "$s" "$d"; do curl -s -o /dev/null -XDELETE "$u/bench-src"; done
  # Free memory for the next pair: stop the extra servers this run started.
  for x in "$src" "$dst"; do
    case $x in blue | green) ;; *)
      for i in "${!started[@]}"; do
        [ "${started[$i]}" = "$x" ] && scripts/services down "$x" >/dev/null 2>&1 && unset 'started[i]'
      done ;;
    esac
  done
done
cat "$DIR/table.md"
