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

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ..errors import InputError
from ..laws.base import Law
from ..runs import RunTable
from .estimate import estimate
from .extrapolation import SIZE_COLUMNS, ExtrapolationError, ratio_beyond
from .holdout import final_observations, score, split
from .options import FitOptions

#: Nested holdouts used by default: the 1, 2 and 3 largest sizes of the fitted data.
DEFAULT_LEVELS = 3
def calibrate_extrapolation(
    runs: RunTable,
    law: Law,
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    column: str | None = None,
    levels: int = DEFAULT_LEVELS,
    **option_values: Any,
) -> ExtrapolationError:
    """Measure how a law's log prediction error grows with extrapolation, on nested backtests.

    ``runs`` is the table the law is fitted to (already filtered); ``options`` how it is
    fitted (the nested fits skip the bootstrap); ``column`` the size the nested holdouts cut
    (``params`` when the law uses it, else its first variable). The distance from the data is
    measured in every size column the law uses (params, tokens, flops), or in ``column`` alone
    when it uses none.
    Raises :class:`InputError` when fewer than three held-out predictions can be made.
    """
    opts = FitOptions.of(options, **option_values).replace(
        family=None, where=None, bootstrap=0, influence=False, calibrate=False
    )
    column = column or ("params" if "params" in law.variables else law.variables[0])
    columns = tuple(c for c in law.variables if c in SIZE_COLUMNS) or (column,)
    final = final_observations(runs, law, opts.y, opts.skip_fraction)
    sizes = np.unique(final[column].to_numpy(dtype=float))
    errors, ratios, holdouts = [], [], []
    for k in range(1, levels + 1):
        if len(sizes) - k < 2:
            break
        cut = float(sizes[-1 - k])
        holdout = f"{column} > {cut!r}"
        try:
            train, held_out = split(runs, law, opts, holdout)
            nested = estimate(train, law, opts)
        except InputError:  # too few runs left below the cut for this law
            continue
        points, _ = score(nested, held_out, interval=0.9)
        errors += list(np.log(points["predicted"] / points["actual"]))
        ratios += list(ratio_beyond(points, {c: nested.data_range[c][1] for c in columns}))
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
