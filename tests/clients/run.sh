#!/usr/bin/env bash
# The real-client capture suite (tests/clients/real_clients.py): installs the
# pinned clients once into the cache (a Python venv with elasticsearch7 and
# requests, node_modules with @elastic/elasticsearch 7.x), then runs it
# against the services scripts/services started.
#   tests/clients/run.sh TANDEM_BIN
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"
export TANDEM_BIN=${1:?usage: run.sh TANDEM_BIN}

PY_PINS=(elasticsearch7==7.17.12 requests==2.32.3)
NODE_PIN=@elastic/elasticsearch@7.17.14
dir="$TANDEM_CACHE/clients"
marker="$dir/.ok-$(printf '%s ' "${PY_PINS[@]}" "$NODE_PIN" | sha256sum | cut -c1-16)"
if [ ! -f "$marker" ]; then
  say "clients: installing ${PY_PINS[*]} and $NODE_PIN into $dir"
  rm -rf "$dir"
  mkdir -p "$dir/node"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}" \
    || die "could not install ${PY_PINS[*]} from PyPI"
  (cd "$dir/node" && npm install -q --no-audit --no-fund --prefix . "$NODE_PIN" >/dev/null) \
    || die "could not install $NODE_PIN from the npm registry"
  touch "$marker"
fi
command -v curl >/dev/null || die "curl is missing: run scripts/bootstrap"
command -v node >/dev/null || die "node is missing"
export TANDEM_CLIENTS_NODE_MODULES="$dir/node/node_modules"
exec "$dir/venv/bin/python" "$here/real_clients.py"
