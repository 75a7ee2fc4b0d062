"""Pre-training loss laws of the literature beyond Chinchilla and Kaplan, one object each.

Every law is a :class:`~scalinglab.laws.base.Law` made from a formula; coefficients that enter
linearly are solved by (non-negative) least squares inside the search, the rest are searched
from the small grids given here. Where a paper's parameterisation has no linear coefficient
(``exp(b3)``), the law is written with an equivalent one (``E = exp(b3)``) and the docstring says
how to convert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from .base import Law

_EXPONENTS = tuple(np.round(np.linspace(0.05, 1.5, 16), 4))


# -- power law plus floor: Henighan et al. 2020, Hestness et al. 2017 -------------------------


def henighan(variable: str = "flops") -> Law:
    """``L = L_inf + (x0/x)**alpha``, written ``L_inf + A*x**-alpha`` with ``x0 = A**(1/alpha)``.

    ``L_inf`` is the irreducible loss (the entropy of the data), ``A*x**-alpha`` the reducible
    loss (the KL divergence between the data and the model): :func:`scalinglab.planning.regimes.
    loss_decomposition` reports both.
    """
    return Law.from_formula(
        f"L_inf + A*{variable}**-alpha",
        name=f"henighan:{variable}",
        variables=[variable],
        bounds={"alpha": (0.0, 3.0)},
        grids={"alpha": _EXPONENTS},
        derived={"x0": "A**(1/alpha)"},
        reference=(
            "Henighan et al. 2020, Scaling Laws for Autoregressive Generative Modeling (eq. 1.1): "
            "L(x) = L_inf + (x0/x)^alpha, x in {N, C}"
        ),
        description=(
            f"Irreducible plus reducible loss in {variable}; x0 = A**(1/alpha). "
            "Questions: reducible vs irreducible loss (scalinglab regimes)."
        ),
    )


def hestness(variable: str = "tokens") -> Law:
    """A learning curve ``eps(D) = E + a*D**-b``: power law plus irreducible error.

    Hestness et al. describe three regions along D: small-data (near the best-guess error,
    flatter than the power law), power-law, and irreducible (flattening onto ``E``):
    :func:`scalinglab.planning.regimes.learning_curve_regions` labels the data with them.
    """
    return Law.from_formula(
        f"E + a*{variable}**-b",
        name=f"hestness:{variable}",
        variables=[variable],
        bounds={"b": (0.0, 3.0)},
        grids={"b": _EXPONENTS},
        reference=(
            "Hestness et al. 2017, Deep Learning Scaling is Predictable, Empirically: "
            "eps(D) = a*D^b (b < 0) plus an irreducible error"
        ),
        description=(
            f"Learning curve in {variable}: power law plus floor; regions small-data / "
            "power-law / irreducible (scalinglab regimes)."
        ),
    )


# -- Broken neural scaling laws: Caballero et al. 2022 ---------------------------------------

#: Starting break positions per variable (log-spaced over the usual range of that column).
_BREAK_GRIDS: dict[str, tuple[float, ...]] = {
    "flops": (1e17, 1e18, 1e19, 1e20, 1e21, 1e22),
    "params": (1e6, 1e7, 1e8, 1e9, 1e10, 1e11),
    "tokens": (1e8, 1e9, 1e10, 1e11, 1e12),
    "step": (10.0, 100.0, 1e3, 1e4, 1e5),
}
_DEFAULT_BREAKS = (1.0, 1e2, 1e4, 1e6, 1e8, 1e10)


def _softplus(z: str) -> str:
    """``log(1 + exp(z))`` written so it never overflows (``max(z,0) + log1p(exp(-|z|))``)."""
    return f"(maximum({z}, 0) + log1p(exp(-abs({z}))))"


def bnsl(spec: str = "flops") -> Law:
    """Smoothly broken power law with 1-3 breaks: ``bnsl:flops``, ``bnsl:params:2``.

    ``y = a + b*x^-c0 * prod_i (1 + (x/d_i)^(1/f_i))^(-c_i*f_i)`` (Caballero et al. 2022, eq. 1).
    Each factor is written ``exp(-c_i*f_i*softplus(log(x/d_i)/f_i))`` so that sharp breaks
    (small ``f_i``) do not overflow. ``c_i`` may be negative (a curve that bends up: inverse
    scaling, or an emergent task metric); ``d_i`` is the position of break i.
    """
    variable, _, n_text = spec.partition(":")
    variable = variable or "flops"
    try:
        n_breaks = int(n_text) if n_text else 1
    except ValueError:
        n_breaks = 0
    if not 1 <= n_breaks <= 3:
        raise InputError(f"bnsl:{spec}: the number of breaks must be 1, 2 or 3 (e.g. bnsl:flops:2)")
    factors = []
    bounds: dict[str, tuple[float, float]] = {"c0": (-2.0, 3.0)}
    grids: dict[str, tuple[float, ...]] = {"c0": (0.05, 0.15, 0.3, 0.6, 1.0)}
    breaks = _BREAK_GRIDS.get(variable, _DEFAULT_BREAKS)
    for i in range(1, n_breaks + 1):
        z = f"log({variable}/d{i})/f{i}"
        factors.append(f"exp(-c{i}*f{i}*{_softplus(z)})")
        bounds[f"c{i}"] = (-3.0, 3.0)
        bounds[f"f{i}"] = (0.05, 10.0)
        bounds[f"d{i}"] = (1e-300, math.inf)
        grids[f"c{i}"] = (-0.3, 0.1, 0.3, 0.8) if n_breaks == 1 else (-0.3, 0.2, 0.6)
        grids[f"f{i}"] = (0.2, 1.0) if n_breaks > 1 else (0.1, 0.4, 1.5)
        grids[f"d{i}"] = breaks
    formula = f"a + b*{variable}**-c0*" + "*".join(factors)
    name = f"bnsl:{variable}" + (f":{n_breaks}" if n_breaks > 1 else "")
    return Law.from_formula(
        formula,
        name=name,
        variables=[variable],
        bounds=bounds,
        grids=grids,
        log_scale=[f"d{i}" for i in range(1, n_breaks + 1)],
        reference="Caballero et al. 2022, Broken Neural Scaling Laws (eq. 1)",
        description=(
            f"Smoothly broken power law in {variable} with {n_breaks} break(s) at d_i, sharpness "
            "f_i, exponent change c_i: for emergent, inverse or non-monotone curves."
        ),
    )


# -- Farseer: Li et al. 2025 -------------------------------------------------------------------

#: Farseer is written in n = N / 1e9 (parameters in billions): the N-dependent exponents are
#: then of order one and the search well conditioned. The paper's a_i (in raw N) are
#: a_i' = a_i * 1e9**g_i; its b3 = log(E), b2 = log(B).
FARSEER = Law.from_formula(
    "E*exp(a3*(params/1e9)**g3) + B*exp(a2*(params/1e9)**g2)*tokens**-exp(b1 + a1*(params/1e9)**g1)",
    name="farseer",
    variables=["params", "tokens"],
    bounds={
        "a3": (-3.0, 3.0),
        "g3": (-1.5, 0.0),
        "a2": (-3.0, 3.0),
        "g2": (-1.5, 1.5),
        "a1": (-3.0, 3.0),
        "g1": (-1.5, 1.5),
        "b1": (-4.0, 1.0),
    },
    grids={
        "a3": (0.1, 0.3),
        "g3": (-0.5, -0.25),
        "a2": (-0.5, 0.0, 0.5),
        "g2": (-0.3, 0.3),
        "a1": (-0.2, 0.0, 0.2),
        "g1": (-0.3, 0.3),
        "b1": (-1.6, -1.2, -0.9),
    },
    reference=(
        "Li et al. 2025, Farseer: A Refined Scaling Law in Large Language Models: "
        "L = exp(a3*N^g3 + b3) + exp(a2*N^g2 + b2) * D^(-exp(a1*N^g1 + b1))"
    ),
    description=(
        "Loss vs N and D whose data term's coefficient and exponent vary smoothly with N; "
        "written in N/1e9 with E = exp(b3), B = exp(b2). Chinchilla-like data rarely identify "
        "all seven shape parameters: fix a2=0 or a1=0 (--fix) when intervals are wide."
    ),
)


# -- data-constrained scaling: Muennighoff et al. 2023 ----------------------------------------

#: Tokens per parameter of the compute-optimal model, used for the "unique parameters" U_N
#: (Muennighoff et al. take U_N = N_opt(U_D) from their Chinchilla fit; ~20 tokens/param).
TOKENS_PER_PARAM = 20

_UD = "minimum(tokens, unique_tokens)"
_UN = f"minimum(params, {_UD}/{TOKENS_PER_PARAM})"
DATA_CONSTRAINED = Law.from_formula(
    f"E + A*({_UN}*(1 + RN_star*(1 - exp(-(params/{_UN} - 1)/RN_star))))**-alpha"
    f" + B*({_UD}*(1 + RD_star*(1 - exp(-(tokens/{_UD} - 1)/RD_star))))**-beta",
    name="data_constrained",
    variables=["params", "tokens", "unique_tokens"],
    bounds={"alpha": (0.0, 3.0), "beta": (0.0, 3.0), "RN_star": (0.1, 1e3), "RD_star": (0.1, 1e3)},
    grids={
        "alpha": (0.1, 0.2, 0.3, 0.4, 0.55, 0.75),
        "beta": (0.1, 0.2, 0.3, 0.4, 0.55, 0.75),
        "RN_star": (2.0, 5.3, 20.0),
        "RD_star": (5.0, 15.4, 50.0),
    },
    log_scale=["RN_star", "RD_star"],
    reference=(
        "Muennighoff et al. 2023, Scaling Data-Constrained Language Models (eqs. 5-7): "
        "D' = U_D + U_D*R_D*(1-exp(-R_D/R_D*)), N' likewise, L = E + A/N'^alpha + B/D'^beta"
    ),
    description=(
        "Chinchilla with repeated data: U_D unique tokens (column unique_tokens; = tokens when "
        "absent) seen tokens/U_D times; repeated tokens and excess parameters decay in value "
        "with half-lives R_D*, R_N* (published 15.4, 5.3; fix them unless the runs repeat data)."
    ),
    published={"RD_star": 15.4, "RN_star": 5.3},
    prepare=lambda df: with_unique_tokens(df),
)


def with_unique_tokens(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``unique_tokens`` column: runs without one saw every token once.

    Example:
        >>> with_unique_tokens(pd.DataFrame({"tokens": [1e9]}))["unique_tokens"].tolist()
        [1000000000.0]
    """
    df = df.copy()  # the caller's frame is not edited
    if "unique_tokens" not in df.columns:
        df["unique_tokens"] = df["tokens"]
    else:
        df["unique_tokens"] = df["unique_tokens"].fillna(df["tokens"])
    return df


def effective_data(tokens: float, unique_tokens: float, rd_star: float = 15.4) -> float:
    """Muennighoff's effective data D' for ``tokens`` seen from ``unique_tokens`` unique ones.

    Example:
        >>> round(effective_data(4e9, 1e9) / 4e9, 3)   # 4 epochs: ~93% of the value of fresh data
        0.931
    """
    ud = min(tokens, unique_tokens)
    rd = tokens / ud - 1
    return ud + ud * rd_star * (1 - math.exp(-rd / rd_star))


def data_constrained_asymptote(
    params: Mapping[str, float], unique_tokens: float
) -> dict[str, float]:
    """The best loss reachable from ``unique_tokens`` unique tokens (Muennighoff et al. 2023).

    With unlimited epochs and parameters, D' -> U_D (1 + R_D*) and N' -> U_N (1 + R_N*), with
    U_N = U_D / TOKENS_PER_PARAM: beyond these, repeating data or growing the model buys nothing.
    """
    un = unique_tokens / TOKENS_PER_PARAM
    n_eff = un * (1 + params["RN_star"])
    d_eff = unique_tokens * (1 + params["RD_star"])
    loss = (
        params["E"]
        + params["A"] * n_eff ** -params["alpha"]
        + params["B"] * d_eff ** -params["beta"]
    )
    return {"loss": float(loss), "effective_params": n_eff, "effective_tokens": d_eff}


# -- Parallel scaling: Chen et al. 2025 ---------------------------------------------------------

PARSCALE = Law.from_formula(
    "E + A*(params*(k*log(streams) + 1))**-alpha",
    name="parscale",
    variables=["params", "streams"],
    bounds={"alpha": (0.0, 3.0), "k": (0.0, 10.0)},
    grids={"alpha": _EXPONENTS, "k": (0.05, 0.15, 0.3, 0.6, 1.2)},
    reference=(
        "Chen et al. 2025, Parallel Scaling Law for Language Models: "
        "L = A/(N*(k*log P + 1))^alpha + E, P parallel streams"
    ),
    description=(
        "P parallel streams (column streams) act like multiplying the parameters by "
        "k*log(P) + 1; P = 1 is the ordinary power law in N."
    ),
)


def parscale_equivalent_params(params: float, streams: float, k: float) -> float:
    """Parameters of the one-stream model that a P-stream model of ``params`` matches."""
    return params * (k * math.log(streams) + 1)


# -- NMT encoder/decoder: Ghorbani et al. 2021 ------------------------------------------------

NMT_BIVARIATE = Law.from_formula(
    "L_inf + alpha*params_encoder**-p_e*params_decoder**-p_d",
    name="nmt_bivariate",
    variables=["params_encoder", "params_decoder"],
    bounds={"p_e": (0.0, 3.0), "p_d": (0.0, 3.0)},
    grids={"p_e": (0.05, 0.1, 0.2, 0.3, 0.45, 0.7), "p_d": (0.05, 0.1, 0.2, 0.3, 0.45, 0.7)},
    reference=(
        "Ghorbani et al. 2021, Scaling Laws for Neural Machine Translation (eq. 2): "
        "L = alpha*(Ne0/Ne)^p_e*(Nd0/Nd)^p_d + L_inf"
    ),
    description=(
        "Loss vs encoder and decoder sizes (columns params_encoder, params_decoder); the "
        "paper's baseline sizes Ne0, Nd0 are folded into alpha. Optimal split: "
        "Ne/(Ne+Nd) = p_e/(p_e+p_d)."
    ),
)


def optimal_encoder_share(params: Mapping[str, float]) -> float:
    """Share of a parameter budget for the encoder that minimises the NMT law's loss.

    For fixed Ne + Nd = N, Ne^-p_e Nd^-p_d is smallest at Ne/N = p_e/(p_e + p_d)
    (Ghorbani et al. 2021, section 4).
    """
    return params["p_e"] / (params["p_e"] + params["p_d"])
