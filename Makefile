# ustack — the README's two commands are `make demo` and `make test`. Both first run
# scripts/setup.sh (installs missing Debian packages), then build incrementally into build/.

BUILD      ?= build
FUZZ_BUILD ?= $(BUILD)/fuzz
ASAN_BUILD ?= $(BUILD)/asan
TSAN_BUILD ?= $(BUILD)/tsan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja
CTEST      := ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

.PHONY: all setup build fuzz-build asan-build tsan-build demo test test-unit test-interop \
        test-fuzz test-asan test-tsan bench bench-quick bench-micro format check-format clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja: | setup
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DUSTACK_FUZZ_BIN_DIR=$(CURDIR)/$(FUZZ_BUILD)/fuzz

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j$(JOBS)

# Fuzz targets need clang (libFuzzer); they live in their own build tree.
$(FUZZ_BUILD)/build.ninja: | setup
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DUSTACK_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo

fuzz-build: setup $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_all

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, unit tests run under it.
$(ASAN_BUILD)/build.ninja: | setup
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DUSTACK_SANITIZE=ON -DUSTACK_BENCH=OFF

asan-build: setup $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# ThreadSanitizer build of the socket and rt unit tests and the simulator's application-thread
# tests only (the CMake target tsan_tests): where application threads call in while the stack
# thread runs (the other sim tests are single-threaded and slow under TSan).
# TSan keeps its shadow memory at fixed addresses; on kernels with vm.mmap_rnd_bits above 28
# the randomized mappings can land there and TSan aborts with "unexpected memory mapping".
# The least invasive fix is per process, not the machine-wide sysctl: run the TSan binaries
# (and CMake's test discovery, which runs them at build time) with address-space randomization
# off, `setarch $(uname -m) -R`, inherited by every child. Used whenever setarch is allowed here;
# without it TSan still runs where the kernel's mmap_rnd_bits is 28 (Debian's default).
TSAN_RUN := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo setarch $$(uname -m) -R)
TSAN_CTEST := $(TSAN_RUN) ctest --test-dir $(TSAN_BUILD) --output-on-failure -j$(JOBS) -L unit \
              -R 'unit\.(socket|rt)\.|unit\.sim\.(socket_sim|echo_models)\.'

$(TSAN_BUILD)/build.ninja: | setup
	cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DUSTACK_TSAN=ON -DUSTACK_BENCH=OFF

tsan-build: setup $(TSAN_BUILD)/build.ninja
	$(TSAN_RUN) cmake --build $(TSAN_BUILD) -j$(JOBS) --target tsan_tests

demo: build
	$(BUILD)/ustack demo

# Everything CI runs: unit, interop and fuzz-smoke tests on the normal build, then the unit
# and interop tests again under ASan+UBSan, then the socket, rt and sim unit tests under TSan.
test: build fuzz-build asan-build tsan-build
	$(CTEST)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) -L "unit|interop"
	$(TSAN_CTEST)

test-unit: build
	$(CTEST) -L unit
test-interop: build
	$(CTEST) -L interop
test-fuzz: build fuzz-build
	$(CTEST) -L fuzz-smoke
test-asan: asan-build  # unit + interop under ASan+UBSan
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) -L "unit|interop"
test-tsan: tsan-build  # socket, rt and sim unit tests under ThreadSanitizer
	$(TSAN_CTEST)

# Issue 6's comparison: ustack, the Linux kernel and lwIP run the same workloads side by side
# (bench/compare: medians of 5 runs, ratios, targets; results in bench/results/). Needs root
# for the namespace and TAP cases and says so otherwise. bench-quick: the same in < 2 minutes.
bench: build
	bench/compare --build $(BUILD)
bench-quick: build
	bench/compare --build $(BUILD) --quick
# The Google Benchmark micro benchmarks, then the network layer side by side with the Linux
# kernel over TAP and veth (bench/net_tap.sh; root). docs/performance.md records both.
bench-micro: build
	bench/run.sh $(BUILD)
	bench/net_tap.sh $(BUILD)

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i
check-format:
	tools/check_format.sh

clean:
	rm -rf $(BUILD)
