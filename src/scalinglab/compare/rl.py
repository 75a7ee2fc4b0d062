"""RL recipes compared by their reward-compute sigmoids: the ceiling, the efficiency, the cross.

Khatri et al. 2025 (ScaleRL, arXiv:2510.13786) compare recipes by the parameters of their
eq. 1 fits rather than by the reward at one budget: the asymptote ``A`` (which recipe goes
higher), the exponent ``B`` and midpoint ``C_mid`` (which gets there with less compute). Their
finding: most design choices move the efficiency and leave ``A`` within +-0.02, the spread
they measured over three independent runs (Fig. 8a); a few (the loss, FP32 logits) move ``A``.

For two or more families, each fitted on its own with ``scalerl:X``:

* per family ``A``, ``B``, ``C_mid``, ``R0`` with intervals;
* the family with the **highest asymptote** and the bootstrap probability that it is highest
  (replicate i of each family against replicate i of the others; the fits are independent);
  whether the two highest are within ``margin`` of each other (then the data do not separate
  their ceilings better than reruns of one recipe would);
* the **most efficient** family (largest ``B``) and its probability;
* per pair, the **crossover**: the compute where their predicted rewards meet (a recipe that
  starts faster but levels off lower is overtaken there), searched from the smallest compute
  in the data to 1,000 times the largest.

Example:
    >>> result = compare_rl_recipes(runs, ["scalerl", "dapo"], "scalerl:gpu_hours")  # doctest: +SKIP
    >>> result.highest_asymptote, result.p_highest_asymptote                       # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit as fit_law
from ..fitting.data import select
from ..fitting.options import FitOptions
from ..fitting.result import FitResult
from ..laws.rl import ASYMPTOTE_MARGIN
from ..planning.replicates import check_level
from ..planning.replicates import interval as percentiles
from ..planning.rl import SCALERL_PARAMETERS, scalerl_sets

#: Crossovers are searched up to this multiple of the largest compute in the data.
SEARCH_FACTOR = 1e3
GRID_POINTS = 400


@dataclass
class RLComparison(Answer):
    """Asymptote and efficiency of RL recipes, with who is ahead where."""

    title = "RL recipes: asymptote and efficiency (Khatri et al. 2025)"

    law: str
    variable: str
    families: dict[str, dict[str, Any]]
    highest_asymptote: str
    p_highest_asymptote: float
    asymptote_gap: float  # the highest A minus the runner-up's
    margin: float
    same_asymptote: bool  # the gap is within ``margin``
    most_efficient: str
    p_most_efficient: float
    crossovers: list[dict[str, Any]]
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "variable": self.variable,
            "highest_asymptote": self.highest_asymptote,
            "p_highest_asymptote": self.p_highest_asymptote,
            "asymptote_gap": self.asymptote_gap,
            "margin": self.margin,
            "same_asymptote": self.same_asymptote,
            "most_efficient": self.most_efficient,
            "p_most_efficient": self.p_most_efficient,
            "interval": self.interval,
            "families": self.families,
            "crossovers": self.crossovers,
            "warnings": list(self.warnings),
        }


def fit_rl_recipes(
    runs: Any,
    families: list[str],
    law: str = "scalerl:gpu_hours",
    options: FitOptions | Mapping[str, Any] | None = None,
    **option_values: Any,
) -> dict[str, FitResult]:
    """Each family's ``scalerl`` fit (family ``i`` bootstrapped with seed ``seed + i``)."""
    opts = FitOptions.of(options, **option_values)
    if len(families) < 2:
        raise InputError("comparing RL recipes needs at least two families (`family`)")
    if len(set(families)) != len(families):
        raise InputError(f"`family` given twice: {', '.join(families)}")
    table = select(runs, family=families, where=opts.where)
    opts = opts.replace(family=None, where=None)
    return {
        f: fit_law(table, law, opts.replace(family=f, seed=opts.seed + i))
        for i, f in enumerate(families)
    }


def compare_rl_recipes(
    runs_or_fits: Any,
    families: list[str] | None = None,
    law: str = "scalerl:gpu_hours",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    margin: float = ASYMPTOTE_MARGIN,
    interval: float = 0.9,
    **option_values: Any,
) -> RLComparison:
    """Compare RL recipes by their fitted sigmoids (Khatri et al. 2025).

    ``runs_or_fits``: a mapping family -> ``scalerl`` fit, or runs (then ``families`` name the
    recipes and each is fitted with ``law`` and the options). ``margin``: asymptotes closer than
    this are reported as the same (default 0.02, Khatri et al.'s run-to-run spread of A).
    """
    level = check_level(interval)
    margin = float(margin)
    if not (math.isfinite(margin) and margin >= 0):
        raise InputError(f"must be a number >= 0, got {margin:g}", option="margin")
    if isinstance(runs_or_fits, Mapping):
        fits = dict(runs_or_fits)
        if len(fits) < 2:
            raise InputError("comparing RL recipes needs at least two fits")
    else:
        fits = fit_rl_recipes(runs_or_fits, list(families or []), law, options, **option_values)
    names = list(fits)
    sets = {f: scalerl_sets(fit, "comparing RL recipes") for f, fit in fits.items()}
    variables = {v for _, v in sets.values()}
    if len(variables) > 1:
        raise InputError(
            f"the recipes' fits are in different compute columns ({', '.join(sorted(variables))})"
            ": compare them in one"
        )
    variable = variables.pop()
    values = {f: {k: s.values[k][:, 0] for k in SCALERL_PARAMETERS} for f, (s, _) in sets.items()}
    size = min(len(v["B"]) for v in values.values())
    rows = {f: {k: x[:size] for k, x in v.items()} for f, v in values.items()}
    a = np.stack([r["R0"] + r["gain"] for r in rows.values()])  # (F, S)
    b = np.stack([r["B"] for r in rows.values()])
    families_doc = {f: _family_doc(rows[f], level) for f in names}
    order = np.argsort(-a[:, 0])
    best, second = int(order[0]), int(order[1])
    gap = float(a[best, 0] - a[second, 0])
    eff = int(np.argmax(b[:, 0]))
    warnings = [f"{f}: {w}" for f, fit in fits.items() for w in fit.warnings
                if "weakly identified" not in w]  # fmt: skip
    if size < 2:
        warnings.append("the fits have no bootstrap replicates: no probabilities or intervals")
    result = RLComparison(
        law=fits[names[0]].law.name,
        variable=variable,
        families=families_doc,
        highest_asymptote=names[best],
        p_highest_asymptote=_p_best(a, best),
        asymptote_gap=gap,
        margin=margin,
        same_asymptote=gap <= margin,
        most_efficient=names[eff],
        p_most_efficient=_p_best(b, eff),
        crossovers=_crossovers(names, rows, fits, variable, level),
        interval=level,
        warnings=warnings,
    )
    return result


def _family_doc(r: Mapping[str, np.ndarray], level: float) -> dict[str, Any]:
    cols = {"A": r["R0"] + r["gain"], "B": r["B"], "C_mid": r["C_mid"], "R0": r["R0"]}
    return {
        **{k: float(v[0]) for k, v in cols.items()},
        "ci": {k: list(percentiles(v, level)) for k, v in cols.items()},
    }


def _p_best(values: np.ndarray, index: int) -> float:
    """Share of bootstrap replicates (rows 1..) in which family ``index`` has the largest value."""
    if values.shape[1] < 2:
        return math.nan
    reps = values[:, 1:]
    ok = np.all(np.isfinite(reps), axis=0)
    if not ok.any():
        return math.nan
    return float(np.mean(np.argmax(reps[:, ok], axis=0) == index))


def _reward(r: Mapping[str, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """Predicted reward of every parameter set at every compute of ``grid``: (S, G)."""
    with np.errstate(all="ignore"):
        share = 1.0 / (1.0 + (r["C_mid"][:, None] / grid[None, :]) ** r["B"][:, None])
    return r["R0"][:, None] + r["gain"][:, None] * share


def _crossovers(
    names: list[str],
    rows: Mapping[str, Mapping[str, np.ndarray]],
    fits: Mapping[str, FitResult],
    variable: str,
    level: float,
) -> list[dict[str, Any]]:
    lows = [fit.data_range.get(variable, (math.nan, math.nan))[0] for fit in fits.values()]
    highs = [fit.data_range.get(variable, (math.nan, math.nan))[1] for fit in fits.values()]
    lo, hi = float(np.nanmin(lows)), float(np.nanmax(highs)) * SEARCH_FACTOR
    grid = np.geomspace(lo, hi, GRID_POINTS)
    out = []
    for f, g in itertools.combinations(names, 2):
        diff = _reward(rows[f], grid) - _reward(rows[g], grid)  # (S, G)
        where = [_first_cross(grid, d) for d in diff]
        point = where[0]
        found = np.array([w is not None for w in where[1:]], dtype=bool)
        doc: dict[str, Any] = {
            "families": [f, g],
            "p_crossover": float(found.mean()) if found.size else math.nan,
        }
        if point is None:
            ahead = f if diff[0, -1] > 0 else g
            doc.update({variable: None, "ci": [math.nan, math.nan], "ahead": ahead,
                        "message": f"{ahead} is ahead from {lo:.3g} to {hi:.3g} {variable}"})  # fmt: skip
        else:
            reps = np.array([w if w is not None else np.nan for w in where], dtype=float)
            doc.update({
                variable: point,
                "ci": list(percentiles(reps, level)),
                "ahead_below": f if diff[0, 0] > 0 else g,
                "ahead_above": f if diff[0, -1] > 0 else g,
            })  # fmt: skip
        out.append(doc)
    return out


def _first_cross(grid: np.ndarray, diff: np.ndarray) -> float | None:
    """The first compute where ``diff`` changes sign, interpolated in log compute."""
    ok = np.isfinite(diff)
    sign = np.sign(diff)
    change = np.flatnonzero(ok[:-1] & ok[1:] & (sign[:-1] * sign[1:] < 0))
    if change.size == 0:
        return None
    i = int(change[0])
    x0, x1 = math.log(grid[i]), math.log(grid[i + 1])
    t = diff[i] / (diff[i] - diff[i + 1])
    return float(math.exp(x0 + t * (x1 - x0)))


__all__ = ["RLComparison", "compare_rl_recipes", "fit_rl_recipes"]
