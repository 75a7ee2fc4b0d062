"""Planning for a served precision: the loss a model is *served* at is its trained loss plus what
quantization to P bits costs it,

    ``L_P(N, D) = L(N, D) + QiD(N, D, P)``,

from two fits: a loss law of params and tokens (``chinchilla``, ...) and the ``qid`` law of
params, tokens and bits (Ouyang et al. 2024, :mod:`scalinglab.laws.precision`). Since QiD grows
with D while L falls, ``L_P`` has a minimum in D: past it, more training makes the served model
worse (Ouyang et al.; Kumar et al. 2024, *Scaling Laws for Precision*, find the same for
post-training quantization).

* :func:`precision_tokens`: for a model of N parameters served at P bits, the tokens past which
  further training is wasted (the minimum of ``L_P`` in D), and with a target loss the range of
  tokens over which the served model meets it.
* :func:`precision_allocation`: the N and D that minimise ``L_P`` under a training budget,
  beside the full-precision optimum and what serving it at P bits would cost.

Intervals come from the two fits' bootstrap replicates, paired row by row (the fits are
independent, so replicate i of one with replicate i of the other is a draw from both); a fit
without replicates contributes its estimate to every row.

Example:
    >>> loss_fit = sl.fit(runs, "chinchilla")                              # doctest: +SKIP
    >>> qid_fit = sl.fit(qid_runs(runs), "qid", y="qid")                   # doctest: +SKIP
    >>> precision_tokens(loss_fit, qid_fit, params=1e8, bits=4).summary()  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError, positive
from ..fitting.result import FitResult
from .allocation import Quantity, _check_budget, _frame, optimal_path
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

QID_VARIABLES = ("params", "tokens", "bits")


@dataclass(frozen=True)
class ServedLoss:
    """``L(N, D) + QiD(N, D, P)`` for every paired parameter set (rows of both)."""

    loss: ParameterSets
    qid: ParameterSets

    @property
    def size(self) -> int:
        return self.loss.size

    def parts(self, params: Any, tokens: Any, bits: float) -> tuple[np.ndarray, np.ndarray]:
        """The full-precision loss and the QiD, each broadcast to ``(S, k)``."""
        full = self.loss.evaluate({"params": params, "tokens": tokens})
        qid = self.qid.evaluate({"params": params, "tokens": tokens, "bits": bits})
        return full, qid

    def __call__(self, params: Any, tokens: Any, bits: float) -> np.ndarray:
        full, qid = self.parts(params, tokens, bits)
        return full + qid


def served_loss(loss_fit: FitResult, qid_fit: FitResult) -> ServedLoss:
    """The served loss of the two fits, their replicates paired (see the module docstring)."""
    require_params_tokens(loss_fit.law, "planning for a served precision")
    if set(qid_fit.law.variables) != set(QID_VARIABLES):
        raise InputError(
            f"the QiD fit must be of a law of params, tokens and bits (such as 'qid'); "
            f"law {qid_fit.law.name!r} is a function of {', '.join(qid_fit.law.variables)}"
        )
    a, b = parameter_sets(loss_fit), parameter_sets(qid_fit)
    both = a.n_replicates and b.n_replicates
    size = min(a.size, b.size) if both else max(a.size, b.size)
    return ServedLoss(_rows(a, size), _rows(b, size))


def _rows(sets: ParameterSets, size: int) -> ParameterSets:
    """The first ``size`` parameter sets, or the estimate repeated when there are no replicates."""
    if sets.size >= size:
        return ParameterSets(sets.law, {k: v[:size] for k, v in sets.values.items()})
    return ParameterSets(
        sets.law, {k: np.repeat(v[:1], size, axis=0) for k, v in sets.values.items()}
    )


def _warnings(
    loss_fit: FitResult, qid_fit: FitResult, n: float, d: float, bits: float
) -> list[str]:
    import pandas as pd

    point = pd.DataFrame({"params": [n], "tokens": [d], "bits": [bits]})
    return [
        *loss_fit.extrapolation_warnings(_frame(loss_fit, n, d)),
        *(f"QiD law: {w}" for w in qid_fit.extrapolation_warnings(point)),
    ]


def _rises_on_both_sides(along: Any, best: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Whether the served loss at both ends of the search range is clearly above the minimum
    found: where it flattens out (a QiD that does not grow with tokens, a loss term below the
    float resolution far out) the grid's "minimum" is wherever rounding put it."""
    ends = along(np.array([[lo, hi]]))
    margin = 1e-9 * np.maximum(1.0, np.abs(best))
    return (ends[:, 0] > best + margin) & (ends[:, 1] > best + margin)


@dataclass
class PrecisionTokens(Answer):
    """Training tokens for a model served at P bits: where more training stops paying."""

    title = "training tokens for a served precision"

    params: float
    bits: float
    tokens: Quantity  # the minimum of the served loss in D: past it, training is wasted
    loss: Quantity  # the served loss there
    qid: Quantity
    full_precision_loss: Quantity
    interval: float
    target: float | None = None
    tokens_to_target: Quantity | None = None  # the first D at which the served loss <= target
    tokens_past_target: Quantity | None = None  # the last one (past it the target is lost)
    p_reachable: float = math.nan  # share of replicates in which the target is reachable
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "params": self.params,
            "bits": self.bits,
            "tokens": self.tokens.value,
            "tokens_per_param": self.tokens.value / self.params,
            "loss": self.loss.value,
            "qid": self.qid.value,
            "full_precision_loss": self.full_precision_loss.value,
            "interval": self.interval,
        }
        ci = {k: getattr(self, k).ci() for k in ("tokens", "loss", "qid", "full_precision_loss")}
        if self.target is not None:
            doc["target_loss"] = self.target
            doc["tokens_to_target"] = self.tokens_to_target.value
            doc["tokens_past_target"] = self.tokens_past_target.value
            doc["p_reachable"] = self.p_reachable
            ci["tokens_to_target"] = self.tokens_to_target.ci()
            ci["tokens_past_target"] = self.tokens_past_target.ci()
        return {**doc, "ci": ci, "warnings": list(self.warnings)}


def precision_tokens(
    loss_fit: FitResult,
    qid_fit: FitResult,
    params: float,
    bits: float,
    *,
    target_loss: float | None = None,
    interval: float = 0.9,
) -> PrecisionTokens:
    """Tokens past which training a model of ``params`` parameters is wasted when it is served
    at ``bits`` bits: the minimum in D of ``L(N, D) + QiD(N, D, P)``.

    With ``target_loss``, also the first and the last token count at which the served loss meets
    the target. Raises :class:`InputError` when the served loss has no minimum in D (the QiD fit
    does not grow with tokens) or the target is out of reach at this precision.

    Example (hand-computable: ``L = E + B/D``, ``QiD = k*D/P**2``, so ``D* = sqrt(B P^2 / k)``)::

        precision_tokens(loss_fit, qid_fit, params=1e8, bits=4).tokens.value
    """
    level = check_level(interval)
    n, bits = positive(params, "params"), positive(bits, "bits")
    served = served_loss(loss_fit, qid_fit)
    lo, hi = math.log(D_RANGE[0]), math.log(D_RANGE[1])

    def along(log_d: np.ndarray) -> np.ndarray:
        return served(n, np.exp(log_d), bits)

    x, best, interior = minimize_1d(along, lo, hi, served.size)
    interior &= _rises_on_both_sides(along, best, lo, hi)
    if not interior[0]:
        raise InputError(
            f"at {bits:g} bits the served loss of a model of {n:.3g} parameters has no minimum in "
            "the tokens: the QiD fit does not grow with tokens faster than the loss falls"
        )
    x = np.where(interior, x, np.nan)
    d = np.exp(x)
    full, qid = served.parts(n, d[:, None], bits)
    answer = PrecisionTokens(
        params=n,
        bits=bits,
        tokens=Quantity.of(d, level),
        loss=Quantity.of(best, level),
        qid=Quantity.of(qid[:, 0], level),
        full_precision_loss=Quantity.of(full[:, 0], level),
        interval=level,
        warnings=_warnings(loss_fit, qid_fit, n, float(d[0]), bits),
    )
    answer.warnings += failed_replicates_warning(
        interior, "the served loss has no minimum in the tokens"
    )
    if target_loss is not None:
        _add_target(answer, along, x, best, positive(target_loss, "target_loss"), (lo, hi))
    return answer


def _add_target(
    answer: PrecisionTokens,
    along: Any,
    x: np.ndarray,
    best: np.ndarray,
    target: float,
    span: tuple[float, float],
) -> None:
    """The served loss falls to its minimum at ``x`` and rises after: the target is met between
    the crossing on its left and the one on its right."""
    if not best[0] <= target:
        raise InputError(
            f"at {answer.bits:g} bits a model of {answer.params:.3g} parameters never reaches loss "
            f"{target:g}: its best served loss is {best[0]:.4g} (at {math.exp(x[0]):.3g} tokens)"
        )
    lo, hi = span
    ok = np.isfinite(x) & (best <= target)
    x0 = np.where(ok, x, 0.5 * (lo + hi))

    def rising(log_d: np.ndarray) -> np.ndarray:
        return along(log_d[:, None])[:, 0]

    goal = np.full(len(x), target)
    right = bisect_increasing(rising, goal, x0, np.full(len(x), hi))
    left = -bisect_increasing(lambda y: rising(-y), goal, -x0, np.full(len(x), -lo))
    never_lost = rising(np.full(len(x), hi)) <= target  # still on target at the range's end
    past = np.where(never_lost, np.inf, np.exp(right))
    answer.target = target
    answer.tokens_to_target = Quantity.of(np.where(ok, np.exp(left), np.nan), answer.interval)
    answer.tokens_past_target = Quantity.of(np.where(ok, past, np.nan), answer.interval)
    if len(x) > 1:
        answer.p_reachable = float(np.mean(ok[1:]))
        answer.warnings += failed_replicates_warning(
            ok, "the target is out of reach at this precision"
        )


@dataclass
class PrecisionAllocation(Answer):
    """N and D for a training budget when the model will be served at P bits."""

    title = "allocation for a served precision"

    flops: float
    bits: float
    params: Quantity
    tokens: Quantity
    loss: Quantity  # served loss at (params, tokens)
    qid: Quantity
    full_precision_loss: Quantity
    full_precision_params: Quantity  # the optimum if the model were served as trained
    full_precision_tokens: Quantity
    full_precision_served_loss: Quantity  # ... and its loss once served at P bits
    flops_model: str
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        names = (
            "params", "tokens", "loss", "qid", "full_precision_loss", "full_precision_params",
            "full_precision_tokens", "full_precision_served_loss",
        )  # fmt: skip
        return {
            "flops": self.flops,
            "bits": self.bits,
            "flops_model": self.flops_model,
            **{k: getattr(self, k).value for k in names},
            "tokens_per_param": self.tokens.value / self.params.value,
            "interval": self.interval,
            "ci": {k: getattr(self, k).ci() for k in names},
            "warnings": list(self.warnings),
        }


def precision_allocation(
    loss_fit: FitResult,
    qid_fit: FitResult,
    flops: float,
    bits: float,
    *,
    flops_model: str | FlopsModel | None = None,
    interval: float = 0.9,
) -> PrecisionAllocation:
    """The (N, D) minimising the served loss ``L(N, D) + QiD(N, D, P)`` under a FLOPs budget.

    The same 1-D search in log N along the budget's constraint as the compute-optimal solver
    (:func:`scalinglab.planning.allocation.optimal_path`), on the served loss. Since QiD grows
    with D and shrinks with N, serving at low precision moves the optimum to larger models
    trained on fewer tokens.

    Example (hand-computable: ``L = E + A/N + B/D``, ``QiD = k*D/P**2``, C = 6ND, so
    ``N*^2 = (A + k C / (6 P^2)) C / (6 B)``)::

        precision_allocation(loss_fit, qid_fit, flops=1e20, bits=4).params.value
    """
    level = check_level(interval)
    bits = positive(bits, "bits")
    served = served_loss(loss_fit, qid_fit)
    flops = _check_budget(flops, loss_fit)
    model = as_flops_model(flops_model)

    def along(log_n: np.ndarray) -> np.ndarray:
        n = np.exp(log_n)
        return served(n, model.tokens_for(n, flops), bits)

    lo, hi = math.log(N_RANGE[0]), math.log(min(N_RANGE[1], flops))
    x, best, interior = minimize_1d(along, lo, hi, served.size)
    interior &= _rises_on_both_sides(along, best, lo, hi)
    if not interior[0]:
        raise InputError(
            f"the served loss at {bits:g} bits has no minimum along the budget {flops:.3g} FLOPs: "
            "the fits favour the edge of the search range"
        )
    n = np.exp(np.where(interior, x, np.nan))
    d = model.tokens_for(n, flops)
    full, qid = served.parts(n[:, None], d[:, None], bits)
    path = optimal_path(served.loss, [flops], model)
    n_fp, d_fp = path.params[:, 0], path.tokens[:, 0]
    warnings = _warnings(loss_fit, qid_fit, float(n[0]), float(d[0]), bits)
    warnings += failed_replicates_warning(
        interior, "the served loss has no minimum along the budget"
    )
    return PrecisionAllocation(
        flops=flops,
        bits=bits,
        params=Quantity.of(n, level),
        tokens=Quantity.of(d, level),
        loss=Quantity.of(best, level),
        qid=Quantity.of(qid[:, 0], level),
        full_precision_loss=Quantity.of(full[:, 0], level),
        full_precision_params=Quantity.of(n_fp, level),
        full_precision_tokens=Quantity.of(d_fp, level),
        full_precision_served_loss=Quantity.of(
            served(n_fp[:, None], d_fp[:, None], bits)[:, 0], level
        ),
        flops_model=model.formula,
        interval=level,
        warnings=warnings,
    )
