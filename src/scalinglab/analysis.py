"""Analyse: everything a report shows, computed once, as result objects.

:func:`analyse` fits each law to each family, backtests each fit on its largest runs and
answers the planning questions (compute-optimal allocation at the budgets asked, predictions
at the points asked). It returns an :class:`Analysis`; :func:`scalinglab.report.render_report`
turns one into figures and an HTML page without fitting anything itself.

Example:
    >>> import scalinglab as sl                                                 # doctest: +SKIP
    >>> from scalinglab.analysis import analyse
    >>> from scalinglab.report import render_report
    >>> analysis = analyse("../shared/data/chinchilla_epoch.csv", where="value < 3.42",
    ...                    flops=[5.76e23])
    >>> render_report(analysis).write("report.html")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .answer import Answer
from .errors import InputError
from .fitting.api import fit as fit_law
from .fitting.backtest import backtest
from .fitting.data import Runs, select
from .fitting.options import FitOptions
from .fitting.result import BacktestResult, FitResult
from .planning.allocation import compute_optimal
from .runs import RunTable

Progress = Callable[[str, int, int], None]


@dataclass
class Analysis(Answer):
    """Fits, their backtests and their answers, with the runs they came from."""

    #: Every row read, and the rows kept by the options' family and ``where``.
    runs: RunTable
    selected: RunTable
    options: FitOptions
    fits: list[FitResult]
    backtests: list[BacktestResult | None]
    #: Per fit: compute-optimal allocations and predictions (JSON-ready).
    answers: list[dict[str, Any]]
    budgets: list[float]
    interval: float
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    title = "analysis"

    def to_json(self) -> dict[str, Any]:
        return {
            "fits": [
                {
                    "law": f.law.name,
                    "family": f.options.family,
                    "params": f.params,
                    "ci": f.to_json()["ci"],
                }
                for f in self.fits
            ],  # fmt: skip
            "backtests": [
                None
                if b is None
                else {
                    "holdout": b.holdout,
                    "mean_abs_rel_error": b.mare,
                    "coverage": b.coverage,
                    "verdict": b.verdict,
                }
                for b in self.backtests
            ],  # fmt: skip
            "answers": self.answers,
            "warnings": list(self.warnings),
            "timing": dict(self.timing),
        }

    def summary(self) -> str:
        """One line per fit (parameters, backtest verdict), then the warnings."""
        return "\n".join([*self.digest(), *(f"WARNING: {w}" for w in self.warnings)])

    def digest(self) -> list[str]:
        """One line per fit (its parameters), and the verdict of its backtest."""
        lines = []
        for f, bt in zip(self.fits, self.backtests, strict=True):
            fam = f.options.family
            combined = f.selection is not None and len(f.selection.members) > 1
            shown = (
                "" if combined else ": " + ", ".join(f"{k}={v:.4g}" for k, v in f.params.items())
            )
            lines.append(f"{f.law.name}{f' [{fam}]' if fam else ''}{shown}")
            if bt is not None:
                lines.append(f"  backtest {bt.holdout}: {bt.verdict}")
        return lines


def analyse(
    runs: Runs,
    laws: str | Sequence[str] = "chinchilla",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    holdout: str | None = "largest:2",
    flops: float | Sequence[float] | None = None,
    at: Sequence[Mapping[str, Any]] | None = None,
    interval: float = 0.9,
    fits: Sequence[FitResult] | None = None,
    backtests: Sequence[BacktestResult | None] | None = None,
    progress: Progress | None = None,
    **option_values: Any,
) -> Analysis:
    """Fit, backtest and answer: everything a report shows.

    Args:
        runs: a RunTable, DataFrame or file(s).
        laws: law name(s) or formula(s); each is fitted to each family.
        options: how to fit (:class:`FitOptions`, or keywords such as ``where="value < 3.42"``);
            each family in ``family`` is fitted on its own (default: every family in the runs).
        holdout: backtest hold-out (``largest:K`` or an expression); None skips backtests.
        flops: budgets for the compute-optimal allocation (default 10x and 100x the largest
            run's compute).
        at: points to predict, e.g. ``[{"params": 70e9, "tokens": 1.4e12}]``.
        fits, backtests: fits (and their backtests) made already, e.g. by the demo; then
            ``laws`` and ``holdout`` are not used to refit.
        progress: ``progress(stage, done, total)`` for progress bars.
    """
    t0 = time.perf_counter()
    opts = FitOptions.of(options, **option_values)
    runs_all = select(runs)
    chosen = None if opts.family is None else list(np.atleast_1d(opts.family))
    selected = select(runs_all, family=chosen, where=opts.where)
    warnings: list[str] = []
    if fits is None:
        fit_list: list[FitResult] = []
        bts: list[BacktestResult | None] = []
        law_list = [laws] if isinstance(laws, str) else list(laws)
        jobs = [(law, fam) for law in law_list for fam in _families(selected, opts.family)]
        for k, (law, fam) in enumerate(jobs, start=1):
            label = f"fit {k}/{len(jobs)} {law}" + (f" [{fam}]" if fam else "")
            per_family = opts.replace(family=fam)
            fit_list.append(fit_law(runs_all, law, per_family, progress=_stage(progress, label)))
            bts.append(None)
            if holdout:
                try:
                    bts[-1] = backtest(runs_all, law, per_family, holdout=holdout, interval=interval,
                                       progress=_stage(progress, f"backtest {k}/{len(jobs)}"))  # fmt: skip
                except InputError as exc:
                    warnings.append(
                        f"backtest of {law}{f' [{fam}]' if fam else ''} not possible: {exc}"
                    )
    else:
        fit_list = list(fits)
        bts = list(backtests) if backtests is not None else [None] * len(fit_list)
        if len(bts) != len(fit_list):
            raise InputError("give one backtest (or None) per fit")
    t_fit = time.perf_counter() - t0
    budgets = _budgets(selected, flops)
    answers = [answer_questions(f, budgets, at, interval) for f in fit_list]
    warnings += [w for f in fit_list for w in f.warnings]
    return Analysis(runs_all, selected, opts, fit_list, bts, answers, budgets, interval,
                    warnings, {"fit_s": t_fit, "total_s": time.perf_counter() - t0})  # fmt: skip


def answer_questions(
    fit: FitResult, budgets: list[float], at: Sequence[Mapping[str, Any]] | None, interval: float
) -> dict[str, Any]:
    """Compute-optimal allocations (from :mod:`scalinglab.planning`) and predictions for one fit."""
    out: dict[str, Any] = {"law": fit.law.name, "family": fit.options.family,
                           "allocations": [], "predictions": [], "planning": "ok"}  # fmt: skip
    points = [dict(p) for p in at] if at else []
    if set(fit.law.variables) == {"params", "tokens"}:
        for c in budgets:
            try:
                out["allocations"].append(compute_optimal(fit, c, interval=interval).to_json())
            except InputError as exc:
                out["allocations"].append({"flops": c, "error": str(exc)})
        good = [a for a in out["allocations"] if "error" not in a]
        if good and not points:  # an explicit point to predict is the question; else the plan
            out["extrapolate_to"] = {"params": good[-1]["params"], "tokens": good[-1]["tokens"]}
    else:
        out["planning"] = (
            f"law {fit.law.name!r} is not a function of params and tokens: no allocation"
        )
        if not points:  # the natural question of a one-variable law: 10x and 100x the data
            v = fit.law.variables[0]
            hi = fit.data_range[v][1]
            points = [{v: 10 * hi}, {v: 100 * hi}]
    for p in points:
        try:
            pred = fit.predict(p, interval=interval)
        except InputError as exc:
            out["predictions"].append({"at": p, "error": str(exc)})
            continue
        row = pred.iloc[0].to_dict()
        row["warnings"] = pred.attrs.get("warnings", [])
        out["predictions"].append(row)
    if points and "extrapolate_to" not in out:
        out["extrapolate_to"] = {
            k: float(v) for k, v in out["predictions"][-1].items() if k in fit.law.variables
        }
    return out


def _stage(progress: Progress | None, label: str) -> Progress | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{label}: {stage}", done, total)


def _families(table: RunTable, family: str | Sequence[str] | None) -> list[str | None]:
    """Each family is fitted on its own; one family (or a table of one) needs no filter."""
    names = table.families() if family is None else list(np.atleast_1d(family))
    return [None] if family is None and len(names) == 1 else [str(n) for n in names]


def _budgets(table: RunTable, flops: float | Sequence[float] | None) -> list[float]:
    if flops is not None:
        return [float(c) for c in np.atleast_1d(np.asarray(flops, dtype=float))]
    top = float(table.df["flops"].max())
    return [_round1(10 * top), _round1(100 * top)]


def _round1(x: float) -> float:
    """One significant digit: 3.2e22 -> 3e22."""
    e = math.floor(math.log10(x))
    return round(x / 10**e) * 10**e
