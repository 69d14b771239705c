# The README's two commands are `make run` and `make test`; both install what is missing first.
SWIFT ?= swift
BIN := .build/debug/hyperloom

.PHONY: deps build run test test-python test-browser dashboard-screenshots bench bench-search clean docker fuzz fuzz-build fuzz-smoke fuzz-run

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
## Then the compose topology through podman on the debug binary (Tests/Compose/compose-test.sh,
## about 1.5 min; it prints SKIPPED and why where podman cannot run containers), the Python SDK's
## tests, and each fuzz target for FUZZ_SMOKE seconds.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	HYPERLOOM_BIN=$(BIN) Tests/Compose/compose-test.sh
	$(MAKE) test-python
	$(MAKE) test-browser
	$(MAKE) fuzz-smoke

## The dashboard in headless Chromium (Tests/browser): the trial count grows without a reload and a
## trial's log is live. Exit 77 is a skip (no Chromium, or it cannot start): printed as SKIPPED with
## its reason, never as a pass; `make` goes on (set BROWSER_REQUIRED=1 to fail on a skip instead).
test-browser:
	@test -x $(BIN) || $(SWIFT) build --product hyperloom
	@python3 Tests/browser/dashboard_browser_test.py $(BIN); status=$$?; \
	  if [ $$status -eq 77 ]; then echo "test-browser: SKIPPED (not passed): see the reason above" >&2; \
	    [ -z "$(BROWSER_REQUIRED)" ] || exit 1; exit 0; fi; exit $$status

## The dashboard's screenshots in Docs/images (Docs/dashboard.md), from a fresh run.
dashboard-screenshots:
	@test -x $(BIN) || $(SWIFT) build --product hyperloom
	python3 Tests/browser/dashboard_browser_test.py $(BIN) --screenshots Docs/images

## The Python SDK's tests (Tests/python, pytest) against the built binary and real processes.
## Installs pyzmq, pytest and the SDK itself when missing; pytest's "no tests collected" (5) fails.
PYTHON ?= python3
test-python:
	@$(PYTHON) -c "import zmq, pytest" 2>/dev/null || $(PYTHON) -m pip install --quiet pyzmq pytest
	@$(PYTHON) -c "import hyperloom" 2>/dev/null || $(PYTHON) -m pip install --quiet ./Sources/hyperloom-python
	@test -x $(BIN) || $(SWIFT) build --product hyperloom
	@$(PYTHON) -m pytest -q Tests/python; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "test-python: pytest collected no tests in Tests/python" >&2; exit 1; fi; exit $$status

## Coverage-guided fuzzing with libFuzzer (Docs/security.md, "Fuzzing"): one binary built with
## -sanitize=fuzzer,address in its own scratch path; each target starts from its seed corpus in
## Tests/Fuzz/corpus/TARGET and keeps what it finds in .build/fuzz/corpus/TARGET. `make test` runs
## each target FUZZ_SMOKE seconds, `make fuzz` FUZZ_TIME seconds; a crash stops with its input
## in .build/fuzz/crashes/ (add it to the corpus once fixed).
FUZZ_TARGETS := wire broker manifest replay spec optimizer
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

## The image from Docker/Dockerfile with podman and local base images (Docker/README.md, "With
## podman"): a release build in a container, about 30 min on two shared cores; the first time
## also 5-10 min for the base images (Docker/local-images.sh).
docker: deps
	Docker/podman-build.sh

clean:
	rm -rf .build hyperloom-data
