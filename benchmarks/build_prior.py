"""Measure the shipped prior: how far predictions miss, by distance past the data, on every
real study (``benchmarks/studies.py``), and write ``src/scalinglab/fitting/extrapolation_prior.json``.

    python benchmarks/build_prior.py

For each study, on all its runs: the nested holdouts a fit makes of its own runs (the 1 and 2
largest sizes, the runs of the 1 and 2 largest compute budgets), refitted and predicted, for a
single law as given (``chinchilla``) and for the law chosen by cross-extrapolation (``auto``).
The file keeps every held-out run's log error and distance, so the prior can be refitted
without a group of studies (to score that group honestly).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import scalinglab as sl  # noqa: E402
from scalinglab.fitting.calibration import extrapolate  # noqa: E402
from scalinglab.fitting.extrapolation import PRIOR_FILE  # noqa: E402
from scalinglab.fitting.holdout import final_observations, nested_holdouts  # noqa: E402
from scalinglab.fitting.options import FitOptions  # noqa: E402
from scalinglab.laws import get_law  # noqa: E402
from studies import ROOT, available  # noqa: E402


def cuts(nested_errors, nested_decades, holdouts):
    return [
        {"holdout": h, "errors": [float(x) for x in e if np.isfinite(x)],
         "decades": [float(x) for x, y in zip(d, e, strict=True) if np.isfinite(y)]}
        for h, e, d in zip(holdouts, nested_errors, nested_decades, strict=True)
    ]  # fmt: skip


def main() -> None:
    started = time.perf_counter()
    studies = []
    for study in available():
        table = study.runs()
        options = FitOptions(y=study.y)
        law = get_law("chinchilla")
        final = final_observations(table, law, study.y)
        holdouts = nested_holdouts(final, law)
        single = extrapolate(table, law, options, holdouts)
        studies.append({"study": study.name, "group": study.group, "method": "single_law",
                        "cuts": cuts(single.errors, single.decades, holdouts)})  # fmt: skip
        auto = sl.fit(table, "auto", options)
        nested = auto.selection.nested
        studies.append({"study": study.name, "group": study.group, "method": "auto",
                        "cuts": cuts(nested["errors"], nested["decades"], auto.selection.holdouts)})  # fmt: skip
        print(f"{study.name}: {len(holdouts)} nested holdouts; auto = {auto.law.name}", flush=True)
    doc = {
        "description": (
            "Nested extrapolations of every real study scalinglab was measured on: per study, "
            "method and nested holdout, the log errors ln(predicted/actual) of the held-out "
            "runs and their distances past the data in decades (of params, tokens or compute, "
            "whichever is largest). scalinglab.fitting.extrapolation.prior fits "
            "base + per_decade * d^2 to them."
        ),
        "command": "python benchmarks/build_prior.py",
        "measured": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, python {platform.python_version()}, numpy {np.__version__}",
        "scalinglab": sl.__version__,
        "seconds": round(time.perf_counter() - started, 1),
        "studies": studies,
    }
    PRIOR_FILE.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"written {PRIOR_FILE.relative_to(ROOT)} ({doc['seconds']} s)")


if __name__ == "__main__":
    main()
