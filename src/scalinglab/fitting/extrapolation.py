"""How a law's prediction error grows with the distance past the data.

A fit's bootstrap covers the uncertainty of its parameters and the scatter of single runs; it
does not cover the law being slightly wrong, an error that grows with the distance from the
data. :class:`ExtrapolationError` models the whole error: ``ln(predicted / actual)`` of a run
``d`` decades past the data is normal with variance ``factor * (base + per_decade * d**2)``.

The distance ``d`` is measured in decades along every size axis the data have — parameters,
tokens and compute (``flops``, or 6ND) — and along every other positive variable of the law
(GPU-hours of an RL curve, steps of a learning curve, samples of a coverage law), and the
largest counts: a run twice the largest model but trained 20x longer is 1.3 decades out in
compute even though it is 0.3 decades out in parameters (:func:`decades_beyond`).

Where the numbers come from (``source``): ``base`` and ``per_decade`` from the nested
extrapolations of real studies shipped with the package (``"prior"``, :func:`prior`); the
``factor`` from nested extrapolations of the user's own runs where there are enough sizes
(``"prior+nested"``, :func:`update`; :mod:`.calibration`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

#: Size axes along which the distance past the data is measured.
SIZE_COLUMNS = ("params", "tokens", "flops")
#: Distances below this (decades) count as this much when an error is divided by its
#: distance (the score of a candidate law): a run just past the data still has an error.
DISTANCE_FLOOR = 0.05
#: The shipped prior: error per decade of extrapolation measured on real studies.
PRIOR_FILE = Path(__file__).with_name("extrapolation_prior.json")


def decades_beyond(points: Mapping[str, Any], largest: Mapping[str, float]) -> np.ndarray:
    """How far past the data each point lies, in decades (0 inside the data).

    ``largest`` maps axes (sizes, and any other positive variable of a law) to their largest
    value in the data; compute is taken as 6ND where the points or the data give params and
    tokens but no flops. An axis whose largest value is not positive measures nothing.

    Example:
        >>> largest = {"params": 1e9, "tokens": 2e10, "flops": 1.2e20}
        >>> decades_beyond({"params": [5e8, 2e9], "tokens": [2e10, 2.8e11]}, largest).round(2)
        array([0.  , 1.45])
    """
    columns = {c: np.asarray(points[c], dtype=float) for c in largest if c in points}
    for c in SIZE_COLUMNS:  # sizes the points give beyond those of ``largest`` (6ND below)
        if c in points and c not in columns:
            columns[c] = np.asarray(points[c], dtype=float)
    if "flops" not in columns and {"params", "tokens"} <= set(columns):
        columns["flops"] = 6.0 * columns["params"] * columns["tokens"]
    shape = np.broadcast_shapes(*(v.shape for v in columns.values())) if columns else (1,)
    out = np.zeros(shape)
    for c, values in columns.items():
        top = largest.get(c)
        if top is not None and top > 0 and math.isfinite(top):
            with np.errstate(all="ignore"):
                out = np.maximum(out, np.nan_to_num(np.log10(values / top), nan=0.0))
    return out


def largest_sizes(frame: Mapping[str, Any]) -> dict[str, float]:
    """The largest value of every size axis in ``frame`` (compute as 6ND when not given)."""
    top = {c: float(np.nanmax(np.asarray(frame[c], dtype=float))) for c in SIZE_COLUMNS
           if c in frame and np.isfinite(np.asarray(frame[c], dtype=float)).any()}  # fmt: skip
    if "flops" not in top and {"params", "tokens"} <= set(top):
        flops = 6.0 * np.asarray(frame["params"], float) * np.asarray(frame["tokens"], float)
        top["flops"] = float(np.nanmax(flops))
    return top


@dataclass(frozen=True)
class ExtrapolationError:
    """The log prediction error's spread as a function of the distance past the data.

    ``ln(predicted / actual)`` of a run ``d`` decades past the data is modelled as normal with
    variance ``base + per_decade * d**2``: ``base`` the error at the data's edge and
    ``per_decade`` its growth, fitted to nested extrapolations of real studies (the shipped
    prior) and, where there are enough sizes, of the user's own runs.

    Example:
        >>> err = ExtrapolationError(base=1e-4, per_decade=4e-3, source="prior")
        >>> round(math.sqrt(err.variance(0.5)), 4)  # log-error SD half a decade out
        0.0332
    """

    base: float  # variance at the edge of the data
    per_decade: float  # added variance per squared decade of distance
    source: str = "prior"  # "prior" or "prior+nested"
    n_cuts: int = 0  # nested holdouts of the user's runs behind it
    n_points: int = 0  # held-out predictions in them
    holdouts: list[str] = field(default_factory=list)

    def variance(self, decades: Any) -> np.ndarray:
        """Variance of ln(predicted / actual) ``decades`` past the data."""
        d = np.maximum(np.asarray(decades, dtype=float), 0.0)
        return self.base + self.per_decade * d**2

    def describe(self) -> str:
        if self.source == "prior+nested":
            where = (
                f"{self.n_cuts} nested extrapolations of these runs ({self.n_points} points) "
                "and the errors real studies showed (shipped prior)"
            )
        else:
            where = "the error real studies showed (shipped prior; no nested extrapolation of these runs)"
        edge, decade = math.sqrt(self.variance(0.0)), math.sqrt(self.variance(1.0))
        return (
            f"prediction intervals: log-error SD {edge:.3g} at the edge of the data, {decade:.3g} "
            "one decade past it (in params, tokens, compute or another variable of the law), "
            f"from {where}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ExtrapolationError:
        if "per_decade" not in doc:  # saved by scalinglab 0.1: base + growth * ln(ratio)**2
            return cls(
                base=float(doc.get("base", 0.0)),
                per_decade=float(doc["growth"]) * math.log(10) ** 2,
                source="prior+nested",
                n_points=int(doc.get("n_points", 0)),
                holdouts=[str(h) for h in doc.get("holdouts", [])],
            )
        return cls(
            base=float(doc.get("base", 0.0)),
            per_decade=float(doc["per_decade"]),
            source=str(doc.get("source", "prior")),
            n_cuts=int(doc.get("n_cuts", 0)),
            n_points=int(doc.get("n_points", 0)),
            holdouts=[str(h) for h in doc.get("holdouts", [])],
        )


#: Smallest variance at the edge of the data the prior may claim: a 0.1% log error. (A
#: likelihood fitted to few studies can drive it to zero, and then one run just past the
#: data would make any fit's own errors look infinitely worse than the prior's.)
MIN_BASE = 1e-6
#: Pseudo-holdouts the prior counts for when a fit's own nested extrapolations update it.
PRIOR_WEIGHT = 2.0
#: The group of studies left out of the prior (``leave_out``), for honest benchmarks.
_LEFT_OUT: ContextVar[str | None] = ContextVar("left_out", default=None)


@contextmanager
def leave_out(group: str) -> Iterator[None]:
    """Score a study honestly: inside, :func:`prior` is fitted without this group of studies.

    Example:
        >>> with leave_out("chinchilla"):                                       # doctest: +SKIP
        ...     fit = sl.fit("isoflops_epochai_chinchilla.csv", "auto")
    """
    token = _LEFT_OUT.set(group)
    try:
        yield
    finally:
        _LEFT_OUT.reset(token)


@cache
def prior_document() -> dict[str, Any]:
    """The shipped measurements (:data:`PRIOR_FILE`): per study, method and nested holdout,
    the log errors of the held-out runs and their distances past the data."""
    return json.loads(PRIOR_FILE.read_text())


def prior(method: str = "single_law") -> ExtrapolationError:
    """The error of a prediction ``d`` decades past the data, measured on real studies.

    ``method`` is ``"single_law"`` (one law fitted as given) or ``"auto"`` (the law chosen by
    cross-extrapolation). The nested extrapolations of every shipped study are pooled, each
    study weighing the same, and ``base + per_decade * d**2`` fitted to their squared log
    errors by maximum likelihood (normal errors).
    """
    return _fitted_prior(method, _LEFT_OUT.get())


@cache
def _fitted_prior(method: str, left_out: str | None) -> ExtrapolationError:
    errors, decades, weights = prior_points(method, left_out)
    base, per_decade = fit_error_curve(errors, decades, weights)
    return ExtrapolationError(base=base, per_decade=per_decade, source="prior")


@cache
def prior_points(method: str, left_out: str | None = None) -> tuple[np.ndarray, ...]:
    """The shipped studies' nested errors, distances and weights (each study weighing 1,
    split evenly over its holdouts and their runs)."""
    studies = [s for s in prior_document()["studies"]
               if s["method"] == method and s["group"] != left_out]  # fmt: skip
    if not studies:
        raise ValueError(f"the shipped prior has no study for method {method!r}")
    errors, decades, weights = [], [], []
    for s in studies:
        cuts = [c for c in s["cuts"] if c["errors"]]
        for c in cuts:
            e = np.asarray(c["errors"], dtype=float)
            errors.append(e)
            decades.append(np.asarray(c["decades"], dtype=float))
            weights.append(np.full(len(e), 1.0 / len(e) / len(cuts)))
    return np.concatenate(errors), np.concatenate(decades), np.concatenate(weights)


def fit_error_curve(
    errors: np.ndarray, decades: np.ndarray, weights: np.ndarray
) -> tuple[float, float]:
    """(base, per_decade) maximising the weighted normal likelihood of ``errors`` with
    variance ``base + per_decade * decades**2``."""
    from scipy.optimize import minimize

    e2, d2, w = errors**2, decades**2, weights / weights.sum()

    def negative_log_likelihood(log_params: np.ndarray) -> float:
        base, growth = np.exp(log_params)
        v = base + growth * d2
        return float(np.sum(w * (np.log(v) + e2 / v)))

    start = np.log([max(float(np.sum(w * e2)), 1e-12) / 2] * 2)
    best = minimize(negative_log_likelihood, start, method="Nelder-Mead",
                    options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 4000})  # fmt: skip
    base, growth = np.exp(best.x)
    return max(float(base), MIN_BASE), float(growth)


def update(
    method: str,
    errors: Sequence[np.ndarray],
    decades: Sequence[np.ndarray],
    holdouts: Sequence[str],
) -> ExtrapolationError:
    """The prior refitted with the nested extrapolations of the user's runs.

    ``errors[k]`` are the log errors of cut ``k``'s held-out runs and ``decades[k]`` their
    distances past that cut's data. The curve ``base + per_decade * d**2`` is fitted to the
    user's cuts, each weighing one (its runs share one fitted law, so they are not
    independent), together with the shipped studies' weighing :data:`PRIOR_WEIGHT` cuts in
    all: a few nested holdouts move the prior, many replace it.
    """
    start = prior(method)
    own_e, own_d, own_w, n_points = [], [], [], 0
    for e, d in zip(errors, decades, strict=True):
        ok = np.isfinite(e) & np.isfinite(d)
        if ok.any():
            own_e.append(e[ok])
            own_d.append(d[ok])
            own_w.append(np.full(int(ok.sum()), 1.0 / ok.sum()))
            n_points += int(ok.sum())
    if not own_e:
        return start
    pe, pd_, pw = prior_points(method, _LEFT_OUT.get())
    base, per_decade = fit_error_curve(
        np.concatenate([*own_e, pe]),
        np.concatenate([*own_d, pd_]),
        np.concatenate([*own_w, pw * PRIOR_WEIGHT / pw.sum()]),
    )
    return ExtrapolationError(
        base=base, per_decade=per_decade, source="prior+nested", n_cuts=len(own_e),
        n_points=n_points, holdouts=list(holdouts),
    )  # fmt: skip
