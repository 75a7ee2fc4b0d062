"""How far to trust an extrapolation: prediction intervals calibrated on nested backtests.

A fit's bootstrap interval covers the uncertainty of the parameters and the scatter of single
runs around the law. It does not cover the law being slightly wrong, an error that grows with
the distance from the data: on Epoch AI's Chinchilla extraction the largest runs, held out, are
predicted within 1.7% yet none falls inside its 90% bootstrap prediction interval.

:func:`calibrate_extrapolation` measures that error on the fit's own data. It refits the law on
nested subsets (every run up to the k-th largest size, k = 1..levels), predicts the larger runs
and models the variance of the log errors as ``base + growth * ln(ratio)**2``, where ``ratio``
is how far past the data a prediction lies: its largest factor beyond the largest fitted value
of any size column of the law (params, tokens, flops), so that extrapolating in tokens (over-
training) widens the interval as extrapolating in params does (non-negative least squares on
the squared errors). ``fit(..., calibrate=True)`` stores the result and ``predict`` then draws the
run-to-run noise with that variance where it exceeds the in-sample scatter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ..errors import InputError
from ..laws.base import Law
from ..runs import RunTable

#: Nested holdouts used by default: the 1, 2 and 3 largest sizes of the fitted data.
DEFAULT_LEVELS = 3
#: Variables whose growth is extrapolation; the distance from the data is measured in these.
SIZE_COLUMNS = ("params", "tokens", "flops")


@dataclass(frozen=True)
class ExtrapolationError:
    """Variance of the log prediction error as a function of the extrapolation ratio.

    Example:
        >>> err = ExtrapolationError("params", base=2.5e-4, growth=6e-3, n_points=9)
        >>> round(math.sqrt(err.variance(10.0)), 4)  # log-error SD at 10x the largest size
        0.1791
        >>> err.ratio({"params": [1e9, 1e10]}, {"params": (1e7, 1e9)})
        array([ 1., 10.])
    """

    column: str  # the size the nested holdouts cut
    base: float  # variance at the edge of the fitted data (ratio 1)
    growth: float  # added variance per unit of ln(ratio)**2
    n_points: int
    holdouts: list[str] = field(default_factory=list)
    columns: tuple[str, ...] = ()  # where the distance is measured; () means (column,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns) or (self.column,))

    def ratio(self, points: Any, data_range: dict[str, tuple[float, float]]) -> np.ndarray:
        """How far past the data each point lies: its largest factor beyond the largest
        fitted value of any distance column (1 inside the data)."""
        return _ratio(points, {c: data_range[c][1] for c in self.columns})

    def variance(self, ratio: Any) -> np.ndarray:
        """Variance of ln(predicted / actual) at ``ratio`` (see :meth:`ratio`) past the data."""
        log_ratio = np.log(np.maximum(np.asarray(ratio, dtype=float), 1.0))
        return self.base + self.growth * log_ratio**2

    def describe(self) -> str:
        return (
            f"prediction intervals widened from {len(self.holdouts)} nested backtests "
            f"({self.n_points} points): log-error SD {math.sqrt(self.base):.3g} at the edge of "
            f"the data, {math.sqrt(self.variance(10.0)):.3g} at 10x beyond the largest "
            f"{' or '.join(self.columns)} fitted"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "columns": list(self.columns)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ExtrapolationError:
        return cls(
            column=str(doc["column"]),
            base=float(doc["base"]),
            growth=float(doc["growth"]),
            n_points=int(doc["n_points"]),
            holdouts=[str(h) for h in doc.get("holdouts", [])],
            columns=tuple(str(c) for c in doc.get("columns", [doc["column"]])),
        )


def _ratio(points: Any, largest: dict[str, float]) -> np.ndarray:
    factors = [np.asarray(points[c], dtype=float) / top for c, top in largest.items() if top > 0]
    if not factors:
        return np.ones(np.shape(np.asarray(points[next(iter(largest))], dtype=float)))
    return np.maximum(np.max(np.broadcast_arrays(*factors), axis=0), 1.0)


def calibrate_extrapolation(
    runs: RunTable,
    law: Law,
    *,
    y: str | None = None,
    column: str | None = None,
    levels: int = DEFAULT_LEVELS,
    **fit_options: Any,
) -> ExtrapolationError:
    """Measure how a law's log prediction error grows with extrapolation, on nested backtests.

    ``runs`` is the table the law is fitted to (already filtered); ``column`` the size the
    nested holdouts cut (``params`` when the law uses it, else its first variable). The
    distance from the data is measured in every size column the law uses (params, tokens,
    flops), or in ``column`` alone when it uses none.
    Raises :class:`InputError` when fewer than three held-out predictions can be made.
    """
    from .backtest import backtest, final_observations

    column = column or ("params" if "params" in law.variables else law.variables[0])
    columns = tuple(c for c in law.variables if c in SIZE_COLUMNS) or (column,)
    final = final_observations(runs, law, y, fit_options.get("skip_fraction", 0.1))
    sizes = np.unique(final[column].to_numpy(dtype=float))
    options = {**fit_options, "bootstrap": 0, "influence": False}
    errors, ratios, holdouts = [], [], []
    for k in range(1, levels + 1):
        if len(sizes) - k < 2:
            break
        cut = float(sizes[-1 - k])
        holdout = f"{column} > {cut!r}"
        try:
            bt = backtest(runs, law, holdout=holdout, y=y, **options)
        except InputError:  # too few runs left below the cut for this law
            continue
        points = bt.points
        errors += list(np.log(points["predicted"] / points["actual"]))
        ratios += list(_ratio(points, {c: bt.fit.data_range[c][1] for c in columns}))
        holdouts.append(holdout)
    errors_arr, ratios_arr = np.asarray(errors, float), np.asarray(ratios, float)
    ok = np.isfinite(errors_arr) & np.isfinite(ratios_arr)
    if ok.sum() < 3:
        raise InputError(
            f"cannot calibrate the prediction interval: {int(ok.sum())} held-out prediction(s) "
            f"from nested backtests on {len(sizes)} distinct {column} values (need at least 3)"
        )
    log_ratio_sq = np.log(ratios_arr[ok]) ** 2
    design = np.column_stack([np.ones_like(log_ratio_sq), log_ratio_sq])
    (base, growth), _ = nnls(design, errors_arr[ok] ** 2)
    return ExtrapolationError(column, float(base), float(growth), int(ok.sum()), holdouts, columns)
