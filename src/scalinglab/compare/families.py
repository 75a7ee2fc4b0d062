"""Compare families (recipes, datasets, architectures) by their fitted laws, not at one scale.

Each family is fitted on its own, or all together with shared exponents and per-family
coefficients (``shared_exponents=True``: the nonlinear parameters are common, the linear ones
— E, A, B for Chinchilla — belong to each family; Choshen et al. 2024 borrow exponents the
same way). A family's quality at a budget C is the loss of its compute-optimal model there
(for a law of params and tokens) or the law at C (for a law of flops). Then:

* the **winner at C** and the bootstrap probability that it wins (replicate i of every family
  compared with replicate i of the others; Nezhurina et al. 2025 compare full laws this way);
* the **crossover**: the budget where two families' predicted losses meet, with an interval
  over the replicates, or "no crossover in range";
* with **seed noise** when the fits know their replicate noise (``replicates`` or
  ``weighting="noise"``, :mod:`scalinglab.fitting.noise`): P(win) of one run of each family
  at C, the seeds the call needs and the budget where it would be made at ``confidence``
  (:mod:`.noise`);
* optionally everything in **accelerator-hours**, when each family's sustained FLOP/s per
  accelerator is given: at equal hours a slower recipe gets less compute (Stanic et al. 2023,
  the Languini Kitchen, compare GPT and LSTM this way).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit as fit_law
from ..fitting.data import select
from ..fitting.options import FitOptions
from ..fitting.result import FitResult
from ..fitting.selection import is_candidate_list
from ..laws.base import Law
from ..laws.overtrain import resolve as resolve_overtrain
from ..laws.zoo import get_law
from ..planning.allocation import FlopsModel, as_flops_model, optimal_path
from ..planning.replicates import ParameterSets, interval, parameter_sets
from ..runs import RunTable
from .joint import indicator, joint_law
from .noise import budget_for_confidence, check_confidence, seed_noise_decision

#: Budgets searched for a crossover when no range is given: from the smallest run to this.
DEFAULT_TOP = 1e28
GRID_POINTS = 241


# -- fitting ---------------------------------------------------------------------------------
@dataclass
class FamilyFits:
    """Per-family parameter sets (row 0 the estimate, rows 1.. bootstrap replicates)."""

    law: Law
    families: list[str]
    sets: dict[str, ParameterSets]
    fits: dict[str, FitResult]  # one per family, or {"joint": fit}
    shared_exponents: bool
    smallest_flops: float
    warnings: list[str] = field(default_factory=list)


def fit_families(
    runs: Any,
    families: list[str],
    law: str | Law = "chinchilla",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    shared_exponents: bool = False,
    progress: Any = None,
    **option_values: Any,
) -> FamilyFits:
    """Fit each family (or all jointly with shared exponents).

    ``options`` (or keywords, see :class:`~scalinglab.fitting.options.FitOptions`) apply to
    every family; family ``i`` of separate fits is bootstrapped with seed ``seed + i``.
    """
    opts = FitOptions.of(options, **option_values)
    if is_candidate_list(law):
        raise InputError(
            f"{law!r} is a choice of laws; compare fits one law to every family, so that their "
            "predictions compare: choose it first (e.g. with fit --law auto) and give its name",
            option="law",
        )
    if len(families) < 2:
        raise InputError("compare needs at least two families (`family`)")
    if len(set(families)) != len(families):
        raise InputError(f"`family` given twice: {', '.join(families)}")
    table = select(runs, family=families, where=opts.where)
    base = get_law(resolve_overtrain(law), columns=table.variables())
    opts = opts.replace(family=None, where=None)  # the table is selected already
    smallest = float(table.df["flops"].min())
    warnings: list[str] = []
    if not shared_exponents:
        fits = {
            f: fit_law(table, base, opts.replace(family=f, seed=opts.seed + i), progress=progress)
            for i, f in enumerate(families)
        }
        sets = {f: parameter_sets(fit) for f, fit in fits.items()}
        for f, fit in fits.items():
            warnings += [f"{f}: {w}" for w in fit.warnings]
        return FamilyFits(base, families, sets, fits, False, smallest, warnings)
    joint = joint_law(base, len(families))
    df = table.df.copy()
    for i, f in enumerate(families):
        df[indicator(i)] = (df["family"] == f).astype(float)
    combined = RunTable(df, table.source, table.notes)
    result = fit_law(combined, joint, opts, progress=progress)
    all_sets = parameter_sets(result)
    sets = {}
    for i, f in enumerate(families):
        values = {
            p.name: all_sets.values[f"{p.name}_{i}" if p.linear else p.name]
            for p in base.parameters
        }
        sets[f] = ParameterSets(base, values)
    warnings += list(result.warnings)
    return FamilyFits(base, families, sets, {"joint": result}, True, smallest, warnings)


# -- quality at a budget ---------------------------------------------------------------------
def loss_curve(sets: ParameterSets, flops: np.ndarray, model: FlopsModel) -> np.ndarray:
    """Predicted loss at each budget for every parameter set: (S, len(flops)).

    For a law of params and tokens, the loss of the compute-optimal model at each budget
    (:func:`scalinglab.planning.allocation.optimal_path`, NaN where the law has no optimum);
    for a law of flops alone, the law itself.
    """
    law = sets.law
    flops = np.asarray(flops, dtype=float).reshape(-1)
    variables = set(law.variables)
    if variables == {"flops"}:
        return np.asarray(sets.evaluate({"flops": flops[None, :]}), dtype=float)
    if variables != {"params", "tokens"}:
        raise InputError(
            f"compare needs a law of params and tokens, or of flops alone; law {law.name!r} is a "
            f"function of {', '.join(law.variables)}"
        )
    path = optimal_path(sets, flops, model)
    return np.where(path.interior, path.loss, np.nan)


# -- the comparison --------------------------------------------------------------------------
@dataclass
class Crossover:
    first: str
    second: str
    scale: float | None  # budget (FLOPs or accelerator-hours) where they meet; None if not in range
    ci: tuple[float, float]
    probability: float  # share of replicates with a crossover in range
    below: str | None  # who wins below it
    above: str | None
    unit: str
    search_range: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"families": [self.first, self.second], self.unit: self.scale, "ci": list(self.ci),
                               "p_crossover": self.probability, "search_range": list(self.search_range)}  # fmt: skip
        if self.scale is None:
            doc["message"] = (
                f"no crossover in range {self.search_range[0]:.3g}..{self.search_range[1]:.3g} {self.unit}"
            )
        else:
            doc["winner_below"], doc["winner_above"] = self.below, self.above
        return doc


def _crossings(grid: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """For each row of diff (S, G), the log-interpolated grid value of its first sign change."""
    out = np.full(diff.shape[0], np.nan)
    x = np.log(grid)
    sign = np.sign(diff)
    change = (sign[:, :-1] * sign[:, 1:] < 0) & np.isfinite(diff[:, :-1]) & np.isfinite(diff[:, 1:])
    for i in range(diff.shape[0]):
        hits = np.flatnonzero(change[i])
        if hits.size:
            j = hits[0]
            t = diff[i, j] / (diff[i, j] - diff[i, j + 1])
            out[i] = math.exp(x[j] + t * (x[j + 1] - x[j]))
    return out


def crossover(
    first: str,
    second: str,
    grid: np.ndarray,
    curves: dict[str, np.ndarray],
    level: float,
    unit: str,
) -> Crossover:
    diff = curves[first] - curves[second]
    where = _crossings(grid, diff)
    span = (float(grid[0]), float(grid[-1]))
    reps = where[1:]
    p = float(np.mean(np.isfinite(reps))) if reps.size else math.nan
    if not np.isfinite(where[0]):
        return Crossover(first, second, None, (math.nan, math.nan), p, None, None, unit, span)
    lo, hi = interval(np.concatenate([[where[0]], reps]), level)
    below = first if diff[0, 0] < 0 else second
    above = second if below == first else first
    return Crossover(first, second, float(where[0]), (lo, hi), p, below, above, unit, span)


@dataclass
class Comparison(Answer):
    """Which family wins at a scale, with what probability, and where their laws cross."""

    law: str
    families: list[str]
    scale: float | None
    unit: str  # "flops" or "accelerator_hours"
    loss: dict[str, tuple[float, float, float]]  # family -> (value, lo, hi) at the scale
    p_best: dict[str, float]
    crossovers: list[Crossover]
    shared_exponents: bool
    interval: float
    flops_of: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    hours: Comparison | None = None  # the same comparison in accelerator-hours
    #: With replicate noise: P(best) of the laws alone, each family's seed SD, the seeds and
    #: the budget that make the call at ``confidence`` (``seed_noise_decision``).
    noise: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:  # type: ignore[override]
        at = "" if self.scale is None else f" at {self.scale:.3g} {self.unit}"
        return f"{self.law}: {', '.join(self.families)}{at}"

    def to_frame(self) -> pd.DataFrame:
        """One row per family: loss at the scale, its interval, its probability of being best."""
        return comparison_table(self)

    @property
    def winner(self) -> str | None:
        if not self.loss:
            return None
        return min(self.loss, key=lambda f: self.loss[f][0])

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "law": self.law,
            "unit": self.unit,
            self.unit: self.scale,
            "shared_exponents": self.shared_exponents,
            "interval": self.interval,
            "families": {
                f: {
                    "loss": v,
                    "ci": [lo, hi],
                    **({"flops": self.flops_of[f]} if f in self.flops_of else {}),
                }
                for f, (v, lo, hi) in self.loss.items()
            },
            "winner": self.winner,
            "p_win": self.p_best.get(self.winner) if self.winner else None,
            "p_best": dict(self.p_best),
            "crossovers": [c.to_json() for c in self.crossovers],
            "warnings": list(self.warnings),
        }
        if self.noise:
            doc["seed_noise"] = dict(self.noise)
        if self.hours is not None:
            sub = self.hours.to_json()
            for key in ("law", "shared_exponents", "interval", "warnings"):
                sub.pop(key, None)
            doc["accelerator_hours"] = sub
        return doc


def _rates(fams: list[str], throughput: dict[str, float]) -> dict[str, float]:
    missing = [f for f in fams if f not in throughput]
    if missing:
        raise InputError(f"`throughput` needs every family; missing {', '.join(missing)}")
    for f, v in throughput.items():
        if f not in fams:
            raise InputError(
                f"`throughput` {f}: not one of the compared families ({', '.join(fams)})"
            )
        if not v > 0:
            raise InputError(f"`throughput` {f}={v:g}: must be positive FLOP/s")
    return {f: throughput[f] * 3600.0 for f in fams}


def _compare(
    fits: FamilyFits,
    scale: float | None,
    rate: dict[str, float],
    unit: str,
    model: FlopsModel,
    search_range: tuple[float, float] | None,
    level: float,
    confidence: float = 0.95,
) -> Comparison:
    """Compare at ``scale`` (FLOPs when every rate is 1, accelerator-hours otherwise)."""
    fams = fits.families
    slowest = min(rate.values())
    if scale is not None and scale * slowest < fits.smallest_flops:
        what = (
            f"{scale:.3g} accelerator-hours"
            if unit == "accelerator_hours"
            else f"budget {scale:.3g} FLOPs"
        )
        raise InputError(
            f"{what} is below the smallest run ({fits.smallest_flops:.3g} FLOPs): the laws say nothing there"
        )
    lo, hi = search_range or (
        fits.smallest_flops / slowest,
        max(DEFAULT_TOP / slowest, (scale or 0) * 100),
    )
    if not 0 < lo < hi:
        raise InputError(f"crossover search range must satisfy 0 < lo < hi, got {lo:g}..{hi:g}")
    grid = np.geomspace(lo, hi, GRID_POINTS)
    curves = {f: loss_curve(fits.sets[f], grid * rate[f], model) for f in fams}
    crossings = [
        crossover(a, b, grid, curves, level, unit) for a, b in itertools.combinations(fams, 2)
    ]
    loss: dict[str, tuple[float, float, float]] = {}
    p_best: dict[str, float] = {}
    flops_of: dict[str, float] = {}
    warnings = []
    if scale is not None:
        at = {f: loss_curve(fits.sets[f], np.array([scale * rate[f]]), model)[:, 0] for f in fams}
        for f in fams:
            lo_f, hi_f = interval(at[f], level)
            loss[f] = (float(at[f][0]), lo_f, hi_f)
            if unit == "accelerator_hours":
                flops_of[f] = scale * rate[f]
        reps = np.column_stack([at[f] for f in fams])[1:]  # (S-1, F)
        ok = np.all(np.isfinite(reps), axis=1)
        if reps.shape[0] and ok.any():
            best = np.argmin(reps[ok], axis=1)
            p_best = {f: float(np.mean(best == i)) for i, f in enumerate(fams)}
        if reps.shape[0] and not ok.all():
            warnings.append(
                f"{int((~ok).sum())} bootstrap replicates gave no loss at this budget; left out"
            )
    noise: dict[str, Any] = {}
    models = {f: fits.fits.get(f, fits.fits.get("joint")).noise for f in fams}
    if scale is not None and any(m is not None for m in models.values()):
        compute = {f: scale * rate[f] for f in fams}
        p_best, noise = seed_noise_decision(at, models, compute, confidence=confidence)
        budget, leader = budget_for_confidence(grid, curves, models, rate, scale, confidence)
        noise.update({"budget_for_confidence": budget, "winner_there": leader})
    return Comparison(
        law=fits.law.name, families=fams, scale=scale, unit=unit, loss=loss, p_best=p_best,
        crossovers=crossings, shared_exponents=fits.shared_exponents, interval=level,
        flops_of=flops_of, warnings=warnings, noise=noise,
    )  # fmt: skip


def compare_families(
    fits: FamilyFits,
    *,
    flops: float | None = None,
    hours: float | None = None,
    throughput: dict[str, float] | None = None,
    flops_model: str | FlopsModel | None = None,
    search_range: tuple[float, float] | None = None,
    interval: float = 0.9,
    confidence: float = 0.95,
) -> Comparison:
    """Winner at a budget and crossovers; in accelerator-hours too when ``throughput`` is given.

    ``throughput`` maps each family to its sustained model FLOP/s per accelerator; at equal
    accelerator-hours H each family gets ``H*3600*throughput`` FLOPs. The result compares at
    ``flops`` (equal FLOPs) when given, with the accelerator-hours comparison (at ``hours``, and
    its crossovers) in :attr:`Comparison.hours`; with ``hours`` alone it is the main result.
    When the fits know their replicate noise, P(win) includes each run's seed noise and
    :attr:`Comparison.noise` says what a call at ``confidence`` needs.
    """
    model = as_flops_model(flops_model)
    confidence = check_confidence(confidence)
    fams = fits.families
    ones = {f: 1.0 for f in fams}
    by_hours = None
    if throughput is not None:
        by_hours = _compare(
            fits, hours, _rates(fams, throughput), "accelerator_hours", model, None, interval,
            confidence,
        )  # fmt: skip
    if flops is None:
        if by_hours is None:
            raise InputError("compare needs `flops` (or `hours` with `throughput`)")
        by_hours.warnings = list(fits.warnings) + by_hours.warnings
        return by_hours
    result = _compare(fits, flops, ones, "flops", model, search_range, interval, confidence)
    result.warnings = list(fits.warnings) + result.warnings
    result.hours = by_hours
    return result


def compare(
    runs: Any,
    families: list[str],
    law: str | Law = "chinchilla",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    flops: float | None = None,
    hours: float | None = None,
    throughput: dict[str, float] | None = None,
    shared_exponents: bool = False,
    flops_model: str | FlopsModel | None = None,
    search_range: tuple[float, float] | None = None,
    interval: float = 0.9,
    confidence: float = 0.95,
    progress: Any = None,
    **option_values: Any,
) -> Comparison:
    """Fit the families and compare them: winner at the budget, its probability, crossovers.

    Example:
        >>> c = compare("../shared/data/overtrain_gadre.csv", ["c4_original", "rw_original"],  # doctest: +SKIP
        ...             y="loss_c4_val", flops=1e22)
        >>> c.winner, c.p_best                                                                # doctest: +SKIP
    """
    if flops is None and hours is None:
        raise InputError("compare needs `flops` (or `hours` with `throughput`)")
    if hours is not None and throughput is None:
        raise InputError("`hours` needs `throughput` (FLOP/s) for every family")
    fitted = fit_families(
        runs, families, law, options, shared_exponents=shared_exponents, progress=progress,
        **option_values,
    )  # fmt: skip
    return compare_families(
        fitted, flops=flops, hours=hours, throughput=throughput, flops_model=flops_model,
        search_range=search_range, interval=interval, confidence=confidence,
    )  # fmt: skip


def comparison_table(result: Comparison) -> pd.DataFrame:
    """One row per family: loss at the scale, its interval and its probability of being best."""
    rows = [
        {"family": f, "loss": v, "lo": lo, "hi": hi, "p_best": result.p_best.get(f, math.nan)}
        for f, (v, lo, hi) in result.loss.items()
    ]
    return pd.DataFrame(rows)
