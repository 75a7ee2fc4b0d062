"""Fits of real-size logs: time and peak memory as the run table grows.

    python benchmarks/bench_scale.py            # up to 10 M rows (about 10 minutes on 2 cores)
    python benchmarks/bench_scale.py --quick    # up to 1 M rows

Every case runs in a fresh subprocess that reports its peak resident memory
(``resource.getrusage``), so one case's memory does not hide another's. Cases:

* ``runs x checkpoints`` per-step curves (Parquet, as a W&B export would be) fitted with the
  chinchilla law on every checkpoint (tokens seen so far), with 200 bootstrap replicates and
  without: from 10 k to 10 M rows, and the growth exponent of memory and time in rows;
* ``N final values``: the default fit (200 replicates and the influence check) of 1,000, 3,000
  and 10,000 runs. Targets (issue 16): 10 M rows with 200 replicates under 4 GB and 2 minutes;
  10,000 final-value runs under 60 s and 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

TRUTH = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.36}


def curves(n_runs: int, checkpoints: int, seed: int = 0) -> pd.DataFrame:
    """``n_runs`` training curves of ``checkpoints`` steps each, from Chinchilla's law."""
    rng = np.random.default_rng(seed)
    params = np.geomspace(1e7, 3e9, n_runs)
    final_tokens = params * rng.uniform(5, 80, n_runs)
    frac = np.linspace(1.0 / checkpoints, 1.0, checkpoints)
    n = np.repeat(params, checkpoints)
    d = np.repeat(final_tokens, checkpoints) * np.tile(frac, n_runs)
    loss = TRUTH["E"] + TRUTH["A"] * n ** -TRUTH["alpha"] + TRUTH["B"] * d ** -TRUTH["beta"]
    return pd.DataFrame({
        "family": "synthetic",
        "run_id": np.repeat([f"r{i:05d}" for i in range(n_runs)], checkpoints),
        "params": n,
        "tokens": d,
        "step": np.tile(np.arange(1, checkpoints + 1), n_runs),
        "metric": "loss",
        "value": loss * np.exp(0.003 * rng.standard_normal(n.size)),
    })  # fmt: skip


CHILD = """
import json, resource, sys, time
import scalinglab as sl
path, bootstrap = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
fit = sl.fit(path, "chinchilla", bootstrap=bootstrap)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": seconds, "peak_gb": peak, "n_points": fit.n_points,
                  "alpha": fit.params["alpha"], "warnings": fit.warnings}))
"""


def measure(path: Path, bootstrap: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(bootstrap)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    shapes = [(100, 100), (100, 1000), (1000, 1000), (1000, 10000)]
    finals = [1000, 3000, 10000]
    if args.quick:
        shapes, finals = shapes[:3], finals[:2]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'case':34s}{'rows':>11}{'points':>9}{'bootstrap':>10}{'time':>9}{'peak':>9}")
        for n_runs, checkpoints in shapes:
            path = Path(tmp) / f"curves_{n_runs}x{checkpoints}.parquet"
            curves(n_runs, checkpoints).to_parquet(path)
            for bootstrap in (0, 200):
                r = measure(path, bootstrap)
                rows.append({"case": f"{n_runs} runs x {checkpoints} checkpoints",
                             "rows": n_runs * checkpoints, "bootstrap": bootstrap, **r})  # fmt: skip
                print(f"{rows[-1]['case']:34s}{rows[-1]['rows']:>11,}{r['n_points']:>9,}"
                      f"{bootstrap:>10}{r['seconds']:>8.1f}s{r['peak_gb']:>8.2f}G", flush=True)  # fmt: skip
        for n in finals:
            path = Path(tmp) / f"final_{n}.parquet"
            frame = curves(n, 1)
            frame["step"] = np.nan  # final values
            frame.to_parquet(path)
            r = measure(path, 200)
            rows.append(
                {"case": f"{n} final values (default fit)", "rows": n, "bootstrap": 200, **r}
            )
            print(f"{rows[-1]['case']:34s}{n:>11,}{r['n_points']:>9,}{200:>10}"
                  f"{r['seconds']:>8.1f}s{r['peak_gb']:>8.2f}G", flush=True)  # fmt: skip
    curve_rows = [r for r in rows if "checkpoints" in r["case"] and r["bootstrap"] == 200]
    if len(curve_rows) > 1:
        x = np.log([r["rows"] for r in curve_rows])
        mem = np.polyfit(x, np.log([r["peak_gb"] for r in curve_rows]), 1)[0]
        sec = np.polyfit(x, np.log([r["seconds"] for r in curve_rows]), 1)[0]
        print(
            f"\ngrowth with rows (200 replicates): memory ~ rows^{mem:.2f}, time ~ rows^{sec:.2f}"
        )
    out = Path(__file__).resolve().parents[1] / "out" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
