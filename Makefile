# The README's two commands are `make run` and `make test`; both install what is missing first.
SWIFT ?= swift
BIN := .build/debug/hyperloom

.PHONY: deps build run test clean

deps:
	@./.ci/install-deps

build: deps
	$(SWIFT) build --product hyperloom

## The main job on the embedded default: broker + workers + client in one process.
run: build
	$(BIN) run Configs/examples/logreg.yaml $(ARGS)

## Every test: unit tests of each module and the end-to-end tests with real processes.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

clean:
	rm -rf .build hyperloom-data
