# The README's two commands are `make run` and `make test`; both install what is missing first.
SWIFT ?= swift
BIN := .build/debug/hyperloom

.PHONY: deps build run test bench bench-search clean fuzz fuzz-build fuzz-smoke fuzz-run

deps:
	@./.ci/install-deps

build: deps
	$(SWIFT) build --product hyperloom

## The main job on the embedded default: broker + workers + client in one process.
run: build
	$(BIN) run Configs/examples/logreg.yaml $(ARGS)

## Every test: unit tests of each module and the end-to-end tests with real processes.
## One at a time: the end-to-end tests block their thread while real processes work, and in
## parallel on two cores they starve every other test of the test runner's two threads.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	$(MAKE) fuzz-smoke

## Coverage-guided fuzzing with libFuzzer (Docs/security.md, "Fuzzing"): one binary built with
## -sanitize=fuzzer,address in its own scratch path; each target starts from its seed corpus in
## Tests/Fuzz/corpus/TARGET and keeps what it finds in .build/fuzz/corpus/TARGET. `make test` runs
## each target FUZZ_SMOKE seconds, `make fuzz` FUZZ_TIME seconds; a crash stops with its input
## in .build/fuzz/crashes/ (add it to the corpus once fixed).
FUZZ_TARGETS := wire broker manifest replay spec
FUZZ_BIN := .build/fuzz/debug/hyperloom-fuzz
FUZZ_SMOKE ?= 25
FUZZ_TIME ?= 300
fuzz-build: deps
	$(SWIFT) build --product hyperloom-fuzz --scratch-path .build/fuzz \
	  -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library

fuzz-smoke: fuzz-build
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_SMOKE)

fuzz: fuzz-build
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_TIME)

fuzz-run:
	@mkdir -p .build/fuzz/crashes
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build/fuzz/corpus/$$t; \
	  SWIFT_BACKTRACE=enable=no HYPERLOOM_FUZZ_TARGET=$$t $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=.build/fuzz/crashes/$$t- .build/fuzz/corpus/$$t Tests/Fuzz/corpus/$$t \
	    > .build/fuzz/$$t.log 2>&1 || { tail -40 .build/fuzz/$$t.log; echo "fuzz $$t: CRASH (input in .build/fuzz/crashes/)"; exit 1; }; \
	  runs=$$(grep -o 'number_of_executed_units: [0-9]*' .build/fuzz/$$t.log | grep -o '[0-9]*'); \
	  cov=$$(grep -o 'cov: [0-9]*' .build/fuzz/$$t.log | tail -1); \
	  echo "fuzz $$t: $$runs executions in $(FUZZ_SECONDS) s, $$cov, 0 crashes"; \
	done

## The fabric's benchmarks of Docs/benchmarks.md (the table "at a glance") on a release build,
## at the sizes quoted there; bench-search runs the searcher and scheduler benchmarks.
RELEASE := .build/release/hyperloom
bench: deps
	$(SWIFT) build -c release --product hyperloom
	$(RELEASE) bench fabric --trials 5000 --slots 16 --runs 3
	$(RELEASE) bench fabric --trials 5000 --slots 16 --runs 3 --store memory
	$(RELEASE) bench subprocess --trials 1000 --slots 4 --runs 3
	$(RELEASE) bench overhead --trials 2000 --duration 0.5 --slots 16
	$(RELEASE) bench utilization --trials 300 --slots 8 --median 0.5 --sigma 1 --cap 15
	$(RELEASE) bench failover --kills 20 --workers 3 --heartbeat 250ms
	$(RELEASE) bench scale --workers 1000 --rate 200 --seconds 20
	$(RELEASE) bench feed --events 200000 --runs 3

bench-search: deps
	$(SWIFT) build -c release --product hyperloom
	$(RELEASE) bench ask --searcher tpe gp bohb random quasi_random --history 100,200,1000,10000 --dims 10
	$(RELEASE) bench efficiency --seeds 30
	$(RELEASE) bench efficiency --seeds 30 --first-seed 100
	$(RELEASE) bench efficiency --seeds 30 --first-seed 200
	$(RELEASE) bench multifidelity

clean:
	rm -rf .build hyperloom-data
