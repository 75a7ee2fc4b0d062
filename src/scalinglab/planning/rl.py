"""The asymptote of an RL run: where its reward-compute sigmoid levels off, and how soon.

From a fit of ``scalerl:X`` (Khatri et al. 2025, eq. 1, :mod:`scalinglab.laws.rl`) to one
run's curve of pass rate against compute:

* the asymptote ``A = R0 + gain`` with its bootstrap interval: the ceiling of this recipe;
* ``B``, ``C_mid``, ``R0`` with theirs;
* how much of the gain the run has collected at the largest compute it reached, and the
  compute at which it would collect a share ``fraction`` of it:
  ``C = C_mid * (fraction/(1 - fraction))**(1/B)`` (eq. 1 solved for C).

Khatri et al. fit their 8B run on its first 50k GPU-hours and extrapolate to 100k (their
Fig. 1); a curve that has not passed ``C_mid`` pins the asymptote loosely, and the answer says
so. ``tests/test_zoo_rl.py`` checks that on a curve cut at half its compute the interval of
``A`` holds the true asymptote.

Example:
    >>> fit = sl.fit(curve, "scalerl:gpu_hours")                       # doctest: +SKIP
    >>> rl_asymptote(fit).asymptote.ci()                               # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError
from ..fitting.result import FitResult
from .allocation import Quantity
from .replicates import ParameterSets, check_level, parameter_sets

#: The parameters a fit must have to be read as Khatri et al.'s sigmoid.
SCALERL_PARAMETERS = ("R0", "gain", "C_mid", "B")


def scalerl_sets(fit: FitResult, what: str = "this question") -> tuple[ParameterSets, str]:
    """The fit's parameter sets and its compute column, refused unless it is a ``scalerl`` fit."""
    names = set(fit.law.parameter_names)
    if not set(SCALERL_PARAMETERS) <= names or len(fit.law.variables) != 1:
        raise InputError(
            f"{what} needs a fit of the scalerl law (R0 + gain/(1 + (C_mid/C)**B), e.g. --law "
            f"scalerl:gpu_hours); law {fit.law.name!r} has parameters "
            f"{', '.join(fit.law.parameter_names)}"
        )
    return parameter_sets(fit), fit.law.variables[0]


def compute_for_share(c_mid: Any, b: Any, share: float) -> Any:
    """Compute at which a share ``share`` of the gain ``A - R0`` is collected (eq. 1 solved)."""
    return c_mid * (share / (1.0 - share)) ** (1.0 / b)


def share_at(c_mid: Any, b: Any, compute: Any) -> Any:
    """Share of the gain collected at ``compute``: ``1/(1 + (C_mid/C)**B)``."""
    with np.errstate(all="ignore"):
        return 1.0 / (1.0 + (c_mid / compute) ** b)


@dataclass
class RLAsymptote(Answer):
    """The ceiling of an RL run's reward, its efficiency and how far along the run is."""

    title = "RL reward-compute curve (Khatri et al. 2025)"

    law: str
    variable: str
    asymptote: Quantity  # A
    initial: Quantity  # R0
    gain: Quantity  # A - R0
    exponent: Quantity  # B
    midpoint: Quantity  # C_mid
    largest: float  # the largest compute in the data
    reached: Quantity  # share of the gain collected at ``largest``
    fraction: float
    compute_to_fraction: Quantity  # compute at which ``fraction`` of the gain is collected
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        names = ("asymptote", "initial", "gain", "exponent", "midpoint", "reached",
                 "compute_to_fraction")  # fmt: skip
        return {
            "law": self.law,
            "variable": self.variable,
            **{k: getattr(self, k).value for k in names},
            "largest": self.largest,
            "fraction": self.fraction,
            "interval": self.interval,
            "ci": {k: getattr(self, k).ci() for k in names},
            "warnings": list(self.warnings),
        }


def rl_asymptote(fit: FitResult, *, fraction: float = 0.9, interval: float = 0.9) -> RLAsymptote:
    """Asymptote, efficiency and progress of an RL run from a ``scalerl`` fit.

    ``fraction`` (in (0, 1)): the share of the gain ``A - R0`` whose compute is asked for.
    Intervals are percentiles of the fit's bootstrap replicates at level ``interval``; without
    a bootstrap they are NaN. Warns when the data end before ``C_mid`` (the asymptote is then
    an extrapolation of a curve that has not yet bent) or when the interval of ``A`` is wider
    than half the gain.

    Example (hand-computable: at ``C = C_mid`` half the gain is collected; 90% of it at
    ``C_mid * 9**(1/B)``)::

        rl_asymptote(fit, fraction=0.9).compute_to_fraction.value
    """
    level = check_level(interval)
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise InputError(
            f"must be a share of the gain in (0, 1), got {fraction:g}", option="fraction"
        )
    sets, variable = scalerl_sets(fit, "the RL asymptote")
    v = {k: sets.values[k][:, 0] for k in SCALERL_PARAMETERS}
    largest = float(fit.data_range.get(variable, (math.nan, math.nan))[1])
    with np.errstate(all="ignore"):
        asymptote = v["R0"] + v["gain"]
        reached = share_at(v["C_mid"], v["B"], largest)
        needed = compute_for_share(v["C_mid"], v["B"], fraction)
    answer = RLAsymptote(
        law=fit.law.name,
        variable=variable,
        asymptote=Quantity.of(asymptote, level),
        initial=Quantity.of(v["R0"], level),
        gain=Quantity.of(v["gain"], level),
        exponent=Quantity.of(v["B"], level),
        midpoint=Quantity.of(v["C_mid"], level),
        largest=largest,
        reached=Quantity.of(reached, level),
        fraction=fraction,
        compute_to_fraction=Quantity.of(needed, level),
        interval=level,
    )
    answer.warnings += _warnings(answer, fit)
    return answer


def _warnings(answer: RLAsymptote, fit: FitResult) -> list[str]:
    out = [w for w in fit.warnings if "weakly identified" not in w]
    if answer.midpoint.value > answer.largest:
        out.append(
            f"the data end at {answer.largest:.3g} {answer.variable}, before the midpoint C_mid = "
            f"{answer.midpoint.value:.3g}: the curve has not bent yet, and its asymptote is an "
            "extrapolation (Khatri et al. fit past the midpoint)"
        )
    lo, hi = answer.asymptote.lo, answer.asymptote.hi
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo > 0.5 * abs(answer.gain.value):
        out.append(
            f"the asymptote's {answer.interval:.0%} interval [{lo:.4g}, {hi:.4g}] is wider than "
            "half the gain: the curve does not pin its ceiling down"
        )
    if fit.samples is None or len(fit.samples) == 0:
        out.append("the fit has no bootstrap replicates: no intervals (fit with --bootstrap)")
    return out
