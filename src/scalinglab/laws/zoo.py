"""The built-in laws, each one declarative object with its reference.

``get_law("power_floor:flops")`` picks the variable of a one-variable law (``bnsl:params:2``
also its number of breaks); a string that is not a law name is read as a formula whose names
are matched to the data's columns. The laws live in their own modules: ``pretraining``
(henighan, hestness, bnsl, farseer, data_constrained, parscale, nmt_bivariate), ``kaplan``
(kaplan_ns), ``schedules`` (lr_annealing), ``hyperparams`` (step_law, step_law_batch),
``vocabulary`` (vocabulary), ``data`` (data_filtering, exponential), ``rl`` (scalerl),
``architecture`` (moe_leverage, sparse_pretraining, sparsing_relu, sparsing_silu), ``curves``
(m4) and the planning stage's ``overtrain``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ..errors import InputError
from ..expr import Expression
from .architecture import MOE_LEVERAGE, SPARSE_PRETRAINING, SPARSING_RELU, SPARSING_SILU
from .base import Law
from .curves import m4
from .data import DATA_FILTERING, exponential
from .hyperparams import STEP_LAW, STEP_LAW_BATCH
from .kaplan import KAPLAN_NS
from .precision import QID
from .pretraining import (
    DATA_CONSTRAINED,
    FARSEER,
    NMT_BIVARIATE,
    PARSCALE,
    bnsl,
    henighan,
    hestness,
)
from .rl import scalerl
from .schedules import ANNEALING_MOMENTUM, lr_annealing
from .vocabulary import VOCABULARY

_EXPONENTS = tuple(np.round(np.linspace(0.05, 1.5, 16), 4))

CHINCHILLA = Law.from_formula(
    "E + A*params**-alpha + B*tokens**-beta",
    name="chinchilla",
    variables=["params", "tokens"],
    bounds={"alpha": (0.0, 3.0), "beta": (0.0, 3.0)},
    grids={"alpha": _EXPONENTS, "beta": _EXPONENTS},
    reference="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (eq. 2, Approach 3)",
    description="Loss vs parameters N and tokens D: irreducible loss plus two power laws.",
    published={"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
)

KAPLAN_N = Law.from_formula(
    "A*params**-alpha_N",
    name="kaplan_n",
    variables=["params"],
    grids={"alpha_N": _EXPONENTS},
    derived={"Nc": "A**(1/alpha_N)"},
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models (eq. 1.1): L=(Nc/N)^alpha_N",
    description="Loss vs non-embedding parameters, data unlimited; Nc = A**(1/alpha_N).",
    published={"alpha_N": 0.076, "Nc": 8.8e13},
)

KAPLAN_D = Law.from_formula(
    "A*tokens**-alpha_D",
    name="kaplan_d",
    variables=["tokens"],
    grids={"alpha_D": _EXPONENTS},
    derived={"Dc": "A**(1/alpha_D)"},
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models (eq. 1.2): L=(Dc/D)^alpha_D",
    description="Loss vs tokens, model large enough; Dc = A**(1/alpha_D).",
    published={"alpha_D": 0.095, "Dc": 5.4e13},
)

KAPLAN_ND = Law.from_formula(
    "((Nc/params)**(alpha_N/alpha_D) + Dc/tokens)**alpha_D",
    name="kaplan_nd",
    variables=["params", "tokens"],
    log_scale=["Nc", "Dc"],
    bounds={"alpha_N": (0.005, 2.0), "alpha_D": (0.005, 2.0)},
    grids={
        "Nc": (1e10, 1e12, 1e14, 1e16),
        "Dc": (1e10, 1e12, 1e14, 1e16),
        "alpha_N": (0.03, 0.07, 0.15, 0.3, 0.6),
        "alpha_D": (0.03, 0.07, 0.15, 0.3, 0.6),
    },
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models (eq. 1.5)",
    description="Joint loss vs parameters and tokens (overfitting law).",
    # Kaplan et al. Table 2 (approx.): alpha_N=0.076, alpha_D=0.103, Nc=6.4e13, Dc=1.8e13.
    published={"alpha_N": 0.076, "alpha_D": 0.103, "Nc": 6.4e13, "Dc": 1.8e13},
)


def power(variable: str = "flops") -> Law:
    """``a * x**-b`` in one variable."""
    return Law.from_formula(
        f"a*{variable}**-b",
        name=f"power:{variable}",
        variables=[variable],
        grids={"b": _EXPONENTS},
        reference="Hestness et al. 2017; Kaplan et al. 2020: a pure power law",
        description=f"Pure power law in {variable}.",
    )


def power_floor(variable: str = "flops") -> Law:
    """``c + a * x**-b`` in one variable: a power law with an irreducible floor."""
    return Law.from_formula(
        f"c + a*{variable}**-b",
        name=f"power_floor:{variable}",
        variables=[variable],
        grids={"b": _EXPONENTS},
        reference="Hestness et al. 2017; Henighan et al. 2020: power law plus irreducible loss",
        description=f"Power law plus floor in {variable}.",
    )


FIXED_LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        CHINCHILLA, KAPLAN_N, KAPLAN_D, KAPLAN_ND, KAPLAN_NS, FARSEER, DATA_CONSTRAINED,
        PARSCALE, NMT_BIVARIATE, STEP_LAW, STEP_LAW_BATCH, QID, VOCABULARY,
        DATA_FILTERING,
        MOE_LEVERAGE, SPARSE_PRETRAINING, SPARSING_RELU, SPARSING_SILU,
    )
}  # fmt: skip
LAW_TEMPLATES: dict[str, tuple[Callable[[str], Law], str]] = {
    "power": (power, "flops"),
    "power_floor": (power_floor, "flops"),
    "henighan": (henighan, "flops"),
    "hestness": (hestness, "tokens"),
    # bnsl:VARIABLE[:BREAKS], 1-3 breaks
    "bnsl": (bnsl, "flops"),
    # lr_annealing[:MOMENTUM]: the template's "variable" is the annealing momentum
    "lr_annealing": (lr_annealing, str(ANNEALING_MOMENTUM)),
    # Khatri et al. 2025's RL reward-compute sigmoid in a compute column
    "scalerl": (scalerl, "gpu_hours"),
    # Sorscher et al. 2022's exponential data curve (beside power_floor:X)
    "exponential": (exponential, "tokens"),
    # Alabdulmohsin et al. 2022's M4 learning curve, implicit in the loss
    "m4": (m4, "tokens"),
}


def _register_overtrain() -> None:
    """The planning stage's ``overtrain`` law (Gadre et al. 2024), when that module exists."""
    try:
        from .overtrain import OVERTRAIN
    except ImportError:
        return
    FIXED_LAWS[OVERTRAIN.name] = OVERTRAIN


_register_overtrain()


def law_names() -> list[str]:
    return [*FIXED_LAWS, *LAW_TEMPLATES]


def all_laws() -> list[Law]:
    """One instance of every built-in law (templates with their default variable)."""
    return [*FIXED_LAWS.values(), *(make(var) for make, var in LAW_TEMPLATES.values())]


def get_law(spec: str | Law, columns: Iterable[str] | None = None) -> Law:
    """A law by name (``chinchilla``, ``power_floor:params``) or from a formula string.

    For a formula, names that are columns of the data are variables and the rest are
    parameters; without ``columns`` the run-table schema's numeric columns are assumed.

    Example:
        >>> get_law("chinchilla").parameter_names
        ['E', 'A', 'alpha', 'B', 'beta']
        >>> get_law("L0 + k*flops**-g").variables
        ('flops',)
    """
    if isinstance(spec, Law):
        return spec
    text = spec.strip()
    if text in FIXED_LAWS:
        return FIXED_LAWS[text]
    head, _, variable = text.partition(":")
    if head in LAW_TEMPLATES:
        make, default = LAW_TEMPLATES[head]
        law = make(variable or default)
        if "value" in law.variables:  # the run table's column a law is fitted to
            raise InputError(
                f"law {text!r}: 'value' is the metric being fitted, not a variable of its law"
            )
        return law
    if text.isidentifier():
        raise InputError(
            f"unknown law {text!r} (known: {', '.join(law_names())}; or type a formula)"
        )
    names = Expression(text, what="law formula").names
    cols = set(columns) if columns is not None else {"params", "tokens", "flops", "step"}
    variables = sorted(names & cols, key=text.index)
    if not variables:
        raise InputError(
            f"law formula {text!r} uses none of the data's columns ({', '.join(sorted(cols))})"
        )
    return Law.from_formula(text, variables=variables)
