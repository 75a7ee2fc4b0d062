"""Choosing the law by cross-extrapolation: ``fit(runs, law="auto")``.

Which law extrapolates best cannot be read off the in-sample fit: a richer law always fits
the runs better, and on the real studies scalinglab was measured on, a law that halves the
error on one study doubles it on another. So every candidate (a law, an objective, a
weighting) is made to extrapolate inside the user's own runs, as the prediction will past
them: it is refitted with the largest model sizes held out, and separately the largest
compute budgets (:func:`~scalinglab.fitting.holdout.nested_holdouts`), and scored on the
held-out runs by its log error per decade of extrapolation.

* **Exclusions, with their reason**: a candidate that cannot be fitted, does not converge, has
  fewer than three points per free parameter, has parameters the runs cannot tell apart
  (:func:`~scalinglab.fitting.diagnostics.collinearity_warnings`), whose 95% bootstrap
  interval at the probe (10x the largest run) spans more than 10x, or that fails a nested
  holdout, is not used.
* **Score**: the worst holdout's RMS log error per decade (minimax: a law that extrapolates
  well on average but badly along one axis is not trusted along it).
* **Combination**: candidates are weighted ``exp(-(score - best) / (TEMPERATURE * best))`` and
  their log predictions averaged: a geometric mean, itself one law (its parameters those of
  its members), so plans, comparisons and reports read it like any fit. Weights below 1%
  are dropped; one candidate left is returned as it is.
* **Intervals**: the combination's own nested errors update the shipped prior of the error
  per decade (:mod:`.extrapolation`), and the members' disagreement is added.

Nothing about runs outside ``runs`` can reach the choice: a backtest hands this module its
training runs only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..laws.base import Law
from ..laws.formula import rename
from ..laws.zoo import get_law
from ..runs import RunTable
from . import diagnostics
from .calibration import NestedExtrapolation, extrapolate
from .data import observations_for
from .estimate import Progress, estimate
from .extrapolation import DISTANCE_FLOOR, prior, update
from .holdout import final_observations, nested_holdouts
from .options import FitOptions
from .result import FitResult
from .selected import CandidateScore, Member, Selection

#: How sharply the weights fall with the score: a candidate whose score is 50% worse than the
#: best gets e^-1 of its weight.
TEMPERATURE = 0.5
#: Weights below this are dropped (and the rest renormalised).
MIN_WEIGHT = 0.01
#: A candidate needs this many points per free parameter.
POINTS_PER_PARAMETER = 3
#: ... and its 95% bootstrap interval at the probe may span at most this factor.
MAX_PROBE_SPAN = 10.0
#: Modifiers of a candidate's label: ``chinchilla@asymmetric@weighted``.
SEPARATOR = "@"
MODIFIERS = {
    "huber": ("objective", "huber"),
    "least_squares": ("objective", "least_squares"),
    "asymmetric": ("objective", "asymmetric"),
    "weighted": ("weighting", "compute"),
}


@dataclass(frozen=True)
class Candidate:
    """A law with an objective and a weighting, e.g. ``chinchilla@weighted``.

    Example:
        >>> Candidate.parse("chinchilla@asymmetric@weighted")
        Candidate(law='chinchilla', objective='asymmetric', weighting='compute')
        >>> Candidate("farseer").label
        'farseer'
    """

    law: str
    objective: str = "huber"
    weighting: str = "none"

    @property
    def label(self) -> str:
        parts = [self.law]
        if self.objective != "huber":
            parts.append(self.objective)
        if self.weighting == "compute":
            parts.append("weighted")
        return SEPARATOR.join(parts)

    @classmethod
    def parse(cls, text: str) -> Candidate:
        law, *modifiers = [p.strip() for p in text.split(SEPARATOR)]
        values = {"objective": "huber", "weighting": "none"}
        for m in modifiers:
            if m not in MODIFIERS:
                raise InputError(
                    f"candidate {text!r}: unknown modifier {m!r} (known: {', '.join(MODIFIERS)})",
                    option="law",
                )
            key, value = MODIFIERS[m]
            values[key] = value
        if not law:
            raise InputError(f"candidate {text!r} names no law", option="law")
        return cls(law, **values)

    def options(self, base: FitOptions) -> FitOptions:
        return base.replace(objective=self.objective, weighting=self.weighting)


#: Candidates of ``law="auto"`` for runs of params and tokens: the textbook law; its objective
#: variants (least squares on log; the asymmetric lower envelope of kyo-takano's toolkit);
#: weighted toward the largest runs (Choshen et al.); Farseer's refinement (Li et al. 2025);
#: and Gadre et al.'s over-training law, a Chinchilla form with one shared exponent.
DEFAULT_CANDIDATES_ND = (
    "chinchilla", "chinchilla@least_squares", "chinchilla@asymmetric", "chinchilla@weighted",
    "farseer", "overtrain",
)  # fmt: skip
#: ... and for runs of one size variable X: a power law with and without a floor.
DEFAULT_CANDIDATES_1D = ("power_floor:{x}", "power_floor:{x}@weighted", "power:{x}")


def is_candidate_list(law: str | Law) -> bool:
    """Whether ``law`` asks for a choice: ``"auto"`` or a comma-separated list of candidates."""
    return isinstance(law, str) and (law.strip() == "auto" or bool(_split_top_level(law)[1:]))


#: The columns ``auto`` chooses its candidates by, in order of preference for one-variable data.
AUTO_AXES = ("flops", "params", "tokens", "step")


def candidates_for(
    spec: str, variables: Sequence[str], constant: Sequence[str] = ()
) -> list[Candidate]:
    """The candidates ``spec`` names (``"auto"``: the defaults for the data's variables).

    ``constant`` names variables with one value in the data: ``auto`` does not choose laws in
    them (runs of one token budget get the one-variable candidates, not Chinchilla's form,
    whose token term they cannot identify). Every candidate's law must exist: an unknown name
    is an :class:`InputError`.
    """
    if spec.strip() == "auto":
        varying = [v for v in variables if v not in constant]
        if {"params", "tokens"} <= set(varying):
            texts = list(DEFAULT_CANDIDATES_ND)
        else:
            x = next((v for v in AUTO_AXES if v in varying), None)
            if x is None:
                raise InputError(
                    "law 'auto' needs params and tokens, or one of flops, params, tokens, step; "
                    f"the data have {', '.join(variables)}",
                    option="law",
                )
            texts = [t.format(x=x) for t in DEFAULT_CANDIDATES_1D]
    else:
        texts = [t for t in _split_top_level(spec) if t.strip()]
    candidates = [Candidate.parse(t) for t in texts]
    for c in candidates:  # unknown laws now, in one line, not after minutes of fitting
        get_law(c.law, columns=variables)
    if len({c.label for c in candidates}) != len(candidates):
        raise InputError(f"{spec!r} names a candidate twice", option="law")
    return candidates


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses (a formula may call ``minimum(a, b)``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass
class _Scored:
    candidate: Candidate
    fit: FitResult | None
    nested: NestedExtrapolation | None
    record: CandidateScore


def select_law(
    table: RunTable,
    candidates: Sequence[Candidate],
    options: FitOptions,
    *,
    progress: Progress | None = None,
) -> FitResult:
    """Fit every candidate, score it by nested extrapolation, and combine the best.

    ``table`` holds the runs to fit (selected already) and nothing else.
    """
    variables = table.variables()
    laws = {c.label: get_law(c.law, columns=variables) for c in candidates}
    first = laws[candidates[0].label]
    final = final_observations(table, first, options.y, options.skip_fraction)
    holdouts = nested_holdouts(final, first)
    scored = []
    for k, c in enumerate(candidates, start=1):
        if progress is not None:
            progress("candidates", k - 1, len(candidates))
        scored.append(_score(table, c, laws[c.label], options, holdouts))
    if progress is not None:
        progress("candidates", len(candidates), len(candidates))
    usable = [s for s in scored if s.record.excluded is None]
    if not usable:
        reasons = "; ".join(f"{s.candidate.label}: {s.record.excluded}" for s in scored)
        raise InputError(f"no candidate law can be used on these runs ({reasons})", option="law")
    notes = []
    if not holdouts:
        notes.append(
            "too few sizes or compute budgets to extrapolate inside the runs (two nested "
            "holdouts, each leaving three sizes or budgets, are needed): "
            f"{usable[0].candidate.label} is used as given, and its intervals rest on the "
            "shipped prior alone"
        )
        usable = usable[:1]
        usable[0].record.weight = 1.0
    else:
        _weigh(usable)
    members = [s for s in usable if s.record.weight > 0]
    probe = _probe(members[0].fit)
    for s in scored:
        s.record.prediction = _prediction(s.fit, probe)
    combined = members[0].fit if len(members) == 1 else _combine(members, table, options)
    selection = Selection([s.record for s in scored], [], holdouts, probe, notes)
    if len(members) > 1:
        selection.members = [
            Member(s.candidate.label, s.fit.law, dict(s.fit.params), s.record.weight)
            for s in members
        ]
    combined.selection = selection
    errors, decades = _nested_of_combination(members, holdouts)
    selection.nested = {"errors": [e.tolist() for e in errors],
                        "decades": [d.tolist() for d in decades]}  # fmt: skip
    combined.extrapolation = update("auto", errors, decades, holdouts) if errors else prior("auto")
    combined.options = options
    return combined


def _score(
    table: RunTable, candidate: Candidate, law: Law, options: FitOptions, holdouts: list[str]
) -> _Scored:
    record = CandidateScore(candidate.label)
    opts = candidate.options(options).replace(influence=False, calibrate=False)
    try:
        fit = estimate(table, law, opts)
    except InputError as exc:
        record.excluded = f"cannot be fitted: {exc}"
        return _Scored(candidate, None, None, record)
    reason = _unidentified(fit)
    if reason:
        record.excluded = reason
        return _Scored(candidate, fit, None, record)
    nested = extrapolate(table, law, opts, holdouts)
    if nested.failed:
        record.excluded = f"a nested extrapolation failed ({nested.failed[0]})"
        return _Scored(candidate, fit, nested, record)
    record.score = _worst_per_decade(nested)
    if holdouts and not math.isfinite(record.score):
        # e.g. a nested fit predicting a held-out run at or below zero: no log error to weigh
        record.excluded = "its nested extrapolations gave no finite error (a prediction <= 0)"
        record.score = None
        return _Scored(candidate, fit, nested, record)
    errors = np.concatenate(nested.errors) if nested.errors else np.array([])
    record.nested_error = float(np.mean(np.abs(np.expm1(errors)))) if errors.size else None
    record.n_points = nested.n_points
    return _Scored(candidate, fit, nested, record)


def _unidentified(fit: FitResult) -> str | None:
    """Why the data do not pin this candidate down, or None."""
    if not fit.converged:
        return f"did not converge ({fit.message})"
    free = len(fit.law.parameter_names) - len(fit.fixed)
    if fit.n_points < POINTS_PER_PARAMETER * free:
        return (
            f"too few points: {fit.n_points} for {free} free parameters "
            f"(needs {POINTS_PER_PARAMETER * free})"
        )
    unseen = diagnostics.unidentified(fit.warnings)  # parameters the runs cannot tell apart
    if unseen:
        return unseen
    if fit.samples is not None and len(fit.samples):
        probe = _probe(fit)
        pred = fit.predict(probe)
        lo, hi = _bootstrap_interval(fit, probe)
        if not (lo > 0 and hi / lo <= MAX_PROBE_SPAN):
            span = "unbounded" if not lo > 0 else f"{hi / lo:,.0f}x"
            return (
                f"not identified: its 95% bootstrap interval at 10x the largest run spans {span} "
                f"(prediction {float(pred['value'].iloc[0]):.4g})"
            )
    return None


def _bootstrap_interval(fit: FitResult, probe: dict[str, float]) -> tuple[float, float]:
    cols = {n: fit.samples[:, i : i + 1] for i, n in enumerate(fit.law.parameter_names)}
    with np.errstate(all="ignore"):
        draws = np.asarray(fit.law.evaluate(probe, cols), dtype=float).reshape(-1)
    draws = draws[np.isfinite(draws) & (draws > 0)]
    if draws.size < 0.9 * len(fit.samples):
        return (math.nan, math.nan)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo), float(hi)


def _worst_per_decade(nested: NestedExtrapolation) -> float:
    """The worst holdout's RMS of ln(predicted / actual) per decade past the data."""
    per_cut = [
        float(np.sqrt(np.mean((e / np.maximum(d, DISTANCE_FLOOR)) ** 2)))
        for e, d in zip(nested.errors, nested.decades, strict=True)
    ]
    return max(per_cut) if per_cut else math.nan


def _weigh(scored: list[_Scored]) -> None:
    scores = np.array([s.record.score for s in scored], dtype=float)
    best = float(np.nanmin(scores))
    if not best > 0:  # a perfect score (noise-free data): share among the perfect ones
        weights = (scores <= best).astype(float)
    else:
        weights = np.exp(-(scores - best) / (TEMPERATURE * best))
    weights = np.where(np.isfinite(weights), weights, 0.0)
    weights /= weights.sum()
    weights = np.where(weights >= MIN_WEIGHT, weights, 0.0)
    weights /= weights.sum()
    for s, w in zip(scored, weights, strict=True):
        s.record.weight = float(w)


def _probe(fit: FitResult) -> dict[str, float]:
    """10x the largest run in every variable of the law."""
    return {v: 10.0 * fit.data_range[v][1] for v in fit.law.variables}


def _prediction(fit: FitResult | None, probe: dict[str, float]) -> float | None:
    if fit is None or not set(fit.law.variables) <= set(probe):
        return None
    with np.errstate(all="ignore"):
        value = float(np.asarray(fit.law.evaluate(probe, fit.params)).reshape(-1)[0])
    return value if math.isfinite(value) else None


def _combine(members: list[_Scored], table: RunTable, options: FitOptions) -> FitResult:
    """One law whose log is the weighted mean of the members' logs (a geometric mean)."""
    pieces, params, renamed, samples = [], {}, [], []
    variables: list[str] = []
    for k, s in enumerate(members, start=1):
        law = s.fit.law
        names = {p: f"{p}_m{k}" for p in law.parameter_names}
        pieces.append(f"{s.record.weight!r}*log({rename(law.formula, names)})")
        params.update({names[p]: v for p, v in s.fit.params.items()})
        renamed += [names[p] for p in law.parameter_names]
        variables += [v for v in law.variables if v not in variables]
        if s.fit.samples is not None:
            samples.append(s.fit.samples)
    law = Law.from_formula(
        f"exp({' + '.join(pieces)})",
        name="auto: " + " + ".join(f"{s.record.weight:.2f} {s.candidate.label}" for s in members),
        variables=variables,
        nonlinear=renamed,
        bounds={n: (-math.inf, math.inf) for n in renamed},
        reference="weighted geometric mean of the candidates that extrapolated best inside "
        "the runs (scalinglab.fitting.selection)",
        evaluate_only=True,
    )
    base = members[0].fit
    rows = min((len(x) for x in samples), default=0)
    joint = (
        np.hstack([x[:rows] for x in samples]) if len(samples) == len(members) and rows else None
    )
    order = [law.parameter_names.index(n) for n in renamed]
    if joint is not None:
        reordered = np.empty_like(joint)
        reordered[:, order] = joint
        joint = reordered
    obs = observations_for(table, members[0].fit.law, options.y,
                           skip_fraction=options.skip_fraction, final_only=options.final_only)  # fmt: skip
    with np.errstate(all="ignore"):
        fitted = law.evaluate({v: obs[v].to_numpy(dtype=float) for v in variables}, params)
    residuals = diagnostics.summarise_residuals(
        np.broadcast_to(fitted, len(obs)), obs["value"].to_numpy(dtype=float)
    )
    return FitResult(
        law=law,
        params={n: params[n] for n in law.parameter_names},
        objective=float(sum(s.record.weight * s.fit.objective for s in members)),
        n_points=base.n_points,
        n_runs=base.n_runs,
        converged=all(s.fit.converged for s in members),
        y=base.y,
        data_range=dict(base.data_range),
        warnings=_member_warnings(members),
        notes=list(base.notes),
        residuals=residuals,
        samples=joint,
        timing={"fit_s": sum(s.fit.timing.get("fit_s", 0.0) for s in members)},
        source=base.source,
        solver={
            "status": 0 if all(s.fit.converged for s in members) else 2,
            "message": "every law combined converged"
            if all(s.fit.converged for s in members)
            else "a law combined did not converge",
        },  # fmt: skip
    )


def _member_warnings(members: list[_Scored]) -> list[str]:
    """The members' warnings, each naming its member; weakly identified parameters counted in
    one line (a combination is judged by its predictions, which were checked at the probe)."""
    kept, weak = [], 0
    for s in members:
        for w in s.fit.warnings:
            if "is weakly identified" in w:
                weak += 1
            else:
                kept.append(f"{s.candidate.label}: {w}")
    if weak:
        kept.append(
            f"{weak} parameter(s) of the laws combined are weakly identified (their 95% "
            "intervals span more than 3x): read the members' parameters with care; their "
            "predictions at 10x the data are pinned within 10x"
        )
    return kept


def _nested_of_combination(
    members: list[_Scored], holdouts: list[str]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The combination's nested log errors (the members' weighted) and their distances."""
    if not holdouts or members[0].nested is None:
        return [], []
    weights = np.array([s.record.weight for s in members])
    errors = [
        np.sum(weights[:, None] * np.stack([s.nested.errors[k] for s in members]), axis=0)
        for k in range(len(holdouts))
    ]
    return errors, [members[0].nested.decades[k] for k in range(len(holdouts))]


__all__ = [
    "DEFAULT_CANDIDATES_1D",
    "DEFAULT_CANDIDATES_ND",
    "Candidate",
    "candidates_for",
    "is_candidate_list",
    "select_law",
]
