"""Questions asked of every bootstrap replicate at once, and intervals from the answers.

A plan is only as certain as the fit it reads. Every question in :mod:`scalinglab.planning` is
answered for the point estimate and for each bootstrap replicate of the fit in one set of numpy
operations: the parameters become ``(S, 1)`` columns (row 0 the estimate, rows 1.. the
replicates) and :meth:`Law.evaluate` broadcasts them against ``(S, k)`` arrays of scales.
Intervals are percentiles of the replicates' answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..fitting.result import FitResult
from ..laws.base import Law


@dataclass(frozen=True)
class ParameterSets:
    """The fit's parameters as ``(S, 1)`` columns: row 0 the estimate, rows 1.. the replicates."""

    law: Law
    values: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return next(iter(self.values.values())).shape[0]

    @property
    def n_replicates(self) -> int:
        return self.size - 1

    def repeat(self, times: int) -> ParameterSets:
        """Each parameter set ``times`` times in a row: set s becomes rows s*times..s*times+times-1."""
        return ParameterSets(
            self.law, {k: np.repeat(v, times, axis=0) for k, v in self.values.items()}
        )

    def evaluate(self, data: dict[str, np.ndarray]) -> np.ndarray:
        """The law at ``data`` (arrays broadcastable to ``(S, k)``) for every parameter set."""
        with np.errstate(all="ignore"):
            out = self.law.evaluate(data, self.values)
        return np.broadcast_to(out, np.broadcast_shapes(out.shape, (self.size, 1)))


def parameter_sets(fit: FitResult) -> ParameterSets:
    """Stack the point estimate and the bootstrap replicates of ``fit``."""
    names = fit.law.parameter_names
    point = np.array([[fit.params[n] for n in names]], dtype=float)
    rows = (
        point if fit.samples is None or len(fit.samples) == 0 else np.vstack([point, fit.samples])
    )
    return ParameterSets(fit.law, {n: rows[:, i : i + 1] for i, n in enumerate(names)})


def interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the replicates' answers (row 0, the estimate, left out)."""
    reps = np.asarray(values, dtype=float).reshape(-1)[1:]
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return (math.nan, math.nan)
    q = ((1 - level) / 2, 1 - (1 - level) / 2)
    lo, hi = np.quantile(reps, q)
    return float(lo), float(hi)


def failed_replicates_warning(ok: np.ndarray, what: str) -> list[str]:
    """The warning for replicates without an answer (row 0, the estimate, left out).

    ``ok`` says per row whether it has one; ``what`` says what the others lack. Nothing when
    there are no replicates or all of them answer.

    Example:
        >>> failed_replicates_warning(np.array([True, True, False, True, True]), "no minimum")
        ['in 25% of bootstrap replicates no minimum; intervals are over the others']
    """
    failed = ~np.asarray(ok, dtype=bool).reshape(-1)[1:]
    if not failed.any():
        return []
    return [f"in {failed.mean():.0%} of bootstrap replicates {what}; intervals are over the others"]


def check_level(level: float) -> float:
    if not 0 < level < 1:
        raise InputError(f"interval must be between 0 and 1, got {level:g}")
    return float(level)


def require_params_tokens(law: Law, what: str) -> None:
    """Planning chooses N and D: the law must be a function of exactly those two."""
    missing = [v for v in ("params", "tokens") if v not in law.variables]
    extra = [v for v in law.variables if v not in ("params", "tokens")]
    if missing or extra:
        have = ", ".join(law.variables)
        raise InputError(
            f"{what} needs a law of params and tokens; law {law.name!r} is a function of {have}"
        )


def minimize_1d(
    phi: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray | float,
    hi: np.ndarray | float,
    size: int,
    *,
    n_grid: int = 241,
    polish: str = "derivative",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise ``phi`` on ``[lo, hi]`` for S independent rows at once.

    ``phi`` maps ``x`` of shape ``(S, k)`` to values of the same shape (NaN where undefined).
    A grid finds each row's basin, then the bracket is polished: by bisection on the central
    difference of ``phi`` (``"derivative"``: reaches ~1e-10 in x on smooth functions, where a
    search on values stalls at sqrt(machine epsilon) because the minimum is flat), or by a
    golden-section search (``"golden"``, for functions that are themselves solved numerically).

    Returns ``(x_min, phi_min, interior)``: ``interior`` is False where the minimum lies on the
    edge of the search range (no optimum inside it).
    """
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (size,))
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (size,))
    t = np.linspace(0.0, 1.0, n_grid)
    grid = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    values = np.asarray(phi(grid), dtype=float)
    values = np.where(np.isfinite(values), values, np.inf)
    k = np.argmin(values, axis=1)
    rows = np.arange(size)
    interior = (k > 0) & (k < n_grid - 1) & np.isfinite(values[rows, k])
    a = grid[rows, np.clip(k - 1, 0, n_grid - 1)]
    b = grid[rows, np.clip(k + 1, 0, n_grid - 1)]
    if polish == "derivative":
        h = 1e-4 * np.maximum(1.0, np.abs(grid[rows, k]))

        def slope(x: np.ndarray) -> np.ndarray:
            both = phi(np.stack([x + h, x - h], axis=1))
            return (both[:, 0] - both[:, 1]) / (2 * h)

        for _ in range(64):
            mid = 0.5 * (a + b)
            s = slope(mid)
            right = s > 0
            b = np.where(right, mid, b)
            a = np.where(right, a, mid)
        x = 0.5 * (a + b)
    else:
        g = (math.sqrt(5) - 1) / 2
        for _ in range(80):
            c, d = b - g * (b - a), a + g * (b - a)
            both = np.asarray(phi(np.stack([c, d], axis=1)), dtype=float)
            both = np.where(np.isfinite(both), both, np.inf)
            left = both[:, 0] <= both[:, 1]  # the minimum is in [a, d]
            b = np.where(left, d, b)
            a = np.where(left, a, c)
        x = 0.5 * (a + b)
    x = np.where(interior, x, grid[rows, k])
    best = np.asarray(phi(x[:, None]), dtype=float)[:, 0]
    return x, best, interior


def bisect_increasing(
    fn: Callable[[np.ndarray], np.ndarray],
    target: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    iterations: int = 100,
) -> np.ndarray:
    """x in [lo, hi] with ``fn(x) = target`` elementwise, for ``fn`` increasing in x."""
    a, b = np.array(lo, dtype=float), np.array(hi, dtype=float)
    for _ in range(iterations):
        mid = 0.5 * (a + b)
        above = fn(mid) > target
        b = np.where(above, mid, b)
        a = np.where(above, a, mid)
    return 0.5 * (a + b)
