"""Architecture and sparsity laws: MoE efficiency leverage, sparse pre-training, activation sparsity.

* ``moe_leverage`` (Tian et al. 2025, *Towards Greater Leverage: Scaling Laws for Efficient
  Mixture-of-Experts Language Models*, arXiv:2507.17702, eq. 13 and Table 2): the efficiency
  leverage EL = C_dense / C_moe of an MoE against a dense model reaching the same loss, as a
  function of the activation ratio A, the expert granularity G and the compute budget C.
* ``sparse_pretraining`` (Jin et al. 2025, *The Journey Matters: Average Parameter Count over
  Pre-training Unifies Sparse and Dense Scaling Laws*, arXiv:2501.12486, ICLR 2025, eq. 2):
  Chinchilla's law with N replaced by the average parameter count over training, N-bar
  (:func:`average_param_count` computes it from a pruning schedule).
* ``sparsing_relu`` and ``sparsing_silu`` (Luo et al. 2024, *Sparsing Law: Towards Large
  Language Models with Greater Activation Sparsity*, arXiv:2411.02335, eqs. 4 and 5, Table 2):
  the activation ratio (1 - activation sparsity, measured as CETT-PPL-1%) against the tokens
  trained on, a decreasing "logspace" power law for ReLU and an increasing power law for SiLU.

The questions they answer (the EL of a configuration and its dense-equivalent compute, the
tokens to a target activation ratio) are in :mod:`scalinglab.planning.architecture`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .base import Law

# -- MoE efficiency leverage: Tian et al. 2025 --------------------------------------------------

#: Tian et al. 2025, Table 2 ("Values of the Fitted Coefficients" of eq. 13).
MOE_LEVERAGE_PUBLISHED = {
    "a": 1.23, "d": -7.61e-2, "gamma": 1.67e-2, "beta": -1.17e-1, "A_start": 1.63e-2,
    "A_max": 5.28e16,
}  # fmt: skip

#: Clark et al. 2022's saturating transformation of the activation ratio (Tian et al. eq. 10):
#: 1/A_hat = 1/(A + (1/A_start - 1/A_max)^-1) + 1/A_max.
_A_HAT = "1/(1/(activation_ratio + 1/(1/A_start - 1/A_max)) + 1/A_max)"

#: The paper does not say which logarithms eq. 13 takes. log10 of C (in FLOPs) and log2 of G
#: are the one pair under which Table 2 reproduces both of its stated numbers: EL above 7 at
#: 1e22 FLOPs for A = 3.1%, G = 12 (7.24; natural logs give thousands), and an optimal
#: granularity in 8-12 (2**(-beta/(2*gamma)) = 11.3; natural logs put it at 33, log10 at 3e3).
MOE_LEVERAGE = Law.from_formula(
    f"({_A_HAT})**(a + d*log10(flops) + gamma*log2(granularity)**2 + beta*log2(granularity))",
    name="moe_leverage",
    variables=["activation_ratio", "granularity", "flops"],
    bounds={
        "a": (-10.0, 10.0),
        "d": (-1.0, 1.0),
        "gamma": (-1.0, 1.0),
        "beta": (-3.0, 3.0),
        "A_start": (1e-6, 1.0),
        "A_max": (1.0, 1e20),
    },
    grids={
        "a": (-1.0, 0.5, 1.2, 2.0),
        "d": (-0.15, -0.076, -0.03, 0.0),
        "gamma": (0.0, 0.017, 0.05),
        "beta": (-0.3, -0.12, 0.0),
        "A_start": (0.003, 0.016, 0.05),
        "A_max": (1e3, 5.28e16),
    },
    log_scale=["A_start", "A_max"],
    derived={"optimal_granularity": "2**(-beta/(2*gamma))"},
    reference=(
        "Tian et al. 2025, Towards Greater Leverage: Scaling Laws for Efficient Mixture-of-Experts "
        "Language Models (arXiv:2507.17702), eq. 13: EL(A, G, C) = A_hat^(alpha + gamma*(log G)^2 "
        "+ beta*log G), alpha = a + d*log C, A_hat Clark et al.'s saturation of A; Table 2"
    ),
    description=(
        "Efficiency leverage (dense compute / MoE compute at equal loss) vs activation ratio A "
        "(columns activation_ratio, in (0, 1]), granularity G = 2*d_model/d_expert (granularity) "
        "and FLOPs; log10 C, log2 G. A_max is not identified by A <= 1: fix it "
        "(--fix A_max=published). Question: scalinglab moe-leverage."
    ),
    published=MOE_LEVERAGE_PUBLISHED,
)


def check_activation_ratio(value: Any, option: str = "activation_ratio") -> np.ndarray:
    """Activation ratios as an array, each in (0, 1] (an MoE activates a share of its experts).

    Example:
        >>> check_activation_ratio(0.031).tolist()
        0.031
    """
    values = np.asarray(value, dtype=float)
    bad = ~((values > 0) & (values <= 1))
    if bad.any():
        first = float(values.reshape(-1)[np.argmax(bad.reshape(-1))])
        raise InputError(
            f"must be in (0, 1] (a share of the experts), got {first:g}", option=option
        )
    return values


def activation_ratio(activated: int, experts: int, shared: int = 0) -> float:
    """Tian et al.'s activation ratio A = (E_a + E_s)/(E + E_s) (section 2.1).

    Example (Ling-mini-beta, Table 3: 384 routed experts, 12 activated, 1 shared):
        >>> round(activation_ratio(12, 384, 1), 4)
        0.0338
    """
    if not (0 < activated <= experts and shared >= 0):
        raise InputError(
            f"expected 0 < activated <= experts and shared >= 0, got activated={activated}, "
            f"experts={experts}, shared={shared}"
        )
    return (activated + shared) / (experts + shared)


def granularity(d_model: float, d_expert: float) -> float:
    """Tian et al.'s expert granularity G = 2*d_model/d_expert (section 2.1; Ludziejewski et al.
    2024 use 4*d_model/d_expert, so their G is twice this one).

    Example (Ling-mini-beta's Table 3 dimensions; the paper's text calls its G 12):
        >>> round(granularity(2048, 384), 2)
        10.67
    """
    if not (d_model > 0 and d_expert > 0):
        raise InputError(f"d_model and d_expert must be positive, got {d_model:g}, {d_expert:g}")
    return 2 * d_model / d_expert


# -- sparse pre-training: Jin et al. 2025 -------------------------------------------------------

_EXPONENTS = tuple(np.round(np.linspace(0.05, 1.5, 16), 4))

SPARSE_PRETRAINING = Law.from_formula(
    "E + A*avg_params**-alpha + B*tokens**-beta",
    name="sparse_pretraining",
    variables=["avg_params", "tokens"],
    bounds={"alpha": (0.0, 3.0), "beta": (0.0, 3.0)},
    grids={"alpha": _EXPONENTS, "beta": _EXPONENTS},
    reference=(
        "Jin et al. 2025, The Journey Matters: Average Parameter Count over Pre-training Unifies "
        "Sparse and Dense Scaling Laws (arXiv:2501.12486, ICLR 2025), eq. 2: "
        "L = E + A/N_avg^alpha + B/D^beta, N_avg the parameter count averaged over training"
    ),
    description=(
        "Chinchilla with N replaced by the average parameter count over pre-training (column "
        "avg_params; = params when absent, a dense run): sparse and dense runs on one law. "
        "N_avg of a pruning schedule: scalinglab avg-params."
    ),
    prepare=lambda df: _with_avg_params(df),
)


def _with_avg_params(df: pd.DataFrame) -> pd.DataFrame:
    """Dense runs keep their parameters all along: their average is their count."""
    if "avg_params" not in df.columns:
        if "params" not in df.columns:
            raise InputError("law sparse_pretraining needs a column avg_params (or params)")
        df = df.copy()
        df["avg_params"] = df["params"]
    elif "params" in df.columns:
        df["avg_params"] = df["avg_params"].fillna(df["params"])
    return df


#: Pruning schedules: the sparsity reached at progress p in [0, 1] of the pruning phase, as a
#: share of the final sparsity.
SCHEDULES = {
    # Zhu & Gupta 2017 (To prune, or not to prune), the gradual pruning Jin et al. build on
    "cubic": lambda p: 1 - (1 - p) ** 3,
    "linear": lambda p: p,
}
#: What the progress through the pruning phase is measured in.
PROGRESS = ("steps", "compute")


def average_param_count(
    params: float,
    final_sparsity: float,
    prune_start: float,
    prune_end: float,
    total: float = 1.0,
    *,
    schedule: str = "cubic",
    over: str = "steps",
    prunable: float | None = None,
) -> float:
    """The parameter count averaged over training, N_avg, of a dense-then-pruned run.

    Dense until ``prune_start``, pruned to ``final_sparsity`` (of the ``prunable`` parameters,
    default all of them) by ``prune_end`` following ``schedule`` ("cubic", Zhu & Gupta 2017, or
    "linear"), sparse until ``total``; positions in steps, tokens or fractions of the run.
    N_avg = (params - prunable) + prunable * mean density, the mean over steps.

    ``over="steps"`` applies the schedule to the steps of the pruning phase; ``over="compute"``
    to its training compute, which shrinks as the model thins, so that equal shares of compute
    prune equal shares. Jin et al. state their schedules in compute (dense for the first 25% of
    the compute, pruning until 75%); the step counts of their released 1B models (Hugging Face
    tjingrant/sparsellm-1b-20p, -40p: 2,500 dense steps of a 10,000-step compute budget) follow
    the linear schedule in compute, which reproduces the average densities their model cards
    state (0.8919 and 0.7651) to 0.15%.

    Example (sparsellm-1b-40p: 1.14B linear parameters, 40% sparse, steps 2,500-8,875 of 13,050):
        >>> n = average_param_count(1.14e9, 0.4, 2500, 8875, 13050, schedule="linear",
        ...                         over="compute")
        >>> round(n / 1.14e9, 4)  # the model card: average density 0.7651
        0.766
    """
    if schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    if over not in PROGRESS:
        raise InputError(f"`over` must be one of {', '.join(PROGRESS)}, got {over!r}")
    for name, value in (("params", params), ("total", total)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"must be a positive number, got {value:g}", option=name)
    if not 0 <= final_sparsity < 1:
        raise InputError(f"must be in [0, 1), got {final_sparsity:g}", option="final_sparsity")
    if not 0 <= prune_start <= prune_end <= total:
        raise InputError(
            f"expected 0 <= `prune_start` <= `prune_end` <= `total`, got {prune_start:g}, "
            f"{prune_end:g}, {total:g}"
        )
    prunable = params if prunable is None else prunable
    if not 0 <= prunable <= params:
        raise InputError(f"must be in [0, params], got {prunable:g}", option="prunable")
    shape = SCHEDULES[schedule]
    # Mean density over the pruning phase's steps, by the midpoint rule on a fine grid.
    p = (np.arange(20_000) + 0.5) / 20_000
    density = 1 - final_sparsity * shape(p)
    mean_pruning = float(np.mean(density)) if over == "steps" else float(1 / np.mean(1 / density))
    steps = (
        prune_start + (prune_end - prune_start) * mean_pruning
        + (total - prune_end) * (1 - final_sparsity)
    )  # fmt: skip
    return float(params - prunable + prunable * steps / total)


# -- activation sparsity: Luo et al. 2024 -------------------------------------------------------

#: Luo et al. 2024, Table 2: coefficients of eq. 4 (ReLU) and eq. 5 (SiLU), fitted with tokens in
#: billions (Appendix G), the activation ratio as a fraction. Sizes are non-embedding parameters
#: (Table 3). b is eq. 4's exponent offset (B = exp(b) below); SiLU has no b.
SPARSING_TABLE2 = {
    "relu": {
        "0.1B": {"alpha": 1.01e-1, "b": -1.51e-2, "c": 3.20e0, "A0": 6.14e-2},
        "0.2B": {"alpha": 4.49e-1, "b": -3.05e0, "c": 2.86e-1, "A0": 6.74e-2},
        "0.4B": {"alpha": 6.83e-1, "b": -3.46e0, "c": 7.90e-2, "A0": 6.90e-2},
        "0.8B": {"alpha": 1.01e0, "b": -3.49e0, "c": 7.97e-3, "A0": 7.21e-2},
        "1.2B": {"alpha": 1.33e0, "b": -3.89e0, "c": 9.03e-4, "A0": 7.82e-2},
        "2.4B": {"alpha": 1.53e0, "b": -3.46e0, "c": 1.56e-4, "A0": 6.48e-2},
    },
    "silu": {
        "0.1B": {"alpha": 4.79e-1, "c": 1.02e-1, "A0": 4.09e-1},
        "0.2B": {"alpha": 8.44e-1, "c": 2.08e-1, "A0": 3.90e-1},
        "0.4B": {"alpha": 1.03e0, "c": 4.20e-1, "A0": 3.85e-1},
        "0.8B": {"alpha": 9.95e-1, "c": 5.62e-1, "A0": 3.83e-1},
        "1.2B": {"alpha": 9.67e-1, "c": 5.38e-1, "A0": 3.82e-1},
    },
}


def sparsing_published(activation: str, size: str) -> dict[str, float]:
    """One row of Luo et al.'s Table 2 as the law's parameters (ReLU's b as B = exp(b))."""
    row = dict(SPARSING_TABLE2[activation][size])
    if "b" in row:
        row["B"] = math.exp(row.pop("b"))
    return row


SPARSING_RELU = Law.from_formula(
    "A0 + B*exp(-c*(tokens/1e9)**alpha)",
    name="sparsing_relu",
    variables=["tokens"],
    bounds={"c": (0.0, 100.0), "alpha": (0.0, 5.0)},
    grids={"c": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0), "alpha": (0.1, 0.3, 0.6, 1.0, 1.5, 2.0)},
    log_scale=["c"],
    derived={"b": "log(B)", "limit_sparsity": "1 - A0"},
    reference=(
        "Luo et al. 2024, Sparsing Law: Towards Large Language Models with Greater Activation "
        "Sparsity (arXiv:2411.02335), eq. 4: A(D) = exp(-c*D^alpha + b) + A0 (ReLU), D in "
        "billions of tokens; Table 2 (the 2.4B model's row published)"
    ),
    description=(
        "Activation ratio (1 - activation sparsity, CETT-PPL-1%) of a ReLU LLM vs tokens trained: "
        "falls to its limit A0 as a logspace power law; written with B = exp(b). Question: "
        "scalinglab sparsity-tokens."
    ),
    published=sparsing_published("relu", "2.4B"),
)

SPARSING_SILU = Law.from_formula(
    "A0 - c*(tokens/1e9)**-alpha",
    name="sparsing_silu",
    variables=["tokens"],
    bounds={"alpha": (0.0, 5.0)},
    grids={"alpha": (0.1, 0.3, 0.5, 0.7, 1.0, 1.3, 2.0)},
    derived={"limit_sparsity": "1 - A0"},
    reference=(
        "Luo et al. 2024, Sparsing Law: Towards Large Language Models with Greater Activation "
        "Sparsity (arXiv:2411.02335), eq. 5: A(D) = -c/D^alpha + A0 (SiLU), D in billions of "
        "tokens; Table 2 (the 1.2B model's alpha and A0 published)"
    ),
    description=(
        "Activation ratio (1 - activation sparsity, CETT-PPL-1%) of a SiLU LLM vs tokens trained: "
        "rises to its limit A0 as a power law. Question: scalinglab sparsity-tokens."
    ),
    # c, the scale of the rise, grows with the model (0.10-0.56 over Table 2's sizes) and is not
    # borrowed: with it the 1.2B row predicts a negative ratio below 1.42B tokens.
    published={k: v for k, v in sparsing_published("silu", "1.2B").items() if k != "c"},
)
