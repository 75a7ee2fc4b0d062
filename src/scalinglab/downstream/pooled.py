"""Many families at once: shared exponents, per-family offsets, and a stated loan of strength.

Released model families come with two to five sizes, too few to fit a law of three or more
parameters each ("too few points"). Fitted together, they share what scaling has in common
(the exponents, and the floor), while each family keeps its own offset: the coefficient of its
scaling term, a family's compute efficiency in the sense of Ruan et al. (2024, *Observational
Scaling Laws*). A family of two models then needs one parameter of its own, and its
prediction borrows the exponent from the others: the summary says so, and what the family
alone would have given.

The joint law is :func:`scalinglab.compare.joint.joint_law`: one law whose linear coefficients
are renamed per family and switched on by family indicators, so that variable projection
still solves them exactly. Coefficients meant to be shared are declared searched instead.
Intervals come from a bootstrap that resamples runs *within* each family: resampling across
the table would leave a two-model family out of one replicate in seven, and with it every
parameter it owns.

Example:
    >>> pooled = pooled_fit(runs, "power_floor:params", y="err_task")       # doctest: +SKIP
    >>> pooled.predict("small_family", {"params": 7e9})                    # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..compare.joint import indicator, joint_law
from ..errors import InputError
from ..fitting.api import fit
from ..fitting.data import Runs, build_problem, observations_for, select
from ..fitting.engine import best_fit, refit_many
from ..fitting.options import FitOptions
from ..fitting.result import FitResult
from ..laws.base import Law
from ..laws.zoo import get_law
from ..planning.replicates import ParameterSets, check_level, interval
from ..runs import RunTable


def scaling_coefficients(law: Law) -> list[str]:
    """Linear coefficients of ``law`` that multiply a term depending on its variables (``a`` of
    ``c + a*x**-b``), as opposed to constant terms (the floor ``c``)."""
    data = {v: np.array([1.7, 3.1]) for v in law.variables}
    values = {p.name: 0.5 for p in law.parameters if not p.linear}
    basis, _ = law.basis_and_offset(data, values, (2,))
    return [name for name, b in zip(law.decomposition.linear, basis, strict=True)
            if np.ptp(b) > 0]  # fmt: skip


def pooled_law(law: Law, n_families: int, per_family: Sequence[str], scale: float = 1.0) -> Law:
    """``law`` for ``n_families`` families: ``per_family`` coefficients one per family, every
    other parameter shared. Shared linear coefficients become searched parameters, started
    from fractions of ``scale`` (the data's smallest value: a floor lies below it)."""
    linear = [p.name for p in law.parameters if p.linear]
    unknown = [p for p in per_family if p not in linear]
    if unknown:
        raise InputError(
            f"{', '.join(unknown)}: not a linear coefficient of law {law.name!r} (those are "
            f"{', '.join(linear)}); only linear coefficients can be per family",
            option="per_family",
        )
    if not per_family:
        raise InputError("give at least one per-family coefficient", option="per_family")
    shared_linear = [p for p in linear if p not in per_family]
    bounds = {p.name: (p.lower, p.upper) for p in law.parameters}
    grids = {p.name: p.grid for p in law.parameters if p.grid}
    grids |= {p: tuple(f * scale for f in (0.0, 0.3, 0.6, 0.9)) for p in shared_linear}
    rebuilt = Law.from_formula(
        law.formula, variables=law.variables, name=law.name, bounds=bounds, grids=grids,
        log_scale=[p.name for p in law.parameters if p.log_scale],
        nonlinear=[p.name for p in law.parameters if not p.linear] + shared_linear,
        reference=law.reference,
    )  # fmt: skip
    return joint_law(rebuilt, n_families)


@dataclass
class PooledFit(Answer):
    """A joint fit of several families: shared parameters, per-family offsets."""

    law: Law
    families: list[str]
    fit: FitResult
    per_family: tuple[str, ...]
    runs_per_family: dict[str, int]
    #: What each family's own fit gives: "fits alone" or the refusal's message.
    alone: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"pooled {self.law.name} fit of {self.fit.y} over {len(self.families)} families"

    @property
    def shared(self) -> list[str]:
        return [p for p in self.law.parameter_names if p not in self.per_family]

    def sets(self, family: str) -> ParameterSets:
        """The family's parameters (row 0 the estimate, rows 1.. the bootstrap replicates)."""
        i = self._index(family)
        names = self.fit.law.parameter_names
        point = np.array([[self.fit.params[n] for n in names]])
        rows = point if self.fit.samples is None else np.vstack([point, self.fit.samples])
        column = {n: rows[:, j : j + 1] for j, n in enumerate(names)}
        return ParameterSets(self.law, {
            p: column[f"{p}_{i}" if p in self.per_family else p] for p in self.law.parameter_names
        })  # fmt: skip

    def _index(self, family: str) -> int:
        if family not in self.families:
            raise InputError(f"unknown family {family!r} (families: {', '.join(self.families)})",
                             option="family")  # fmt: skip
        return self.families.index(family)

    def params(self, family: str) -> dict[str, float]:
        return {k: float(v[0, 0]) for k, v in self.sets(family).values.items()}

    def predict(
        self, family: str, at: Mapping[str, Any] | pd.DataFrame, *, interval: float = 0.9,
        seed: int = 0,
    ) -> pd.DataFrame:  # fmt: skip
        """``value``, ``lo``/``hi`` (bootstrap within families) and ``pred_lo``/``pred_hi`` (adding
        the scatter of runs around the joint law) for ``family`` at ``at``."""
        check_level(interval)
        points = at.copy() if isinstance(at, pd.DataFrame) else pd.DataFrame(
            {k: np.atleast_1d(v) for k, v in at.items()})  # fmt: skip
        missing = [v for v in self.law.variables if v not in points]
        if missing:
            raise InputError(f"prediction needs {', '.join(missing)}", option="at")
        data = {v: points[v].to_numpy(dtype=float) for v in self.law.variables}
        values = np.asarray(self.sets(family).evaluate(data), dtype=float)
        out = points[list(self.law.variables)].copy()
        out["value"] = values[0]
        spans = np.array([interval_of(values[:, j], interval) for j in range(values.shape[1])])
        out["lo"], out["hi"] = spans[:, 0], spans[:, 1]
        rng = np.random.default_rng(seed)
        sd = self.fit.residuals.get("robust_sd", 0.0) or 0.0
        reps = values[1:] if len(values) > 1 else values
        noisy = reps * np.exp(sd * rng.standard_normal(reps.shape))
        spans = np.array([interval_of(np.concatenate([[np.nan], noisy[:, j]]), interval)
                          for j in range(values.shape[1])])  # fmt: skip
        out["pred_lo"], out["pred_hi"] = spans[:, 0], spans[:, 1]
        out.attrs["borrowed"] = self.borrowed(family)
        return out

    def borrowed(self, family: str) -> str:
        """In words: what ``family`` takes from the others."""
        n = self.runs_per_family[family]
        others = sum(self.runs_per_family.values()) - n
        own = ", ".join(self.per_family)
        text = (f"{family} ({n} run{'s' if n != 1 else ''}) fits its own {own}; "
                f"{', '.join(self.shared)} come from all {len(self.families)} families "
                f"({others} runs of the others)")  # fmt: skip
        alone = self.alone.get(family)
        if alone and alone != "fits alone":
            text += f"; alone it is refused: {alone}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "law": self.law.name,
            "formula": self.law.formula,
            "y": self.fit.y,
            "families": list(self.families),
            "per_family": list(self.per_family),
            "shared": self.shared,
            "shared_params": {p: self.fit.params[p] for p in self.shared},
            "ci": {p: list(self._ci(p)) for p in self.shared},
            "family_params": {f: self.params(f) for f in self.families},
            "runs_per_family": dict(self.runs_per_family),
            "alone": dict(self.alone),
            "borrowed": {f: self.borrowed(f) for f in self.families},
            "n_points": self.fit.n_points,
            "converged": self.fit.converged,
            "warnings": list(self.warnings),
        }

    def _ci(self, name: str, level: float = 0.95) -> tuple[float, float]:
        j = self.fit.law.parameter_names.index(name)
        column = (np.array([np.nan]) if self.fit.samples is None
                  else np.concatenate([[np.nan], self.fit.samples[:, j]]))  # fmt: skip
        return interval_of(column, level)

    def summary(self) -> str:
        lines = [self.title, f"  law       {self.law.formula}"]
        for p in self.shared:
            lo, hi = self._ci(p)
            lines.append(f"  {p:<9} {self.fit.params[p]:.5g}  [{lo:.5g}, {hi:.5g}]  shared")
        lines += [f"  {self.borrowed(f)}" for f in self.families]
        lines += [f"  WARNING {w}" for w in self.warnings]
        return "\n".join(lines)


def interval_of(values: np.ndarray, level: float) -> tuple[float, float]:
    return interval(values, level)


def pooled_fit(
    runs: Runs,
    law: str | Law,
    *,
    y: str | None = None,
    families: Sequence[str] | None = None,
    per_family: Sequence[str] | None = None,
    where: str | None = None,
    bootstrap: int = 200,
    seed: int = 0,
) -> PooledFit:
    """Fit ``law`` to several families at once (see the module docstring).

    ``per_family``: the linear coefficients each family gets (default: those of the law's
    scaling terms, :func:`scaling_coefficients`; the floor and the exponents are shared).

    Raises:
        InputError: fewer than two families, an unknown family or coefficient, too few runs
            for the joint law.
    """
    table = select(runs, family=list(families) if families else None, where=where)
    if isinstance(law, str) and "," in law:
        raise InputError("a pooled fit takes one law, not a choice of laws", option="law")
    base = get_law(law, columns=table.variables())
    names = list(families) if families else sorted(table.df["family"].astype(str).unique())
    if len(names) < 2:
        raise InputError(f"pooling needs at least two families, got {', '.join(names) or 'none'}",
                         option="family")  # fmt: skip
    own = tuple(per_family) if per_family else tuple(scaling_coefficients(base))
    opts = FitOptions(y=y, bootstrap=0, influence=False, seed=seed)
    metric = opts.y or (table.metrics()[0] if len(table.metrics()) == 1 else None)
    obs = observations_for(table, base, metric)
    joint = pooled_law(base, len(names), own, scale=float(obs["value"].min()))
    df = table.df.copy()
    for i, f in enumerate(names):
        df[indicator(i)] = (df["family"].astype(str) == f).astype(float)
    combined = RunTable(df, table.source, table.notes)
    result = fit(combined, joint, opts)
    runs_per_family = {f: int(obs.loc[obs["family"].astype(str) == f, "run_id"].nunique())
                       for f in names}  # fmt: skip
    if bootstrap:
        result.samples = _within_family_bootstrap(combined, joint, opts, names, bootstrap, seed)
    alone = {}
    for f in names:
        try:
            fit(table.filter(family=f), base, opts)
            alone[f] = "fits alone"
        except InputError as exc:
            alone[f] = exc.message
    warnings = [w for w in result.warnings if "weakly identified" not in w]
    return PooledFit(base, names, result, own, runs_per_family, alone, warnings)


def _within_family_bootstrap(
    table: RunTable, law: Law, opts: FitOptions, families: list[str], n: int, seed: int
) -> np.ndarray:
    """Replicates (n, parameters in ``law.parameter_names`` order) from resampling each
    family's runs among themselves, refitted from the full-data optimum."""
    obs = observations_for(table, law, opts.y)
    problem = build_problem(law, obs, table.source, fix={}, delta=opts.huber_delta)
    best, _ = best_fit(problem, n_starts=opts.n_starts, seed=seed)
    run_family = (obs.assign(group=problem.groups).drop_duplicates("group")
                  .sort_values("group")["family"].astype(str).to_numpy())  # fmt: skip
    rng = np.random.default_rng(seed)
    counts = np.zeros((n, problem.n_groups))
    for f in families:
        members = np.flatnonzero(run_family == f)
        if len(members):
            draws = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n)
            counts[:, members] = draws
    reps = refit_many(problem, best.u, lambda idx: counts[idx][:, problem.groups], n=n)
    natural = problem.natural(reps.u)
    natural[~np.isfinite(reps.objective)] = math.nan
    order = [problem.space.names.index(p) for p in law.parameter_names]
    return natural[:, order]


__all__ = ["PooledFit", "pooled_fit", "pooled_law", "scaling_coefficients"]
