"""The best data filter at a compute budget: which pools to train on (Goyal et al. 2024).

Goyal et al. 2024 (*Scaling Laws for Data Filtering — Data Curation cannot be Compute
Agnostic*, arXiv:2404.07177) rank web data into pools by quality; the best pool has the highest
utility ``b`` but is small, and its utility halves every ``tau`` repetitions. With little
compute the best pool alone wins; with more, repeating it costs more than adding the next
pool's unseen data, and the best filter keeps more. Their question — which filter at which
compute — is answered from each pool's own ``data_filtering`` fit, without ever training on a
mixture:

* the candidates are the top-m pools for m = 1..M, pools ranked by their fitted utility ``b``
  (as the authors' ``estimate_best_pool.py`` ranks them);
* at each budget (samples seen) each candidate's error is
  :func:`~scalinglab.laws.data.mixture_error` of its pools, for the estimate and every
  bootstrap replicate (replicate i of each pool's fit together: the fits are independent);
* the best candidate at each budget, the bootstrap probability that it is best, and the
  budgets where the best candidate changes (searched on a grid between the budgets given).

Example:
    >>> fits = {f: sl.fit(runs, "data_filtering", family=f) for f in pools}   # doctest: +SKIP
    >>> best_pool(fits, [3.2e7, 1.28e8, 6.4e8]).summary()                     # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError, positive
from ..fitting.api import fit as fit_law
from ..fitting.data import select
from ..fitting.options import FitOptions
from ..fitting.result import FitResult
from ..laws.data import MAX_REPETITIONS, mixture_error
from ..planning.replicates import check_level, parameter_sets
from ..planning.replicates import interval as percentiles

POOL_PARAMETERS = ("a", "b", "tau", "d")
#: Budgets searched for a change of the best candidate, between the smallest and largest given.
GRID_POINTS = 200


@dataclass
class BestPool(Answer):
    """The best data pool (top-m filter) at each compute budget."""

    title = "best data filter by compute (Goyal et al. 2024)"

    pools: list[str]  # ranked by utility b, best first
    sizes: dict[str, float]
    utility: dict[str, dict[str, Any]]  # per pool b, tau, a, d with intervals
    budgets: list[dict[str, Any]]  # per budget: errors of every candidate, best, P(best)
    switches: list[dict[str, Any]]  # budgets where the best candidate changes
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "pools": list(self.pools),
            "sizes": dict(self.sizes),
            "utility": self.utility,
            "budgets": self.budgets,
            "switches": self.switches,
            "interval": self.interval,
            "warnings": list(self.warnings),
        }

    def to_frame(self) -> Any:
        """One row per budget: the best candidate, its probability, every candidate's error."""
        import pandas as pd

        rows = []
        for b in self.budgets:
            row = {"samples": b["samples"], "best": b["best"], "p_best": b["p_best"]}
            row.update({f"error[{k}]": v["error"] for k, v in b["candidates"].items()})
            rows.append(row)
        return pd.DataFrame(rows)


def candidate_name(pools: Sequence[str]) -> str:
    """``top1 + top2``: the pools a candidate filter keeps."""
    return " + ".join(pools)


def fit_pools(
    runs: Any,
    pools: list[str],
    options: FitOptions | Mapping[str, Any] | None = None,
    **option_values: Any,
) -> dict[str, FitResult]:
    """Each pool's ``data_filtering`` fit (one family per pool; pool ``i`` seeded ``seed + i``)."""
    opts = FitOptions.of(options, **option_values)
    if len(pools) < 2:
        raise InputError("the best pool needs at least two pools (`family`)")
    if len(set(pools)) != len(pools):
        raise InputError(f"`family` given twice: {', '.join(pools)}")
    table = select(runs, family=pools, where=opts.where)
    opts = opts.replace(family=None, where=None)
    return {
        p: fit_law(table, "data_filtering", opts.replace(family=p, seed=opts.seed + i))
        for i, p in enumerate(pools)
    }


def best_pool(
    fits: Mapping[str, FitResult],
    budgets: Sequence[float],
    *,
    sizes: Mapping[str, float] | None = None,
    interval: float = 0.9,
) -> BestPool:
    """Which top-m filter of the pools gives the lowest error at each budget (samples seen).

    ``fits``: pool name -> its ``data_filtering`` fit. ``sizes``: each pool's size in samples
    (default: the ``unique_tokens`` its runs saw, which must then be one value per pool).
    """
    level = check_level(interval)
    if len(fits) < 2:
        raise InputError("the best pool needs at least two pools")
    budgets = sorted(positive(b, "budget") for b in budgets)
    if not budgets:
        raise InputError("give at least one budget (samples seen)", option="budget")
    values, pool_sizes, warnings = {}, {}, []
    for name, fit in fits.items():
        if fit.law.name != "data_filtering":
            raise InputError(
                f"pool {name!r}: the best pool needs data_filtering fits, not {fit.law.name!r}"
            )
        sets = parameter_sets(fit)
        values[name] = {k: sets.values[k] for k in POOL_PARAMETERS}
        pool_sizes[name] = _pool_size(name, fit, sizes)
        warnings += [f"{name}: {w}" for w in fit.warnings]
    rows = min(v["b"].shape[0] for v in values.values())
    values = {p: {k: x[:rows] for k, x in v.items()} for p, v in values.items()}
    ranked = sorted(values, key=lambda p: -float(values[p]["b"][0, 0]))
    candidates = [ranked[: m + 1] for m in range(len(ranked))]

    def errors(samples: np.ndarray) -> np.ndarray:
        """(candidates, S, len(samples)) errors of every candidate filter."""
        out = []
        for chosen in candidates:
            out.append(
                mixture_error(
                    samples[None, :], [pool_sizes[p] for p in chosen], [values[p] for p in chosen]
                )  # fmt: skip
            )
        return np.stack([np.broadcast_to(e, (rows, len(samples))) for e in out])

    at = np.asarray(budgets, dtype=float)
    err = errors(at)
    budget_docs = [_budget_doc(at[j], err[:, :, j], candidates, level) for j in range(len(at))]
    switches = _switches(errors, candidates, budgets)
    warnings += _extrapolation_warnings(fits[ranked[0]], ranked[0], pool_sizes[ranked[0]], budgets)
    if rows < 2:
        warnings.append("the fits have no bootstrap replicates: no probabilities or intervals")
    utility = {
        p: {
            **{k: float(values[p][k][0, 0]) for k in POOL_PARAMETERS},
            "ci": {k: list(percentiles(values[p][k][:, 0], level)) for k in POOL_PARAMETERS},
        }
        for p in ranked
    }
    return BestPool(
        pools=ranked,
        sizes={p: pool_sizes[p] for p in ranked},
        utility=utility,
        budgets=budget_docs,
        switches=switches,
        interval=level,
        warnings=warnings,
    )


def _extrapolation_warnings(
    fit: FitResult, name: str, size: float, budgets: list[float]
) -> list[str]:
    """The best pool alone is repeated most: say when the budgets repeat it past its runs."""
    passes = max(budgets) / size
    seen = fit.data_range.get("tokens", (math.nan, math.nan))[1] / size
    out = []
    if math.isfinite(seen) and passes > seen:
        out.append(
            f"pool {name!r} alone would be seen {passes:.3g} times at {max(budgets):.3g} samples;"
            f" its runs saw it at most {seen:.3g} times: its decay past them is extrapolated"
        )
    if passes > MAX_REPETITIONS + 1:
        out.append(
            f"the fit of pool {name!r} counted at most {MAX_REPETITIONS} repetitions (the "
            "data_filtering formula); the answer counts them all"
        )
    return out


def _pool_size(name: str, fit: FitResult, sizes: Mapping[str, float] | None) -> float:
    if sizes is not None and name in sizes:
        return positive(sizes[name], "sizes")
    lo, hi = fit.data_range.get("unique_tokens", (math.nan, math.nan))
    if not (math.isfinite(lo) and lo == hi):
        raise InputError(
            f"pool {name!r}: its runs saw pools of {lo:.3g}..{hi:.3g} unique samples; give the "
            "pool's size (`sizes`)",
            option="sizes",
        )
    return float(hi)


def _budget_doc(
    samples: float, err: np.ndarray, candidates: list[list[str]], level: float
) -> dict[str, Any]:
    """One budget: each candidate's error with its interval, the best, and P(best)."""
    best = int(np.nanargmin(err[:, 0]))
    doc: dict[str, Any] = {"samples": float(samples), "best": candidate_name(candidates[best])}
    if err.shape[1] > 1:
        reps = err[:, 1:]
        ok = np.all(np.isfinite(reps), axis=0)
        doc["p_best"] = (
            float(np.mean(np.argmin(reps[:, ok], axis=0) == best)) if ok.any() else math.nan
        )
    else:
        doc["p_best"] = math.nan
    doc["candidates"] = {
        candidate_name(c): {"error": float(err[i, 0]), "ci": list(percentiles(err[i], level))}
        for i, c in enumerate(candidates)
    }
    return doc


def _switches(errors: Any, candidates: list[list[str]], budgets: list[float]) -> list[dict]:
    """Budgets (of the point estimate) where the best candidate changes, on a log grid."""
    if budgets[0] == budgets[-1]:
        return []
    grid = np.geomspace(budgets[0], budgets[-1], GRID_POINTS)
    best = np.nanargmin(errors(grid)[:, 0, :], axis=0)
    out = []
    for j in np.flatnonzero(best[1:] != best[:-1]):
        out.append({
            "samples": float(math.sqrt(grid[j] * grid[j + 1])),
            "from": candidate_name(candidates[int(best[j])]),
            "to": candidate_name(candidates[int(best[j + 1])]),
        })  # fmt: skip
    return out


__all__ = ["BestPool", "best_pool", "candidate_name", "fit_pools"]
