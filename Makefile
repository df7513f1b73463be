# imgsec: `make` builds, `make test` runs every test (plain, then ASan+UBSan, then the fuzzers),
# `make run` starts the main job. Each installs missing Debian packages first (scripts/install-deps).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= 2
# cmake --build runs make again: its "Entering directory" lines only clutter what `make run` prints
MAKEFLAGS  += --no-print-directory
# where `make run` (scripts/run-proxy) listens: make run RUN_LISTEN=0.0.0.0:8080 for a trusted LAN;
# RUN_FLAGS go to imgsec proxy as they are (e.g. RUN_FLAGS="--allow 192.168.1.0/24")
RUN_LISTEN ?= 127.0.0.1:8080
RUN_FLAGS  ?=
# seconds per fuzz target: 9 targets x 7 s is the ~60 s in all that the foundation issue asks for
FUZZ_SECONDS ?= 7
ISEC_WERROR ?= $(if $(CI),ON,OFF)
CORPUS_DIR ?= $(CURDIR)/$(BUILD)/corpus

.PHONY: all deps build test test-plain test-asan test-fuzz corpus run bench clean format

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DISEC_WERROR=$(ISEC_WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

corpus: deps
	@scripts/make-jpeg-corpus $(CORPUS_DIR)
	@scripts/make-ccsds-corpus $(CURDIR)/$(BUILD)/ccsds-corpus

test: test-plain test-asan test-fuzz

test-plain: build corpus
	cd $(BUILD) && ISEC_CORPUS=$(CORPUS_DIR) ISEC_CCSDS_CORPUS=$(CURDIR)/$(BUILD)/ccsds-corpus ctest --output-on-failure -j $(JOBS)

test-asan: deps corpus
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DISEC_SANITIZE=ON -DISEC_WERROR=$(ISEC_WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ISEC_CORPUS=$(CORPUS_DIR) ISEC_CCSDS_CORPUS=$(CURDIR)/$(BUILD)/ccsds-corpus ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

test-fuzz: deps corpus
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DISEC_FUZZ=ON -DISEC_WERROR=$(ISEC_WERROR) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS) $(CORPUS_DIR)

run: build
	@scripts/run-proxy $(BUILD) $(RUN_LISTEN)$(if $(strip $(RUN_FLAGS)), $(RUN_FLAGS))

bench: build corpus
	bench/bench-jpeg $(BUILD) $(CORPUS_DIR)
	bench/bench-proxy $(BUILD)
	bench/bench-verifier $(BUILD)
	bench/bench-vcs $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
