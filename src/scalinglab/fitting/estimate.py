"""The estimate: a law fitted to selected runs, with its bootstrap and diagnostics.

:func:`estimate` is the fit without calibration: the search (:mod:`.engine`), the run-
resampling bootstrap, the diagnostics (:mod:`.diagnostics`) and the :class:`FitResult` that
holds them. :func:`scalinglab.fit` selects the runs, calls it, and calibrates when asked; the
calibration's nested fits call it directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..laws.base import Law
from ..runs import RunTable
from . import diagnostics
from .data import build_problem, observations_for, resolve_fix
from .engine import (
    REFIT_ITERATIONS,
    best_fit,
    block_bootstrap_weights,
    bootstrap_weights,
    refit_many,
)
from .noise import with_replicate_noise
from .options import FitOptions
from .result import FitResult

#: progress(stage, done, total): called as the bootstrap advances, for progress bars.
Progress = Callable[[str, int, int], None]


def estimate(
    table: RunTable, law: Law, opts: FitOptions, *, progress: Progress | None = None
) -> FitResult:
    """Fit ``law`` (its bounds set) to ``table`` (its family and ``where`` applied).

    Example:
        >>> from scalinglab.laws import get_law                                  # doctest: +SKIP
        >>> from scalinglab.runs import read_runs
        >>> table = read_runs("runs.csv").filter(where="value < 3.42")
        >>> estimate(table, get_law("chinchilla"), FitOptions(bootstrap=0)).params
    """
    t0 = time.perf_counter()
    obs = observations_for(
        table, law, opts.y, skip_fraction=opts.skip_fraction, final_only=opts.final_only
    )
    metric = opts.y or (table.metrics()[0] if len(table.metrics()) == 1 else "value")
    problem = build_problem(
        law, obs, table.source, fix=resolve_fix(opts.fix, law), delta=opts.huber_delta,
        objective=opts.objective, weighting=opts.weighting,
    )  # fmt: skip
    noise = None
    if opts.weighting == "noise" or opts.replicates:  # replicate noise (fitting/noise.py)
        problem, replicates, noise = with_replicate_noise(
            problem, obs, table, opts.replicates, weighted=opts.weighting == "noise"
        )
    run_ids = list(pd.unique(obs["run_id"].astype(str)))

    best, n_grid = best_fit(problem, n_starts=opts.n_starts, seed=opts.seed)
    if not np.isfinite(best.objective[0]):  # e.g. bounds under which the law is never > 0
        raise InputError(
            f"law {law.name!r} has no finite fit to these runs inside its bounds (every start "
            "predicts a value <= 0 or non-finite somewhere); check the bounds and fixed values",
            file=table.source,
        )
    u_hat = best.u
    natural = problem.natural(u_hat)[0]
    t_fit = time.perf_counter() - t0

    samples = None
    warnings: list[str] = []
    if not best.converged[0]:
        warnings.append(
            f"the optimiser did not converge ({best.message()}): treat the parameters with suspicion"
        )
    warnings += diagnostics.bound_warnings(problem, natural)
    warnings += diagnostics.collinearity_warnings(problem, u_hat)
    if opts.bootstrap > 0:
        rng = np.random.default_rng(opts.seed)
        if problem.n_groups == 1:
            # One run: resampling runs would repeat it every time (zero-width intervals), so
            # blocks of neighbouring checkpoints are resampled instead (their errors are
            # correlated; single checkpoints resampled alone gave intervals far too narrow).
            steps = obs["step"].to_numpy(dtype=float) if "step" in obs else np.arange(len(obs))
            order = np.argsort(np.nan_to_num(steps, nan=np.inf), kind="stable")
            weights = block_bootstrap_weights(order, opts.bootstrap, rng)
            warnings.append(
                "one run only: the bootstrap resamples blocks of consecutive checkpoints, not "
                "runs; the intervals say how well this run pins the law down, not how runs vary"
            )
        else:
            weights = bootstrap_weights(problem.groups, opts.bootstrap, rng)
        reps = refit_many(
            problem, u_hat, weights, n=opts.bootstrap,
            progress=None if progress is None else (lambda d, t: progress("bootstrap", d, t)),
        )  # fmt: skip
        boot_natural = problem.natural(reps.u)
        samples = _full_matrix(law, problem.space.names, boot_natural, problem.space.fixed)
        failed = int((~np.isfinite(reps.objective)).sum())
        if failed:
            warnings.append(f"{failed} of {opts.bootstrap} bootstrap replicates failed to fit")
        unconverged = int((~reps.converged).sum()) - failed
        if unconverged:
            warnings.append(
                f"{unconverged} of {opts.bootstrap} bootstrap replicates did not converge "
                f"within {REFIT_ITERATIONS} iterations; the intervals include them as they stopped"
            )
        free_linear = [p.name for p in problem.space.linear]
        idx = [problem.space.names.index(n) for n in free_linear]
        warnings += diagnostics.identification_warnings(
            free_linear, boot_natural[:, idx], natural[idx]
        )
        if opts.influence:
            warnings += diagnostics.influence_warnings(problem, u_hat, boot_natural, run_ids)
    residuals = diagnostics.residual_summary(problem, u_hat)
    if noise is not None:
        warnings += replicates.transient_warnings(
            residuals["robust_sd"], weighted=opts.weighting == "noise"
        )
    params = {
        **problem.space.fixed,
        **dict(zip(problem.space.names, map(float, natural), strict=True)),
    }
    params = {n: params[n] for n in law.parameter_names}
    data_range = {
        v: (float(np.min(problem.data[v])), float(np.max(problem.data[v]))) for v in law.variables
    }
    if "flops" not in data_range and "flops" in obs and obs["flops"].notna().all():
        # the compute of the runs, for distances past the data along compute too
        data_range["flops"] = (float(obs["flops"].min()), float(obs["flops"].max()))
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
        options=opts,
        residuals=residuals,
        noise=noise,
        samples=samples,
        timing={"fit_s": t_fit, "total_s": time.perf_counter() - t0},
        source=table.source,
        solver={
            "status": int(best.status[0]),
            "message": best.message(),
            "iterations": int(best.iterations),
            "grid_points": n_grid,
        },
    )


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
