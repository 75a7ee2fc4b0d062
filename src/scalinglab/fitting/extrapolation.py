"""How a law's prediction error grows with the distance from the data: a fit's calibration.

:class:`ExtrapolationError` is what :func:`scalinglab.fitting.calibration.calibrate_extrapolation`
measures and what a :class:`~scalinglab.fitting.result.FitResult` keeps to widen its prediction
intervals. It is data only (numpy), so results load without the machinery that made them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

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
        return ratio_beyond(points, {c: data_range[c][1] for c in self.columns})

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


def ratio_beyond(points: Any, largest: dict[str, float]) -> np.ndarray:
    factors = [np.asarray(points[c], dtype=float) / top for c, top in largest.items() if top > 0]
    if not factors:
        return np.ones(np.shape(np.asarray(points[next(iter(largest))], dtype=float)))
    return np.maximum(np.max(np.broadcast_arrays(*factors), axis=0), 1.0)
