"""Capacity density (Xiao et al. 2024, *Densing Law of LLMs*): invert a reference law.

A reference law ``L(N, D)`` fitted to reference models says what loss a model of N parameters
trained on D tokens reaches. For another model of ``N`` parameters that reaches loss ``L`` on
``D`` tokens, its *effective parameter count* is the ``N_eff`` with ``L(N_eff, D) = L``, and its
*capacity density* is ``N_eff / N``: above 1, it does more with its parameters than the
reference family. Xiao et al. report that the best models' density doubles about every 3.3
months (:func:`density_doubling_time`).

Example:
    >>> from scalinglab.laws import get_law
    >>> law = get_law("chinchilla")
    >>> loss = float(law.evaluate({"params": 7e9, "tokens": 1e12}, law.published))
    >>> round(effective_params(law, law.published, loss, tokens=1e12) / 1e9, 3)
    7.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ..errors import InputError
from .base import Law

#: Search range of effective parameter counts.
N_RANGE = (1e2, 1e18)


def _law_and_params(
    reference: Any, params: Mapping[str, float] | None
) -> tuple[Law, Mapping[str, float]]:
    """A (law, parameters) pair from a FitResult-like object or an explicit law and values."""
    if isinstance(reference, Law):
        if params is None:
            raise InputError("density: give the reference law's parameter values")
        return reference, params
    law = getattr(reference, "law", None)
    if not isinstance(law, Law):
        raise InputError("density: the reference must be a fit of a law or a Law with parameters")
    return law, params or reference.params


def effective_params(
    reference: Any,
    params: Mapping[str, float] | None = None,
    loss: float = math.nan,
    *,
    tokens: float | None = None,
    **other: float,
) -> float:
    """``N_eff`` with ``L_ref(N_eff, D) = loss``: the reference family's size that reaches ``loss``.

    ``reference`` is a fit (``FitResult``) or a :class:`Law` with ``params``; the law must
    have a ``params`` variable and fall with it. ``tokens`` (and any other variable of the law,
    by keyword) fixes the rest of the point.
    """
    law, values = _law_and_params(reference, params)
    if "params" not in law.variables:
        raise InputError(
            f"density needs a reference law in params; {law.name!r} has {', '.join(law.variables)}"
        )
    point = {"tokens": tokens, **other}
    missing = [v for v in law.variables if v != "params" and point.get(v) is None]
    if missing:
        raise InputError(f"density: the reference law {law.name!r} also needs {', '.join(missing)}")
    if not (loss > 0):
        raise InputError(f"density: the observed loss must be positive (got {loss!r})")

    def at(n: float) -> float:
        data = {v: np.asarray(point[v] if v != "params" else n, dtype=float) for v in law.variables}
        return float(law.evaluate(data, values))

    lo, hi = N_RANGE
    l_small, l_large = at(lo), at(hi)
    if not l_small > l_large:
        raise InputError(f"density: the reference law {law.name!r} does not fall with params")
    if loss <= l_large:
        raise InputError(
            f"loss {loss:g} is below what the reference law reaches with {hi:.0e} parameters "
            f"({l_large:.4g}) at this point: the model is beyond the reference family"
        )
    if loss >= l_small:
        raise InputError(
            f"loss {loss:g} is above the reference law's loss at {lo:g} parameters ({l_small:.4g})"
        )
    root = brentq(
        lambda u: at(math.exp(u)) - loss, math.log(lo), math.log(hi), xtol=1e-12, rtol=1e-12
    )
    return math.exp(root)


def capacity_density(
    reference: Any,
    n_params: float,
    loss: float,
    *,
    params: Mapping[str, float] | None = None,
    tokens: float | None = None,
    **other: float,
) -> dict[str, float]:
    """Effective parameters and density ``N_eff / N`` of a model of ``n_params`` at ``loss``."""
    if not n_params > 0:
        raise InputError(
            f"density: the model's parameter count must be positive (got {n_params!r})"
        )
    n_eff = effective_params(reference, params, loss, tokens=tokens, **other)
    return {
        "params": float(n_params),
        "loss": float(loss),
        "effective_params": n_eff,
        "density": n_eff / n_params,
    }


def density_doubling_time(times: Any, densities: Any) -> dict[str, float]:
    """Doubling time of density from (time, density) pairs: ``log2 density = a + t / T``.

    ``times`` in any unit (months since a date gives Xiao et al.'s ~3.3 months).
    """
    t = np.asarray(times, dtype=float)
    d = np.asarray(densities, dtype=float)
    if t.size < 2 or np.ptp(t) == 0 or not np.all(d > 0):
        raise InputError(
            "density_doubling_time needs 2 or more distinct times and positive densities"
        )
    slope, intercept = np.polyfit(t, np.log2(d), 1)
    return {
        "doubling_time": float(1.0 / slope) if slope != 0 else math.inf,
        "log2_density_at_0": float(intercept),
    }
