"""Target losses: tokens a model needs to reach one, and the models a budget can train to it.

* :func:`tokens_to_target`: tokens a model of N parameters needs to reach a target loss.
* :func:`models_for_target`: within a budget, the largest (and the smallest) model that still
  reaches a target loss.

Both refuse impossible targets (below the fitted irreducible loss, out of a model's reach, out
of a budget's reach) with an :class:`InputError`, and give the share of bootstrap replicates in
which the target is reachable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError
from ..fitting.result import FitResult
from .allocation import Quantity, _check_budget, _frame, isoflop_loss
from .flops_model import D_RANGE, N_RANGE, FlopsModel, as_flops_model
from .replicates import (
    ParameterSets,
    bisect_increasing,
    check_level,
    failed_replicates_warning,
    minimize_1d,
    parameter_sets,
    require_params_tokens,
)


def loss_floor(sets: ParameterSets) -> np.ndarray:
    """The loss with unlimited parameters and tokens (the fitted irreducible loss)."""
    big = np.array([[D_RANGE[1]]])
    return sets.evaluate({"params": big, "tokens": big})[:, 0]


def _check_target(sets: ParameterSets, target: float) -> float:
    target = float(target)
    if not math.isfinite(target) or target <= 0:
        raise InputError(f"target loss must be a positive number, got {target:g}")
    floor = loss_floor(sets)[0]
    if target <= floor:
        raise InputError(
            f"target loss {target:g} is at or below the fitted irreducible loss {floor:.4g}: "
            "no model reaches it"
        )
    return target


def solve_tokens(sets: ParameterSets, params: np.ndarray, target: float) -> np.ndarray:
    """D with ``L(N, D) = target`` for N of shape broadcastable to (S, k); NaN if unreachable."""
    params = np.asarray(params, dtype=float)
    shape = np.broadcast_shapes(params.shape, (sets.size, 1))

    def log_loss_gap(log_d: np.ndarray) -> np.ndarray:
        # Decreasing in D, so bisect on its negative.
        return -sets.evaluate({"params": params, "tokens": np.exp(log_d)})

    lo = np.full(shape, math.log(D_RANGE[0]))
    hi = np.full(shape, math.log(D_RANGE[1]))
    with np.errstate(all="ignore"):
        x = bisect_increasing(log_loss_gap, -target, lo, hi, iterations=110)
        d = np.exp(x)
        reach = sets.evaluate({"params": params, "tokens": np.full(shape, D_RANGE[1])}) < target
        too_easy = sets.evaluate({"params": params, "tokens": np.full(shape, D_RANGE[0])}) <= target
    d = np.where(reach, d, np.nan)
    return np.where(too_easy, D_RANGE[0], d)


@dataclass
class TokensToTarget(Answer):
    params: float
    target: float
    tokens: Quantity
    flops: Quantity
    reachable: float  # share of bootstrap replicates in which the target is reachable
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "target_loss": self.target,
            "tokens": self.tokens.value,
            "flops": self.flops.value,
            "interval": self.interval,
            "ci": {"tokens": self.tokens.ci(), "flops": self.flops.ci()},
            "p_reachable": self.reachable,
            "warnings": list(self.warnings),
        }


def tokens_to_target(
    fit: FitResult,
    target: float,
    params: float,
    *,
    flops_model: str | FlopsModel | None = None,
    interval: float = 0.9,
) -> TokensToTarget:
    """Training tokens a model of ``params`` parameters needs to reach ``target`` loss.

    Raises InputError when the target is below the fitted irreducible loss, or when a model of
    this size cannot reach it even with unlimited data.
    """
    require_params_tokens(fit.law, "tokens to a target loss")
    level = check_level(interval)
    sets = parameter_sets(fit)
    target = _check_target(sets, target)
    model = as_flops_model(flops_model)
    n = np.full((sets.size, 1), float(params))
    d = solve_tokens(sets, n, target)[:, 0]
    if not np.isfinite(d[0]):
        best = sets.evaluate({"params": n[:1], "tokens": np.array([[D_RANGE[1]]])})[0, 0]
        raise InputError(
            f"a model of {params:.3g} parameters cannot reach loss {target:g}: even with unlimited "
            f"tokens its predicted loss is {best:.4g}"
        )
    reachable = float(np.mean(np.isfinite(d[1:]))) if sets.n_replicates else math.nan
    warnings = []
    if sets.n_replicates and reachable < 1:
        warnings.append(
            f"in {1 - reachable:.0%} of bootstrap replicates this model never reaches the target; "
            "the upper end of the tokens interval is unbounded"
        )
        d = np.where(np.isfinite(d), d, np.inf)
    flops = model(float(params), d)
    warnings += fit.extrapolation_warnings(_frame(fit, params, d[0]))
    tokens_q, flops_q = Quantity.of(d, level), Quantity.of(flops, level)
    if sets.n_replicates and 1 - reachable > (1 - level) / 2:
        # More replicates than the upper tail never get there: the interval has no top.
        tokens_q.hi = flops_q.hi = math.inf
    return TokensToTarget(
        params=float(params),
        target=target,
        tokens=tokens_q,
        flops=flops_q,
        reachable=reachable,
        interval=level,
        warnings=warnings,
    )


@dataclass
class ModelsForTarget(Answer):
    """Within a budget, the range of model sizes that reach a target loss."""

    flops: float
    target: float
    largest_params: Quantity
    largest_tokens: Quantity
    smallest_params: Quantity
    smallest_tokens: Quantity
    probability: float  # share of bootstrap replicates in which the budget reaches the target
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "flops": self.flops,
            "target_loss": self.target,
            "largest_model": {
                "params": self.largest_params.value,
                "tokens": self.largest_tokens.value,
                "ci": {"params": self.largest_params.ci(), "tokens": self.largest_tokens.ci()},
            },
            "smallest_model": {
                "params": self.smallest_params.value,
                "tokens": self.smallest_tokens.value,
                "ci": {"params": self.smallest_params.ci(), "tokens": self.smallest_tokens.ci()},
            },
            "p_reaches_target": self.probability,
            "interval": self.interval,
            "warnings": list(self.warnings),
        }


def models_for_target(
    fit: FitResult,
    flops: float,
    target: float,
    *,
    flops_model: str | FlopsModel | None = None,
    interval: float = 0.9,
) -> ModelsForTarget:
    """The largest and the smallest model that reach ``target`` loss within ``flops``.

    Along a budget's constraint the loss is lowest at the compute-optimal size; the sizes that
    reach the target form an interval around it. Its upper end is the largest model the budget
    can train to the target; its lower end the most over-trained (cheapest to serve) one.
    """
    require_params_tokens(fit.law, "models reaching a target loss")
    level = check_level(interval)
    flops = _check_budget(flops, fit)
    model = as_flops_model(flops_model)
    sets = parameter_sets(fit)
    target = _check_target(sets, target)
    phi = isoflop_loss(sets, model, flops)
    lo, hi = math.log(N_RANGE[0]), math.log(min(N_RANGE[1], flops))
    x_opt, best, _ = minimize_1d(phi, lo, hi, sets.size)
    if not best[0] <= target:
        raise InputError(
            f"budget {flops:.3g} FLOPs cannot reach loss {target:g}: the best predicted loss at "
            f"this budget is {best[0]:.4g} (at {math.exp(x_opt[0]):.3g} params)"
        )
    ok = best <= target

    def along(x: np.ndarray) -> np.ndarray:
        return phi(x[:, None])[:, 0]

    # Right of the optimum the loss rises with N; left of it, it rises as N falls.
    right = bisect_increasing(along, np.full(sets.size, target), x_opt, np.full(sets.size, hi))
    left = -bisect_increasing(
        lambda y: along(-y), np.full(sets.size, target), -x_opt, np.full(sets.size, -lo)
    )
    n_big = np.where(ok, np.exp(right), np.nan)
    n_small = np.where(ok, np.exp(left), np.nan)
    d_big = model.tokens_for(n_big, flops)
    d_small = model.tokens_for(n_small, flops)
    probability = float(np.mean(ok[1:])) if sets.n_replicates else math.nan
    warnings = failed_replicates_warning(ok, "this budget does not reach the target")
    return ModelsForTarget(
        flops=flops,
        target=target,
        largest_params=Quantity.of(n_big, level),
        largest_tokens=Quantity.of(d_big, level),
        smallest_params=Quantity.of(n_small, level),
        smallest_tokens=Quantity.of(d_small, level),
        probability=probability,
        interval=level,
        warnings=warnings,
    )
