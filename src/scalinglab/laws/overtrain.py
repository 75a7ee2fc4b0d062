"""The over-training law of Gadre et al. (2024).

``L(C, M) = E + (a*M^eta + b*M^-eta) * C^-eta`` with the token multiplier ``M = D/N`` and
``C = 6ND``: loss as a function of compute and of how far past 20 tokens/parameter a model is
trained. It is written here in params and tokens (M = tokens/params, C = 6*params*tokens) so the
planner can choose N and D for it like for any other law, and expanded into two terms so that
E, a and b enter linearly (variable projection solves them exactly; only eta is searched).

Expanding it shows what it is: ``a*M^eta*C^-eta = a*6^-eta*N^(-2 eta)`` and
``b*M^-eta*C^-eta = b*6^-eta*D^(-2 eta)``, i.e. Chinchilla's form with equal exponents
alpha = beta = 2*eta, the case in which the compute-optimal tokens per parameter does not drift
with scale and over-training shifts the loss by a constant factor (Gadre et al., sec. 3).
"""

from __future__ import annotations

import numpy as np

from .base import Law

_ETA_GRID = tuple(np.round(np.linspace(0.02, 0.6, 16), 4))

OVERTRAIN = Law.from_formula(
    "E + a*(tokens/params)**eta*(6*params*tokens)**-eta"
    " + b*(tokens/params)**-eta*(6*params*tokens)**-eta",
    name="overtrain",
    variables=["params", "tokens"],
    bounds={"eta": (0.0, 2.0)},
    grids={"eta": _ETA_GRID},
    derived={"alpha_equiv": "2*eta"},
    reference=(
        "Gadre et al. 2024, Language models scale reliably with over-training and on downstream "
        "tasks (eq. 4): L(C, M) = E + (a*M^eta + b*M^-eta)*C^-eta, M = D/N, C = 6ND"
    ),
    description="Loss vs compute C and token multiplier M = tokens/params (over-training).",
)


def resolve(law: str | Law) -> str | Law:
    """``"overtrain"`` as this law, anything else unchanged (until the zoo registers it)."""
    return OVERTRAIN if isinstance(law, str) and law.strip() == "overtrain" else law
