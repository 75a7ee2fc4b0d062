"""``scalinglab.fit``: from a run table to a :class:`FitResult`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from ..laws.base import Law
from ..laws.zoo import get_law
from .calibration import calibrate_extrapolation
from .data import Runs, observations_for, select
from .estimate import Progress, estimate
from .extrapolation import prior
from .options import FitOptions
from .result import FitResult
from .selection import AUTO_AXES, candidates_for, is_candidate_list, select_law

__all__ = ["FitOptions", "Progress", "fit", "observations_for", "select"]


def fit(
    runs: Runs,
    law: str | Law = "chinchilla",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    **option_values: Any,
) -> FitResult:
    """Fit a scaling law to runs, robustly, with bootstrap intervals and diagnostics.

    Args:
        runs: a RunTable, a DataFrame or file path(s) (CSV, Parquet, JSONL, ...).
        law: a law name (``scalinglab laws`` lists them) or a formula over the table's columns,
            e.g. ``"E + A*params**-alpha + B*tokens**-beta"``; or ``"auto"`` (or a list such
            as ``"chinchilla,farseer,overtrain@weighted"``) to choose the law by how well each
            extrapolates inside these runs (:mod:`scalinglab.fitting.selection`).
        options: a :class:`FitOptions` (what to fit and how); single options may also be
            given as keywords (``where="value < 4.9"``, ``bootstrap=0``), which win.
        progress: ``progress(stage, done, total)`` as the bootstrap advances.

    The options (see :class:`FitOptions`): ``y`` the metric; ``family`` and ``where`` the
    rows; ``fix`` parameters held fixed (a number, ``"published"`` or a saved fit, Choshen et
    al. 2024); ``bounds``; ``bootstrap`` replicates of the run-resampling bootstrap (0 to
    skip); ``huber_delta`` (1e-3, as Hoffmann et al. and Epoch); ``skip_fraction`` of each
    curve's first steps; ``calibrate`` to widen prediction intervals by the error nested
    backtests of these runs measure (:mod:`scalinglab.fitting.calibration`); ``seed``.

    Example:
        >>> import scalinglab as sl                                               # doctest: +SKIP
        >>> f = sl.fit("../shared/data/chinchilla_epoch.csv", "chinchilla", where="value < 3.7")
        >>> print(f.summary())                                                    # doctest: +SKIP
    """
    t0 = time.perf_counter()
    opts = FitOptions.of(options, **option_values)
    table = select(runs, family=opts.family, where=opts.where)
    if is_candidate_list(law):
        if opts.fix or opts.bounds:
            raise InputError(
                "`fix` and `bound` name one law's parameters: give one law, not a choice of laws"
            )
        variables = table.variables()
        # only the axes auto chooses by: a wide table's other columns need no pass over them
        constant = [v for v in AUTO_AXES if v in variables and table.df[v].nunique() <= 1]
        candidates = candidates_for(law, variables, constant)
        result = select_law(table, candidates, opts, progress=progress)
    else:
        law = get_law(law, columns=table.variables())
        if opts.bounds:
            law = law.with_bounds(opts.bounds)
        result = estimate(table, law, opts, progress=progress)
        result.extrapolation = (
            calibrate_extrapolation(table, law, opts) if opts.calibrate else prior("single_law")
        )
    result.timing["total_s"] = time.perf_counter() - t0
    return result
