#!/usr/bin/env bash
# Bad input to the CLI gets one actionable line on stderr and a non-zero
# exit code, never a stack trace, never a secret:
#   unreachable cluster, wrong scheme, TLS verification failure, 401,
#   a non-JSON / non-Elasticsearch answer, credentials in the URL.
# usage: bad_input.sh TANDEM_BIN   (blue must be up: TANDEM_BLUE_URL)
set -uo pipefail
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
BLUE=${TANDEM_BLUE_URL:-http://127.0.0.1:19200}
TMP=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
passed=0
failed=0

# expect NAME WANT_RC PATTERN -- ARGS...: runs tandem, checks exit code,
# that stderr is one "error: ..." line matching PATTERN, and no crash text.
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local err rc
  err=$(timeout 60 "$BIN" "$@" 2>&1 >/dev/null)
  rc=$?
  local lines
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$rc" -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep -qE "^error: .*$pattern" <<<"$err" ||
    grep -qiE 'terminate called|what\(\)|Aborted|stack|s3cret' <<<"$err"; then
    echo "FAIL $name: rc=$rc (want $want), stderr:"
    printf '  %s\n' "$err"
    failed=$((failed + 1))
  else
    echo "ok   $name: $err"
    passed=$((passed + 1))
  fi
}

# start_fake MODE [CERT KEY]: starts a fake server, sets $port. Not run in
# a command substitution: the server would hold its pipe open.
start_fake() {
  local mode=$1 pf="$TMP/port-$1"
  shift
  python3 "$HERE/fake_server.py" "$mode" "$pf" "$@" >"$TMP/fake-$mode.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do [ -s "$pf" ] && break; sleep 0.1; done
  port=$(cat "$pf")
}

expect unreachable 3 "cannot reach cluster .*127\.0\.0\.1:1" -- cluster info http://127.0.0.1:1
expect wrong-scheme 2 "unsupported scheme 'ftp'" -- cluster info ftp://127.0.0.1:9200
expect https-to-http 4 "plain HTTP" -- cluster info "${BLUE/http:/https:}"
expect credentials-in-url 2 "credentials in URLs are not accepted" -- \
  cluster info "http://elastic:s3cret@127.0.0.1:9200"

start_fake html
expect not-elasticsearch 1 "not Elasticsearch" -- cluster info "http://127.0.0.1:$port"

start_fake 401
expect unauthorized 4 "401" -- cluster info "http://127.0.0.1:$port" --name blue

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
start_fake tls "$TMP/cert.pem" "$TMP/key.pem"
expect tls-verification 4 "TLS verification failed" -- cluster info "https://127.0.0.1:$port"

# tandem migrate: an invalid plan is refused before anything moves.
GREEN=${TANDEM_GREEN_URL:-http://127.0.0.1:19201}
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
write_plan() { # FILE BLUE GREEN ADMIN [EXTRA]
  printf 'name: bad\nblue: {url: "%s"}\ngreen: {url: "%s"}\nlog: {backend: file, dir: log}\nindices: [x]\nproxies: {admin: ["%s"]}\nstate: state.db\n%s' \
    "$2" "$3" "$4" "${5:-}" >"$1"
}
write_plan "$TMP/unknown.yaml" "$BLUE" "$GREEN" "http://127.0.0.1:$closed" "colour: blue\n"
expect migrate-unknown-key 2 "colour: unknown key" -- migrate plan "$TMP/unknown.yaml"
write_plan "$TMP/unreachable.yaml" "http://127.0.0.1:$closed" "$GREEN" "http://127.0.0.1:$closed"
expect migrate-unreachable-cluster 3 "blue unreachable" -- migrate plan "$TMP/unreachable.yaml"
write_plan "$TMP/older.yaml" "$GREEN" "$BLUE" "http://127.0.0.1:$closed"
expect migrate-green-older 2 "plan says upgrade, but blue -> green is an unsupported move" -- \
  migrate plan "$TMP/older.yaml"
write_plan "$TMP/noproxy.yaml" "$BLUE" "$GREEN" "http://127.0.0.1:$closed"
expect migrate-proxy-unreachable 3 "proxy unreachable" -- migrate plan "$TMP/noproxy.yaml"
expect migrate-not-capturing 3 "cannot connect" -- migrate start "$TMP/noproxy.yaml"
expect verify-mode 2 "exactly one of --quick or --deep" -- verify --blue "$BLUE" --green "$BLUE"
expect repair-needs-deep 2 "need --deep" -- verify --quick --repair --blue "$BLUE" --green "$BLUE"
expect deep-scan-retry 2 "--scan-retry-ms must be 0 or more" -- \
  verify --deep --scan-retry-ms -5 --blue "$BLUE" --green "$BLUE"
expect compare-no-file 2 "cannot read query file" -- \
  compare --blue "$BLUE" --green "$BLUE" --queries "$TMP/none.jsonl"
printf '{"path":"/x/_search"}\nnot json\n' >"$TMP/bad.jsonl"
expect compare-bad-line 2 "line 2" -- compare --blue "$BLUE" --green "$BLUE" --queries "$TMP/bad.jsonl"

expect compare-both-inputs 2 "either --queries FILE or --captured FILE" -- \
  compare --blue "$BLUE" --green "$BLUE" --queries "$TMP/bad.jsonl" --captured "$TMP/bad.jsonl"
expect compare-no-capture 2 "cannot read read-capture file" -- \
  compare --blue "$BLUE" --green "$BLUE" --captured "$TMP/none.jsonl"
printf 'garbage\n{"v":1,"method":"GET"}\n' >"$TMP/corrupt-reads.jsonl"
expect compare-corrupt-capture 2 "no readable captured reads .*2 corrupt record.*line 1" -- \
  compare --blue "$BLUE" --green "$BLUE" --captured "$TMP/corrupt-reads.jsonl"
expect proxy-bad-read-rate 2 "--capture-reads: '2' is not a sampling rate" -- \
  proxy --primary "$BLUE" --log-dir "$TMP/plog" --capture-reads 2
expect proxy-shadow-needs-secondary 2 "shadow reads need a secondary" -- \
  proxy --primary "$BLUE" --data-dir "$TMP/pdata" --shadow-reads 0.1

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
