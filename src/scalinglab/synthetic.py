"""Run tables drawn from a law with known parameters: for tests, benchmarks and what-ifs.

Example:
    >>> from scalinglab.synthetic import chinchilla_grid, simulate
    >>> runs = simulate("chinchilla", {"E": 1.7, "A": 400, "alpha": 0.34, "B": 410, "beta": 0.28},
    ...                 chinchilla_grid(), noise=0.01, seed=0)
    >>> len(runs), sorted(runs.df.columns[:8])[:3]
    (72, ['family', 'flops', 'metric'])
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .laws.base import Law
from .laws.zoo import get_law
from .runs import RunTable


def chinchilla_grid(
    flops: tuple[float, ...] = (1e18, 3e18, 1e19, 3e19, 1e20, 3e20),
    sizes_per_budget: int = 12,
    spread: float = 30.0,
) -> pd.DataFrame:
    """An IsoFLOP design: for each budget, model sizes spread ``spread``x around 20 tokens/param."""
    rows = []
    for c in flops:
        centre = np.sqrt(c / (6 * 20))  # N with D = 20 N at this budget
        for n in np.geomspace(centre / np.sqrt(spread), centre * np.sqrt(spread), sizes_per_budget):
            rows.append({"params": n, "tokens": c / (6 * n), "flops": c})
    return pd.DataFrame(rows)


def simulate(
    law: str | Law,
    params: Mapping[str, float],
    design: pd.DataFrame,
    *,
    noise: float = 0.01,
    seed: int = 0,
    metric: str = "loss",
    family: str = "synthetic",
) -> RunTable:
    """Values of ``law`` at ``design``'s points times log-normal noise of relative size ``noise``."""
    law = get_law(law, columns=design.columns)
    rng = np.random.default_rng(seed)
    data = {v: design[v].to_numpy(dtype=float) for v in law.variables}
    clean = law.evaluate(data, params) * np.ones(len(design))
    frame = design.copy()
    frame["value"] = clean * np.exp(noise * rng.standard_normal(len(design)))
    frame["metric"] = metric
    frame["family"] = family
    frame["run_id"] = [f"{family}-{i:04d}" for i in range(len(design))]
    if "params" in frame and "tokens" in frame and "flops" not in frame:
        frame["flops"] = 6 * frame["params"] * frame["tokens"]
    return RunTable.from_frame(frame, family=family)


def random_chinchilla_truth(rng: np.random.Generator) -> dict[str, float]:
    """A plausible random Chinchilla-form truth (exponents 0.2-0.6, E 1-3)."""
    return {
        "E": float(rng.uniform(1.0, 3.0)),
        "A": float(10 ** rng.uniform(2.0, 3.5)),
        "alpha": float(rng.uniform(0.2, 0.6)),
        "B": float(10 ** rng.uniform(2.0, 3.5)),
        "beta": float(rng.uniform(0.2, 0.6)),
    }
