"""Render: an :class:`~scalinglab.analysis.Analysis` in, one self-contained HTML page out.

The page holds the data summary, every fit (parameters, intervals, diagnostics), its figures,
the backtest of each fit on the largest runs, and the answers to the plan questions. Nothing
here fits: the analysis (:func:`scalinglab.analysis.analyse`) has done that already.

Example:
    >>> from scalinglab.analysis import analyse                                 # doctest: +SKIP
    >>> from scalinglab.report import render_report
    >>> analysis = analyse("../shared/data/chinchilla_epoch.csv", where="value < 3.42",
    ...                    flops=[5.76e23])
    >>> render_report(analysis).write("report.html")
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__
from ..analysis import Analysis
from ..errors import InputError
from ..fitting.result import BacktestResult, FitResult
from ..jsonable import to_jsonable
from ..runs.files import write_atomic
from . import extras, figures, paths
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
    analysis: Analysis
    #: ``id`` of every ``<figure>`` in the page, in order.
    figures: list[str]
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def fits(self) -> list[FitResult]:
        return self.analysis.fits

    @property
    def backtests(self) -> list[BacktestResult | None]:
        return self.analysis.backtests

    @property
    def answers(self) -> list[dict[str, Any]]:
        """Plan answers per fit: compute-optimal allocations and predictions (JSON-ready)."""
        return self.analysis.answers

    @property
    def warnings(self) -> list[str]:
        return self.analysis.warnings

    def write(self, path: str | Path) -> Path:
        """Write the page (atomically: the old page or the new one, never half of it);
        returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, self.html)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready digest, for ``scalinglab report --json``."""
        doc = {"title": self.title, **self.analysis.to_json(), "figures": list(self.figures)}
        doc["timing"] = dict(self.timing)
        return {
            k: doc[k]
            for k in ("title", "fits", "backtests", "answers", "figures", "warnings", "timing")
        }

    def _repr_html_(self) -> str:  # a notebook shows the page in a sandboxed frame
        return (
            f'<iframe srcdoc="{esc(self.html)}" style="width:100%;height:720px;border:0"></iframe>'
        )


def render_report(
    analysis: Analysis,
    *,
    title: str | None = None,
    image_format: str = "png",
    progress: Progress | None = None,
) -> Report:
    """Render an analysis into one self-contained HTML page (figures inline).

    Args:
        analysis: what :func:`scalinglab.analysis.analyse` returned.
        title: the page's title (default: the runs' source).
        image_format: ``"png"`` (base64) or ``"svg"`` (inline, sharper, larger).
        progress: ``progress("figures", done, total)`` as figures are drawn.
    """
    t0 = time.perf_counter()
    if image_format not in ("png", "svg"):
        raise InputError(f"must be png or svg, got {image_format!r}", option="image_format")
    table_all, table_sel = analysis.runs, analysis.selected
    fit_list, bts, answers = analysis.fits, analysis.backtests, analysis.answers
    interval, budgets = analysis.interval, analysis.budgets
    where = analysis.options.where

    # -- figures and page ---------------------------------------------------------------------
    sections: list[tuple[str, str, str]] = []
    fig_ids: list[str] = []
    n_figs = _count_figures(fit_list, bts) + _count_extra_figures(analysis)
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
        fam = f.options.family
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
    # the sections shown only when the analysis has something for them (None: left out)
    precision = extras.precision_section(fit_list, table_all, interval, add_figure)
    if precision is not None:
        sections.append(("precision", "Precision", precision))
    sections.append(("isoflop", "IsoFLOP slices and the compute-optimal frontier",
                     parts.allocation_section(fit_list, table_all, budgets, add_figure)))  # fmt: skip
    bt_parts = []
    for k, (f, bt) in enumerate(zip(fit_list, bts, strict=True)):
        if bt is None:
            continue
        fam = f.options.family
        name = f"{f.law.name}" + (f" [{fam}]" if fam else "")
        fig = add_figure(lambda bt=bt: figures.plot_parity(bt), f"fig-parity-{k}",
                         f"{name}: backtest, predicted vs actual {f.y} of the held-out runs.")  # fmt: skip
        bt_parts.append(f'<div class="card" id="backtest-{k}">{parts.backtest_html(name, bt)}'
                        f'<div class="grid">{fig}</div></div>')  # fmt: skip
    sections.append(("backtests", "Backtests", "".join(bt_parts) or
                     '<p class="muted">No backtest was run (give a holdout).</p>'))  # fmt: skip
    optional = [
        ("downstream", "Downstream and test-time compute",
         extras.downstream_section(analysis.downstream, interval, add_figure)),
        ("cliff", "Divergence cliff", extras.cliff_section(analysis.cliff)),
    ]  # fmt: skip
    sections += [(a, t, html) for a, t, html in optional if html is not None]
    all_warnings = analysis.warnings
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
    timing = {
        "fit_s": analysis.timing.get("fit_s", 0.0),
        "total_s": analysis.timing.get("total_s", 0.0) + time.perf_counter() - t0,
    }
    title = title or f"scalinglab report: {table_all.source}"
    data_doc = {
        "fits": [{k: v for k, v in f.to_json().items() if k != "bootstrap"} for f in fit_list],
        "backtests": [None if b is None else b.to_json() for b in bts],
        "answers": answers,
        "data": table_all.summary(),
        "data_hash": table_sel.data_hash(),
        "figures": fig_ids,
    }
    if analysis.downstream is not None:
        data_doc["downstream"] = analysis.downstream.to_json()
    if analysis.cliff is not None:
        data_doc["cliff"] = analysis.cliff.to_json()
    body = "".join(
        f'<section id="{a}"><h2>{esc(t)}</h2>{html}</section>' for a, t, html in sections
    )
    body += json_block(data_doc, "scalinglab-data") + parts.footer(table_sel, timing)
    subtitle = (
        f"{esc(len(table_all))} rows from {esc(table_all.source)} &middot; "
        f"{len(fit_list)} fit(s) &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"by scalinglab {__version__}"
    )
    doc = page(
        title, body, subtitle=subtitle, toc=[(a, t.split(" and ")[0]) for a, t, _ in sections]
    )
    timing["total_s"] = analysis.timing.get("total_s", 0.0) + time.perf_counter() - t0
    return Report(title, doc, analysis, fig_ids, timing)


# -- pieces -----------------------------------------------------------------------------------
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


def _count_extra_figures(analysis: Analysis) -> int:
    n = sum(extras.has_bits(f) for f in analysis.fits)
    if analysis.downstream is not None:
        n += sum(bool(c.fits) for c in analysis.downstream.coverage)
        n += len(analysis.downstream.links)
    return n


def _json_text(doc: Any) -> str:
    return json.dumps(to_jsonable(doc), indent=1)
