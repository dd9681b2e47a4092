# Shared shell helpers for scripts/bootstrap and scripts/services.
# Sourced, not executed.

TANDEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deps/versions.env
. "$TANDEM_ROOT/scripts/deps/versions.env"

# Downloads and unpacked distributions. Root keeps them outside /root so the
# unprivileged Elasticsearch user can read them.
if [ "$(id -u)" = 0 ]; then
  TANDEM_CACHE=${TANDEM_CACHE:-/var/cache/tandem}
else
  TANDEM_CACHE=${TANDEM_CACHE:-$HOME/.cache/tandem}
fi
TANDEM_RUN_DIR=${TANDEM_RUN_DIR:-$TANDEM_ROOT/.run}
ES_USER=${TANDEM_ES_USER:-tandem-es}

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

java_home() {
  local j
  j=$(readlink -f "$(command -v java)") || die "java not found: run scripts/bootstrap"
  dirname "$(dirname "$j")"
}

sha256_of() { sha256sum "$1" | awk '{print $1}'; }

verify_sha256() {  # file expected
  local got
  got=$(sha256_of "$1")
  [ "$got" = "$2" ] || die "checksum mismatch for $1: expected $2, got $got (delete it and rerun scripts/bootstrap)"
}

es_home() {  # version
  echo "$TANDEM_CACHE/elasticsearch-$1"
}

os_home() {  # version
  echo "$TANDEM_CACHE/opensearch-$1"
}

# The servers beyond blue/green that the version matrix uses, by name:
#   es68  Elasticsearch 6.8   (JDK 17 through JAVA_HOME)
#   es92  Elasticsearch 9.2   (JDK 21+)
#   os219 OpenSearch 2.19     (JDK 17 only)
#   os38  OpenSearch 3.8      (JDK 21+)
EXTRA_SERVERS="es68 es92 os219 os38"

is_extra_server() { case " $EXTRA_SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

server_flavor() { case $1 in os*) echo opensearch ;; *) echo elasticsearch ;; esac; }

server_version() {  # name
  case $1 in
    blue) echo "$ES_BLUE_VERSION" ;;
    green) echo "$ES_GREEN_VERSION" ;;
    es68) echo "$ES68_VERSION" ;;
    es92) echo "$ES92_VERSION" ;;
    os219) echo "$OS219_VERSION" ;;
    os38) echo "$OS38_VERSION" ;;
    *) return 1 ;;
  esac
}

server_sha256() {  # name
  case $1 in
    es68) echo "$ES68_SHA256" ;;
    es92) echo "$ES92_SHA256" ;;
    os219) echo "$OS219_SHA256" ;;
    os38) echo "$OS38_SHA256" ;;
    *) return 1 ;;
  esac
}

server_home() {  # name
  local v
  v=$(server_version "$1")
  if [ "$(server_flavor "$1")" = opensearch ]; then os_home "$v"; else es_home "$v"; fi
}

# Which JDK a server needs: 17 (the default JDK) or 21 (21 or newer).
server_jdk() { case $1 in es92 | os38) echo 21 ;; *) echo 17 ;; esac; }

# A JDK 21 or newer for Elasticsearch 9.x and OpenSearch 3.x:
# $TANDEM_JDK21_HOME if set, else the newest Temurin 21+ under /usr/lib/jvm.
# Prints nothing (and returns 1) when there is none.
jdk21_home() {
  local d v best="" best_v=0
  if [ -n "${TANDEM_JDK21_HOME:-}" ]; then
    [ -x "$TANDEM_JDK21_HOME/bin/java" ] || return 1
    echo "$TANDEM_JDK21_HOME"
    return 0
  fi
  for d in /usr/lib/jvm/temurin-2*-jdk* /usr/lib/jvm/temurin-3*-jdk* /usr/lib/jvm/java-2[1-9]-openjdk*; do
    [ -x "$d/bin/java" ] || continue
    v=$(basename "$d" | sed -E 's/^(temurin|java)-([0-9]+).*/\2/')
    case $v in '' | *[!0-9]*) continue ;; esac
    if [ "$v" -ge 21 ] && [ "$v" -gt "$best_v" ]; then best=$d best_v=$v; fi
  done
  [ -n "$best" ] || return 1
  echo "$best"
}

jdk21_missing_msg() {
  echo "no JDK 21 or newer found (looked for \$TANDEM_JDK21_HOME, /usr/lib/jvm/temurin-2*-jdk*," \
    "/usr/lib/jvm/java-2x-openjdk*): Elasticsearch 9.x and OpenSearch 3.x need one;" \
    "install Temurin 21+ or point TANDEM_JDK21_HOME at a JDK 21+"
}

kafka_libs() {
  echo "$TANDEM_CACHE/kafka-$KAFKA_VERSION/libs"
}
