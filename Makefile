# Thin front for CMake. `make` builds build/bin/weft; `make test` installs what
# is missing (scripts/setup.sh), builds and runs every suite.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build setup setup-test test test-asan test-tsan test-long test-fuzz bench format clean demo

all: build

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: setup-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

test-long: setup-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -L long

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=ON $(CMAKE_ARGS)

test-asan: setup-test $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE 'long|bench'

TSAN_BUILD ?= build-tsan
TSAN_LABELS ?= unit|interop|system
# Tests to leave out of the TSan run (a ctest -E regex); none today.
TSAN_EXCLUDE ?= ^$$
TSAN_REPORTS = $(abspath $(TSAN_BUILD))/tsan-reports
# ThreadSanitizer build (STYLE.md 4.3). Every process, a unit test or a weft
# node started by an interop or system test, writes its reports to
# $(TSAN_REPORTS)/tsan.PID instead of stderr, so a report fails the run even
# where the test itself passed. Suppressions: tests/tsan.supp.
$(TSAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWEFT_TSAN=ON $(CMAKE_ARGS)

test-tsan: setup-test $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	cd $(TSAN_BUILD) || exit 1; rc=0; \
	  TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp:log_path=$(TSAN_REPORTS)/tsan \
	  ctest --output-on-failure -j $(JOBS) -L '$(TSAN_LABELS)' -LE 'long|bench|lint|fuzz' \
	    -E '$(TSAN_EXCLUDE)' || rc=1; \
	  if grep -l 'WARNING: ThreadSanitizer' $(TSAN_REPORTS)/* >/dev/null 2>&1; then \
	    cat $(TSAN_REPORTS)/*; \
	    echo "ThreadSanitizer reports: $$(grep -c '^SUMMARY: ThreadSanitizer' $(TSAN_REPORTS)/* | paste -sd' ')"; \
	    rc=1; \
	  fi; exit $$rc

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
# libFuzzer targets built with clang, each fuzzed for FUZZ_SECONDS.
test-fuzz: setup-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=ON \
	  -DWEFT_FUZZ=ON -DWEFT_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	cd $(FUZZ_BUILD) && WEFT_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure -L fuzz

bench: setup-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	@mkdir -p $(BUILD)/bench
	@for b in bench/*/run.sh; do n=$$(basename $$(dirname $$b)); \
	  echo "== bench $$n"; BUILD=$(BUILD) $$b || exit 1; done

bench-%: setup-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	@mkdir -p $(BUILD)/bench
	BUILD=$(BUILD) bench/$*/run.sh

# The first command of the README: installs what is missing, builds, brings
# a local network up, runs the sample application, leaves the network up.
# DEMO_ARGS: e.g. --down, --dir D, --base-port P (scripts/demo.sh --help).
demo:
	BUILD=$(BUILD) scripts/demo.sh $(DEMO_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
