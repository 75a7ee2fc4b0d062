"""Compute-optimal allocation and the other N/D questions a fitted law answers.

* :func:`compute_optimal`: the (N, D) that minimise the predicted loss under a FLOPs budget.
  For the ``chinchilla`` law with C = 6ND this has a closed form (Hoffmann et al. 2022, eq. 4):
  ``N_opt = G (C/6)^(b/(a+b))``, ``D_opt = (C/6)/N_opt``, ``G = (aA/(bB))^(1/(a+b))``; any
  other law of params and tokens, or any other FLOPs model, is solved numerically along the
  budget's constraint.
* :func:`loss_at`: the predicted loss at a given (N, D).

Tokens to a target loss and the models that reach it within a budget are in
:mod:`scalinglab.planning.targets`; the FLOPs model in :mod:`scalinglab.planning.flops_model`.

Every answer carries a percentile interval over the fit's bootstrap replicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError
from ..fitting.result import FitResult
from ..laws.base import Law
from .flops_model import D_RANGE, DEFAULT_FLOPS_MODEL, N_RANGE, FlopsModel, as_flops_model
from .replicates import (
    ParameterSets,
    check_level,
    interval,
    minimize_1d,
    parameter_sets,
    require_params_tokens,
)

__all__ = [
    "DEFAULT_FLOPS_MODEL",
    "D_RANGE",
    "N_RANGE",
    "Allocation",
    "FlopsModel",
    "OptimalPath",
    "Quantity",
    "as_flops_model",
    "compute_optimal",
    "loss_at",
    "optimal_path",
]


@dataclass
class Quantity:
    """A planned quantity: the estimate, its interval and every replicate's value."""

    value: float
    lo: float
    hi: float
    replicates: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, values: np.ndarray, level: float) -> Quantity:
        values = np.asarray(values, dtype=float).reshape(-1)
        lo, hi = interval(values, level)
        return cls(float(values[0]), lo, hi, values[1:])

    def ci(self) -> list[float]:
        return [self.lo, self.hi]


@dataclass
class Allocation(Answer):
    """The compute-optimal (N, D) for a budget, with intervals over the fit's bootstrap."""

    title = "compute-optimal allocation"

    flops: float
    params: Quantity
    tokens: Quantity
    loss: Quantity
    method: str
    law: str
    flops_model: str
    interval: float
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens_per_param(self) -> float:
        return self.tokens.value / self.params.value

    def to_json(self) -> dict[str, Any]:
        ratio = self.tokens.replicates / self.params.replicates
        tpp = Quantity.of(np.concatenate([[self.tokens_per_param], ratio]), self.interval)
        return {
            "law": self.law,
            "flops": self.flops,
            "flops_model": self.flops_model,
            "params": self.params.value,
            "tokens": self.tokens.value,
            "loss": self.loss.value,
            "tokens_per_param": self.tokens_per_param,
            "interval": self.interval,
            "ci": {
                "params": self.params.ci(),
                "tokens": self.tokens.ci(),
                "loss": self.loss.ci(),
                "tokens_per_param": tpp.ci(),
            },
            "method": self.method,
            "warnings": list(self.warnings),
        }


def _check_budget(flops: float, fit: FitResult) -> float:
    flops = float(flops)
    if not math.isfinite(flops) or flops <= 0:
        raise InputError(f"`flops` must be a positive number, got {flops:g}")
    lo = _smallest_run_flops(fit)
    if lo is not None and flops < lo:
        raise InputError(
            f"budget {flops:.3g} FLOPs is below the smallest run in the fit (about {lo:.3g} FLOPs): "
            "the law says nothing there"
        )
    return flops


def _smallest_run_flops(fit: FitResult) -> float | None:
    if "flops" in fit.data_range:
        return fit.data_range["flops"][0]
    if "params" in fit.data_range and "tokens" in fit.data_range:
        # Not exact (the smallest model need not have the fewest tokens) but a lower bound.
        return 6 * fit.data_range["params"][0] * fit.data_range["tokens"][0]
    return None


def is_chinchilla_form(law: Law) -> bool:
    """The law is ``E + A*params**-alpha + B*tokens**-beta`` (closed-form allocation)."""
    return law.formula.replace(" ", "") == "E+A*params**-alpha+B*tokens**-beta"


def chinchilla_closed_form(
    values: Mapping[str, np.ndarray], flops: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hoffmann et al. 2022 eq. 4 for C = 6ND: ``N_opt = G (C/6)^(b/(a+b))``, D = (C/6)/N.

    ``values`` holds ``(S, 1)`` columns and ``flops`` has shape ``(B,)``: N and D are (S, B).
    """
    a, b = values["alpha"], values["beta"]
    with np.errstate(all="ignore"):
        g = (a * values["A"] / (b * values["B"])) ** (1 / (a + b))
        n = g * (flops[None, :] / 6) ** (b / (a + b))
        return n, flops[None, :] / 6 / n


def isoflop_loss(sets: ParameterSets, model: FlopsModel, flops: float | np.ndarray):
    """``phi(log N)``: the predicted loss along the budget's constraint, for every replicate.

    ``flops`` is one budget, or one budget per row of ``sets``.
    """
    budget = np.asarray(flops, dtype=float)

    def phi(log_n: np.ndarray) -> np.ndarray:
        n = np.exp(log_n)
        c = budget if budget.ndim == 0 else budget.reshape(-1, *([1] * (log_n.ndim - 1)))
        d = model.tokens_for(n, c)
        return sets.evaluate({"params": n, "tokens": d})

    return phi


@dataclass
class OptimalPath:
    """Loss-minimising (N, D) at each budget, for every parameter set: arrays of (S, B)."""

    flops: np.ndarray  # (B,)
    params: np.ndarray  # (S, B); row 0 the estimate, rows 1.. the bootstrap replicates
    tokens: np.ndarray
    loss: np.ndarray
    interior: np.ndarray  # (S, B) bool: False where the loss falls toward the search's edge
    method: str  # "closed_form" or "numerical"


def optimal_path(
    sets: ParameterSets,
    flops: float | np.ndarray,
    flops_model: str | FlopsModel | None = None,
    *,
    method: str = "auto",
) -> OptimalPath:
    """The compute-optimal (N, D) and loss at every budget, for every parameter set.

    The one solver behind :func:`compute_optimal`, the comparison of families
    (:mod:`scalinglab.compare`) and the report's frontier figures: Hoffmann et al.'s closed form
    for the ``chinchilla`` law with C = 6ND, otherwise a 1-D search in log N along each
    budget's constraint (:func:`minimize_1d`), all budgets and replicates in one batch.

    Example:
        >>> from scalinglab.laws import get_law
        >>> law = get_law("chinchilla")
        >>> sets = ParameterSets(law, {k: np.array([[v]]) for k, v in law.published.items()})
        >>> path = optimal_path(sets, [5.76e23], method="numerical")
        >>> round(float(path.params[0, 0]) / 1e9, 1), round(float(path.tokens[0, 0]) / 1e12, 2)
        (33.4, 2.87)
    """
    require_params_tokens(sets.law, "compute-optimal allocation")
    model = as_flops_model(flops_model)
    budgets = np.asarray(flops, dtype=float).reshape(-1)
    closed_ok = is_chinchilla_form(sets.law) and model.is_default
    if method not in ("auto", "closed_form", "numerical"):
        raise InputError(f"must be auto, closed_form or numerical, got {method!r}", option="method")
    if method == "closed_form" and not closed_ok:
        raise InputError(
            "the closed form needs the chinchilla law and the FLOPs model 6*params*tokens"
        )
    if method == "closed_form" or (method == "auto" and closed_ok):
        n, d = chinchilla_closed_form(sets.values, budgets)
        interior = np.ones(n.shape, dtype=bool)
        used = "closed_form"
    else:
        # One row per (parameter set, budget): set s, budget b is row s * B + b.
        rows = sets.repeat(len(budgets))
        c = np.tile(budgets, sets.size)
        lo = math.log(N_RANGE[0])
        hi = np.log(np.minimum(N_RANGE[1], c))
        x, _, interior = minimize_1d(isoflop_loss(rows, model, c), lo, hi, rows.size)
        n = np.exp(x).reshape(sets.size, len(budgets))
        d = model.tokens_for(n, budgets[None, :])
        interior = interior.reshape(n.shape)
        used = "numerical"
    loss = np.asarray(sets.evaluate({"params": n, "tokens": d}), dtype=float)
    return OptimalPath(budgets, n, d, loss, interior, used)


def compute_optimal(
    fit: FitResult,
    flops: float,
    *,
    flops_model: str | FlopsModel | None = None,
    interval: float = 0.9,
    method: str = "auto",
) -> Allocation:
    """The (N, D) minimising the fitted loss under a FLOPs budget, with intervals.

    Args:
        fit: a fit of a law of params and tokens (``chinchilla``, ``overtrain``, a formula).
        flops: the training budget C.
        flops_model: C as a function of params and tokens (default ``6*params*tokens``).
        method: ``"closed_form"`` (chinchilla with C=6ND only), ``"numerical"`` or ``"auto"``.

    Example:
        >>> plan = compute_optimal(fit, 5.76e23)                 # doctest: +SKIP
        >>> plan.params.value, plan.params.ci(), plan.loss.value  # doctest: +SKIP
    """
    require_params_tokens(fit.law, "compute-optimal allocation")
    level = check_level(interval)
    flops = _check_budget(flops, fit)
    sets = parameter_sets(fit)
    path = optimal_path(sets, flops, flops_model, method=method)
    n, d, interior = path.params[:, 0], path.tokens[:, 0], path.interior[:, 0]
    warnings: list[str] = []
    if not interior[0]:
        raise InputError(
            f"law {fit.law.name!r} has no compute-optimal model size at {flops:.3g} FLOPs: "
            f"the loss keeps falling toward the edge of the search ({N_RANGE[0]:.0e}..{N_RANGE[1]:.0e} params)"
        )
    bad = int((~interior[1:]).sum())
    if bad:
        warnings.append(
            f"{bad} of {len(n) - 1} bootstrap replicates have no interior optimum; left out of the intervals"
        )
        n = np.where(interior, n, np.nan)
        d = np.where(interior, d, np.nan)
    degenerate = ~((n > 0) & np.isfinite(n) & (d > 0) & np.isfinite(d))
    if degenerate[0]:
        raise InputError(
            f"law {fit.law.name!r} as fitted has no compute-optimal allocation at {flops:.3g} FLOPs "
            f"(params {n[0]:.3g}, tokens {d[0]:.3g}): a term it would trade off is zero"
        )
    if degenerate[1:].any():
        warnings.append(
            f"{int(degenerate[1:].sum())} of {len(n) - 1} bootstrap replicates have a zero "
            "coefficient or exponent and no finite optimum; left out of the intervals"
        )
        n, d = np.where(degenerate, np.nan, n), np.where(degenerate, np.nan, d)
    loss = sets.evaluate({"params": n[:, None], "tokens": d[:, None]})[:, 0]
    warnings += fit.extrapolation_warnings(_frame(fit, n[0], d[0]))
    return Allocation(
        flops=flops,
        params=Quantity.of(n, level),
        tokens=Quantity.of(d, level),
        loss=Quantity.of(loss, level),
        method=path.method,
        law=fit.law.name,
        flops_model=as_flops_model(flops_model).formula,
        interval=level,
        warnings=warnings,
    )


def _frame(fit: FitResult, n: float, d: float):
    import pandas as pd

    point = {"params": [n], "tokens": [d], "flops": [6 * n * d]}
    return pd.DataFrame({v: point[v] for v in fit.law.variables if v in point})


def loss_at(
    fit: FitResult, params: float, tokens: float, *, interval: float = 0.9
) -> dict[str, Any]:
    """Predicted loss at (N, D) with the law's interval and a prediction interval."""
    require_params_tokens(fit.law, "loss at (params, tokens)")
    level = check_level(interval)
    frame = fit.predict({"params": params, "tokens": tokens}, interval=level)
    row = frame.iloc[0]
    return {
        "params": float(params),
        "tokens": float(tokens),
        "loss": float(row["value"]),
        "ci": [float(row["lo"]), float(row["hi"])],
        "prediction_interval": [float(row["pred_lo"]), float(row["pred_hi"])],
        "warnings": list(frame.attrs.get("warnings", [])),
    }
