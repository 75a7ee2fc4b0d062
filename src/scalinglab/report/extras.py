"""The sections a report shows only when its runs have what they need.

* **Precision**: the QiD figure (:func:`.precision.plot_qid`) of every fit whose law has a
  ``bits`` variable (the ``qid`` law), drawn over the runs that fit used.
* **Downstream and test-time compute**: when the runs hold pass@k metrics, the coverage laws
  of each task (:func:`.downstream.plot_coverage`) and, with accuracy-like metrics and a loss,
  each metric against the loss with its link (:func:`.downstream.plot_metric_vs_loss`).
* **Divergence cliff**: when the runs hold an LR sweep, the table of
  :func:`scalinglab.planning.hyperparams.lr_cliff` (every run's state and flags) and the
  cliff's trend with size.

Each function returns an HTML fragment, or None when the analysis has nothing for its section
(the section is then left out of the page). Rendering only: the fits and the cliff come from
:func:`scalinglab.analysis.analyse` (``Analysis.downstream``, ``Analysis.cliff``); what it could
not compute is shown as a short note.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..analysis import CliffResults, DownstreamResults
from ..fitting.data import observations_for, select
from ..fitting.result import FitResult
from ..runs import RunTable
from .html import Raw, esc, human, num, table, warnings_box

AddFigure = Callable[[Callable[[], Any], str, str], str]

#: The states of :func:`~scalinglab.planning.hyperparams.lr_cliff` and how the page marks them.
STATE_CLASS = {"ok": "ok", "near cliff": "bad", "past cliff": "bad", "diverged": "bad"}


def _note(text: str) -> str:
    return f'<p class="muted">{esc(text)}</p>'


def _name(fit: FitResult) -> str:
    fam = fit.options.family
    return f"{fit.law.name}" + (f" [{fam}]" if fam else "")


# -- precision --------------------------------------------------------------------------------
def has_bits(fit: FitResult) -> bool:
    """Whether the fit's law has a ``bits`` variable (the ``qid`` law's QiD figure applies)."""
    return "bits" in fit.law.variables


def precision_section(
    fits: list[FitResult], runs: RunTable, interval: float, add_figure: AddFigure
) -> str | None:
    """The QiD figure of every fit of a law with a ``bits`` variable; None when there is none."""
    from .precision import plot_qid

    parts = []
    for k, f in enumerate(fits):
        if not has_bits(f):
            continue
        name = _name(f)
        parts.append(add_figure(
            lambda f=f: plot_qid(_fit_rows(f, runs), f, interval=interval),
            f"fig-qid-{k}",
            f"{name}: quantization-induced degradation against training tokens, a panel per bit "
            f"width, a colour per model size, the fitted law with its {interval:.0%} band, "
            "extrapolated to twice the data's tokens (Ouyang et al. 2024).",
        ))  # fmt: skip
    if not parts:
        return None
    return (
        "<p>QiD (the loss quantization adds to a model, against its full-precision self) grows with "
        "training tokens and falls with size; the fitted law's parameters are in its card "
        "under Fits.</p>" + f'<div class="grid">{"".join(parts)}</div>'
    )


def _fit_rows(fit: FitResult, runs: RunTable) -> pd.DataFrame:
    """The rows the fit was fitted to (its family, its ``where``, its metric)."""
    table = select(runs, family=fit.options.family, where=fit.options.where)
    y = fit.y if fit.y in table.metrics() else None
    return observations_for(table, fit.law, y, skip_fraction=fit.options.skip_fraction)


# -- downstream and test-time compute -----------------------------------------------------------
def downstream_section(
    result: DownstreamResults | None, interval: float, add_figure: AddFigure
) -> str | None:
    """Coverage figures per task and metric-vs-loss figures; None without pass@k metrics."""
    from .downstream import plot_coverage, plot_metric_vs_loss

    if result is None:
        return None
    html = []
    for i, cov in enumerate(result.coverage):
        html.append(f"<h3>Coverage of {esc(cov.task)}: pass@k against samples k</h3>")
        if cov.fits and cov.points is not None:
            fig = add_figure(
                lambda cov=cov: plot_coverage(cov.fits, cov.points),
                f"fig-coverage-{i}",
                f"pass@k_{cov.task}: coverage against samples per problem, one colour per model "
                "size, each run's law c(k) = exp(a k^b) (Brown et al. 2024).",
            )
            html.append(f'<div class="grid">{fig}</div>')
        if cov.across is not None:
            html.append(_across_html(cov.across))
        if cov.fits and cov.points is not None:
            html.append(_coverage_table(cov.fits, cov.points))
        html += [_note(n) for n in cov.notes]
    if result.links or result.notes:
        via = f" against {result.loss}" if result.loss else ""
        html.append(f"<h3>Task metrics{esc(via)}</h3>")
    figs, rows = [], []
    for j, link in enumerate(result.links):
        figs.append(add_figure(
            lambda link=link: plot_metric_vs_loss(link, interval=interval),
            f"fig-metric-loss-{j}",
            f"{link.metric.name} against {link.loss or link.via}: the runs (colour: size), the "
            f"link chosen by cross-extrapolation with its {interval:.0%} prediction band, chance.",
        ))  # fmt: skip
        doc = link.to_json()
        rows.append([link.metric.name, link.status, link.link if link.fit is not None else "",
                     doc["n_points"], num(doc["best_observed"]), num(link.chance),
                     link.reason])  # fmt: skip
    if figs:
        html.append(f'<div class="grid">{"".join(figs)}</div>')
    if rows:
        html.append(table(["metric", "status", "link", "points", "best run", "chance", "why"],
                          rows))  # fmt: skip
    html.append(warnings_box(sorted({w for link in result.links for w in link.warnings}),
                             "Task links"))  # fmt: skip
    html += [_note(n) for n in result.notes]
    return "".join(html)


def _across_html(fit: FitResult) -> str:
    ci = fit.conf_int() if fit.samples is not None and len(fit.samples) else None
    shown = []
    for name, value in fit.params.items():
        span = ""
        if ci is not None and name in ci.index:
            span = f' <span class="muted">[{num(ci.loc[name, "lo"], 3)}, {num(ci.loc[name, "hi"], 3)}]</span>'
        shown.append(f"{esc(name)} = {num(value, 4)}{span}")
    return (
        f'<p><b>Across sizes</b>: <code class="formula">-log coverage = '
        f"{esc(fit.law.formula)}</code> with {', '.join(shown)} ({fit.n_runs} runs).</p>"
    )


def _coverage_table(fits: dict[str, Any], points: pd.DataFrame) -> str:
    sizes = points.groupby("run_id", sort=False)[["params", "tokens"]].first()
    top = points.groupby("run_id", sort=False)["k"].max()
    rows = []
    for run, cov in sorted(fits.items(), key=lambda item: _size_key(sizes, item[0])):
        if run not in sizes.index:
            continue
        measured = points[(points["run_id"] == run) & (points["k"] == top[run])]["coverage"]
        rows.append([run, Raw(human(sizes.loc[run, "params"])), Raw(human(sizes.loc[run, "tokens"])),
                     Raw(num(cov.a, 4)), Raw(num(cov.b, 4)), f"{top[run]:g}",
                     Raw(num(measured.iloc[0] if len(measured) else math.nan, 4))])  # fmt: skip
    return table(["run", "params N", "tokens D", "a", "b", "largest k", "coverage there"], rows)


def _size_key(sizes: pd.DataFrame, run: str) -> tuple[float, float]:
    if run not in sizes.index:
        return (math.inf, math.inf)
    return (float(sizes.loc[run, "params"]), float(sizes.loc[run, "tokens"]))


# -- the divergence cliff -------------------------------------------------------------------
def cliff_section(result: CliffResults | None) -> str | None:
    """The LR sweep's cliff: per size and per run; None without an LR sweep."""
    if result is None:
        return None
    cliff = result.result
    tolerance = "the tolerance" if cliff is None else f"{cliff.tolerance:.0%}"
    html = [
        f"<p>Learning rates from column <code>{esc(result.lr_column)}</code>, loss "
        f"<code>{esc(result.y or '?')}</code>. A run above its size's optimum is <b>past the "
        f"cliff</b> when its final loss exceeds the size's best by more than {tolerance} (or it "
        "diverged), <b>near</b> it within a factor 2 below the least learning rate past it; flags "
        "name loss spikes and attention- or output-logit growth (Wortsman et al. 2023).</p>"
    ]
    if cliff is None:
        return html[0] + _note(f"No cliff analysis: {result.note}")
    if cliff.trend:
        t = cliff.trend
        html.append(f"<p><b>Trend</b>: the cliff moves with size as lr = {num(t['c'], 4)} "
                    f"&middot; N<sup>-{t['alpha']:.3f}</sup> ({t['n_sizes']} sizes with a "
                    "cliff).</p>")  # fmt: skip
    else:
        html.append(_note("No trend with size: fewer than two sizes reach the cliff."))
    size_rows = [
        [Raw(human(s.params)), Raw(human(s.tokens)), Raw(num(s.lr_opt, 4)),
         Raw(num(s.lr_cliff, 4)) if math.isfinite(s.lr_cliff) else "beyond the sweep",
         Raw(f"{s.headroom:.2g}x") if math.isfinite(s.headroom) else "", Raw(num(s.lr_max, 4))]
        for s in cliff.sizes.itertuples()
    ]  # fmt: skip
    html.append(table(["params N", "tokens D", "optimal lr", "cliff lr", "headroom",
                       "largest lr swept"], size_rows))  # fmt: skip
    runs = cliff.runs
    logits = [c for c in ("max_attn_logit_peak", "max_output_logit_peak") if c in runs.columns]
    header = ["params N", "tokens D", "lr", "lr / optimum", "final value", "vs best", "state",
              "flags"] + [{"max_attn_logit_peak": "peak attention logit",
                           "max_output_logit_peak": "peak output logit"}[c] for c in logits]  # fmt: skip
    rows = []
    for r in runs.to_dict(orient="records"):
        state = str(r["state"])
        rows.append([
            Raw(human(r["params"])), Raw(human(r["tokens"])), Raw(num(r["lr"], 4)),
            Raw(f"{r['lr_ratio']:.3g}x"), Raw(num(r["value"], 4)),
            Raw(f"{r['excess']:+.1%}" if math.isfinite(r["excess"]) else ""),
            Raw(f'<span class="{STATE_CLASS.get(state, "bad")}">{esc(state)}</span>'),
            r["flags"] or "",
            *(Raw(num(r[c], 4)) for c in logits),
        ])  # fmt: skip
    html.append(table(header, rows))
    html.append(warnings_box(cliff.warnings, "LR sweep"))
    return "".join(html)
