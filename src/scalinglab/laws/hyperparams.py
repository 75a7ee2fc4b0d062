"""Learning rate and batch size laws: Step Law (Li et al. 2025).

``step_law`` (``lr_opt = c * N**-alpha * D**beta``) and ``step_law_batch``
(``B_opt = d * D**gamma``, B in tokens) are laws like any other: fit them to the optimal
hyper-parameters of small runs, or use the published constants. The questions they answer
(LR sweeps, recommendations) are in :mod:`scalinglab.planning.hyperparams`.
"""

from __future__ import annotations

from ..errors import InputError
from .base import Law

#: Li et al. 2025, Predictable Scale Part I, eq. (1)-(2): N non-embedding parameters, D tokens.
STEP_LAW_PUBLISHED = {"c": 1.79, "alpha": 0.713, "beta": 0.307}
STEP_LAW_BATCH_PUBLISHED = {"d": 0.58, "gamma": 0.571}

STEP_LAW = Law.from_formula(
    "c*params**-alpha*tokens**beta",
    name="step_law",
    variables=["params", "tokens"],
    bounds={"alpha": (0.0, 3.0), "beta": (0.0, 3.0)},
    grids={"alpha": (0.2, 0.4, 0.6, 0.713, 0.9, 1.2), "beta": (0.0, 0.1, 0.2, 0.307, 0.45, 0.6)},
    published=STEP_LAW_PUBLISHED,
    reference=(
        "Li et al. 2025, Predictable Scale: Part I (Step Law): lr_opt = 1.79 * N^-0.713 * D^0.307"
    ),
    description=(
        "Optimal peak learning rate vs parameters and tokens (fit it to the optimal lr of each "
        "size, e.g. --y lr_opt). Question: lr for a planned run (scalinglab hparams)."
    ),
)

STEP_LAW_BATCH = Law.from_formula(
    "d*tokens**gamma",
    name="step_law_batch",
    variables=["tokens"],
    bounds={"gamma": (0.0, 3.0)},
    grids={"gamma": (0.2, 0.4, 0.571, 0.8, 1.0)},
    published=STEP_LAW_BATCH_PUBLISHED,
    reference="Li et al. 2025, Predictable Scale: Part I (Step Law): B_opt = 0.58 * D^0.571 tokens",
    description="Optimal batch size in tokens vs training tokens.",
)


def step_law(params: float, tokens: float) -> dict[str, float]:
    """Step Law's optimal learning rate and batch size (in tokens) for N params, D tokens.

    Example:
        >>> r = step_law(1e9, 1e11)
        >>> round(r["lr"], 6), round(r["batch_tokens"] / 1e6, 3)
        (0.001632, 1.108)
    """
    if not (params > 0 and tokens > 0):
        raise InputError(f"step law needs positive params and tokens (got {params:g}, {tokens:g})")
    p, b = STEP_LAW_PUBLISHED, STEP_LAW_BATCH_PUBLISHED
    return {
        "lr": p["c"] * params ** -p["alpha"] * tokens ** p["beta"],
        "batch_tokens": b["d"] * tokens ** b["gamma"],
    }
