"""A scaling law is data: a formula, its variables and parameters, bounds and starting grid.

Every law, built-in or typed by a user, is one :class:`Law` made from a formula string; the
estimator learns from the formula itself which parameters enter linearly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..expr import Expression, shorten
from .formula import Decomposition, decompose

#: Starting values for exponents when a law does not give its own grid.
DEFAULT_EXPONENT_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.55, 0.75, 1.0, 1.5)
#: Bounds of nonlinear parameters when a law does not give its own (exponents, written x**-a).
DEFAULT_NONLINEAR_BOUNDS = (0.0, 10.0)
#: Most parameters a law may have, and most of them searched (not entering linearly). The
#: largest built-in laws have 12 and 10 (bnsl with 3 breaks). The search's cost grows with
#: both (a Levenberg-Marquardt step is cubic in the parameters, each searched one adds a law
#: evaluation to every Jacobian): at both limits a fit of Epoch's 240 Chinchilla points takes
#: 17 s, 42 s with the default bootstrap (2 busy cores); 48 searched ones took over 2 minutes.
MAX_PARAMETERS = 64
MAX_SEARCHED_PARAMETERS = 16


@dataclass(frozen=True)
class Parameter:
    """One parameter of a law.

    ``linear`` parameters are solved by least squares inside the search (non-negative when
    ``lower >= 0``); the others are searched from every point of ``grid``. ``log_scale``
    searches ``log(value)``, for parameters that span orders of magnitude (Kaplan's Nc).
    """

    name: str
    lower: float = 0.0
    upper: float = math.inf
    grid: tuple[float, ...] = ()
    log_scale: bool = False
    linear: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lower": _finite_or_none(self.lower),
            "upper": _finite_or_none(self.upper),
            "linear": self.linear,
            "log_scale": self.log_scale,
            "grid": list(self.grid),
        }


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Law:
    """A scaling law: ``value = formula(variables; parameters)``.

    Build one with :meth:`Law.from_formula`; evaluate it with :meth:`evaluate`.

    Example:
        >>> law = Law.from_formula("E + A*params**-alpha", variables=["params"], name="demo")
        >>> [p.name for p in law.parameters if p.linear]
        ['E', 'A']
        >>> float(law.evaluate({"params": 100.0}, {"E": 1.0, "A": 10.0, "alpha": 0.5}))
        2.0
    """

    name: str
    formula: str
    variables: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    reference: str = ""
    description: str = ""
    #: Quantities computed from fitted parameters, e.g. Kaplan's ``Nc = A**(1/alpha)``.
    derived: Mapping[str, str] = field(default_factory=dict)
    #: Published parameter values, for tests and for borrowing (``--fix alpha=published``).
    published: Mapping[str, float] = field(default_factory=dict)
    #: Adds derived variable columns to the whole run table before fitting, e.g. the
    #: learning-rate areas of the annealing law, computed over each run's full curve.
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = field(
        default=None, repr=False, compare=False
    )
    #: A law that is evaluated, never fitted (a combination of fitted laws): it may have more
    #: nonlinear parameters than a search could handle.
    evaluate_only: bool = False
    expression: Expression = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    decomposition: Decomposition = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @classmethod
    def from_formula(
        cls,
        formula: str,
        *,
        variables: Iterable[str],
        name: str | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        grids: Mapping[str, Iterable[float]] | None = None,
        log_scale: Iterable[str] = (),
        nonlinear: Iterable[str] = (),
        reference: str = "",
        description: str = "",
        derived: Mapping[str, str] | None = None,
        published: Mapping[str, float] | None = None,
        prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
        evaluate_only: bool = False,
    ) -> Law:
        """Make a law from a formula; every name that is not a variable is a parameter."""
        expression = Expression(formula, what="law formula")
        if expression.is_condition:
            raise InputError(
                f"law formula {shorten(formula)} is a condition (a comparison, and, or, not), "
                "not a number"
            )
        variables = tuple(variables)
        unknown_vars = set(variables) - expression.names
        if unknown_vars:
            raise InputError(
                f"law formula {formula!r} does not use variable(s) {', '.join(sorted(unknown_vars))}"
            )
        parameter_names = sorted(expression.names - set(variables), key=formula.index)
        if not parameter_names:
            raise InputError(f"law formula {formula!r} has no parameters to fit")
        bounds = dict(bounds or {})
        grids = {k: tuple(v) for k, v in (grids or {}).items()}
        for given in (*bounds, *grids, *log_scale, *nonlinear):
            if given not in parameter_names:
                raise InputError(
                    f"law formula {formula!r} has no parameter {given!r} "
                    f"(parameters: {', '.join(parameter_names)})"
                )
        log_scale = set(log_scale)
        # Variable projection handles a coefficient that is free or non-negative; any other
        # bound makes it an ordinary (searched) parameter.
        simple = {(0.0, math.inf), (-math.inf, math.inf)}
        odd_bounds = {k for k, b in bounds.items() if tuple(map(float, b)) not in simple}
        candidates = set(parameter_names) - set(nonlinear) - log_scale - odd_bounds
        decomposition = decompose(expression.tree, set(parameter_names), candidates)
        for quantity, text in (derived or {}).items():
            Expression(text, what=f"derived quantity {quantity!r}")  # refused on load, not use
        searched = len(parameter_names) - len(decomposition.linear)
        if len(parameter_names) > MAX_PARAMETERS or (
            searched > MAX_SEARCHED_PARAMETERS and not evaluate_only
        ):
            raise InputError(
                f"law formula {shorten(formula)} has {len(parameter_names)} parameters, "
                f"{searched} of them searched (not entering linearly): at most "
                f"{MAX_SEARCHED_PARAMETERS} may be searched and {MAX_PARAMETERS} in all"
            )
        parameters = []
        for pname in parameter_names:
            linear = pname in decomposition.linear
            default = (0.0, math.inf) if linear else DEFAULT_NONLINEAR_BOUNDS
            if pname in log_scale:
                default = (1e-300, math.inf)
            lower, upper = bounds.get(pname, default)
            grid = grids.get(pname, () if linear else DEFAULT_EXPONENT_GRID)
            grid = tuple(g for g in grid if lower <= g <= upper) or (_midpoint(lower, upper),)
            parameters.append(
                Parameter(pname, float(lower), float(upper), grid, pname in log_scale, linear)
            )
        return cls(
            name=name or formula,
            formula=formula,
            variables=variables,
            parameters=tuple(parameters),
            reference=reference,
            description=description,
            derived=dict(derived or {}),
            published=dict(published or {}),
            prepare=prepare,
            evaluate_only=evaluate_only,
            expression=expression,
            decomposition=decomposition,
        )

    # -- introspection -------------------------------------------------------------------
    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def display_formula(self, limit: int = 400) -> str:
        """The formula for text output, cut in the middle past ``limit`` characters (the
        ``data_filtering`` law unrolls a sum over 40 repetitions into 2,800 characters).

        Example:
            >>> Law.from_formula("E + A*params**-alpha", variables=["params"]).display_formula()
            'E + A*params**-alpha'
        """
        text = self.formula
        if len(text) <= limit:
            return text
        half = max(limit // 2 - 30, 10)
        return f"{text[:half]} ... {text[-half:]} ({len(text):,} characters)"

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise InputError(
            f"law {self.name!r} has no parameter {name!r} (parameters: {', '.join(self.parameter_names)})"
        )

    def with_bounds(self, bounds: Mapping[str, tuple[float, float]]) -> Law:
        """A copy with some parameters' bounds replaced."""
        params = tuple(
            replace(p, lower=bounds[p.name][0], upper=bounds[p.name][1]) if p.name in bounds else p
            for p in self.parameters
        )
        for name in bounds:
            self.parameter(name)
        return replace(self, parameters=params)

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, data: Mapping[str, Any], values: Mapping[str, Any]) -> np.ndarray:
        """The law's value at ``data`` (variables) for parameter ``values``.

        Arrays broadcast: variables of shape ``(n,)`` with parameters of shape ``(S, 1)``
        give ``(S, n)`` — one row per parameter set (multi-start, bootstrap replicate).
        """
        env = {**{v: data[v] for v in self.variables}, **values}
        return np.asarray(self.expression(env), dtype=float)

    def basis_and_offset(
        self, data: Mapping[str, Any], values: Mapping[str, Any], shape: tuple[int, ...]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Basis functions of the linear parameters and the offset, each broadcast to ``shape``."""
        env = {**{v: data[v] for v in self.variables}, **values}
        with np.errstate(all="ignore"):
            basis = [
                np.broadcast_to(np.asarray(self.decomposition.basis[n](env), dtype=float), shape)
                for n in self.decomposition.linear
            ]
            offset_fn = self.decomposition.offset
            offset = (
                np.zeros(shape)
                if offset_fn is None
                else np.broadcast_to(np.asarray(offset_fn(env), dtype=float), shape)
            )
        return basis, offset

    def derive(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Derived quantities (e.g. Kaplan's Nc) from parameter values."""
        return {k: Expression(v)(dict(values)) for k, v in self.derived.items()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Law:
        """Inverse of :meth:`to_dict`."""
        params = doc["parameters"]

        def bound(x: float | None, default: float) -> float:
            return default if x is None else float(x)

        return cls.from_formula(
            doc["formula"],
            name=doc["name"],
            variables=doc["variables"],
            bounds={
                p["name"]: (bound(p["lower"], -math.inf), bound(p["upper"], math.inf))
                for p in params
            },
            grids={p["name"]: p["grid"] for p in params if p["grid"]},
            log_scale=[p["name"] for p in params if p["log_scale"]],
            nonlinear=[p["name"] for p in params if not p["linear"]],
            reference=doc.get("reference", ""),
            description=doc.get("description", ""),
            derived=doc.get("derived", {}),
            published=doc.get("published", {}),
            evaluate_only=bool(doc.get("evaluate_only", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        extra = {"evaluate_only": True} if self.evaluate_only else {}
        return {
            **extra,
            "name": self.name,
            "formula": self.formula,
            "variables": list(self.variables),
            "parameters": [p.to_dict() for p in self.parameters],
            "derived": dict(self.derived),
            "published": dict(self.published),
            "reference": self.reference,
            "description": self.description,
        }


def _midpoint(lower: float, upper: float) -> float:
    if math.isfinite(lower) and math.isfinite(upper):
        return (lower + upper) / 2
    if math.isfinite(lower):
        return lower + 1.0
    if math.isfinite(upper):
        return upper - 1.0
    return 0.0
