# Shared by the matrix scenarios (run.sh, snapshot.sh): pair members ->
# servers, starting the servers a pair needs and stopping the ones this run
# started, and the background children of a scenario. Source it after
# scripts/lib.sh, from the repository root.

# Pair member (es68, es717, ...) -> service name of scripts/services.
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

# Service -> its URL (after `eval "$(scripts/services env)"`).
url_of() {
  case $1 in
    blue) echo "$TANDEM_BLUE_URL" ;;
    green) echo "$TANDEM_GREEN_URL" ;;
    es68) echo "$TANDEM_ES68_URL" ;;
    es92) echo "$TANDEM_ES92_URL" ;;
    os219) echo "$TANDEM_OS219_URL" ;;
    os38) echo "$TANDEM_OS38_URL" ;;
  esac
}

# Everything this run starts, to stop at the end (a server that was up when
# we came is left up).
started=()
up() {  # service
  scripts/services status "$1" >/dev/null 2>&1 || started+=("$1")
  scripts/services up "$1" >/dev/null || return 1
}

# After PAIR, stops the extra servers (not blue, green) this run started
# that NEXT (the next pair, or empty) does not use.
stop_unneeded() {  # pair next
  local pair=$1 next=$2 m s i
  for m in "${pair%%-*}" "${pair##*-}"; do
    s=$(service_of "$m")
    case $s in blue | green) continue ;; esac
    case "-$next-" in *"-$m-"*) continue ;; esac
    for i in "${!started[@]}"; do
      if [ "${started[$i]}" = "$s" ]; then
        scripts/services down "$s" >/dev/null 2>&1 || true
        unset 'started[i]'
      fi
    done
  done
}

children=()
kill_children() {
  local p
  for p in "${children[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${children[@]}"; do wait "$p" 2>/dev/null || true; done
  children=()
}
matrix_cleanup() {
  kill_children
  if [ ${#started[@]} -gt 0 ]; then scripts/services down "${started[@]}" >/dev/null 2>&1 || true; fi
}
trap matrix_cleanup EXIT
trap 'exit 130' INT TERM

fail_reason=""
fail() {
  fail_reason="$*"
  return 1
}
