"""``build_report``: runs in, one self-contained HTML page out.

The page holds the data summary, every fit (parameters, intervals, diagnostics), its figures,
a backtest of each fit on the largest runs, and the answers to the plan questions (compute-
optimal allocation at the budgets asked, predictions at the points asked).

Example:
    >>> from scalinglab.report import build_report                              # doctest: +SKIP
    >>> report = build_report("../shared/data/chinchilla_epoch.csv", where="value < 3.42",
    ...                       flops=[5.76e23])
    >>> report.write("report.html")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..fitting.api import fit as fit_law
from ..fitting.api import select
from ..fitting.backtest import BacktestResult, backtest
from ..fitting.result import FitResult
from ..runs import RunTable
from . import figures, paths
from . import sections as parts
from .html import (
    download_link,
    esc,
    figure_html,
    fit_card_html,
    json_block,
    page,
    warnings_box,
)

Progress = Callable[[str, int, int], None]


@dataclass
class Report:
    """A built report: the HTML and what went into it."""

    title: str
    html: str
    fits: list[FitResult]
    backtests: list[BacktestResult | None]
    #: ``id`` of every ``<figure>`` in the page, in order.
    figures: list[str]
    #: Plan answers per fit: compute-optimal allocations and predictions (JSON-ready).
    answers: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    def write(self, path: str | Path) -> Path:
        """Write the page; returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def summary(self) -> dict[str, Any]:
        """JSON-ready digest, for ``scalinglab report --json``."""
        return {
            "title": self.title,
            "fits": [
                {
                    "law": f.law.name,
                    "family": f.options.get("family"),
                    "params": f.params,
                    "ci": {k: v for k, v in f.to_json()["ci"].items()},
                }  # fmt: skip
                for f in self.fits
            ],
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
            "figures": list(self.figures),
            "warnings": list(self.warnings),
            "timing": dict(self.timing),
        }

    def _repr_html_(self) -> str:  # a notebook shows the page in a sandboxed frame
        return (
            f'<iframe srcdoc="{esc(self.html)}" style="width:100%;height:720px;border:0"></iframe>'
        )


def build_report(
    runs: RunTable | pd.DataFrame | str | Path | list[Any],
    laws: str | Sequence[str] = "chinchilla",
    *,
    y: str | None = None,
    family: str | Sequence[str] | None = None,
    where: str | None = None,
    bootstrap: int = 200,
    calibrate: bool = False,
    holdout: str | None = "largest:2",
    flops: float | Sequence[float] | None = None,
    at: Sequence[Mapping[str, Any]] | None = None,
    interval: float = 0.9,
    seed: int = 0,
    title: str | None = None,
    image_format: str = "png",
    fits: Sequence[FitResult] | None = None,
    backtests: Sequence[BacktestResult | None] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Fit, backtest and plan, then render everything into one self-contained HTML page.

    Args:
        runs: a RunTable, DataFrame or file(s).
        laws: law name(s) or formula(s); each is fitted to each family.
        family: families to fit (each separately); default every family in the runs.
        where: rows to keep (``"value < 3.42"``).
        holdout: backtest hold-out (``largest:K`` or an expression); None skips backtests.
        calibrate: widen prediction intervals by the error of nested backtests
            (:mod:`scalinglab.fitting.calibration`).
        flops: budgets for the compute-optimal allocation (default 10x and 100x the largest
            run's compute).
        at: points to predict, e.g. ``[{"params": 70e9, "tokens": 1.4e12}]``.
        image_format: ``"png"`` (base64) or ``"svg"`` (inline, sharper, larger).
        fits, backtests: fits (and their backtests) made already, e.g. by the demo; then
            ``laws``, ``bootstrap`` and ``holdout`` are not used to refit.
        progress: ``progress(stage, done, total)`` for progress bars.
    """
    t0 = time.perf_counter()
    if image_format not in ("png", "svg"):
        raise InputError(f"image format must be png or svg, got {image_format!r}")
    table_all = select(runs)
    table_sel = select(
        table_all, family=None if family is None else list(np.atleast_1d(family)), where=where
    )
    families = _families(table_sel, family)
    law_list = [laws] if isinstance(laws, str) else list(laws)
    report_warnings: list[str] = []

    # -- fits and backtests -------------------------------------------------------------------
    if fits is None:
        fits_made: list[FitResult] = []
        bts: list[BacktestResult | None] = []
        jobs = [(law, fam) for law in law_list for fam in families]
        for k, (law, fam) in enumerate(jobs, start=1):
            label = f"fit {k}/{len(jobs)} {law}" + (f" [{fam}]" if fam else "")
            stage = _stage(progress, label)
            fits_made.append(fit_law(table_all, law, y=y, family=fam, where=where, bootstrap=bootstrap,
                                     calibrate=calibrate, seed=seed, progress=stage))  # fmt: skip
            bts.append(None)
            if holdout:
                try:
                    bts[-1] = backtest(table_all, law, holdout=holdout, y=y, family=fam, where=where,
                                       interval=interval, bootstrap=bootstrap, seed=seed, calibrate=calibrate,
                                       progress=_stage(progress, f"backtest {k}/{len(jobs)}"))  # fmt: skip
                except InputError as exc:
                    report_warnings.append(
                        f"backtest of {law}{f' [{fam}]' if fam else ''} not possible: {exc}"
                    )
        fit_list = fits_made
    else:
        fit_list = list(fits)
        bts = list(backtests) if backtests is not None else [None] * len(fit_list)
        if len(bts) != len(fit_list):
            raise InputError("give one backtest (or None) per fit")
    t_fit = time.perf_counter() - t0

    # -- questions ----------------------------------------------------------------------------
    budgets = _budgets(table_sel, flops)
    answers = [_answers(f, budgets, at, interval) for f in fit_list]

    # -- figures and page ---------------------------------------------------------------------
    sections: list[tuple[str, str, str]] = []
    fig_ids: list[str] = []
    n_figs = _count_figures(fit_list, bts)
    done = [0]

    def add_figure(make: Callable[[], Any], fig_id: str, caption: str) -> str:
        try:
            fig = make()
        except InputError as exc:
            return f'<p class="muted">{esc(caption)}: not drawn ({esc(exc)})</p>'
        fig_ids.append(fig_id)
        done[0] += 1
        if progress is not None:
            progress("figures", done[0], n_figs)
        return figure_html(fig, fig_id, caption, image_format=image_format)

    sections.append(("data", "Data", parts.data_section(table_all, table_sel, where)))
    sections.append(("answers", "Answers", parts.answers_section(fit_list, bts, answers)))
    fit_parts = []
    for k, f in enumerate(fit_list):
        fam = f.options.get("family")
        name = f"{f.law.name}" + (f" [{fam}]" if fam else "")
        target = answers[k].get("extrapolate_to")
        figs = []
        xs = ["flops", "params", "tokens"] if paths.has_allocation(f.law) else list(f.law.variables)
        for x in xs:
            figs.append(add_figure(
                lambda f=f, x=x, t=target: figures.plot_fit(f, table_all, x=x, extrapolate_to=_x_target(f, t, x),
                                                  interval=interval),
                f"fig-fit-{k}-{x}",
                f"{name}: {f.y} vs {x}, the fitted law with its {interval:.0%} band, extrapolated (dashed) to the question asked.",
            ))  # fmt: skip
        figs.append(add_figure(lambda f=f, x=xs[0]: figures.plot_residuals(f, table_all, x=x), f"fig-residuals-{k}",
                               f"{name}: relative residuals of the runs the fit used."))  # fmt: skip
        if f.samples is not None and len(f.samples):
            figs.append(add_figure(lambda f=f: figures.plot_bootstrap(f), f"fig-bootstrap-{k}",
                                   f"{name}: bootstrap distributions of the exponents."))  # fmt: skip
        fit_json = f.to_json()
        links = download_link(_json_text(fit_json), f"fit-{k}-{f.law.name}.json", "application/json",
                              "download this fit (JSON)")  # fmt: skip
        fit_parts.append(
            f'<div class="card" id="fit-{k}">{fit_card_html(f, title=name)}<p>{links}</p>'
            f'<div class="grid">{"".join(figs)}</div></div>'
        )
    sections.append(("fits", "Fits", "".join(fit_parts)))
    sections.append(("isoflop", "IsoFLOP slices and the compute-optimal frontier",
                     parts.allocation_section(fit_list, table_all, budgets, add_figure)))  # fmt: skip
    bt_parts = []
    for k, (f, bt) in enumerate(zip(fit_list, bts, strict=True)):
        if bt is None:
            continue
        fam = f.options.get("family")
        name = f"{f.law.name}" + (f" [{fam}]" if fam else "")
        fig = add_figure(lambda bt=bt: figures.plot_parity(bt), f"fig-parity-{k}",
                         f"{name}: backtest, predicted vs actual {f.y} of the held-out runs.")  # fmt: skip
        bt_parts.append(f'<div class="card" id="backtest-{k}">{parts.backtest_html(name, bt)}'
                        f'<div class="grid">{fig}</div></div>')  # fmt: skip
    sections.append(("backtests", "Backtests", "".join(bt_parts) or
                     '<p class="muted">No backtest was run (give a holdout).</p>'))  # fmt: skip
    all_warnings = report_warnings + [w for f in fit_list for w in f.warnings]
    if all_warnings:
        sections.append(
            (
                "warnings",
                "Warnings",
                warnings_box(dict.fromkeys(all_warnings), "Everything the fits warned about"),
            )
        )

    if progress is not None:  # the estimate counted figures that could not be drawn
        progress("figures", done[0], done[0])
    timing = {"fit_s": t_fit, "total_s": time.perf_counter() - t0}
    title = title or f"scalinglab report: {table_all.source}"
    data_doc = {
        "fits": [{k: v for k, v in f.to_json().items() if k != "bootstrap"} for f in fit_list],
        "backtests": [None if b is None else b.to_json() for b in bts],
        "answers": answers,
        "data": table_all.summary(),
        "data_hash": table_sel.data_hash(),
        "figures": fig_ids,
    }
    body = "".join(
        f'<section id="{a}"><h2>{esc(t)}</h2>{html}</section>' for a, t, html in sections
    )
    body += json_block(data_doc, "scalinglab-data") + parts.footer(table_sel, timing)
    subtitle = (
        f"{esc(len(table_all))} rows from {esc(table_all.source)} &middot; "
        f"{len(fit_list)} fit(s) &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"by scalinglab {_version()}"
    )
    doc = page(
        title, body, subtitle=subtitle, toc=[(a, t.split(" and ")[0]) for a, t, _ in sections]
    )
    timing["total_s"] = time.perf_counter() - t0
    return Report(title, doc, fit_list, bts, fig_ids, answers, all_warnings, timing)


def write_report(
    runs: RunTable | pd.DataFrame | str | Path | list[Any] | Report,
    path: str | Path = "report.html",
    **options: Any,
) -> Path:
    """Build the report (unless given one) and write it to ``path``; returns the path.

    Example:
        >>> write_report("runs.csv", "report.html", laws="chinchilla")   # doctest: +SKIP
    """
    report = runs if isinstance(runs, Report) else build_report(runs, **options)
    return report.write(path)


# -- pieces -----------------------------------------------------------------------------------
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


def _answers(
    fit: FitResult, budgets: list[float], at: Sequence[Mapping[str, Any]] | None, interval: float
) -> dict[str, Any]:
    """Compute-optimal allocations (from :mod:`scalinglab.planning`) and predictions for one fit."""
    out: dict[str, Any] = {"law": fit.law.name, "family": fit.options.get("family"),
                           "allocations": [], "predictions": [], "planning": "ok"}  # fmt: skip
    points = [dict(p) for p in at] if at else []
    if paths.has_allocation(fit.law):
        compute_optimal = _compute_optimal()
        if compute_optimal is None:
            out["planning"] = (
                "planning not available (scalinglab.planning is not installed in this version)"
            )
        else:
            for c in budgets:
                try:
                    out["allocations"].append(
                        compute_optimal(fit, flops=c, interval=interval).to_json()
                    )
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


def _compute_optimal() -> Callable[..., Any] | None:
    """``scalinglab.planning.compute_optimal`` when the planning module is present."""
    try:
        from ..planning import compute_optimal  # type: ignore[attr-defined]

        return compute_optimal
    except ImportError:
        pass
    try:
        from ..planning.allocation import compute_optimal

        return compute_optimal
    except ImportError:
        return None


def _x_target(fit: FitResult, target: Mapping[str, float] | None, x: str) -> Any:
    if not target:
        return None
    if x in target or (x == "flops" and {"params", "tokens"} <= set(target)):
        return target
    return None


def _count_figures(fits: list[FitResult], bts: list[Any]) -> int:
    n = 0
    for f in fits:
        n += (3 if paths.has_allocation(f.law) else len(f.law.variables)) + 1
        n += int(f.samples is not None and len(f.samples) > 0)
    n += sum(b is not None for b in bts)
    return n + 2  # IsoFLOP and frontier


def _json_text(doc: Any) -> str:
    import json

    from ..jsonable import to_jsonable

    return json.dumps(to_jsonable(doc), indent=1)


def _version() -> str:
    from .. import __version__

    return __version__
