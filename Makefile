# runbook — build, demo, test. `make demo` and `make test` install what they need (.venv/ holds the
# pinned emulator); Rust comes from rustup.

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
RUNBOOK := $(TARGET_DIR)/debug/runbook
EMULATOR := tests/emulator/with-emulator.sh
POOL := tests/emulator/with-pool.sh
# The test runner: cargo-nextest when it is installed (each test a process of its own, the slowest
# first, more at once than there are cores: .config/nextest.toml), else cargo test.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
BOTOCORE = $(shell .venv/bin/python -c 'import botocore, os; print(os.path.dirname(botocore.__file__))')

.PHONY: all build demo test lint generate check-generated ci venv browser editors bench layout docs

all: build

venv:
	@tests/emulator/setup.sh

# Debian's Chromium, for the test that opens a run's timeline page headless.
browser:
	@tests/debian-package.sh chromium /usr/bin/chromium "the test that opens a run's timeline page"

# Debian's Neovim, for the test that uses `runbook lsp` from a real editor.
editors:
	@tests/debian-package.sh neovim /usr/bin/nvim "the test that uses runbook lsp from an editor"

# One build for every target below: with --bins --examples, features resolve as they do for the
# tests, so that `make demo` then `make test` (or the reverse) compiles nothing twice.
build:
	$(CARGO) build --workspace --bins --examples

# The whole tutorial against the local emulator: resources, DNS name, verify tables.
demo: venv build
	$(EMULATOR) $(RUNBOOK) run runbooks/tutorial.rhai --set emulator=true --set propagation_wait=0

# Every test: unit tests, and the end-to-end tests, each with a private emulator forked from one
# warm pool (tests/emulator/pool.py).
test: venv browser editors build
ifeq ($(NEXTEST),yes)
	RUNBOOK_VENV=$(CURDIR)/.venv $(POOL) $(CARGO) nextest run --workspace
	$(CARGO) test --workspace --doc
else
	@echo "test: cargo-nextest is not installed (cargo install cargo-nextest); cargo test runs the tests"
	RUNBOOK_VENV=$(CURDIR)/.venv $(POOL) $(CARGO) test --workspace -- --test-threads 6
endif
	@# The runbooks' own tests, with mocks: an endpoint nothing listens on proves they send nothing.
	AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_ENDPOINT_URL=http://127.0.0.1:9 \
		$(RUNBOOK) test runbooks
	@# Every EC2 operation, compiled with the features the whole workspace resolves to, so that the SDK
	@# crates built above are reused and only the bindings crate is built again.
	$(CARGO) test --workspace --lib --features runbook-bindings/ec2-all

lint: build
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@# The shipped runbooks and examples, checked without AWS; GitHub reads the annotations.
	$(RUNBOOK) check runbooks examples --format github

# Regenerates bindings/generated/src/generated from the pinned botocore models and SDK crates.
generate: venv
	$(CARGO) run -q -p runbook-codegen -- --botocore $(BOTOCORE) --out bindings/generated/src/generated

check-generated: venv build
	$(TARGET_DIR)/debug/runbook-codegen --botocore $(BOTOCORE) --out bindings/generated/src/generated --check > /dev/null

# The reference book (docs/), with mdBook when it is installed (`cargo install mdbook`).
docs:
	@if command -v mdbook >/dev/null; then mdbook build docs; \
	else echo "docs: mdbook is not installed (cargo install mdbook); the pages in docs/src read as they are"; fi

# What CI runs.
ci: lint check-generated test

# Benchmarks: the tutorial via the aws CLI, runbook and plain SDK calls; cold start; conversion;
# memory; build cost. Renews host/symbol-order.txt first when valgrind is there (see layout).
# Rewrites BENCHMARKS.md and tests/bench/tutorial.png. BENCH_ARGS=--skip-build leaves out the
# clean-build measurement.
bench: venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r tests/bench/requirements.txt
	$(CARGO) build --release -p runbook -p runbook-tests --bin tutorial-floor --bin fault-proxy
	$(CARGO) build --release -p plain-rhai
	$(CARGO) build --release -p runbook --bin runbook
	@if command -v valgrind >/dev/null; then \
		$(MAKE) --no-print-directory layout && $(CARGO) build --release -p runbook --bin runbook; \
	else echo "bench: valgrind is not installed; host/symbol-order.txt is used as it is"; fi
	.venv/bin/python tests/bench/bench.py $(BENCH_ARGS)

# Rewrites host/symbol-order.txt: the functions a tutorial run executes (seen by valgrind), which the
# release link places together. Rerun it after dependency or toolchain updates.
layout: venv
	$(CARGO) build --release -p runbook --bin runbook
	.venv/bin/python tests/bench/layout.py
