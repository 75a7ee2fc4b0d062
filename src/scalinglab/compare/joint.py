"""One law for several families: shared exponents, per-family coefficients.

``sum_i family_i * law_i``, where ``family_i`` is 1 on family i's rows and 0 elsewhere and
``law_i`` is the law with its linear coefficients renamed for family i (``E_0``, ``A_0``, ...).
The nonlinear parameters (exponents) are common to all families. Each indicator multiplies
every term, so the coefficients stay linear and variable projection still solves them exactly.
"""

from __future__ import annotations

import ast

from ..errors import InputError
from ..laws.base import Law
from ..laws.formula import rename, signed_terms


def indicator(i: int) -> str:
    return f"family_{i}"


def joint_law(law: Law, n_families: int) -> Law:
    """``sum_i family_i * law_i``: the law's linear coefficients per family, the rest shared.

    Each family's indicator multiplies every term, so the coefficients stay linear and
    variable projection still solves them exactly.
    """
    per_family = [p.name for p in law.parameters if p.linear]
    if not per_family:
        raise InputError(f"law {law.name!r} has no linear coefficients to give each family")
    tree = ast.parse(law.formula, mode="eval").body
    pieces = []
    for i in range(n_families):
        names = {p: f"{p}_{i}" for p in per_family}
        for sign, term in signed_terms(tree):
            text = rename(term, names)
            pieces.append(f"{'-' if sign < 0 else '+'} {indicator(i)}*({text})")
    formula = " ".join(pieces).lstrip("+ ")
    shared = [p for p in law.parameters if not p.linear]
    return Law.from_formula(
        formula,
        name=f"{law.name} (shared exponents, {n_families} families)",
        variables=[*law.variables, *(indicator(i) for i in range(n_families))],
        bounds={p.name: (p.lower, p.upper) for p in shared},
        grids={p.name: p.grid for p in shared if p.grid},
        log_scale=[p.name for p in shared if p.log_scale],
        nonlinear=[p.name for p in shared],
        reference=law.reference,
    )
