"""Curves to draw a fitted law along: the compute-optimal frontier, IsoFLOP slices of data.

A two-variable law such as Chinchilla's ``L(N, D)`` is drawn against one axis along a path
through (N, D). The natural path is the compute-optimal one: for each budget C, the N that
minimises the law (Hoffmann et al. 2022, Approach 3), from the planner's one solver
(:func:`scalinglab.planning.allocation.optimal_path`), vectorised over bootstrap replicates
for interval bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..fitting.result import FitResult
from ..laws.base import Law
from ..planning.allocation import optimal_path
from ..planning.flops_model import FlopsModel
from ..planning.replicates import ParameterSets, parameter_sets
from ..runs.budgets import budget_slices

#: Training FLOPs of (N, D) on the figures' axes: the planner's default, C = 6ND.
TRAINING_FLOPS = FlopsModel()


def has_allocation(law: Law) -> bool:
    """Whether the law is a function of exactly ``params`` and ``tokens`` (compute can be split)."""
    return set(law.variables) == {"params", "tokens"}


def optimal_allocation(
    law: Law, values: Mapping[str, float | np.ndarray], flops: np.ndarray
) -> pd.DataFrame:
    """Loss-minimising ``params`` and ``tokens`` at each budget in ``flops``.

    ``values`` maps parameter names to numbers, or to arrays of shape ``(S, 1)`` for S
    parameter sets (bootstrap replicates); then every output column has shape ``(S, n)``
    flattened row-major and a ``sample`` column says which set a row belongs to.
    Budgets where the law has no interior minimum (e.g. an exponent fitted to zero) get NaN.
    """
    flops = np.asarray(flops, dtype=float).reshape(-1)
    cols = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    n_sets = max((v.shape[0] for v in cols.values() if v.ndim == 2), default=1)
    sets = ParameterSets(
        law, {k: np.broadcast_to(v.reshape(-1, 1), (n_sets, 1)) for k, v in cols.items()}
    )
    path = optimal_path(sets, flops)
    ok = path.interior & np.isfinite(path.params)
    out = pd.DataFrame(
        {
            "flops": np.tile(flops, n_sets),
            "params": np.where(ok, path.params, np.nan).reshape(-1),
            "tokens": np.where(ok, path.tokens, np.nan).reshape(-1),
            "loss": np.where(ok, path.loss, np.nan).reshape(-1),
        }
    )
    if n_sets > 1 or any(v.ndim == 2 for v in cols.values()):
        out.insert(0, "sample", np.repeat(np.arange(n_sets), len(flops)))
    return out


def frontier(fit: FitResult, flops: np.ndarray, *, interval: float = 0.9) -> pd.DataFrame:
    """The fit's compute-optimal ``params``/``tokens``/``loss`` at ``flops``, with bootstrap bands.

    Columns: ``flops, params, tokens, loss`` and, when the fit has bootstrap samples,
    ``params_lo, params_hi, tokens_lo, tokens_hi`` (quantiles of the per-replicate optimum).
    """
    flops = np.asarray(flops, dtype=float).reshape(-1)
    path = optimal_path(parameter_sets(fit), flops)
    ok = path.interior & np.isfinite(path.params)
    out = pd.DataFrame(
        {
            "flops": flops,
            "params": np.where(ok[0], path.params[0], np.nan),
            "tokens": np.where(ok[0], path.tokens[0], np.nan),
            "loss": np.where(ok[0], path.loss[0], np.nan),
        }
    )
    if path.params.shape[0] > 1:
        q = ((1 - interval) / 2, 1 - (1 - interval) / 2)
        for col in ("params", "tokens"):
            grid = np.where(ok[1:], getattr(path, col)[1:], np.nan)
            with np.errstate(all="ignore"):
                lo, hi = np.nanquantile(np.log(grid), q, axis=0)
            out[f"{col}_lo"], out[f"{col}_hi"] = np.exp(lo), np.exp(hi)
    return out


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y on log x (the exponent of y ~ x^a)."""
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def isoflop_slices(
    obs: pd.DataFrame, *, tolerance: float = 0.05, max_span: float = 0.2
) -> pd.Series:
    """Label each row with its IsoFLOP budget (:func:`scalinglab.planning.isoflop.budget_slices`)."""
    centre = budget_slices(obs["flops"].to_numpy(dtype=float), tolerance, max_span)
    return pd.Series(centre, index=obs.index, name="slice")


def isoflop_minima(
    obs: pd.DataFrame, *, tolerance: float = 0.05, min_points: int = 4
) -> pd.DataFrame:
    """Per IsoFLOP slice, the minimum of a parabola in log10 N fitted to the loss (Approach 2).

    Columns: ``flops`` (the slice), ``params``, ``tokens``, ``loss`` at the vertex, ``n_points``,
    ``a, b, c`` (loss = a u^2 + b u + c with u = log10 N). Slices with fewer than
    ``min_points`` rows, or whose parabola opens downwards or has its vertex outside the
    slice's sizes, are left out.
    """
    slices = isoflop_slices(obs, tolerance=tolerance)
    rows = []
    for budget, part in obs.groupby(slices):
        u = np.log10(part["params"].to_numpy(dtype=float))
        if len(part) < min_points or np.unique(u).size < 3:  # a parabola needs three sizes
            continue
        a, b, c = np.polyfit(u, part["value"].to_numpy(dtype=float), 2)
        if a <= 0:
            continue
        vertex = -b / (2 * a)
        if not u.min() <= vertex <= u.max():
            continue
        n = 10.0**vertex
        rows.append(
            {
                "flops": float(budget),
                "params": n,
                "tokens": float(TRAINING_FLOPS.tokens_for(n, float(budget))),
                "loss": float(c - b * b / (4 * a)),
                "n_points": len(part),
                "a": a,
                "b": b,
                "c": c,
            }
        )
    cols = ["flops", "params", "tokens", "loss", "n_points", "a", "b", "c"]
    return pd.DataFrame(rows, columns=cols)
