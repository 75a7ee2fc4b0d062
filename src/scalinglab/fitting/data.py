"""From a run table to the estimator's problem: the rows a law is fitted to, checked.

Selecting runs (family, ``where``), adding a law's derived columns, taking each curve's steps
or final values, refusing what cannot be fitted (missing columns, non-positive values, too few
points) and resolving fixed parameters. The report reads the same rows to draw them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..laws.base import Law
from ..runs import RunTable, read_runs
from .engine import ParameterSpace, Problem
from .options import ASYMMETRY

#: Huber's delta that makes it least squares on log residuals (no run misses by a factor e^10).
LEAST_SQUARES_DELTA = 10.0

#: Anything ``read_runs`` reads: a RunTable, a DataFrame, file path(s).
Runs = RunTable | pd.DataFrame | str | Path | list[Any]


def select(
    runs: Runs, *, family: str | list[str] | tuple[str, ...] | None = None, where: str | None = None
) -> RunTable:
    """The runs as a RunTable, keeping only ``family`` and rows matching ``where``."""
    table = read_runs(runs)  # a RunTable comes back as it is
    if family is not None or where is not None:
        table = table.filter(family=family, where=where)
    return table


def observations_for(
    table: RunTable,
    law: Law,
    y: str | None,
    *,
    skip_fraction: float = 0.1,
    final_only: bool | None = None,
) -> pd.DataFrame:
    """The rows a law is fitted to, after the law's own derived columns are added.

    A run's checkpoints are thinned to at most :data:`MAX_CHECKPOINTS_PER_RUN`, and to at most
    :data:`MAX_CHECKPOINTS` over all runs (evenly per run, at least 20 each), evenly in step
    order and always keeping the last: a smooth training curve says little more at 10,000
    checkpoints than at 100, and every checkpoint costs time and memory in each bootstrap
    replicate.
    """
    if law.prepare is not None:
        table = RunTable(law.prepare(table.df.copy()), table.source, table.notes)
    obs = table.observations(y, skip_fraction=skip_fraction, final_only=final_only)
    if "step" not in obs or len(obs) <= MAX_CHECKPOINTS:
        return thin_checkpoints(obs)
    runs = max(1, obs["run_id"].nunique())
    return thin_checkpoints(obs, max(20, min(MAX_CHECKPOINTS_PER_RUN, MAX_CHECKPOINTS // runs)))


#: Most checkpoints of one run a fit uses, and of all runs together (see :func:`observations_for`).
MAX_CHECKPOINTS_PER_RUN = 500
MAX_CHECKPOINTS = 100_000


def thin_checkpoints(obs: pd.DataFrame, most: int = MAX_CHECKPOINTS_PER_RUN) -> pd.DataFrame:
    """At most ``most`` rows per run, every m-th counted back from its last step
    (m = ceil(n/most)).

    Example:
        >>> obs = pd.DataFrame({"run_id": ["a"] * 10 + ["b"] * 3, "step": [*range(10), *range(3)]})
        >>> thin_checkpoints(obs, most=4)["step"].tolist()
        [0, 3, 6, 9, 0, 1, 2]
    """
    if "step" not in obs or len(obs) <= most:
        return obs
    runs = obs["run_id"].astype(str)
    size = runs.map(runs.value_counts())
    if (size <= most).all():
        return obs
    steps = obs["step"].astype(float).fillna(np.inf)  # a final value is the last checkpoint
    rank = steps.groupby(runs, sort=False).rank(ascending=False, method="first")
    from_last = (rank.to_numpy() - 1).astype(int)
    every = np.ceil(size.to_numpy() / most).astype(int)
    kept = obs[(from_last % every == 0) & (from_last < every * most)]
    kept.attrs.update(obs.attrs)
    return kept


def build_problem(
    law: Law,
    obs: pd.DataFrame,
    source: str,
    *,
    fix: Mapping[str, float],
    delta: float,
    objective: str = "huber",
    weighting: str = "none",
) -> Problem:
    """Check the observations against the law and package them for the estimator.

    ``objective`` and ``weighting`` as in :class:`~scalinglab.fitting.options.FitOptions`.
    """
    missing = [v for v in law.variables if v not in obs.columns or obs[v].isna().all()]
    if missing:
        numeric = [
            c
            for c in obs.columns
            if c not in ("run_id", "family", "value", "metric") and obs[c].notna().any()
        ]
        raise InputError(
            f"law {law.name!r} needs column(s) {', '.join(missing)}; the data has {', '.join(numeric)}",
            file=source,
            column=missing[0],
        )

    # Observations no longer know their source rows; the run (and step) finds the culprit.
    def where(i: int) -> str:
        step = obs["step"].iloc[i] if "step" in obs.columns else np.nan
        return f"run {obs['run_id'].iloc[i]!r}" + ("" if pd.isna(step) else f" step {step:g}")

    data = {}
    for v in law.variables:
        values = pd.to_numeric(obs[v], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(
                f"{where(bad[0])}: empty or non-numeric value for law variable {v!r}",
                file=source,
                column=v,
            )
        data[v] = values
    y = obs["value"].to_numpy(dtype=float)
    bad = np.flatnonzero(~(y > 0))
    if bad.size:
        raise InputError(
            f"{where(bad[0])}: value {y[bad[0]]:g} is not positive: laws are fitted on log(value)",
            file=source, column="value",
        )  # fmt: skip
    space = ParameterSpace(law, fix)
    n_free = len(space.free)
    if n_free == 0:
        raise InputError(f"every parameter of law {law.name!r} is fixed: nothing to fit")
    if len(y) <= n_free:
        raise InputError(
            f"too few points for law {law.name!r}: {len(y)} point(s) for {n_free} free parameters "
            f"(need at least {n_free + 1})",
            file=source,
        )
    # Runs repeated at fewer points than there are parameters cannot tell them apart: 20
    # identical runs fitted every parameter exactly, with bootstrap intervals of zero width.
    distinct = len(np.unique(np.column_stack([data[v] for v in law.variables]), axis=0))
    if distinct < n_free:
        raise InputError(
            f"too few distinct points for law {law.name!r}: {len(y)} point(s) at {distinct} "
            f"distinct ({', '.join(law.variables)}) for {n_free} free parameters (need at "
            f"least {n_free})",
            file=source,
        )
    groups = pd.factorize(obs["run_id"].astype(str))[0]
    if objective == "least_squares":
        # Huber is quadratic inside delta: with delta far beyond any log residual, it is
        # least squares (halved) everywhere.
        delta = LEAST_SQUARES_DELTA
    asymmetry = ASYMMETRY if objective == "asymmetric" else 1.0
    weights = compute_weights(obs) if weighting == "compute" else None
    return Problem(law, data, y, groups, space, delta, weights=weights, asymmetry=asymmetry)


def compute_weights(obs: pd.DataFrame) -> np.ndarray:
    """Weights growing geometrically with each observation's compute: 1/10 at the least, 1 at
    the most (compute from ``flops``, else params x tokens, else the first size column).

    Example:
        >>> compute_weights(pd.DataFrame({"flops": [1e18, 1e19, 1e20]})).round(3).tolist()
        [0.1, 0.316, 1.0]
    """
    if "flops" in obs and obs["flops"].notna().all():
        size = obs["flops"].to_numpy(dtype=float)
    elif {"params", "tokens"} <= set(obs.columns):
        size = obs["params"].to_numpy(dtype=float) * obs["tokens"].to_numpy(dtype=float)
    else:
        column = next((c for c in ("params", "tokens", "step") if c in obs), None)
        if column is None:
            return np.ones(len(obs))
        size = obs[column].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        z = np.log(size)
    lo, hi = np.nanmin(z), np.nanmax(z)
    if not np.isfinite(hi - lo) or hi == lo:
        return np.ones(len(obs))
    return np.exp(math.log(10.0) * (np.nan_to_num(z, nan=lo) - hi) / (hi - lo))


def resolve_fix(fix: Mapping[str, float | str] | None, law: Law) -> dict[str, float]:
    """Fixed values from numbers, ``"published"``, or a saved fit (``path.json``)."""
    out: dict[str, float] = {}
    for name, given in (fix or {}).items():
        law.parameter(name)
        if isinstance(given, int | float):
            value = float(given)
        elif given == "published":
            if name not in law.published:
                raise InputError(f"law {law.name!r} has no published value for {name!r}")
            value = float(law.published[name])
        elif str(given).endswith(".json"):
            from .result import FitResult  # a saved fit lends its value

            other = FitResult.from_json(given)
            if name not in other.params:
                raise InputError(f"fit {given} has no parameter {name!r}", file=str(given))
            value = other.params[name]
        else:
            try:
                value = float(given)
            except ValueError:
                raise InputError(
                    f"{name}={given}: expected a number, 'published' or a fit .json file",
                    option="fix",
                ) from None
        if not math.isfinite(value):
            raise InputError(f"{name}={given}: not a finite number", option="fix")
        out[name] = value
    return out
