"""Backtests: fit on the small runs, predict the large ones that were held out.

Accuracy is judged by held-out extrapolation, not by in-sample fit; :mod:`.holdout` says
which runs are held out (``largest:K`` or an expression such as ``flops > 1e21``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..laws.base import Law
from ..laws.zoo import get_law
from .api import Progress, fit
from .data import Runs, select
from .holdout import final_observations, holdout_mask, score, split
from .options import FitOptions
from .result import BacktestResult
from .selection import candidates_for, is_candidate_list

__all__ = ["BacktestResult", "backtest", "final_observations", "holdout_mask"]


def backtest(
    runs: Runs,
    law: str | Law = "chinchilla",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    holdout: str = "largest:1",
    interval: float = 0.9,
    progress: Progress | None = None,
    **option_values: Any,
) -> BacktestResult:
    """Fit on all runs but the held-out ones, predict those, report the errors.

    ``options`` (or keywords, see :class:`FitOptions`) say what to fit and how; ``holdout``
    which runs to hold out (``largest:K[:COLUMN]`` or an expression such as ``flops > 1e21``).

    Example:
        >>> bt = backtest("../shared/data/chinchilla_epoch.csv", "chinchilla",   # doctest: +SKIP
        ...               holdout="largest:2", where="value < 3.42")
        >>> bt.verdict                                                            # doctest: +SKIP
    """
    opts = FitOptions.of(options, **option_values)
    table = select(runs, family=opts.family, where=opts.where)
    if is_candidate_list(law):  # the runs are split as the first candidate reads them
        reference = get_law(
            candidates_for(law, table.variables())[0].law, columns=table.variables()
        )
    else:
        law = reference = get_law(law, columns=table.variables())
    train, held_out = split(table, reference, opts, holdout)
    # The table is selected already: selecting again would only add "removed 0 rows" notes.
    result = fit(train, law, opts.replace(family=None, where=None), progress=progress)
    points, warnings = score(result, held_out, interval)
    return BacktestResult(result, points, holdout, interval, warnings)
