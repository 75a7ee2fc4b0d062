"""Power law or exponential: which data curve holds on the user's runs (Sorscher et al. 2022).

Sorscher et al. 2022 (*Beyond neural scaling laws: beating power law scaling via data pruning*)
show that with a good pruning metric the error can fall faster than a power law in the
(pruned) dataset size, toward exponential. Which of the two a set of runs follows cannot be
read off the in-sample fit (either bends to fit a few points); it is decided the way
scalinglab chooses any law, by cross-extrapolation inside the runs
(:mod:`scalinglab.fitting.selection`): both candidates, ``power_floor:X`` (``c + a*X**-b``)
and ``exponential:X`` (``E + a*exp(-X/X0)``), are refitted with the largest dataset sizes held
out, and scored by their log error per decade on the held-out runs. This module only reads the
choice: fit with :func:`fit_curve_forms` (the two candidates, no bootstrap), then ask
:func:`curve_form`.

Example:
    >>> fit = fit_curve_forms(runs, "tokens")                     # doctest: +SKIP
    >>> curve_form(fit).holds                                     # doctest: +SKIP
    'exponential'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit as fit_law
from ..fitting.options import FitOptions
from ..fitting.result import FitResult

#: The two forms compared, as law templates of the dataset-size column.
POWER, EXPONENTIAL = "power_floor", "exponential"
#: The runner-up must extrapolate this many times worse (its score over the winner's) for the
#: winner to "hold"; below it the runs do not tell the forms apart. At the selection's
#: temperature (0.5) a 1.5x worse score keeps e^-1 = 37% of the winner's weight.
DECISIVE_RATIO = 1.5


def curve_form_candidates(variable: str = "tokens") -> str:
    """The ``law`` that fits both forms and chooses by cross-extrapolation.

    Example:
        >>> curve_form_candidates("tokens")
        'power_floor:tokens,exponential:tokens'
    """
    return f"{POWER}:{variable},{EXPONENTIAL}:{variable}"


def fit_curve_forms(
    runs: Any,
    variable: str = "tokens",
    options: FitOptions | Mapping[str, Any] | None = None,
    **option_values: Any,
) -> FitResult:
    """Both forms fitted to ``runs`` and chosen by cross-extrapolation, without a bootstrap.

    The choice rests on the nested extrapolations alone. With a bootstrap, ``law="auto"`` also
    excludes a candidate whose 95% interval 10x past the data spans more than 10x; an
    exponential's floor is loosely pinned that far out even where the exponential holds (on
    synthetic exponential curves, with 50 replicates, it excluded both forms in 6 of 12 seeds),
    and how far each form extrapolates is what the question asks, not its precision 10x out.
    """
    opts = FitOptions.of(options, **option_values).replace(bootstrap=0)
    return fit_law(runs, curve_form_candidates(variable), opts)


@dataclass
class CurveForm(Answer):
    """Which data curve extrapolates inside the runs: a power law, an exponential, or neither."""

    title = "power law or exponential data curve (Sorscher et al. 2022)"

    variable: str
    holds: str  # "power law", "exponential" or "undecided"
    score_ratio: float  # the worse form's score over the better one's (>= 1)
    decisive: float
    power: dict[str, Any]
    exponential: dict[str, Any]
    holdouts: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "holds": self.holds,
            "score_ratio": self.score_ratio,
            "decisive": self.decisive,
            "holdouts": ", ".join(self.holdouts),
            "power law": self.power,
            "exponential": self.exponential,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


def curve_form(fit: FitResult, *, decisive: float = DECISIVE_RATIO) -> CurveForm:
    """Read a fit of :func:`curve_form_candidates`: which form holds, and by how much.

    ``holds`` is the form whose worst nested extrapolation error per decade is lower, when the
    other's is at least ``decisive`` times larger; otherwise ``"undecided"``. A form that could
    not be scored (not identified, or failing a nested fit) loses with its reason as a warning.
    """
    decisive = float(decisive)
    if not (math.isfinite(decisive) and decisive >= 1.0):
        raise InputError(f"must be a number >= 1, got {decisive:g}", option="decisive")
    selection = fit.selection
    records = {} if selection is None else {c.label: c for c in selection.candidates}
    power = _one(records, POWER)
    expo = _one(records, EXPONENTIAL)
    if power is None or expo is None:
        raise InputError(
            "the curve-form question reads a fit that chose between power_floor:X and "
            "exponential:X by cross-extrapolation: fit with law "
            f"{curve_form_candidates('X')!r} (X the dataset-size column)"
        )
    variable = power.label.partition(":")[2].split("@")[0]
    params = {m.label: m.params for m in selection.members} if selection.members else {}
    if not params and selection.winner is not None:
        params = {selection.winner: dict(fit.params)}
    notes, warnings = list(selection.notes), []
    scored = [c for c in (power, expo) if c.excluded is None and c.score is not None]
    for c in (power, expo):
        if c.excluded is not None:
            warnings.append(f"{c.label} could not be scored: {c.excluded}")
    if not selection.holdouts:
        holds, ratio = "undecided", math.nan
    elif len(scored) == 1:
        holds, ratio = _name(scored[0].label), math.inf
    elif len(scored) == 2:
        best, other = sorted(scored, key=lambda c: c.score)
        ratio = other.score / best.score if best.score > 0 else math.inf
        holds = _name(best.label) if ratio >= decisive else "undecided"
    else:
        holds, ratio = "undecided", math.nan
    return CurveForm(
        variable=variable,
        holds=holds,
        score_ratio=ratio,
        decisive=decisive,
        power=_doc(power, params.get(power.label)),
        exponential=_doc(expo, params.get(expo.label)),
        holdouts=list(selection.holdouts),
        notes=notes,
        warnings=warnings,
    )


def _one(records: dict[str, Any], form: str) -> Any:
    found = [c for label, c in records.items() if label.split(":")[0] == form]
    return found[0] if len(found) == 1 else None


def _name(label: str) -> str:
    return "power law" if label.startswith(POWER) else "exponential"


def _doc(record: Any, params: dict[str, float] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "law": record.label,
        "score": record.score,
        "weight": record.weight,
        "nested_error": record.nested_error,
        "prediction_at_probe": record.prediction,
    }
    if record.excluded is not None:
        doc["excluded"] = record.excluded
    if params:
        doc.update({k: float(v) for k, v in params.items()})
    return doc
