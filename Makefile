# The two commands: `make run` (first-run demo) and `make test` (every test).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

FUZZ_SECONDS ?= 60

.PHONY: all deps test-deps configure build test test-sanitize fuzz run clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

configure:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null

build: deps configure
	@cmake --build $(BUILD) -j $(JOBS)

test: test-deps configure
	@cmake --build $(BUILD) -j $(JOBS)
	@scripts/fetch-default-model.sh > /dev/null
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The unit and conformance suites built with ASan + UBSan (build-asan); any report fails the test.
test-sanitize: test-deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRITIUM_SANITIZE=ON -DTRITIUM_CUDA=OFF $(CMAKE_FLAGS) > /dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -L 'unit|conformance' -E triton_kernels_interpret

# Every libFuzzer target (tests/fuzz) for FUZZ_SECONDS seconds each, one after another (build-fuzz, clang).
fuzz:
	@scripts/install-deps.sh --fuzz
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRITIUM_FUZZ=ON \
	  -DTRITIUM_BUILD_TESTS=OFF -DTRITIUM_CUDA=OFF $(CMAKE_FLAGS) > /dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

run: build
	@scripts/demo.sh $(BUILD)/tritium

clean:
	rm -rf $(BUILD)
