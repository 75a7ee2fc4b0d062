"""Curves to draw a fitted law along: the compute-optimal frontier, IsoFLOP slices of data.

A two-variable law such as Chinchilla's ``L(N, D)`` is drawn against one axis along a path
through (N, D). The natural path is the compute-optimal one: for each budget C = 6 N D, the
N that minimises the law (Hoffmann et al. 2022, Approach 3). It is found here numerically on
a grid in log N refined by a parabola, so it works for any law in ``params`` and ``tokens``,
and vectorised over bootstrap replicates for interval bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..fitting.result import FitResult
from ..laws.base import Law
from ..planning.isoflop import budget_slices

#: C = 6 N D: the training-compute approximation of Kaplan et al. (2020) and Hoffmann et al. (2022).
FLOPS_PER_PARAM_TOKEN = 6.0
#: Half-width of the search in log10 N around sqrt(C/6) (N = D), in decades.
_SEARCH_DECADES = 4.0
_GRID = 241


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
    Budgets whose optimum lies at the edge of the search (the law has no interior minimum,
    e.g. an exponent fitted to zero) get NaN.
    """
    flops = np.asarray(flops, dtype=float).reshape(-1)
    cols = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    n_sets = max((v.shape[0] for v in cols.values() if v.ndim == 2), default=1)
    u = np.linspace(-_SEARCH_DECADES, _SEARCH_DECADES, _GRID)
    centre = np.log10(np.sqrt(flops / FLOPS_PER_PARAM_TOKEN))
    log_n = centre[:, None] + u[None, :]  # (n, G)
    n_grid = 10.0**log_n
    d_grid = flops[:, None] / (FLOPS_PER_PARAM_TOKEN * n_grid)
    data = {"params": n_grid.reshape(-1), "tokens": d_grid.reshape(-1)}
    with np.errstate(all="ignore"):
        loss = np.broadcast_to(law.evaluate(data, cols), (n_sets, n_grid.size))
    loss = loss.reshape(n_sets, len(flops), _GRID)
    loss = np.where(np.isfinite(loss), loss, np.inf)
    k = np.argmin(loss, axis=2)
    edge = (k == 0) | (k == _GRID - 1)
    k = np.clip(k, 1, _GRID - 2)
    take = np.take_along_axis
    y0, y1, y2 = (take(loss, (k + s)[..., None], axis=2)[..., 0] for s in (-1, 0, 1))
    # Vertex of the parabola through three grid points (grid step h): offset in units of h.
    denom = y0 - 2 * y1 + y2
    with np.errstate(all="ignore"):
        shift = np.where(denom > 0, 0.5 * (y0 - y2) / denom, 0.0)
    shift = np.clip(np.nan_to_num(shift), -1, 1)
    h = u[1] - u[0]
    best_log_n = centre[None, :] + u[k] + shift * h
    best_log_n = np.where(edge, np.nan, best_log_n)
    n_opt = 10.0**best_log_n
    d_opt = flops[None, :] / (FLOPS_PER_PARAM_TOKEN * n_opt)
    point = {"params": n_opt.reshape(-1), "tokens": d_opt.reshape(-1)}
    # one parameter value per output row: replicate s's values repeated over the budgets
    flat = {k: np.repeat(v.reshape(-1), len(flops)) if v.ndim == 2 else v for k, v in cols.items()}
    with np.errstate(all="ignore"):
        best = law.evaluate(point, flat)
    out = pd.DataFrame(
        {
            "flops": np.tile(flops, n_sets),
            "params": point["params"],
            "tokens": point["tokens"],
            "loss": np.broadcast_to(best, point["params"].shape),
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
    out = optimal_allocation(fit.law, fit.params, flops)
    if fit.samples is not None and len(fit.samples):
        cols = {n: fit.samples[:, i : i + 1] for i, n in enumerate(fit.law.parameter_names)}
        reps = optimal_allocation(fit.law, cols, flops)
        q = ((1 - interval) / 2, 1 - (1 - interval) / 2)
        for col in ("params", "tokens"):
            grid = reps[col].to_numpy().reshape(-1, len(out))
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
        if len(part) < min_points:
            continue
        u = np.log10(part["params"].to_numpy(dtype=float))
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
                "tokens": float(budget) / (FLOPS_PER_PARAM_TOKEN * n),
                "loss": float(c - b * b / (4 * a)),
                "n_points": len(part),
                "a": a,
                "b": b,
                "c": c,
            }
        )
    cols = ["flops", "params", "tokens", "loss", "n_points", "a", "b", "c"]
    return pd.DataFrame(rows, columns=cols)
