# scalinglab: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
PYTEST_WORKERS ?= 2

.PHONY: install install-all demo test test-fast bench lint clean

install:  ## the package and its core dependencies
	$(PIP) install -q -e .

install-all:  ## everything the tests need: dev tools, the torch (CPU, pinned) and ray extras
	$(PIP) install -q -e '.[dev,torch,ray]'

demo: install  ## the main job on the bundled data
	scalinglab demo

test: install-all  ## the whole test suite (slow tests included)
	$(PYTHON) -m pytest -q -n $(PYTEST_WORKERS) --durations=10

test-fast: install-all  ## skip tests marked slow
	$(PYTHON) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow"

bench: install-all  ## speed and accuracy benchmarks against references measured in the same run
	$(PYTHON) benchmarks/run.py

lint:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks

clean:
	rm -rf build dist *.egg-info .pytest_cache out report.html
