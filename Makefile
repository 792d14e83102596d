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

# Figures for the targets in the issues (each prints a table; ratios measured in the same run).
BENCH_OUT ?= bench-out
bench: build
	$(RUN) ./target/release/unibit bench reference
	$(RUN) ./target/release/unibit bench-train --family resnet20 --width 1 --bits 2 --batch 128 --threads 2 --steps 4 --rounds 10
	$(RUN) ./target/release/unibit hw bench --board icebreaker --bits 1,2,4,8 --out $(BENCH_OUT)/icebreaker
	$(RUN) ./target/release/unibit hw synth --board ulx3s-25f --bits 4 --out $(BENCH_OUT)/ulx3s-25f

fmt:
	cargo fmt --all

lint:
	$(RUN) cargo clippy --workspace --all-targets -- -D warnings
