"""How far to trust an extrapolation: nested extrapolations of the user's own runs.

Every prediction interval widens with the distance past the data by the error per decade that
real studies showed (:func:`scalinglab.fitting.extrapolation.prior`). ``calibrate=True`` also
measures it on the fit's own runs: the law is refitted with the largest sizes (and, separately,
the largest compute budgets) held out, the held-out runs are predicted, and their errors
update the prior (:func:`scalinglab.fitting.extrapolation.update`). The cross-extrapolated
choice of law (:mod:`.selection`) measures it the same way, for its own predictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..laws.base import Law
from ..runs import RunTable
from .estimate import estimate
from .extrapolation import ExtrapolationError, decades_beyond, update
from .holdout import final_observations, nested_holdouts, split
from .options import FitOptions
from .result import FitResult

__all__ = ["ExtrapolationError", "NestedExtrapolation", "calibrate_extrapolation", "extrapolate"]


@dataclass
class NestedExtrapolation:
    """One law refitted on nested subsets of the runs, and how it predicted the rest."""

    holdouts: list[str]
    errors: list[np.ndarray] = field(default_factory=list)  # ln(predicted / actual) per cut
    decades: list[np.ndarray] = field(default_factory=list)  # distance past that cut's data
    in_sample: list[float] = field(default_factory=list)  # that fit's residual variance
    failed: list[str] = field(default_factory=list)  # why a cut could not be fitted

    @property
    def n_points(self) -> int:
        return int(sum(np.isfinite(e).sum() for e in self.errors))


def extrapolate(
    table: RunTable, law: Law, options: FitOptions, holdouts: list[str]
) -> NestedExtrapolation:
    """Fit ``law`` with each holdout's runs left out (no bootstrap) and predict them.

    A cut whose fit fails is recorded with its reason, and its errors are NaN.
    """
    opts = options.replace(bootstrap=0, influence=False, calibrate=False)
    out = NestedExtrapolation(list(holdouts))
    for spec in holdouts:
        try:
            train, held_out = split(table, law, opts, spec)
            nested = estimate(train, law, opts)
            predicted = nested.predict(held_out[list(nested.law.variables)])["value"]
            with np.errstate(all="ignore"):
                errors = np.log(predicted.to_numpy() / held_out["value"].to_numpy(dtype=float))
            if not nested.converged:
                raise InputError(nested.message)
        except InputError as exc:
            out.failed.append(f"{spec}: {exc}")
            errors = np.full(1, np.nan)
            held_out, nested = None, None
        out.errors.append(errors)
        out.decades.append(np.full(1, np.nan) if nested is None else _decades(held_out, nested))
        sd = np.nan if nested is None else nested.residuals.get("robust_sd", np.nan)
        out.in_sample.append(float(sd) ** 2)
    return out


def _decades(held_out: Any, fit: FitResult) -> np.ndarray:
    return decades_beyond(held_out, {c: hi for c, (_, hi) in fit.data_range.items()})


def calibrate_extrapolation(
    runs: RunTable,
    law: Law,
    options: FitOptions | Mapping[str, Any] | None = None,
    **option_values: Any,
) -> ExtrapolationError:
    """The shipped prior of the error per decade, updated by nested extrapolations of ``runs``.

    ``runs`` is the table the law is fitted to (already selected); ``options`` how it is
    fitted (the nested fits skip the bootstrap). With fewer than three sizes or budgets to
    hold out the prior stands alone, and says so.
    """
    opts = FitOptions.of(options, **option_values).replace(family=None, where=None)
    final = final_observations(runs, law, opts.y, opts.skip_fraction)
    nested = extrapolate(runs, law, opts, nested_holdouts(final, law))
    return update("single_law", nested.errors, nested.decades, nested.holdouts)
