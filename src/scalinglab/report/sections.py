"""The sections of the report page: data, answers, IsoFLOP and frontier, backtests, footer.

Each function returns an HTML fragment; figures are added through the ``add_figure`` callback
of :func:`scalinglab.report.build_report`, which renders and counts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from ..errors import InputError
from ..fitting.data import select
from ..fitting.result import BacktestResult, FitResult
from ..runs import RunTable
from . import figures, paths
from .html import Raw, download_link, esc, human, num, table, warnings_box


def data_section(table_all: RunTable, table_sel: RunTable, where: str | None) -> str:
    s = table_all.summary()
    df = table_all.df
    rows = []
    for fam, part in df.groupby("family", sort=True):
        runs = part["run_id"].nunique()
        rows.append([
            fam, runs, len(part), ", ".join(sorted(part["metric"].unique())),
            Raw(f"{num(part['params'].min(), 3)}&ndash;{num(part['params'].max(), 3)}"),
            Raw(f"{num(part['tokens'].min(), 3)}&ndash;{num(part['tokens'].max(), 3)}"),
            Raw(f"{num(part['flops'].min(), 3)}&ndash;{num(part['flops'].max(), 3)}"),
            Raw(f"{num(part['value'].min(), 4)}&ndash;{num(part['value'].max(), 4)}"),
        ])  # fmt: skip
    header = [
        "family",
        "runs",
        "rows",
        "metrics",
        "params N",
        "tokens D",
        "compute C (FLOPs)",
        "value",
    ]
    notes = "".join(f"<li>{esc(n)}</li>" for n in table_sel.notes)
    csv = df.to_csv(index=False)
    kept = f"; {len(table_sel)} kept by <code>{esc(where)}</code>" if where else ""
    return (
        f"<p>{s['n_rows']} rows, {s['n_runs']} runs, {len(s['families'])} famil"
        f"{'y' if len(s['families']) == 1 else 'ies'}, metrics {esc(', '.join(s['metrics']))}"
        f" ({s['n_final_rows']} final values){kept}. Source: <code>{esc(table_all.source)}</code>.</p>"
        + table(header, rows)
        + (f'<ul class="muted">{notes}</ul>' if notes else "")
        + f"<p>{download_link(csv, 'runs.csv', 'text/csv', 'download the runs (CSV)')}</p>"
    )


def answers_section(fits: list[FitResult], bts: list[Any], answers: list[dict[str, Any]]) -> str:
    parts = []
    for f, bt, ans in zip(fits, bts, answers, strict=True):
        fam = f.options.family
        name = f"{f.law.name}" + (f" [{fam}]" if fam else "")
        level = None
        rows = []
        for a in ans["allocations"]:
            if "error" in a:
                rows.append(
                    [
                        num(a["flops"]),
                        Raw(f'<span class="bad">{esc(a["error"])}</span>'),
                        "",
                        "",
                        "",
                    ]
                )
                continue
            level = a["interval"]
            ci = a["ci"]
            rows.append([
                Raw(num(a["flops"], 3)),
                Raw(f"{human(a['params'])} <span class=\"muted\">[{human(ci['params'][0])}, {human(ci['params'][1])}]</span>"),
                Raw(f"{human(a['tokens'])} <span class=\"muted\">[{human(ci['tokens'][0])}, {human(ci['tokens'][1])}]</span>"),
                Raw(f"{num(a['tokens_per_param'], 3)}"),
                Raw(f"{num(a['loss'], 4)} <span class=\"muted\">[{num(ci['loss'][0], 4)}, {num(ci['loss'][1], 4)}]</span>"),
            ])  # fmt: skip
        html = f"<h3>{esc(name)}</h3>"
        if bt is not None:
            html += f"<p><b>Backtest</b> ({esc(bt.holdout)}): {esc(bt.verdict)}.</p>"
        if rows:
            lvl = f" ({level:.0%} intervals)" if level else ""
            html += f"<p><b>Compute-optimal allocation</b>{lvl}:</p>" + table(
                [
                    "budget C (FLOPs)",
                    "parameters N",
                    "tokens D",
                    "tokens / parameter",
                    f"predicted {f.y}",
                ],
                rows,
            )
        elif ans["planning"] != "ok":
            html += f'<p class="muted">{esc(ans["planning"])}</p>'
        preds = ans["predictions"]
        if preds:
            prows = []
            for p in preds:
                if "error" in p:
                    prows.append(
                        [
                            ", ".join(f"{k}={v}" for k, v in p["at"].items()),
                            Raw(f'<span class="bad">{esc(p["error"])}</span>'),
                            "",
                            "",
                        ]
                    )
                    continue
                where = ", ".join(f"{v}={human(p[v])}" for v in f.law.variables)
                prows.append([where, Raw(num(p["value"], 5)), Raw(f"[{num(p['lo'], 5)}, {num(p['hi'], 5)}]"),
                              Raw(f"[{num(p['pred_lo'], 5)}, {num(p['pred_hi'], 5)}]")])  # fmt: skip
            html += "<p><b>Predictions</b>:</p>" + table(
                ["at", f"predicted {f.y}", "interval of the law", "prediction interval (one run)"],
                prows,
            )
            if f.extrapolation is not None:
                html += f'<p class="muted">Intervals: {esc(f.extrapolation.describe())}.</p>'
            html += warnings_box(
                sorted({w for p in preds for w in p.get("warnings", [])}), "Extrapolation"
            )
        parts.append(html)
    return "".join(parts)


def allocation_section(
    fits: list[FitResult], runs: RunTable, budgets: list[float], add_figure: Callable[..., str]
) -> str:
    parts = []
    first = next((f for f in fits if paths.has_allocation(f.law)), None)
    try:
        obs = select(runs, family=None if first is None else first.options.family).observations(
            None if first is None or first.y not in runs.metrics() else first.y
        )
        minima = paths.isoflop_minima(obs)
    except InputError:
        minima = pd.DataFrame()
    if len(minima):
        parts.append(add_figure(
            lambda: figures.plot_isoflop(runs, first, y=None if first is None or first.y not in runs.metrics() else first.y,
                                         family=None if first is None else first.options.family),
            "fig-isoflop", "IsoFLOP slices: loss vs parameters at equal compute, a parabola in log N per slice and its minimum.",
        ))  # fmt: skip
    if first is not None:
        parts.append(add_figure(
            lambda: figures.plot_frontier(first, runs, flops=budgets),
            "fig-frontier", "Compute-optimal N and D vs compute, extrapolated (dashed) to the budgets asked.",
        ))  # fmt: skip
    html = (
        f'<div class="grid">{"".join(parts)}</div>'
        if parts
        else '<p class="muted">No law of parameters and tokens, and no IsoFLOP slices in the data.</p>'
    )
    if len(minima):
        rows = [[Raw(num(m["flops"], 3)), Raw(num(m["params"], 3)), Raw(num(m["tokens"], 3)), Raw(num(m["loss"], 4)), int(m["n_points"])]
                for _, m in minima.iterrows()]  # fmt: skip
        html += "<p><b>IsoFLOP minima</b> (Hoffmann et al. 2022, Approach 2):</p>" + table(
            ["budget C (FLOPs)", "parameters N", "tokens D", "loss at minimum", "runs in slice"],
            rows,
        )
    return html


def backtest_html(name: str, bt: BacktestResult) -> str:
    pts = bt.points
    rows = []
    for _, p in pts.iterrows():
        inside = '<span class="ok">yes</span>' if p["inside"] else '<span class="bad">no</span>'
        sizes = ", ".join(f"{v}={human(p[v])}" for v in bt.fit.law.variables)
        rows.append([p["run_id"], sizes, Raw(num(p["actual"], 5)), Raw(num(p["predicted"], 5)),
                     Raw(f"[{num(p['lo'], 5)}, {num(p['hi'], 5)}]"), Raw(f"{p['rel_error']:+.2%}"), Raw(inside)])  # fmt: skip
    return (
        f"<h3>{esc(name)}: held out {esc(bt.holdout)}</h3><p>{esc(bt.verdict)}; fitted on "
        f"{bt.fit.n_points} points.</p>"
        + table(
            [
                "run",
                "at",
                "actual",
                "predicted",
                f"{bt.interval:.0%} prediction interval",
                "error",
                "inside",
            ],
            rows,
        )
        + warnings_box(bt.warnings)
    )


def footer(table: RunTable, timing: Mapping[str, float]) -> str:
    return (
        f"<footer><p>Data hash (SHA-256 of the rows used): <code>{esc(table.data_hash())}</code>. "
        f"Built in {timing.get('total_s', math.nan):.1f} s (fits {timing.get('fit_s', math.nan):.1f} s). "
        "This page is self-contained: it loads nothing from the network and needs no JavaScript.</p></footer>"
    )
