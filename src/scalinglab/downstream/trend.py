"""Does a metric improve with scale at all? Chance levels and monotonicity, before any fit.

A task whose best model is within noise of chance carries no signal to fit (Gadre et al. chose
their 17-task average as the tasks above chance at 0.154B for the same reason), and a task that
gets *worse* with scale (McKenzie et al. 2023, *Inverse Scaling: When Bigger Isn't Better*)
would be forced through a link that can only improve. Both are reported as what they are.

Example:
    >>> trend([1, 2, 3, 4, 5], [0.3, 0.4, 0.5, 0.6, 0.7])["verdict"]
    'improves'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Spearman's rank correlation beyond which a metric is said to move with scale.
STRONG = 0.5


def spearman(x: Any, y: Any) -> float:
    """Spearman's rank correlation (ties get their mean rank); NaN for constant input."""
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):  # ties share their mean rank
        tied = v == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def trend(scale: Any, score: Any, margin: float = 0.0) -> dict[str, Any]:
    """How ``score`` (higher is better) moves with ``scale`` (larger is bigger or better-trained).

    Verdicts: ``improves`` (rank correlation >= 0.5), ``inverse scaling`` (<= -0.5),
    ``non-monotone`` (the best model is neither the largest nor close to it: the largest
    scores ``margin`` below the best, as in McKenzie et al.'s U-shaped and inverted-U tasks),
    else ``flat``. ``drop_at_top``: how far the largest falls below the best.
    """
    x, y = np.asarray(scale, dtype=float), np.asarray(score, dtype=float)
    rho = spearman(x, y)
    top = y[x == x.max()].mean() if len(x) else math.nan
    drop = float(np.max(y) - top) if len(y) else math.nan
    if not math.isfinite(rho):
        verdict = "flat"
    elif rho <= -STRONG:
        verdict = "inverse scaling"
    elif margin > 0 and drop > margin and len(np.unique(x)) >= 3:
        verdict = "non-monotone"
    elif rho >= STRONG:
        verdict = "improves"
    else:
        verdict = "flat"
    return {"spearman": rho, "drop_at_top": drop, "verdict": verdict}


__all__ = ["spearman", "trend"]
