# scalinglab: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
PYTEST_WORKERS ?= 2

.PHONY: install install-all demo test test-fast bench bench-quick bench-truth bench-cli bench-io prior ladder-cpu ladder-check bench-ladder-gpu lint clean

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

bench-quick: install-all  ## the same with a 10% sample of the reference grid and 20 synthetic truths
	$(PYTHON) benchmarks/run.py --quick

bench-truth: install  ## held-out error and interval coverage on every real study, chinchilla vs auto (~10 min)
	$(PYTHON) benchmarks/bench_truth.py

bench-cli: install  ## CPU time of `scalinglab --help` against typer alone
	$(PYTHON) benchmarks/bench_cli.py

bench-io: install  ## read_runs vs pandas, import vs DuckDB, on 1 M and 5 M generated rows
	$(PYTHON) benchmarks/bench_io.py

prior: install  ## re-measure the shipped prior of prediction errors (src/scalinglab/fitting/extrapolation_prior.json)
	$(PYTHON) benchmarks/build_prior.py

ladder-cpu: install-all  ## train the cpu-tiny ladder (about 4 minutes on 2 cores)
	scalinglab ladder run --preset cpu-tiny --out out/cpu-tiny

ladder-check: install  ## fit all but the largest size of the bundled ladder, predict the largest
	$(PYTHON) data/ladder/holdout_check.py

bench-ladder-gpu:  ## GPU only: the ladder's trainer vs a plain reference GPT, tokens/s and MFU
	$(PYTHON) benchmarks/bench_ladder_gpu.py --positions both

lint:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks

clean:
	rm -rf build dist *.egg-info .pytest_cache out report.html
