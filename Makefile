# Thin wrapper: the real work lives in CMake and scripts/.
#   make demo   - bootstrap, build, start blue/green/Kafka, run the demo
#   make test   - bootstrap, build (plus ASan+UBSan), start services, run
#                 every test, stop the services it started
.PHONY: all bootstrap build build-asan build-tsan test demo services-up services-down services-status format clean

# ccache across checkouts: paths relative to the checkout, so a fresh clone
# of the same sources reuses earlier compilations (debug info then names the
# first checkout's directory, which is harmless).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@ninja -C $(BUILD_DIR) -j $(JOBS)

build-asan: bootstrap
	@cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_DIR) -j $(JOBS) unit_tests

# ThreadSanitizer, with clang so that the lock annotations are checked too.
build-tsan: bootstrap
	@CXX=clang++ cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_TSAN=ON >/dev/null
	@ninja -C $(TSAN_DIR) -j $(JOBS) unit_tests

test:
	@scripts/run-tests

demo:
	@scripts/demo

services-up: bootstrap
	@scripts/services up

services-down:
	@scripts/services down

services-status:
	@scripts/services status

format:
	@clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
