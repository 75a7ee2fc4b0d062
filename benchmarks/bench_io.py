"""Reading and importing run tables: scalinglab against pandas and DuckDB in the same run.

    python benchmarks/bench_io.py            # 1 M and 5 M rows, CSV and Parquet
    python benchmarks/bench_io.py --quick    # 200 k rows

Generates a long run table (runs x checkpoints: family, run_id, params, tokens, step, metric,
value, a numeric and a text extra column; flops left to be derived) into a temporary
directory, then compares

* ``scalinglab.read_runs`` with ``pandas.read_csv`` / ``pandas.read_parquet`` (defaults);
* ``Store.import_files`` into a new store with DuckDB's own ``read_csv`` / ``read_parquet``
  into a table of a new database file (``CREATE TABLE t AS SELECT * FROM read_csv(...)``).

Each pair is timed in one fresh subprocess, taking turns (reference, ours, reference, ...) so
that both see the same machine load: the table shows the best of ``--repeat`` runs each, and
the ratio is the median over the runs of ours against the reference run just before it. Peak
memory is measured apart, one subprocess per operation run once: its maximum resident set
(``resource.getrusage``), the interpreter and its imports included. Prints one table and
writes ``out/bench/io.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = 1000  # per run: a history export of 1,000 evaluations per run


def write_tables(n_rows: int, folder: Path) -> dict[str, Path]:
    """A run table of ``n_rows`` rows as CSV and Parquet; returns the paths by format."""
    rng = np.random.default_rng(0)
    n_runs = n_rows // CHECKPOINTS
    run = np.repeat(np.arange(n_runs), CHECKPOINTS)
    params = np.geomspace(1e6, 1e10, n_runs).round()[run]
    step = np.tile(np.arange(1, CHECKPOINTS + 1) * 100.0, n_runs)
    tokens = step * 2048 * 64
    loss = 1.7 + 400 * params**-0.34 + 400 * tokens**-0.28 + rng.normal(0, 0.01, n_rows)
    frame = pd.DataFrame(
        {
            "family": "ladder",
            "run_id": pd.Series(run).map("r{:05d}".format),
            "params": params,
            "tokens": tokens,
            "step": step,
            "metric": "loss",
            "value": loss,
            "lr": 3e-4,
            "dataset": "c4",
        }
    )
    paths = {"csv": folder / f"runs_{n_rows}.csv", "parquet": folder / f"runs_{n_rows}.parquet"}
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    return paths


# ------------------------------------------------------------------- one measurement, in a child
def _operation(name: str, path: str, scratch: Path):
    """The function to time; each call gets a fresh database file where one is written."""
    counter = iter(range(1_000_000))

    def fresh() -> str:
        return str(scratch / f"{name}{next(counter)}.duckdb")

    if name == "pandas":
        return lambda: (pd.read_csv if path.endswith(".csv") else pd.read_parquet)(path)
    if name == "read_runs":
        import scalinglab as sl

        return lambda: sl.read_runs(path)
    if name == "duckdb":
        import duckdb

        reader = "read_csv" if path.endswith(".csv") else "read_parquet"

        def duckdb_table():
            with duckdb.connect(fresh()) as con:
                con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [path])

        return duckdb_table
    if name == "import":
        from scalinglab.runs.store import Store

        return lambda: Store.init(fresh()).import_files([path])
    raise ValueError(name)


def measure_times(ours: str, reference: str, path: str, repeat: int) -> None:
    """Child process: time ``ours`` and ``reference`` on ``path`` in turns (so that both see
    the same machine load); print every time of each as JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        runs = {name: _operation(name, path, Path(scratch)) for name in (reference, ours)}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeat):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    print(json.dumps(times))


def measure_memory(name: str, path: str) -> None:
    """Child process: run ``name`` once on ``path``; print its peak resident memory."""
    with tempfile.TemporaryDirectory() as scratch:
        _operation(name, path, Path(scratch))()
    print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))  # kB on Linux


def in_child(*args: str) -> object:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 k rows only")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (best)")
    parser.add_argument("--times", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.times:
        measure_times(*args.times, repeat=args.repeat)
        return
    if args.memory:
        measure_memory(*args.memory)
        return
    sizes = [200_000] if args.quick else [1_000_000, 5_000_000]
    results = []
    print(f"{'rows':>9} {'format':8} {'operation':10} {'seconds':>8} {'peak MB':>8} {'ratio':>14}")
    with tempfile.TemporaryDirectory() as folder:
        for n_rows in sizes:
            for fmt, path in write_tables(n_rows, Path(folder)).items():
                for ours, reference in (("read_runs", "pandas"), ("import", "duckdb")):
                    times = in_child(
                        "--times", ours, reference, str(path), "--repeat", str(args.repeat)
                    )
                    peak = {
                        name: in_child("--memory", name, str(path)) for name in (reference, ours)
                    }
                    seconds = {name: min(t) for name, t in times.items()}
                    # each run against the reference run just before it, under the same load
                    ratio = float(np.median(np.divide(times[ours], times[reference])))
                    memory = peak[ours] / peak[reference]
                    for name in (reference, ours):
                        shown = f"{ratio:.2f}x, {memory:.2f}x" if name == ours else ""
                        print(
                            f"{n_rows:>9,} {fmt:8} {name:10} {seconds[name]:8.2f} "
                            f"{peak[name] / 2**20:8.0f} {shown:>14}"
                        )
                    results.append(
                        {
                            "rows": n_rows,
                            "format": fmt,
                            "operation": ours,
                            "reference": reference,
                            "seconds": seconds[ours],
                            "reference_seconds": seconds[reference],
                            "time_ratio": ratio,
                            "peak_bytes": peak[ours],
                            "reference_peak_bytes": peak[reference],
                            "memory_ratio": memory,
                        }
                    )
    out = ROOT / "out" / "bench" / "io.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"ratios: time, peak memory against the reference; written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
