"""``scalinglab.fit``: from a run table to a :class:`FitResult`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..laws.base import Law
from ..laws.zoo import get_law
from ..runs import RunTable, read_runs
from . import diagnostics
from .engine import (
    ParameterSpace,
    Problem,
    best_fit,
    block_bootstrap_weights,
    bootstrap_weights,
    refit_many,
)
from .result import FitResult

#: progress(stage, done, total): called as the bootstrap advances, for progress bars.
Progress = Callable[[str, int, int], None]


def select(
    runs: RunTable | pd.DataFrame | str | Path | list[Any],
    *,
    family: str | list[str] | None = None,
    where: str | None = None,
) -> RunTable:
    table = read_runs(runs)  # a RunTable comes back as it is
    if family is not None or where is not None:
        table = table.filter(family=family, where=where)
    return table


def fit(
    runs: RunTable | pd.DataFrame | str | Path | list[Any],
    law: str | Law = "chinchilla",
    *,
    y: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    fix: Mapping[str, float | str] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    bootstrap: int = 200,
    huber_delta: float = 1e-3,
    skip_fraction: float = 0.1,
    final_only: bool | None = None,
    n_starts: int = 8,
    influence: bool = True,
    calibrate: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> FitResult:
    """Fit a scaling law to runs, robustly, with bootstrap intervals and diagnostics.

    Args:
        runs: a RunTable, a DataFrame or file path(s) (CSV, Parquet, JSONL, ...).
        law: a law name (``scalinglab laws`` lists them) or a formula over the table's columns,
            e.g. ``"E + A*params**-alpha + B*tokens**-beta"``.
        y: the metric to fit (needed when the table has several).
        family, where: keep only these families / rows (``where="value < 4.9"``).
        fix: parameters held fixed: a number, ``"published"`` (the law's published value) or
            the path of a saved fit to borrow the value from (Choshen et al. 2024).
        bootstrap: replicates of the run-resampling bootstrap (0 to skip).
        huber_delta: Huber's delta on log residuals (1e-3, as Hoffmann et al. and Epoch).
        skip_fraction: for per-step curves, the share of each run's first steps to drop.
        calibrate: also measure, on nested backtests of these runs, how the prediction error
            grows with extrapolation, and widen ``predict``'s prediction intervals with it
            (:mod:`scalinglab.fitting.calibration`); costs a few more fits.

    Example:
        >>> import scalinglab as sl                                               # doctest: +SKIP
        >>> f = sl.fit("../shared/data/chinchilla_epoch.csv", "chinchilla", where="value < 3.7")
        >>> print(f.summary())                                                    # doctest: +SKIP
    """
    t0 = time.perf_counter()
    table = select(runs, family=family, where=where)
    law = get_law(law, columns=table.variables())
    if bounds:
        law = law.with_bounds(bounds)
    obs = observations_for(table, law, y, skip_fraction=skip_fraction, final_only=final_only)
    metric = y or (table.metrics()[0] if len(table.metrics()) == 1 else "value")
    problem = build_problem(law, obs, table.source, fix=resolve_fix(fix, law), delta=huber_delta)
    run_ids = list(pd.unique(obs["run_id"].astype(str)))

    best, n_grid = best_fit(problem, n_starts=n_starts, seed=seed)
    u_hat = best.u
    natural = problem.natural(u_hat)[0]
    t_fit = time.perf_counter() - t0

    samples = None
    warnings: list[str] = []
    if not best.converged[0]:
        warnings.append("the optimiser did not converge: treat the parameters with suspicion")
    warnings += diagnostics.bound_warnings(problem, natural)
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        if problem.n_groups == 1:
            # One run: resampling runs would repeat it every time (zero-width intervals), so
            # blocks of neighbouring checkpoints are resampled instead (their errors are
            # correlated; single checkpoints resampled alone gave intervals far too narrow).
            steps = obs["step"].to_numpy(dtype=float) if "step" in obs else np.arange(len(obs))
            order = np.argsort(np.nan_to_num(steps, nan=np.inf), kind="stable")
            weights = block_bootstrap_weights(order, bootstrap, rng)
            warnings.append(
                "one run only: the bootstrap resamples blocks of consecutive checkpoints, not "
                "runs; the intervals say how well this run pins the law down, not how runs vary"
            )
        else:
            weights = bootstrap_weights(problem.groups, bootstrap, rng)
        reps = refit_many(
            problem, u_hat, weights,
            progress=None if progress is None else (lambda d, t: progress("bootstrap", d, t)),
        )  # fmt: skip
        boot_natural = problem.natural(reps.u)
        samples = _full_matrix(law, problem.space.names, boot_natural, problem.space.fixed)
        failed = int((~np.isfinite(reps.objective)).sum())
        if failed:
            warnings.append(f"{failed} of {bootstrap} bootstrap replicates failed to fit")
        free_linear = [p.name for p in problem.space.linear]
        idx = [problem.space.names.index(n) for n in free_linear]
        warnings += diagnostics.identification_warnings(
            free_linear, boot_natural[:, idx], natural[idx]
        )
        if influence:
            warnings += diagnostics.influence_warnings(problem, u_hat, boot_natural, run_ids)
    params = {
        **problem.space.fixed,
        **dict(zip(problem.space.names, map(float, natural), strict=True)),
    }
    params = {n: params[n] for n in law.parameter_names}
    data_range = {
        v: (float(np.min(problem.data[v])), float(np.max(problem.data[v]))) for v in law.variables
    }
    calibration = None
    if calibrate:
        from .calibration import calibrate_extrapolation

        try:
            calibration = calibrate_extrapolation(
                table, law, y=y, fix=fix, huber_delta=huber_delta, skip_fraction=skip_fraction,
                final_only=final_only, n_starts=n_starts, seed=seed,
            )  # fmt: skip
        except InputError as exc:
            warnings.append(str(exc))
    return FitResult(
        law=law,
        params=params,
        objective=float(best.objective[0]),
        n_points=len(problem.y),
        n_runs=problem.n_groups,
        converged=bool(best.converged[0]),
        y=metric,
        data_range=data_range,
        fixed=dict(problem.space.fixed),
        warnings=warnings,
        notes=list(table.notes),
        options={
            "huber_delta": huber_delta,
            "bootstrap": bootstrap,
            "seed": seed,
            "family": family,
            "where": where,
            "skip_fraction": skip_fraction,
            "n_starts": n_starts,
            "calibrate": calibrate,
            "grid_points": n_grid,
            "source": table.source,
        },
        residuals=diagnostics.residual_summary(problem, u_hat),
        samples=samples,
        timing={"fit_s": t_fit, "total_s": time.perf_counter() - t0},
        calibration=calibration,
    )


def observations_for(
    table: RunTable,
    law: Law,
    y: str | None,
    *,
    skip_fraction: float = 0.1,
    final_only: bool | None = None,
) -> pd.DataFrame:
    """The rows a law is fitted to, after the law's own derived columns are added."""
    if law.prepare is not None:
        table = RunTable(law.prepare(table.df.copy()), table.source, table.notes)
    return table.observations(y, skip_fraction=skip_fraction, final_only=final_only)


def build_problem(
    law: Law, obs: pd.DataFrame, source: str, *, fix: Mapping[str, float], delta: float
) -> Problem:
    """Check the observations against the law and package them for the estimator."""
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
    groups = pd.factorize(obs["run_id"].astype(str))[0]
    return Problem(law, data, y, groups, space, delta)


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
            other = FitResult.from_json(given)
            if name not in other.params:
                raise InputError(f"fit {given} has no parameter {name!r}", file=str(given))
            value = other.params[name]
        else:
            try:
                value = float(given)
            except ValueError:
                raise InputError(
                    f"--fix {name}={given}: expected a number, 'published' or a fit .json file"
                ) from None
        if not math.isfinite(value):
            raise InputError(f"--fix {name}={given}: not a finite number")
        out[name] = value
    return out


def _full_matrix(
    law: Law, free_names: list[str], free_values: np.ndarray, fixed: Mapping[str, float]
) -> np.ndarray:
    cols = []
    for name in law.parameter_names:
        if name in fixed:
            cols.append(np.full(len(free_values), fixed[name]))
        else:
            cols.append(free_values[:, free_names.index(name)])
    return np.stack(cols, axis=1)
