# chainrule: two commands a new user needs, on a machine with only Python 3.11, pip and make.
#   make explain   set up .venv and explain one training step of the built-in seed network
#   make test      set up .venv with the test dependencies (PyTorch CPU included) and run all tests

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: explain test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# torch first, pinned: a range in an extra could otherwise pull the newest CUDA build.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,torch]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

explain: install
	$(BIN)/chainrule explain

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark suite (bench/README.md): chainrule vs PyTorch vs NumPy, one thread; BENCH_ARGS=--quick
bench: install-test
	$(BIN)/python -c "import threadpoolctl" 2>/dev/null || $(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
