# xrfast — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
# Tests build the extension with the lightly optimised `ci` profile: quick to compile, fast enough.
PROFILE ?= ci

.PHONY: help
help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: install
install: ## Build (release) and install xrfast into the current Python
	$(PYTHON) -m pip install .

.PHONY: develop
develop: ## Editable install with test (and benchmark) dependencies, extension built with PROFILE
	MATURIN_PEP517_ARGS="--profile $(PROFILE)" $(PYTHON) -m pip install -e '.[test]'

.PHONY: test
test: develop test-rust test-python ## Install test dependencies and run every test, Rust and Python

.PHONY: test-rust
test-rust: ## Rust tests of the core crate (no Python needed)
	cargo test --profile $(PROFILE)

.PHONY: test-python
test-python: ## Python tests (the extension must be installed: make develop)
	$(PYTHON) -m pytest -q

.PHONY: lint
lint: ## clippy, rustfmt check, ruff, mypy stubtest
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check
	$(PYTHON) -m ruff check python tests benches
	$(PYTHON) -m ruff format --check python tests benches
	$(PYTHON) -m mypy.stubtest xrfast._core --allowlist stubtest-allowlist.txt

.PHONY: corpus
corpus: ## Write the benchmark corpus to target/bench-corpus.ndjson (for the criterion benches)
	mkdir -p target
	$(PYTHON) -c "from xrfast.bench import workload as w; import sys; \
	sys.stdout.buffer.write(w.to_ndjson(w.generate(w.WorkloadConfig(traces=3000, seed=1, stream_threshold=8, payload_bytes=(200, 5000)))))" \
	> target/bench-corpus.ndjson

.PHONY: bench
bench: ## xrfast bench: every job against the baselines, release build; results in benches/results
	$(PYTHON) -m pip install '.[bench]'
	xrfast bench --out benches/results

.PHONY: bench-rust
bench-rust: corpus ## Criterion benches of the core stages on the same corpus
	cargo bench --bench core
