# The README's two commands are `make run` and `make test`; both install what is missing first.
SWIFT ?= swift
BIN := .build/debug/hyperloom

.PHONY: deps build run test bench bench-search clean docker

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
## Last, the compose topology through podman on the debug binary (Tests/Compose/compose-test.sh,
## about 1.5 min; it prints SKIPPED and why where podman cannot run containers).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	HYPERLOOM_BIN=$(BIN) Tests/Compose/compose-test.sh

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
