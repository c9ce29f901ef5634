# falco-plugin: `make demo` builds the example plugins and runs them in our host;
# `make test` runs the linters and the test suite; `make bench` prints the benchmarks;
# `make sanitize` runs the memory-safety subset of the suite on an ASan + UBSan build.
# Every target installs what it needs first (apt packages if missing, a virtualenv).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
FP     := $(VENV)/bin/falco-plugin
OUT    := build

.PHONY: setup demo test test-falco lint bench docs sanitize pythons bench-pythons clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@bash tools/ensure-system-deps.sh "$(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(OUT)/libdummy_py.so: setup examples/dummy/dummy_plugin.py $(wildcard shim/*.c shim/*.h falco_plugin/*.py falco_plugin/*/*.py)
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

# The real-Falco tier (tests/falco): SDK plugins loaded by a real Falco binary ($$FALCO,
# else falco on PATH) with rules; without one every test is skipped and says why. `make test`
# runs them too, so they are skipped there the same way when there is no Falco.
test-falco: setup
	@$(PY) -c 'from falco_plugin._tooling.falco import find_falco; print("Falco:", find_falco())' 2>/dev/null || \
		echo "make test-falco: no Falco binary (FALCO=PATH, or falco on PATH): every test below is skipped"
	$(PY) -m pytest -q -ra tests/falco

# every supported CPython, 3.11-3.15 (3.11-3.13 from pyenv, 3.14 and 3.15 in a cached Debian
# testing rootfs): build, run, package and run examples/dummy, the core tests, two minors in one
# host, bookworm-packaged bundles in the rootfs; fails on any skip, printed with its reason.
pythons: setup
	$(PY) tools/pythons.py

# per CPython: section I of make bench (callgrind), the dummy's tarball size and cold start
bench-pythons: setup
	@bash tools/ensure-system-deps.sh "$(PYTHON)" valgrind
	$(PY) tools/pythons.py --bench

# the API reference from the docstrings (mkdocs + mkdocstrings, offline); strict: a broken
# reference fails. The test suite builds it too (tests/tooling/test_docs.py).
docs: setup
	$(VENV)/bin/mkdocs build --strict -d $(OUT)/docs
	@echo "API reference: $(OUT)/docs/index.html"

# The host, every plugin the tests build (shims and C plugins) and the C drivers, compiled with
# AddressSanitizer + UBSan (their own cache); Python's objects on malloc so that ASan sees
# them; no leak check (the interpreter is never finalized). The subset covers extraction,
# async, tables (with nested tables swept), sourcing; tests marked no_sanitize (a .so loaded into pytest, LD_PRELOAD,
# start-up timing) are left out.
SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g
SAN_TESTS  := tests/sdk/test_reliability.py tests/sdk/test_fuzz_plugins.py tests/sdk/test_extract.py tests/sdk/test_async.py \
	tests/sdk/test_state.py tests/sdk/test_source.py tests/sdk/test_batch_fields.py \
	tests/sdk/test_subtables.py::test_the_records_of_nested_tables_no_entry_holds_are_swept

sanitize: setup
	FALCO_PLUGIN_CFLAGS="$(SAN_CFLAGS)" FALCO_PLUGIN_CACHE="$(CURDIR)/$(OUT)/sanitize-cache" \
	PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(PY) -m pytest -q -m "not no_sanitize" $(SAN_TESTS)

bench: setup
	@bash tools/ensure-system-deps.sh "$(PYTHON)" valgrind
	$(PY) bench/run.py
	$(PY) bench/bench_events.py
	$(PY) bench/k8saudit_bench.py
	$(PY) bench/falco_bench.py

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
