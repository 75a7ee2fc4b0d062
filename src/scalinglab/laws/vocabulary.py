"""Vocabulary as a scaling axis: the loss law of Tao et al. 2024 with vocabulary parameters.

Tao et al. 2024, *Scaling Laws with Vocabulary: Larger Models Deserve Larger Vocabularies*
(arXiv:2407.13623, NeurIPS 2024), split a model's parameters into non-vocabulary ``N_nv`` and
vocabulary parameters ``N_v = V*d`` (the output layer only, their footnote 1: it carries the
FLOPs, the input embedding does not) and write the unigram-normalized loss (their eq. 4, a loss
that stays comparable across vocabulary sizes) as their eq. 8::

    L_u = -E + A1/N_nv^alpha1 + A2/N_v^alpha2 + B/D^beta,      D = H*f(V)

with D training tokens, H training characters and ``f(V)`` the tokens per character of a
vocabulary of V (eq. 3, :func:`tokens_per_character`). Published fit (section 4.3, fitted with
``alpha1 = beta`` imposed): A1 = 1.831, A2 = 0.196, B = 2.124, E = 5.533, alpha1 = beta = 0.447,
alpha2 = 0.671. The paper does not print the units; its code (sail-sg/scaling-with-vocab,
``approach3_isoloss.py``) fits in N_nv and N_v in millions and D in billions of tokens, the units
the constants hold in, so the formula here divides by 1e6 and 1e9 and the variables are plain
counts.

**The law's value is ``-L_u``.** L_u is the log-ratio of the model's probability to a unigram
model's, negative for any model better than unigram (-2 to -5 on the paper's runs), and
scalinglab fits laws on log(value): the law is written for the negated loss, with the paper's
parameters unchanged::

    -L_u = E - A1*(N_nv/1e6)^-alpha1 - A2*(N_v/1e6)^-alpha2 - B*(D/1e9)^-beta

Fit it to a column holding ``-L_u``. Its variables are the run table's ``params`` (the
non-vocabulary parameters, as the ladder's non-embedding ``params``), ``vocab_params`` (V*d;
made from columns ``vocab_size`` and ``d_model`` when it is missing) and ``tokens``. The
question it answers, the compute-optimal vocabulary for a budget or a model (their Approach 3),
is :func:`scalinglab.planning.vocabulary.optimal_vocabulary`.

Example:
    >>> round(float(-VOCABULARY.evaluate(
    ...     {"params": 7e10, "vocab_params": 218e3 * 8192, "tokens": 1.35e12},
    ...     VOCABULARY_PUBLISHED)), 4)
    -5.4345
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .base import Law

#: Tao et al. 2024, section 4.3 (eq. 8, Approach 3), in N_nv, N_v in millions and D in billions.
VOCABULARY_PUBLISHED = {
    "E": 5.533,
    "A1": 1.831,
    "alpha1": 0.447,
    "A2": 0.196,
    "alpha2": 0.671,
    "B": 2.124,
    "beta": 0.447,
}

_EXPONENTS = (0.1, 0.25, 0.45, 0.7, 1.0)

VOCABULARY = Law.from_formula(
    "E - A1*(params/1e6)**-alpha1 - A2*(vocab_params/1e6)**-alpha2 - B*(tokens/1e9)**-beta",
    name="vocabulary",
    variables=["params", "vocab_params", "tokens"],
    bounds={"alpha1": (0.0, 3.0), "alpha2": (0.0, 3.0), "beta": (0.0, 3.0)},
    grids={"alpha1": _EXPONENTS, "alpha2": _EXPONENTS, "beta": _EXPONENTS},
    published=VOCABULARY_PUBLISHED,
    reference=(
        "Tao et al. 2024, Scaling Laws with Vocabulary: Larger Models Deserve Larger "
        "Vocabularies (arXiv:2407.13623, eq. 8): L_u = -E + A1/N_nv^alpha1 + A2/N_v^alpha2 + "
        "B/D^beta, N_v = V*d; published E=5.533, A1=1.831, A2=0.196, B=2.124, "
        "alpha1=beta=0.447, alpha2=0.671 (N in millions, D in billions)"
    ),
    description=(
        "Negated unigram-normalized loss -L_u vs non-vocabulary params, vocabulary params "
        "vocab_params = V*d (or columns vocab_size, d_model) and tokens; fit it to -L_u. "
        "Question: the compute-optimal vocabulary (scalinglab vocab)."
    ),
    prepare=lambda df: with_vocab_params(df),
)


def with_vocab_params(df: pd.DataFrame) -> pd.DataFrame:
    """``vocab_params = vocab_size * d_model`` where the table has those columns and no
    ``vocab_params`` of its own (Tao et al. count the output layer, V*d, not 2*V*d)."""
    if "vocab_size" in df.columns and "d_model" in df.columns:
        made = pd.to_numeric(df["vocab_size"], errors="coerce") * pd.to_numeric(
            df["d_model"], errors="coerce"
        )
        df = df.copy()
        df["vocab_params"] = df["vocab_params"].fillna(made) if "vocab_params" in df else made
    return df


# -- tokens per character: Tao et al. eq. 3 -----------------------------------------------------

#: ``f(V) = a*ln(V)^2 + b*ln(V) + c``, fitted by Tao et al. on BPE tokenizers of 1K-1024K (eq. 3).
TOKENS_PER_CHARACTER = (0.0064, -0.1581, 1.2047)


def tokens_per_character(vocab_size: float | np.ndarray) -> float | np.ndarray:
    """Tokens per character of a BPE vocabulary of ``vocab_size`` (Tao et al. eq. 3), so that
    ``tokens = characters * tokens_per_character(V)``.

    The parabola in ln V has its vertex at V ~ 2.3e5; past it the fit would rise (larger
    vocabularies compressing worse), so it is held at the vertex (the paper's code holds it from
    V = 2e5, within 0.1% of the same value).

    Example:
        >>> round(float(tokens_per_character(32000)), 4)
        0.2534
    """
    a, b, c = TOKENS_PER_CHARACTER
    log_v = np.minimum(np.log(vocab_size), -b / (2 * a))
    return a * log_v**2 + b * log_v + c


# -- the paper's conventions for a model it did not train -------------------------------------

#: Tao et al. Approach 1 (section 4.1): the compute-optimal non-vocabulary parameters
#: ``N_nv = k C^0.5``. The text rounds k to 0.08; its Table 1 uses 0.0833: the budgets it prints
#: for 3B-300B (1.3e21, 7.1e21, 2.4e22, 1.3e23, 7.1e23, 2.4e24, 1.3e25) are (N_nv/0.0833)^2 to
#: their two digits, where 0.08 would give 7.7e23 for 70B.
APPROACH1_PARAMS_COEFFICIENT = 0.0833
APPROACH1_PARAMS_EXPONENT = 0.5

#: Embedding width by non-vocabulary size, as Tao et al. choose it (section 2.2 takes d as given
#: by N_nv; Table 1's Dim column and their code's width rule): (largest N_nv, d) pairs. Table 1
#: prints 12888 for 130B, where the rule (and the 248K it reports) has 12288.
PAPER_WIDTHS = (
    (50e6, 512), (200e6, 768), (500e6, 1024), (1e9, 1536), (2e9, 2048), (5e9, 3200),
    (10e9, 4096), (20e9, 5120), (50e9, 6048), (100e9, 8192), (200e9, 12288), (500e9, 16384),
    (1e12, 20480), (math.inf, 24576),
)  # fmt: skip


def paper_width(params: float) -> float:
    """The embedding width d Tao et al. give a model of ``params`` non-vocabulary parameters.

    Example:
        >>> paper_width(70e9), paper_width(3e9)
        (8192.0, 3200.0)
    """
    limits = [limit for limit, _ in PAPER_WIDTHS]
    return float(PAPER_WIDTHS[int(np.searchsorted(limits, params))][1])


def approach1_flops(params: float) -> float:
    """The budget at which ``params`` non-vocabulary parameters are compute-optimal by Tao et
    al.'s Approach 1 (the budgets of their Table 1).

    Example:
        >>> f"{approach1_flops(70e9):.2g}"
        '7.1e+23'
    """
    return (params / APPROACH1_PARAMS_COEFFICIENT) ** (1 / APPROACH1_PARAMS_EXPONENT)


def approach1_params(flops: float) -> float:
    """The compute-optimal non-vocabulary parameters of a budget by Tao et al.'s Approach 1."""
    return APPROACH1_PARAMS_COEFFICIENT * flops**APPROACH1_PARAMS_EXPONENT
