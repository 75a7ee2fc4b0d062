"""Learning-curve laws: the M4 estimator of Alabdulmohsin, Neyshabur & Zhai 2022.

*Revisiting Neural Scaling Laws in Language and Vision* (NeurIPS 2022, arXiv:2209.06640) fits a
learning curve L(x) (error or loss after x examples, tokens, ...) with

    ``(L - L_inf) / (L0 - L)**alpha = beta * x**c``,   c < 0, alpha >= 0,

L_inf the loss with unlimited data, L0 the loss of random guessing: a power law in the excess
loss at large x that bends into a sigmoid in log x near L0 (alpha = 0 is the plain power law
plus floor, their M2). The equation is implicit in L; with ``L = L_inf + (L0 - L_inf)*u`` it
reads ``u/(1 - u)**alpha = beta*(L0 - L_inf)**(alpha-1)*x**c``, whose root the expression
function ``m4root(k, alpha)`` computes (Newton's method; :mod:`scalinglab.expr`).

Written so that two coefficients enter linearly (the estimator solves them exactly):
``L = L_inf + gap*m4root(k*(x/x_ref)**c, alpha)`` with ``gap = L0 - L_inf`` and
``k = beta*gap**(alpha-1)*x_ref**c``; the paper's parameters are derived (``L0``, ``beta``).
``x_ref`` is a fixed scale per variable (1e9 tokens, ...), so that k is of order one.
"""

from __future__ import annotations

from .base import Law

#: Fixed scale of x per variable, so that k*(x/x_ref)**c is of order one on usual data.
_REFERENCE = {"tokens": 1e9, "examples": 1e6, "params": 1e8, "flops": 1e20, "step": 1e3}
_DEFAULT_REFERENCE = 1.0


def m4(variable: str = "tokens") -> Law:
    """M4 in one variable: ``m4`` (tokens), ``m4:step``, ``m4:params``...

    Example (alpha = 1: u/(1 - u) = k*x**c, so at k*(x/x_ref)**c = 1 the curve is halfway):
        >>> law = m4("tokens")
        >>> v = {"L_inf": 1.0, "gap": 2.0, "k": 1.0, "c": -0.5, "alpha": 1.0}
        >>> float(law.evaluate({"tokens": 1e9}, v))
        2.0
    """
    ref = _REFERENCE.get(variable, _DEFAULT_REFERENCE)
    ref_text = f"{ref:g}".replace("e+0", "e").replace("e+", "e")  # 1e9, not 1e+09
    scaled = f"({variable}/{ref_text})" if ref != 1 else variable
    return Law.from_formula(
        f"L_inf + gap*m4root(k*{scaled}**c, alpha)",
        name=f"m4:{variable}",
        variables=[variable],
        bounds={"k": (1e-12, 1e12), "c": (-3.0, 0.0), "alpha": (0.0, 10.0)},
        grids={
            "k": (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3),
            "c": (-1.0, -0.6, -0.35, -0.2, -0.1, -0.04),
            "alpha": (0.0, 0.3, 0.7, 1.0, 1.5, 2.5),
        },
        log_scale=["k"],
        derived={"L0": "L_inf + gap", "beta": f"k*gap**(1 - alpha)*{ref_text}**-c"},
        reference=(
            "Alabdulmohsin, Neyshabur & Zhai 2022, Revisiting Neural Scaling Laws in Language and "
            "Vision (arXiv:2209.06640), M4: (L - L_inf)/(L0 - L)^alpha = beta*x^c"
        ),
        description=(
            f"Learning curve in {variable} (M4): a power law in the excess loss that bends towards "
            f"the random-guess loss L0 at small {variable}; written L_inf + gap*u, u/(1-u)^alpha "
            f"= k*({variable}/{ref_text})^c, L0 = L_inf + gap, beta derived."
        ),
    )
