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

kafka_libs() {
  echo "$TANDEM_CACHE/kafka-$KAFKA_VERSION/libs"
}
