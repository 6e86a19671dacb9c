# Thin wrapper over CMake/ctest. `make test` and `make run` install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all setup build test test-fast unit run asan fuzz soak bench clean

all: build

setup:
	@bash scripts/setup

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS)

# A short bounded libFuzzer run of every target comes first (ctest's summary stays last).
test: setup build
	FUZZ_SHORT_SECONDS=$${FUZZ_SHORT_SECONDS:-10} bash scripts/fuzz-short
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# Everything but the real engines (label engines, tests/engines/): the inner loop.
test-fast: setup build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE engines $(CTEST_ARGS)

# Only the C unit tests and fuzz-corpus replays: fast inner loop.
unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -R '^(unit|fuzz)/' $(CTEST_ARGS)

run: setup build
	./$(BUILD)/idbsync serve --data ./data --lake ./lake --listen 127.0.0.1:8080

asan: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DIDS_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build build-asan -j$(JOBS)
	# 5x time budgets for the slower build; the timing-bound fault suites run under
	# scripts/valgrind-integration instead. A leak or error report aborts the server: the test fails.
	cd build-asan && IDS_TIME_SCALE=5 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS) -LE "browser|faults" $(CTEST_ARGS)

fuzz: setup
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DIDS_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build build-fuzz -j$(JOBS)
	bash scripts/fuzz build-fuzz $${FUZZ_SECONDS:-300}

# Straight through node: the 1,000-kill crash loop takes about an hour, past ctest's 600 s limit.
soak: setup build
	IDS_SOAK=1 IDBSYNC_BIN=$(CURDIR)/$(BUILD)/idbsync IDBSYNC_SRC=$(CURDIR) \
		node --test --test-reporter=spec --test-concurrency=1 tests/faults/*.test.mjs

bench: setup build
	bash bench/all.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
