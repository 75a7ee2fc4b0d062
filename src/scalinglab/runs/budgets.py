"""Compute budgets: which runs share one (IsoFLOP slices, nested holdouts by compute)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def budget_slices(flops: np.ndarray, tolerance: float = 0.05, max_span: float = 0.2) -> np.ndarray:
    """The IsoFLOP budget of each run: runs whose log10 FLOPs lie within ``tolerance`` decades
    of their neighbours form one slice (exact budgets, or budgets read off a figure), labelled
    by the slice's geometric-mean FLOPs.

    Budgets read off a figure scatter, and neighbouring budgets can then chain into one wide
    slice (Epoch's Chinchilla extraction chains 3e19, 6e19 and 1e20 into one of a decade): a
    slice wider than ``max_span`` decades is split at its widest gap until none is.

    Example (runs read off a figure around two budgets, every gap under 0.05 decades, so
    single linkage chains them into one slice of 0.31 decades; split at the widest gap):
        >>> flops = [2.9, 3.0, 3.1, 3.3, 3.5, 3.8, 4.2, 4.5, 4.8, 5.1, 5.5, 5.9]
        >>> (budget_slices(np.array(flops) * 1e19) / 1e19).round(1).tolist()
        [3.3, 3.3, 3.3, 3.3, 3.3, 3.3, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    """
    logc = np.log10(np.asarray(flops, dtype=float))
    order = np.argsort(logc, kind="stable")
    sorted_c = logc[order]
    gaps = np.diff(sorted_c)
    breaks = set(np.flatnonzero(gaps > tolerance) + 1)
    bounds = [0, *sorted(breaks), len(sorted_c)]
    pending = list(zip(bounds[:-1], bounds[1:], strict=True))
    while pending:
        start, stop = pending.pop()
        if stop - start > 1 and sorted_c[stop - 1] - sorted_c[start] > max_span:
            cut = start + 1 + int(np.argmax(gaps[start : stop - 1]))
            breaks.add(cut)
            pending += [(start, cut), (cut, stop)]
    cluster = np.empty(len(logc), dtype=int)
    cluster[order] = np.searchsorted(sorted(breaks), np.arange(len(logc)), side="right")
    centre = pd.Series(logc).groupby(cluster).transform("mean").to_numpy()
    return 10.0**centre
