# falco-plugin: `make demo` builds the example plugins and runs them in our host;
# `make test` runs the linters and the test suite; `make bench` prints the benchmarks.
# Every target installs what it needs first (apt packages if missing, a virtualenv).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
FP     := $(VENV)/bin/falco-plugin
OUT    := build

.PHONY: setup demo test lint bench docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@bash tools/ensure-system-deps.sh "$(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(OUT)/libdummy_py.so: setup examples/dummy/dummy_plugin.py $(wildcard shim/*.c shim/*.h falco_plugin/*.py)
	@mkdir -p $(OUT)
	$(FP) build examples/dummy/dummy_plugin.py:DummyPlugin -o $@

demo: $(OUT)/libdummy_py.so
	$(FP) info $(OUT)/libdummy_py.so
	$(FP) run $(OUT)/libdummy_py.so --config '{"jitter": 5}' --open-params '{"start": 1, "maxEvents": 10}' \
		--fields 'dummy.value,dummy.strvalue,dummy.divisible[3]'

lint: setup
	$(VENV)/bin/ruff check falco_plugin examples tests tools bench
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest -q

# the API reference from the docstrings (mkdocs + mkdocstrings, offline); strict: a broken
# reference fails. The test suite builds it too (tests/test_docs.py).
docs: setup
	$(VENV)/bin/mkdocs build --strict -d $(OUT)/docs
	@echo "API reference: $(OUT)/docs/index.html"

bench: setup
	$(PY) bench/run.py
	$(PY) bench/bench_events.py
	$(PY) bench/k8saudit_bench.py

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
