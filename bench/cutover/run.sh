#!/usr/bin/env bash
# The client-visible write pause of a fenced flip (docs/cutover.md,
# docs/benchmarks.md): N `tandem proxy` processes on one Kafka topic in front
# of blue, a forward and a reverse `tandem load`, `tandem workload traffic`
# at a fixed total rate split over the proxies, and FLIPS cutovers and
# FLIPS rollbacks through `tandem migrate`. Prints p50/p99/max of the held
# time per proxy and per flip, the coordinator's step breakdown, and the
# traffic's failed requests. Services from scripts/services (env exported).
#
# usage: bench/cutover/run.sh [PROXIES=1] [RATE=1000] [FLIPS=10]
set -euo pipefail
cd "$(dirname "$0")/../.."
PROXIES=${1:-1}
RATE=${2:-1000}
FLIPS=${3:-10}
BIN=${TANDEM_BIN:-build/tandem}
: "${TANDEM_BLUE_URL:?run: eval \"\$(scripts/services env)\"}"
BLUE=$TANDEM_BLUE_URL
GREEN=$TANDEM_GREEN_URL
KAFKA=$TANDEM_KAFKA_BROKERS
NAME=benchcut-$$
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  curl -s -XDELETE "$BLUE/$NAME" >/dev/null || true
  curl -s -XDELETE "$GREEN/$NAME" >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN" workload seed "$BLUE" --index "$NAME" --docs 20000 >/dev/null
ADMINS=""
URLS=()
for i in $(seq 1 "$PROXIES"); do
  P=$(free_port)
  A=$(free_port)
  mkdir -p "$WORK/p$i"
  "$BIN" proxy --listen "127.0.0.1:$P" --admin "127.0.0.1:$A" --primary "$BLUE" \
    --secondary "$GREEN" --kafka "$KAFKA" --topic "$NAME" --data-dir "$WORK/p$i" \
    >"$WORK/p$i.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$A/status" >/dev/null && break; sleep 0.2; done
  curl -sf "127.0.0.1:$A/status" >/dev/null || { cat "$WORK/p$i.out"; exit 1; }
  ADMINS="$ADMINS\"http://127.0.0.1:$A\", "
  URLS+=("http://127.0.0.1:$P")
done
cat >"$WORK/plan.yaml" <<EOF
name: $NAME
blue: {url: "$BLUE"}
green: {url: "$GREEN"}
log:
  backend: kafka
  kafka: {brokers: "$KAFKA", topic: $NAME}
  group: $NAME-fwd
  reverse_group: $NAME-rev
indices: [$NAME]
proxies: {admin: [$ADMINS]}
state: state.db
gates: {max_lag: 1000000, verify_max_age: 1h}
flip: {drain: 5s, hold: 10s, catchup: 30s}
EOF
PLAN=$WORK/plan.yaml
"$BIN" migrate start "$PLAN" >"$WORK/start.out" 2>&1
"$BIN" load --blue "$BLUE" --green "$GREEN" --kafka "$KAFKA" --topic "$NAME" --group "$NAME-fwd" \
  --state "$WORK/state.db" --from blue --migration "$NAME" --progress-s 0 >"$WORK/fwd.out" 2>&1 &
PIDS+=($!)
"$BIN" load --blue "$BLUE" --green "$GREEN" --kafka "$KAFKA" --topic "$NAME" --group "$NAME-rev" \
  --state "$WORK/state.db" --reverse --migration "$NAME" --progress-s 0 >"$WORK/rev.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do
  lag=$("$BIN" migrate status "$PLAN" --json 2>/dev/null | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["lag"]["forward"])' || echo x)
  [ "$lag" = 0 ] && break
  sleep 0.5
done
"$BIN" migrate verify "$PLAN" >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out"; exit 1; }

# Traffic: RATE requests/s in total, split over the proxies, for the whole run.
SECS=$((FLIPS * 2 * 8 + 20))
TPIDS=()
for u in "${URLS[@]}"; do
  "$BIN" workload traffic "$u" --index "$NAME" --id-space 20000 --rate "$(python3 -c "print($RATE/$PROXIES)")" \
    --clients 32 --seconds "$SECS" >"$WORK/traffic-$(basename "$u" | tr : _).out" 2>&1 &
  TPIDS+=($!)
done
sleep 5
# The flips measure the pause, not parity: each one after the first has no
# verify at its epoch, so the verify gate is overridden (recorded).
FORCE=(--force "benchmark: pause measurement under traffic, no verify per epoch")
for i in $(seq 1 "$FLIPS"); do
  "$BIN" migrate cutover "$PLAN" "${FORCE[@]}" >>"$WORK/flips.out" 2>&1 || { tail -20 "$WORK/flips.out"; exit 1; }
  sleep 3
  "$BIN" migrate rollback "$PLAN" "${FORCE[@]}" >>"$WORK/flips.out" 2>&1 || { tail -20 "$WORK/flips.out"; exit 1; }
  sleep 3
done
for p in "${TPIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${TPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
cat "$WORK"/traffic-*.out | grep '^traffic:' || true
"$BIN" migrate status "$PLAN" --json 2>/dev/null | tail -1 >"$WORK/status.json"
python3 - "$WORK/status.json" "$PROXIES" "$RATE" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
for kind in ("cutover", "rollback"):
    fl = [f for f in s["flips"] if f["kind"] == kind and f["step"] == "released"]
    held = [p["held_us"] / 1000 for f in fl for p in f["proxies"]]
    tot = [f["total_held_us"] / 1000 for f in fl]
    print(f"{kind}: {len(fl)} flips, {sys.argv[2]} prox(ies), {sys.argv[3]} req/s; held per proxy "
          f"p50 {pct(held,50):.0f} ms p99 {pct(held,99):.0f} ms max {max(held):.0f} ms; "
          f"coordinator total p50 {pct(tot,50):.0f} ms max {max(tot):.0f} ms")
    for step in ("prepare", "fence", "catchup", "decide", "commit"):
        v = [f["steps_us"][step] / 1000 for f in fl]
        print(f"  {step:8s} p50 {pct(v,50):6.1f} ms  max {max(v):6.1f} ms")
    # Before the hold (not part of it): the pre-drain's wait and the lag it
    # left for the fenced window (absent in builds without a pre-drain).
    v = [f["steps_us"].get("predrain", -1000) / 1000 for f in fl]
    lag = [f.get("lag_at_hold", -1) for f in fl]
    print(f"  (before the hold: predrain p50 {pct(v,50):.1f} ms max {max(v):.1f} ms; "
          f"committed lag at hold p50 {pct(lag,50)} max {max(lag)} events)")
aborted = [f for f in s["flips"] if f["step"] != "released"]
print(f"aborted flips: {len(aborted)}")
EOF
