# unibit — the two commands a newcomer runs: `make demo` and `make test`. Both run setup first.
SHELL := /bin/bash
ENVSH := $(HOME)/.cache/unibit/env.sh
RUN := source $(ENVSH) &&
DEMO_OUT ?= demo-out

.PHONY: setup test demo build bench fmt lint

setup:
	@bash scripts/setup.sh

build: setup
	$(RUN) cargo build --release

test: setup
	$(RUN) cargo test --workspace --release 2>&1 | tee .test.log; exit $${PIPESTATUS[0]}

demo: build
	$(RUN) ./target/release/unibit demo --out $(DEMO_OUT)

bench: build
	$(RUN) ./target/release/unibit bench reference

fmt:
	cargo fmt --all

lint:
	$(RUN) cargo clippy --workspace --all-targets -- -D warnings
