# Everything runs from a project-local virtualenv so that a fresh machine
# with only Python 3 and pip can run `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test typecheck test-lowest bench profile clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/otel-xray demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The package type-checks strictly (mypy is in the test extra).
typecheck: $(VENV)/.installed-test
	$(BIN)/python -m mypy --strict otel_xray

$(VENV)/.installed-bench: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# A sampling profile of export, by stage and function (PROFILE_ARGS: --batch N --seconds S).
profile: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.profile $(PROFILE_ARGS)

# The whole suite on the lowest versions pyproject.toml declares, in a virtualenv of its own.
LOWEST     ?= .venv-lowest
LOWEST_BIN := $(LOWEST)/bin

$(LOWEST)/.installed: pyproject.toml .ci/lowest-constraints.txt
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade pip
	$(LOWEST_BIN)/python -m pip install --quiet -c .ci/lowest-constraints.txt -e '.[test]'
	touch $@

test-lowest: $(LOWEST)/.installed
	XRAY_TESTS_LOWEST_VERSIONS=1 $(LOWEST_BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LOWEST) build dist *.egg-info .pytest_cache
