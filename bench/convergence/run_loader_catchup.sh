#!/usr/bin/env bash
# Builds loader_catchup.cc against an existing build dir's libraries and runs
# it: bench/convergence/run_loader_catchup.sh BUILD_DIR [EVENTS] [WORKERS]
set -euo pipefail
B=${1:?build dir}; N=${2:-50000}; W=${3:-4}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
c++ -O2 -std=c++20 -I"$SRC/src" "$SRC/bench/convergence/loader_catchup.cc" -o "$B/loader_catchup" \
  "$B/libtandem_load.a" "$B/libtandem_meta.a" "$B/libtandem_log.a" "$B/libtandem_event.a" \
  "$B/libtandem_state.a" "$B/libtandem_es.a" "$B/libtandem_http.a" "$B/libtandem_core.a" \
  -lrdkafka -lsqlite3 -lsimdjson -lfmt -lboost_system -lssl -lcrypto -lpthread
"$B/loader_catchup" "$N" "$W"
