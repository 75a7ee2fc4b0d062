"""Questions of the architecture and sparsity laws (:mod:`scalinglab.laws.architecture`).

* :func:`moe_leverage`: the efficiency leverage of an MoE configuration (activation ratio,
  granularity) at a compute budget, the dense compute it is worth, and the granularity that
  maximises the leverage (Tian et al. 2025). From a fit of ``moe_leverage`` to your own EL
  measurements, or from the paper's Table 2 when no fit is given.
* :func:`activation_sparsity`: the activation ratio of a ReLU or SiLU model after D tokens, its
  limit, and the tokens at which it reaches a target (Luo et al. 2024, section 7: "estimate the
  number of tokens required to achieve a desired sparsity ratio"). From a fit of
  ``sparsing_relu``/``sparsing_silu``, or from a row of the paper's Table 2 (``"relu:2.4B"``).

Intervals are percentiles over the fit's bootstrap replicates, as everywhere in planning;
answers from published values have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError, positive
from ..fitting.result import FitResult
from ..laws.architecture import (
    MOE_LEVERAGE,
    SPARSING_RELU,
    SPARSING_SILU,
    SPARSING_TABLE2,
    check_activation_ratio,
    sparsing_published,
)
from ..laws.base import Law
from .allocation import Quantity
from .replicates import ParameterSets, check_level, parameter_sets


def _published_sets(law: Law, values: dict[str, float]) -> ParameterSets:
    return ParameterSets(law, {n: np.array([[float(values[n])]]) for n in law.parameter_names})


def _warnings(fit: FitResult | None, point: dict[str, float]) -> list[str]:
    if fit is None:
        return []
    import pandas as pd

    return fit.extrapolation_warnings(pd.DataFrame({k: [v] for k, v in point.items()}))


# -- MoE efficiency leverage ----------------------------------------------------------------


@dataclass
class MoELeverage(Answer):
    """The efficiency leverage of an MoE configuration at a compute budget."""

    title = "MoE efficiency leverage"

    activation_ratio: float
    granularity: float
    flops: float
    efficiency_leverage: Quantity  # C_dense / C_moe at equal loss
    dense_equivalent_flops: Quantity  # EL * C: the dense compute this MoE run is worth
    optimal_granularity: Quantity  # 2**(-beta/(2*gamma)): the G of the highest EL at any A, C
    leverage_at_optimal_granularity: Quantity
    source: str
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        names = (
            "efficiency_leverage", "dense_equivalent_flops", "optimal_granularity",
            "leverage_at_optimal_granularity",
        )  # fmt: skip
        doc: dict[str, Any] = {
            "activation_ratio": self.activation_ratio,
            "granularity": self.granularity,
            "flops": self.flops,
            **{k: getattr(self, k).value for k in names},
            "source": self.source,
            "interval": self.interval,
            "ci": {k: getattr(self, k).ci() for k in names},
            "warnings": list(self.warnings),
        }
        return doc


def moe_leverage(
    fit: FitResult | None,
    activation_ratio: float,
    granularity: float,
    flops: float,
    *,
    interval: float = 0.9,
) -> MoELeverage:
    """EL(A, G, C) of Tian et al. 2025 (eq. 13) and what follows from it.

    ``fit`` is a fit of the ``moe_leverage`` law (or any law of activation_ratio, granularity
    and flops); ``None`` takes the paper's Table 2. The dense-equivalent compute is EL * C: a
    dense model needs that much compute to reach the loss this MoE reaches with C. The optimal
    granularity maximises EL at every A < 1 and C, since the granularity term multiplies
    log(A_hat) < 0: ``2**(-beta/(2*gamma))`` when gamma > 0, none otherwise.

    Example (Table 2; the paper: "EL exceeding 7x ... at 1e22 FLOPs with an activation ratio of
    3.1% and a granularity of 12"):
        >>> round(moe_leverage(None, 0.031, 12, 1e22).efficiency_leverage.value, 2)
        7.24
    """
    level = check_level(interval)
    a = float(check_activation_ratio(activation_ratio))
    g = positive(granularity, "granularity")
    c = positive(flops, "flops")
    if fit is None:
        sets, source = _published_sets(MOE_LEVERAGE, MOE_LEVERAGE.published), "published"
    else:
        expected = set(MOE_LEVERAGE.variables)
        if set(fit.law.variables) != expected:
            raise InputError(
                f"the fit must be of a law of activation_ratio, granularity and flops (such as "
                f"'moe_leverage'); law {fit.law.name!r} is a function of "
                f"{', '.join(fit.law.variables)}"
            )
        sets, source = parameter_sets(fit), f"fit of {fit.law.name}"

    def leverage(g_values: Any) -> np.ndarray:
        point = {"activation_ratio": np.array([[a]]), "granularity": g_values, "flops": c}
        return sets.evaluate(point)[:, 0]

    el = leverage(np.array([[g]]))
    if {"beta", "gamma"} <= set(sets.values):
        beta, gamma = sets.values["beta"][:, 0], sets.values["gamma"][:, 0]
        with np.errstate(all="ignore"):
            g_opt = np.where(gamma > 0, 2.0 ** (-beta / (2 * gamma)), np.nan)
        el_opt = leverage(g_opt[:, None])
    else:
        g_opt = el_opt = np.full(sets.size, np.nan)
    warnings = _warnings(fit, {"activation_ratio": a, "granularity": g, "flops": c})
    if not g_opt[0] > 0:
        warnings.append("gamma <= 0: the law has no optimal granularity (EL grows without bound)")
    return MoELeverage(
        activation_ratio=a,
        granularity=g,
        flops=c,
        efficiency_leverage=Quantity.of(el, level),
        dense_equivalent_flops=Quantity.of(el * c, level),
        optimal_granularity=Quantity.of(g_opt, level),
        leverage_at_optimal_granularity=Quantity.of(el_opt, level),
        source=source,
        interval=level,
        warnings=warnings,
    )


# -- activation sparsity ----------------------------------------------------------------------

_SPARSING = {"sparsing_relu": ("relu", SPARSING_RELU), "sparsing_silu": ("silu", SPARSING_SILU)}


@dataclass
class ActivationSparsity(Answer):
    """Activation ratio after D tokens, its limit, and the tokens to a target ratio."""

    title = "activation sparsity"

    activation: str  # relu or silu
    limit_ratio: Quantity  # A0: the activation ratio with unlimited data
    source: str
    interval: float
    tokens: float | None = None
    activation_ratio: Quantity | None = None  # at `tokens`
    target: float | None = None
    tokens_to_target: Quantity | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"activation": self.activation, "source": self.source}
        ci: dict[str, Any] = {}
        if self.tokens is not None:
            doc["tokens"] = self.tokens
            doc["activation_ratio"] = self.activation_ratio.value
            doc["sparsity"] = 1 - self.activation_ratio.value
            ci["activation_ratio"] = self.activation_ratio.ci()
        doc["limit_ratio"] = self.limit_ratio.value
        doc["limit_sparsity"] = 1 - self.limit_ratio.value
        ci["limit_ratio"] = self.limit_ratio.ci()
        if self.target is not None:
            doc["target_ratio"] = self.target
            doc["tokens_to_target"] = self.tokens_to_target.value
            ci["tokens_to_target"] = self.tokens_to_target.ci()
        return {**doc, "interval": self.interval, "ci": ci, "warnings": list(self.warnings)}


def _sparsing_sets(fit: FitResult | str) -> tuple[str, ParameterSets, str]:
    if isinstance(fit, str):
        activation, _, size = fit.partition(":")
        rows = SPARSING_TABLE2.get(activation.lower(), {})
        if size not in rows:
            known = ", ".join(f"{k}:{s}" for k, v in SPARSING_TABLE2.items() for s in v)
            raise InputError(f"no row {fit!r} in Luo et al.'s Table 2 (rows: {known})")
        activation = activation.lower()
        law = SPARSING_RELU if activation == "relu" else SPARSING_SILU
        values = sparsing_published(activation, size)
        return activation, _published_sets(law, values), f"Luo et al. 2024, Table 2, {fit}"
    if fit.law.name not in _SPARSING:
        raise InputError(
            f"the fit must be of law sparsing_relu or sparsing_silu, not {fit.law.name!r}"
        )
    return _SPARSING[fit.law.name][0], parameter_sets(fit), f"fit of {fit.law.name}"


def activation_sparsity(
    fit: FitResult | str,
    *,
    tokens: float | None = None,
    target: float | None = None,
    interval: float = 0.9,
) -> ActivationSparsity:
    """The activation ratio after ``tokens``, its limit A0, and the tokens to reach ``target``.

    ``fit``: a fit of ``sparsing_relu``/``sparsing_silu``, or a row of Luo et al.'s Table 2 such
    as ``"relu:2.4B"``. A ReLU model's ratio falls towards A0 (eq. 4): the target must lie
    between A0 and the ratio at the start; a SiLU model's rises towards A0 (eq. 5): the
    target, the ratio at which its sparsity has fallen to 1 - target, must lie below A0. Both
    inversions are closed-form:
    ReLU ``D = (log(B/(target - A0))/c)**(1/alpha)``, SiLU ``D = (c/(A0 - target))**(1/alpha)``
    (D in billions of tokens, as the paper fits).

    Example (Table 2's 2.4B ReLU model, section 6: its limit activation ratio is 6.48%):
        >>> round(activation_sparsity("relu:2.4B").to_json()["limit_sparsity"], 4)
        0.9352
    """
    level = check_level(interval)
    activation, sets, source = _sparsing_sets(fit)
    v = {k: val[:, 0] for k, val in sets.values.items()}
    answer = ActivationSparsity(
        activation=activation,
        limit_ratio=Quantity.of(v["A0"], level),
        source=source,
        interval=level,
    )
    fitted = fit if isinstance(fit, FitResult) else None
    if tokens is not None:
        d = positive(tokens, "tokens")
        answer.tokens = d
        answer.activation_ratio = Quantity.of(
            sets.evaluate({"tokens": np.array([[d]])})[:, 0], level
        )
        ratio = answer.activation_ratio.value
        if not 0 <= ratio <= 1:
            # Table 2's SiLU rows cross zero at 0.06-1.5B tokens (0.382 - 0.538/D^0.967 < 0
            # below 1.42B for 1.2B): the power law diverges at D -> 0.
            answer.warnings.append(
                f"the law gives an activation ratio of {ratio:.3g} at {d:.3g} tokens, outside "
                "[0, 1]: its form does not hold this early in training"
            )
        answer.warnings += _warnings(fitted, {"tokens": d})
    if target is not None:
        t = float(target)
        if not 0 < t < 1:
            raise InputError(f"must be an activation ratio in (0, 1), got {t:g}", option="target")
        billions = _tokens_to_ratio(activation, v, t)
        if not np.isfinite(billions[0]):
            raise InputError(_unreachable(activation, v, t))
        answer.target = t
        answer.tokens_to_target = Quantity.of(billions * 1e9, level)
        if sets.size > 1 and not np.isfinite(billions[1:]).all():
            answer.warnings.append(
                f"in {np.mean(~np.isfinite(billions[1:])):.0%} of bootstrap replicates the target "
                "is never reached; the interval is over the others"
            )
    return answer


def _tokens_to_ratio(activation: str, v: dict[str, np.ndarray], target: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        if activation == "relu":
            gap = target - v["A0"]
            start = v["A0"] + v["B"]  # the ratio at D = 0
            d = (np.log(v["B"] / gap) / v["c"]) ** (1 / v["alpha"])
            d = np.where(target >= start, 0.0, d)
            return np.where(gap > 0, d, np.nan)
        gap = v["A0"] - target
        return np.where(gap > 0, (v["c"] / gap) ** (1 / v["alpha"]), np.nan)


def _unreachable(activation: str, v: dict[str, np.ndarray], target: float) -> str:
    limit = float(v["A0"][0])
    if activation == "relu":
        return (
            f"a ReLU model's activation ratio falls to its limit {limit:.4g}, never below: "
            f"target {target:g} is out of reach"
        )
    return (
        f"a SiLU model's activation ratio rises to its limit {limit:.4g}, never above: "
        f"target {target:g} is never reached"
    )
