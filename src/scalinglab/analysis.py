"""Analyse: everything a report shows, computed once, as result objects.

:func:`analyse` fits each law to each family, backtests each fit on its largest runs and
answers the planning questions (compute-optimal allocation at the budgets asked, predictions
at the points asked). When the runs have what they need it also computes the report's
data-driven sections: coverage laws of pass@k metrics and links from loss to accuracy-like
task metrics (:class:`DownstreamResults`, from :mod:`scalinglab.downstream`), and the
divergence cliff of an LR sweep (:class:`CliffResults`, from
:func:`scalinglab.planning.hyperparams.lr_cliff`). It returns an :class:`Analysis`;
:func:`scalinglab.report.render_report` turns one into figures and an HTML page without
fitting anything itself.

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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .answer import Answer
from .errors import InputError
from .fitting.api import fit as fit_law
from .fitting.backtest import backtest
from .fitting.data import Runs, select
from .fitting.options import FitOptions
from .fitting.result import BacktestResult, FitResult
from .planning.allocation import compute_optimal
from .runs import RunTable

if TYPE_CHECKING:  # pragma: no cover
    from .downstream.coverage import CoverageFit
    from .downstream.predict import TaskLink
    from .planning.hyperparams import LRCliff

Progress = Callable[[str, int, int], None]

#: Loss metrics a downstream link or an LR sweep reads when ``y`` names none, best first.
LOSS_NAMES = ("val_loss", "loss", "eval_loss", "valid_loss", "validation_loss", "test_loss",
              "train_loss")  # fmt: skip
#: Downstream metric kinds linked to loss in the report (:mod:`scalinglab.downstream.metrics`).
ACCURACY_KINDS = ("accuracy", "error", "exact")
#: Replicates of the bootstrap of a task link in the report (its prediction band).
LINK_BOOTSTRAP = 200


@dataclass
class TaskCoverage:
    """Coverage laws ``c(k) = exp(a k^b)`` of one task's pass@k metrics: one per run, and one
    across sizes; ``notes`` say what could not be fitted, and why."""

    task: str
    #: :func:`scalinglab.downstream.coverage_points` of the task (None when it raised).
    points: pd.DataFrame | None = None
    fits: dict[str, CoverageFit] = field(default_factory=dict)
    across: FitResult | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "runs": [{"run_id": run, "a": c.a, "b": c.b} for run, c in self.fits.items()],
            "across_sizes": None if self.across is None else {
                "law": self.across.law.formula, "params": dict(self.across.params)},
            "notes": list(self.notes),
        }  # fmt: skip


@dataclass
class DownstreamResults:
    """The report's downstream section: computed when the runs hold pass@k metrics.

    ``coverage``: one :class:`TaskCoverage` per task with pass@k metrics; ``links``: a
    :class:`~scalinglab.downstream.TaskLink` from ``loss`` to each accuracy-like metric
    (accuracy, error rate, exact match); ``notes``: what could not be computed, and why.
    """

    coverage: list[TaskCoverage] = field(default_factory=list)
    links: list[TaskLink] = field(default_factory=list)
    loss: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "coverage": [c.to_json() for c in self.coverage],
            "links": [link.to_json() for link in self.links],
            "loss": self.loss,
            "notes": list(self.notes),
        }


@dataclass
class CliffResults:
    """The report's divergence-cliff section: computed when the runs hold an LR sweep (three
    or more learning rates at one size). ``result`` is None when :func:`lr_cliff` refused the
    runs; ``note`` says why."""

    lr_column: str
    y: str | None
    result: LRCliff | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "lr_column": self.lr_column,
            "y": self.y,
            "cliff": None if self.result is None else self.result.to_json(),
            "note": self.note,
        }


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
    #: Coverage laws and task links, when the runs hold pass@k metrics (else None).
    downstream: DownstreamResults | None = None
    #: The divergence cliff, when the runs hold an LR sweep (else None).
    cliff: CliffResults | None = None

    title = "analysis"

    def to_json(self) -> dict[str, Any]:
        doc = {
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
        if self.downstream is not None:
            doc["downstream"] = self.downstream.to_json()
        if self.cliff is not None:
            doc["cliff"] = self.cliff.to_json()
        return doc

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
    sections: bool = True,
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
        sections: also compute the data-driven sections when the runs have what they need
            (:func:`analyse_downstream`, :func:`analyse_cliff`); False skips them.
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
        skipped: list[InputError] = []
        for k, (law, fam) in enumerate(jobs, start=1):
            label = f"fit {k}/{len(jobs)} {law}" + (f" [{fam}]" if fam else "")
            per_family = opts.replace(family=fam)
            try:
                fit_list.append(
                    fit_law(runs_all, law, per_family, progress=_stage(progress, label))
                )
            except InputError as exc:
                # one family the law cannot be fitted to (too few runs, say) is left out of a
                # report of several, and said so; with nothing fitted the first reason stands
                if len(jobs) == 1:
                    raise
                skipped.append(exc)
                warnings.append(f"{law}{f' [{fam}]' if fam else ''} not fitted: {exc}")
                continue
            bts.append(None)
            if holdout:
                try:
                    bts[-1] = backtest(runs_all, law, per_family, holdout=holdout, interval=interval,
                                       progress=_stage(progress, f"backtest {k}/{len(jobs)}"))  # fmt: skip
                except InputError as exc:
                    warnings.append(
                        f"backtest of {law}{f' [{fam}]' if fam else ''} not possible: {exc}"
                    )
        if not fit_list:
            raise skipped[0]
    else:
        fit_list = list(fits)
        bts = list(backtests) if backtests is not None else [None] * len(fit_list)
        if len(bts) != len(fit_list):
            raise InputError("give one backtest (or None) per fit")
    t_fit = time.perf_counter() - t0
    budgets = _budgets(selected, flops)
    answers = [answer_questions(f, budgets, at, interval) for f in fit_list]
    warnings += [w for f in fit_list for w in f.warnings]
    downstream = cliff = None
    if sections:
        downstream = analyse_downstream(selected, opts, progress=progress)
        cliff = analyse_cliff(selected, opts)
    return Analysis(runs_all, selected, opts, fit_list, bts, answers, budgets, interval,
                    warnings, {"fit_s": t_fit, "total_s": time.perf_counter() - t0},
                    downstream, cliff)  # fmt: skip


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


# -- the data-driven sections ----------------------------------------------------------------
def analyse_downstream(
    table: RunTable, options: FitOptions, *, progress: Progress | None = None
) -> DownstreamResults | None:
    """Coverage laws per task and loss -> metric links, when ``table`` holds pass@k metrics
    (None when it holds none). A task or metric that cannot be fitted (InputError) becomes a
    note; the runs of every family are pooled (the family filter of ``options`` applies
    before, through the selected ``table``).

    Per task: :func:`~scalinglab.downstream.fit_coverage_per_run` (without bootstrap: the
    report draws each run's law, not its interval) and
    :func:`~scalinglab.downstream.fit_coverage_across_sizes` (with ``options.bootstrap``
    replicates). Per accuracy-like metric: :func:`~scalinglab.downstream.fit_task_link`
    from the loss metric (``options.y`` when it is one, else ``val_loss``, ``loss``...).
    """
    from .downstream.coverage import (
        coverage_points,
        fit_coverage_across_sizes,
        fit_coverage_per_run,
    )
    from .downstream.predict import fit_task_link

    metrics = [_downstream_metric(m) for m in table.metrics()]
    passk = sorted({m.task for m in metrics if m is not None and m.kind == "pass@k"})
    if not passk:
        return None
    out = DownstreamResults()
    boot = int(options.bootstrap)
    for task in passk:
        cov = TaskCoverage(task)
        out.coverage.append(cov)
        try:
            cov.points = coverage_points(table, task)
        except InputError as exc:
            cov.notes.append(str(exc))
            continue
        failed: dict[str, list[str]] = {}  # a run that cannot be fitted is a note, not a stop
        for run, part in cov.points.groupby("run_id", sort=False):
            try:
                cov.fits |= fit_coverage_per_run(part, bootstrap=0, seed=options.seed)
            except InputError as exc:
                failed.setdefault(str(exc), []).append(str(run))
        for why, runs in failed.items():
            more = f" and {len(runs) - 1} more" if len(runs) > 1 else ""
            cov.notes.append(f"no coverage law for run {runs[0]}{more}: {why}")
        try:
            cov.across = fit_coverage_across_sizes(cov.points, bootstrap=boot, seed=options.seed)
        except InputError as exc:
            cov.notes.append(f"the law across sizes: {exc}")
    accuracy = [m.name for m in metrics if m is not None and m.kind in ACCURACY_KINDS]
    if not accuracy:
        return out
    out.loss = loss_metric(table.metrics(), options.y)
    if out.loss is None:
        out.notes.append(f"no loss metric to link {', '.join(accuracy)} to")
        return out
    for k, name in enumerate(accuracy, start=1):
        if progress is not None:
            progress(f"task links: {name}", k - 1, len(accuracy))
        try:
            out.links.append(fit_task_link(table, name, loss=out.loss,
                                           bootstrap=min(boot, LINK_BOOTSTRAP), seed=options.seed))  # fmt: skip
        except InputError as exc:
            out.notes.append(f"{name} vs {out.loss}: {exc}")
    if progress is not None:
        progress("task links", len(accuracy), len(accuracy))
    return out


def analyse_cliff(table: RunTable, options: FitOptions) -> CliffResults | None:
    """The divergence cliff (:func:`~scalinglab.planning.hyperparams.lr_cliff`) when ``table``
    holds an LR sweep (None when it holds none); an InputError of the analysis becomes the
    note of the section. The loss read is ``options.y`` when the runs have it, else
    ``val_loss``, ``loss``..."""
    from .planning.hyperparams import lr_cliff

    y = loss_metric(table.metrics(), options.y)
    column = lr_sweep_column(table, y)
    if column is None:
        return None
    out = CliffResults(column, y)
    try:
        out.result = lr_cliff(table, y=y, lr_column=column)
    except InputError as exc:
        out.note = str(exc)
    return out


def loss_metric(metrics: Sequence[str], y: str | None) -> str | None:
    """The loss metric among ``metrics``: ``y`` when it is one of them (and neither a
    downstream metric nor a logit probe), else the first of :data:`LOSS_NAMES` there, else
    the first named ``*loss*``; None when there is none."""
    from .planning.hyperparams import LOGIT_METRICS

    usable = [str(m) for m in metrics if _downstream_metric(m) is None and m not in LOGIT_METRICS]
    if y is not None and y in usable:
        return y
    named = [m for m in LOSS_NAMES if m in usable] + sorted(m for m in usable if "loss" in m)
    return named[0] if named else None


def lr_sweep_column(table: RunTable, y: str | None) -> str | None:
    """The learning-rate column of an LR sweep in ``table`` (``peak_lr``, else ``lr``, as
    :func:`~scalinglab.planning.hyperparams.analyze_lr_sweep` reads), or None when no size
    (params, tokens) was trained at three or more learning rates. A column that changes within
    a run is a schedule's learning rate, not a sweep's: None."""
    df = table.df
    column = "peak_lr" if "peak_lr" in df.columns else "lr"
    if column not in df.columns or not {"family", "params", "tokens", "run_id"} <= set(df.columns):
        return None
    rows = df[df["metric"] == y] if y is not None and (df["metric"] == y).any() else df
    lr = pd.to_numeric(rows[column], errors="coerce")
    rows = rows.assign(_lr=lr.where(np.isfinite(lr) & (lr > 0)))
    rows = rows.dropna(subset=["_lr"])
    if rows.empty or (rows.groupby(["family", "run_id"])["_lr"].nunique() > 1).any():
        return None
    per_run = rows.groupby(["family", "run_id"]).agg(params=("params", "first"), tokens=("tokens", "first"),
                                         lr=("_lr", "first"))  # fmt: skip
    counts = per_run.groupby(["params", "tokens"])["lr"].nunique()
    return column if len(counts) and int(counts.max()) >= 3 else None


def _downstream_metric(name: Any) -> Any:
    """The :class:`~scalinglab.downstream.Metric` a metric name stands for, or None."""
    from .downstream.metrics import parse_metric

    try:
        return parse_metric(str(name))
    except InputError:
        return None


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
