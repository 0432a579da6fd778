# The two commands: `make run` (first-run demo) and `make test` (every test).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps test-deps configure build test run clean

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

run: build
	@scripts/demo.sh $(BUILD)/tritium

clean:
	rm -rf $(BUILD)
