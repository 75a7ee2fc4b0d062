"""Inference-aware allocation: the cheapest model over its whole life, not only its training.

A model that will serve T tokens costs ``train_flops(N, D) + 2*N*T`` FLOPs (a forward pass is
~2N FLOPs per token; Kaplan et al. 2020). For a target loss, a smaller model trained on more
tokens than Chinchilla-optimal costs more to train but less to serve; when T is large the
total is lowest well into the "over-trained" regime (Sardana et al. 2024, *Beyond
Chinchilla-Optimal*; Gadre et al. 2024). :func:`inference_optimal` finds that model and says how
far it moves from the Chinchilla-optimal one (T = 0) for the same loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.result import FitResult
from .allocation import N_RANGE, FlopsModel, Quantity, as_flops_model, compute_optimal
from .replicates import (
    ParameterSets,
    check_level,
    minimize_1d,
    parameter_sets,
    require_params_tokens,
)
from .targets import _check_target, solve_tokens

#: FLOPs per inference token per parameter (a forward pass).
INFERENCE_FLOPS_PER_PARAM = 2.0


@dataclass
class InferenceAllocation(Answer):
    """The total-cost-optimal model for a target loss and an inference volume."""

    target_loss: float
    inference_tokens: float
    params: Quantity
    tokens: Quantity
    train_flops: Quantity
    total_flops: Quantity
    chinchilla_params: Quantity
    chinchilla_tokens: Quantity
    chinchilla_train_flops: Quantity
    chinchilla_total_flops: Quantity
    interval: float
    flops_model: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def ratio(a: Quantity, b: Quantity) -> Quantity:
            return Quantity.of(
                np.concatenate([[a.value / b.value], a.replicates / b.replicates]), self.interval
            )

        size = ratio(self.params, self.chinchilla_params)
        data = ratio(self.tokens, self.chinchilla_tokens)
        train = ratio(self.train_flops, self.chinchilla_train_flops)
        total = ratio(self.total_flops, self.chinchilla_total_flops)
        return {
            "target_loss": self.target_loss,
            "inference_tokens": self.inference_tokens,
            "params": self.params.value,
            "tokens": self.tokens.value,
            "tokens_per_param": self.tokens.value / self.params.value,
            "train_flops": self.train_flops.value,
            "inference_flops": self.total_flops.value - self.train_flops.value,
            "total_flops": self.total_flops.value,
            "interval": self.interval,
            "ci": {
                "params": self.params.ci(),
                "tokens": self.tokens.ci(),
                "train_flops": self.train_flops.ci(),
                "total_flops": self.total_flops.ci(),
            },
            "chinchilla_optimal": {
                "params": self.chinchilla_params.value,
                "tokens": self.chinchilla_tokens.value,
                "tokens_per_param": self.chinchilla_tokens.value / self.chinchilla_params.value,
                "train_flops": self.chinchilla_train_flops.value,
                "total_flops": self.chinchilla_total_flops.value,
            },
            "vs_chinchilla": {
                "params_ratio": size.value,
                "tokens_ratio": data.value,
                "train_flops_overhead": train.value - 1,
                "total_flops_saving": 1 - total.value,
                "ci": {
                    "params_ratio": size.ci(),
                    "tokens_ratio": data.ci(),
                    "train_flops_overhead": [train.lo - 1, train.hi - 1],
                    "total_flops_saving": [1 - total.hi, 1 - total.lo],
                },
            },
            "flops_model": self.flops_model,
            "warnings": list(self.warnings),
        }


def _cheapest(
    sets: ParameterSets, model: FlopsModel, target: np.ndarray, inference_tokens: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, train FLOPs, total FLOPs) minimising the lifetime FLOPs, for every replicate."""
    target_col = np.asarray(target, dtype=float).reshape(-1, 1)

    def total(log_n: np.ndarray) -> np.ndarray:
        n = np.exp(log_n)
        d = solve_tokens(sets, n, target_col)
        with np.errstate(all="ignore"):
            return np.log(model(n, d) + INFERENCE_FLOPS_PER_PARAM * n * inference_tokens)

    x, _, interior = minimize_1d(
        total, math.log(N_RANGE[0]), math.log(N_RANGE[1]), sets.size, n_grid=161, polish="golden"
    )
    n = np.exp(x)
    d = solve_tokens(sets, n[:, None], target_col)[:, 0]
    train = model(n, d)
    tot = train + INFERENCE_FLOPS_PER_PARAM * n * inference_tokens
    bad = ~interior | ~np.isfinite(d)
    return tuple(np.where(bad, np.nan, v) for v in (n, d, train, tot))  # type: ignore[return-value]


def inference_optimal(
    fit: FitResult,
    *,
    inference_tokens: float,
    target_loss: float | None = None,
    flops: float | None = None,
    flops_model: str | FlopsModel | None = None,
    interval: float = 0.9,
) -> InferenceAllocation:
    """The model minimising training + inference FLOPs for a target loss.

    Give the target loss directly, or a budget ``flops``: the target is then the loss the
    Chinchilla-optimal model reaches at that budget (each bootstrap replicate its own), and the
    answer says how to reach the same quality more cheaply over the model's life.

    Example:
        >>> a = inference_optimal(fit, inference_tokens=2e12, target_loss=2.0)   # doctest: +SKIP
        >>> a.to_json()["vs_chinchilla"]                                        # doctest: +SKIP
    """
    require_params_tokens(fit.law, "inference-aware allocation")
    level = check_level(interval)
    if not (math.isfinite(inference_tokens) and inference_tokens >= 0):
        raise InputError(
            f"`inference_tokens` must be a non-negative number, got {inference_tokens:g}"
        )
    model = as_flops_model(flops_model)
    sets = parameter_sets(fit)
    if target_loss is None:
        if flops is None:
            raise InputError("inference-aware allocation needs `target_loss` or `flops`")
        plan = compute_optimal(fit, flops, flops_model=model, interval=level)
        target = np.concatenate([[plan.loss.value], plan.loss.replicates])
        target_value = plan.loss.value
    else:
        target_value = _check_target(sets, target_loss)
        target = np.full(sets.size, target_value)
    n, d, train, tot = _cheapest(sets, model, target, inference_tokens)
    n0, d0, train0, _ = _cheapest(sets, model, target, 0.0)
    if not (np.isfinite(n[0]) and np.isfinite(n0[0])):
        raise InputError(
            f"no model size between {N_RANGE[0]:.0e} and {N_RANGE[1]:.0e} params reaches loss "
            f"{target_value:.4g} at a finite cost under law {fit.law.name!r}"
        )
    tot0 = train0 + INFERENCE_FLOPS_PER_PARAM * n0 * inference_tokens
    warnings = []
    failed = int((~np.isfinite(n[1:])).sum())
    if failed:
        warnings.append(
            f"{failed} of {sets.n_replicates} bootstrap replicates found no optimum; left out of the intervals"
        )
    warnings += fit.extrapolation_warnings(pd.DataFrame({"params": [n[0]], "tokens": [d[0]]}))
    return InferenceAllocation(
        target_loss=float(target_value),
        inference_tokens=float(inference_tokens),
        params=Quantity.of(n, level),
        tokens=Quantity.of(d, level),
        train_flops=Quantity.of(train, level),
        total_flops=Quantity.of(tot, level),
        chinchilla_params=Quantity.of(n0, level),
        chinchilla_tokens=Quantity.of(d0, level),
        chinchilla_train_flops=Quantity.of(train0, level),
        chinchilla_total_flops=Quantity.of(tot0, level),
        interval=level,
        flops_model=model.formula,
        warnings=warnings,
    )
