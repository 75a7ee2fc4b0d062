"""At this inference budget, which model size and how many samples solve the most problems?

Snell et al. (2024, *Scaling LLM Test-Time Compute Optimally*) show that test-time compute can
beat parameters; Sadhukhan et al. (2025, *Kinetics*) that the answer turns on what the budget
counts: a small model's many samples re-read a key/value cache that grows with every token,
so counted in time (or in equivalent FLOPs, which weigh bytes by the accelerator's FLOPs per
byte) a larger model wins sooner than counted in FLOPs. Here each model's cost per problem
(:mod:`.cost`: the prompt once, then each sample) says how many samples a budget pays for, and
its coverage law (:mod:`.coverage`) what they solve; the best model at each budget is the one
of highest coverage, with its interval and the probability, over the laws' bootstrap
replicates, that it is the best. With a verifier of false-positive rate ``fpr``, coverage is
replaced by the accuracy of returning the first accepted sample (Stroebl et al. 2024,
:func:`.passk.verified_accuracy`), which saturates below coverage.

Example:
    >>> choice = best_at_budget({"small": (small, cov_s), "big": (big, cov_b)},   # doctest: +SKIP
    ...                         budget=1.0, prompt=448, generated=61, accelerator="h200")
    >>> choice.best, choice.table                                                 # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..planning.replicates import check_level, interval
from .cost import DecoderShape, GenerationCost, generation_cost, hardware
from .coverage import FAR_K, CoverageFit
from .passk import verified_accuracy

UNITS = ("seconds", "flops", "equivalent_flops", "bytes")


@dataclass
class BudgetChoice(Answer):
    """Each model at one budget: samples paid for, coverage with its interval, P(best)."""

    budget: float
    unit: str
    table: pd.DataFrame
    interval: float
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"best model at a budget of {self.budget:.4g} {self.unit} per problem"

    @property
    def best(self) -> str | None:
        feasible = self.table[self.table["k"] >= 1]
        return None if feasible.empty else str(feasible.loc[feasible["coverage"].idxmax(), "model"])

    def to_json(self) -> dict[str, Any]:
        return {"budget": self.budget, "unit": self.unit, "best": self.best,
                "interval": self.interval, "models": self.table.to_dict(orient="records"),
                "warnings": list(self.warnings)}  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        return "\n".join([self.title, self.table.to_string(index=False, float_format=lambda v:
                          f"{v:.4g}"), f"best: {self.best}"] + [f"WARNING {w}" for w in
                                                                self.warnings])  # fmt: skip


def _success(fit: CoverageFit, k: float, fpr: float | None, rng: np.random.Generator,
             n_draws: int) -> np.ndarray:  # fmt: skip
    """Row 0 the estimate, rows 1.. replicates: coverage at k, or verified accuracy."""
    if fpr is None:
        return fit._values(np.array([float(k)]))[:, 0]
    if fit.rates is None:
        raise InputError("a verifier's ceiling needs per-problem pass rates: fit the coverage "
                         "law from per-problem counts", option="fpr")  # fmt: skip
    rates = fit.rates
    point = float(np.mean(verified_accuracy(rates, int(k), fpr=fpr)))
    picks = rng.integers(0, len(rates), size=(n_draws, len(rates)))
    reps = np.mean(verified_accuracy(rates[picks], int(k), fpr=fpr), axis=1)
    return np.concatenate([[point], reps])


def best_at_budget(
    models: Mapping[str, tuple[DecoderShape, CoverageFit]],
    budget: float,
    *,
    unit: str = "seconds",
    prompt: int,
    generated: int,
    accelerator: str = "h100",
    batch: int = 1,
    fpr: float | None = None,
    interval_level: float = 0.9,
    seed: int = 0,
) -> BudgetChoice:
    """Each model's samples within ``budget`` (per problem, in ``unit``) and what they solve.

    Raises:
        InputError: an unknown unit or accelerator, a budget that is not positive, no models.
    """
    check_level(interval_level)
    if unit not in UNITS:
        raise InputError(f"must be one of {', '.join(UNITS)}, got {unit!r}", option="unit")
    if not (math.isfinite(budget) and budget > 0):
        raise InputError(f"must be a positive number, got {budget:g}", option="budget")
    if not models:
        raise InputError("no models to choose among", option="models")
    hw = hardware(accelerator)
    rng = np.random.default_rng(seed)
    rows, draws, warnings = [], {}, []
    for name, (shape, cov) in models.items():
        cost: GenerationCost = generation_cost(shape, prompt=prompt, generated=generated,
                                               accelerator=hw, batch=batch)  # fmt: skip
        k = cost.samples_within(budget, unit)
        row = {"model": name, "params": shape.params, "cost_per_sample": cost.per_sample[unit],
               "prefill": cost.prefill[unit], "k": k}  # fmt: skip
        if k >= 1:
            values = _success(cov, k, fpr, rng, len(cov.samples))
            lo, hi = interval(values, interval_level)
            row |= {"coverage": float(values[0]), "lo": lo, "hi": hi}
            draws[name] = values[1:]
            if k > FAR_K * cov.ks.max():
                warnings.append(f"{name}: {k} samples is {k / cov.ks.max():.0f}x the largest k "
                                "its coverage law was fitted on")  # fmt: skip
        else:
            row |= {"coverage": math.nan, "lo": math.nan, "hi": math.nan}
        rows.append(row)
    table = pd.DataFrame(rows)
    table["p_best"] = _p_best(table["model"].tolist(), draws)
    return BudgetChoice(budget, unit, table, interval_level, warnings)


def _p_best(names: list[str], draws: Mapping[str, np.ndarray]) -> list[float]:
    """Share of bootstrap replicates in which each model has the highest coverage."""
    if not draws:
        return [math.nan] * len(names)
    n = min(len(v) for v in draws.values())
    if n == 0:
        return [math.nan] * len(names)
    stacked = np.stack([np.nan_to_num(draws[m][:n], nan=-1.0) for m in draws])
    wins = np.bincount(np.argmax(stacked, axis=0), minlength=len(draws)) / n
    share = dict(zip(draws, wins, strict=True))
    return [float(share.get(m, 0.0)) for m in names]


def budget_frontier(
    models: Mapping[str, tuple[DecoderShape, CoverageFit]],
    budgets: Sequence[float],
    **options: Any,
) -> pd.DataFrame:
    """:func:`best_at_budget` at every budget: one row per (budget, model), ``best`` marked.
    The rows where ``best`` changes from a larger to a smaller model say at which budgets
    more samples of a smaller model beat a larger one."""
    frames = []
    for b in budgets:
        choice = best_at_budget(models, float(b), **options)
        frame = choice.table.copy()
        frame.insert(0, "budget", float(b))
        frame["best"] = frame["model"] == choice.best
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


__all__ = ["UNITS", "BudgetChoice", "best_at_budget", "budget_frontier"]
