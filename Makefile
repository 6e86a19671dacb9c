# Thin wrapper over CMake/ctest. `make test` and `make run` install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

# make run PORT=9090, or LISTEN=0.0.0.0:8080 (every interface: mind --auth)
PORT ?= 8080
LISTEN ?= 127.0.0.1:$(PORT)
# make install PREFIX=/opt/idbsync DESTDIR=/tmp/pkg
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all setup setup-server build build-server test test-fast unit run install asan fuzz soak bench clean

all: build

setup:
	@bash scripts/setup

setup-server:
	@bash scripts/setup --server

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS)

# The server binary alone (no tests, no fuzz targets): what make run and make install need.
build-server: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS) --target idbsync

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

run: setup-server build-server
	./$(BUILD)/idbsync serve --data ./data --lake ./lake --listen $(LISTEN)

# PREFIX/bin/idbsync, PREFIX/share/idbsync/{client,demo} (the binary finds them there),
# PREFIX/share/doc/idbsync (README, docs), and an example systemd unit.
install: setup-server build-server
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/idbsync/client $(DESTDIR)$(PREFIX)/share/idbsync/demo \
		$(DESTDIR)$(PREFIX)/share/doc/idbsync/docs $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BUILD)/idbsync $(DESTDIR)$(PREFIX)/bin/idbsync
	install -m 644 client/*.js client/*.ts client/README.md $(DESTDIR)$(PREFIX)/share/idbsync/client/
	install -m 644 demo/* $(DESTDIR)$(PREFIX)/share/idbsync/demo/
	install -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/idbsync/
	install -m 644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/idbsync/docs/
	sed 's|@PREFIX@|$(PREFIX)|g' scripts/idbsync.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/idbsync.service
	@echo "installed $(DESTDIR)$(PREFIX)/bin/idbsync; example unit: $(PREFIX)/lib/systemd/system/idbsync.service"

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
