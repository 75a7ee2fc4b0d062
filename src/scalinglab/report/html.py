"""HTML pieces of the report: one self-contained page, no network, no JavaScript.

Figures are embedded as base64 PNG (or inline SVG), styles are one inline ``<style>``, the
data behind the page (fits, backtests, answers) sit in a ``<script type="application/json">``
block that browsers do not execute, and the runs and each fit can be downloaded from
``data:`` links. The page opens from a file with no server.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..fitting.result import FitResult
from ..jsonable import to_jsonable
from ..runs.sizes import format_size
from .style import pyplot, style

#: data: links larger than this are left out of the page (the runs of a big project).
MAX_INLINE_DOWNLOAD = 8 * 1024 * 1024
#: Resolution of embedded PNGs: sharp at 1.3x zoom, quick to render.
PNG_DPI = 130

CSS = """
:root { --ink:#1b1b1b; --muted:#5f6368; --line:#e3e3e3; --accent:#0072B2; --warn:#D55E00;
        --bg-warn:#fff4e5; --bg-soft:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
header.top { border-bottom: 3px solid var(--accent); margin-bottom: 18px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16.5px; margin: 22px 0 8px; }
p.meta, .muted { color: var(--muted); font-size: 13px; }
nav.toc { background: var(--bg-soft); padding: 8px 14px; border-radius: 6px; font-size: 14px; }
nav.toc a { margin-right: 14px; color: var(--accent); text-decoration: none; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
code.formula { background: var(--bg-soft); padding: 2px 6px; border-radius: 4px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; }
th { background: var(--bg-soft); font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
td.num { font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 14px; }
figure { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure img, figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 4px; }
.warnings { background: var(--bg-warn); border-left: 4px solid var(--warn); padding: 6px 12px;
            margin: 8px 0; font-size: 13.5px; }
.warnings ul { margin: 4px 0; padding-left: 18px; }
.ok { color: #009E73; font-weight: 600; } .bad { color: var(--warn); font-weight: 600; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 10px; margin: 14px 0; }
a.download { font-size: 13px; margin-right: 14px; }
footer { margin-top: 40px; font-size: 12.5px; color: var(--muted); border-top: 1px solid var(--line); }
@media print { nav.toc, a.download { display: none; } figure { break-inside: avoid; } }
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _number_or_text(x: Any) -> float | str:
    """``x`` as a finite float, or the text to show instead: blank for NaN, else escaped."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return esc(x)
    return x if math.isfinite(x) else ""


def num(x: Any, digits: int = 4) -> str:
    """A number for a table: ``digits`` significant digits, blank for NaN/None."""
    x = "" if x is None else _number_or_text(x)
    return x if isinstance(x, str) else f"{x:.{digits}g}"


def human(x: Any) -> str:
    """A size for people: 70e9 -> '70B', 1.31e12 -> '1.31T'; other numbers to 3 digits."""
    x = _number_or_text(x)
    if isinstance(x, str):
        return x
    # From 1e15 up (FLOPs), scientific notation reads better than thousands of T.
    return format_size(x, digits=3) if abs(x) < 1e15 else f"{x:.3g}"


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "", caption: str = ""
) -> str:
    """An HTML table; cells given as ``str`` are escaped, cells wrapped in :class:`Raw` are not."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, Raw):
                cells.append(f"<td>{cell}</td>")
            elif isinstance(cell, int | float) and not isinstance(cell, bool):
                cells.append(f'<td class="num">{num(cell)}</td>')
            else:
                cells.append(f"<td>{esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    klass = f' class="{esc(cls)}"' if cls else ""
    return (
        f"<table{klass}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


class Raw(str):
    """Already-escaped HTML, inserted as is by :func:`table`."""


def warnings_box(items: Iterable[str], title: str = "Warnings") -> str:
    items = [i for i in items if i]
    if not items:
        return ""
    lis = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f'<div class="warnings"><b>{esc(title)}</b><ul>{lis}</ul></div>'


def figure_html(fig: Any, fig_id: str, caption: str, *, image_format: str = "png") -> str:
    """A matplotlib figure as an inline ``<figure>`` (base64 PNG or inline SVG); closes it."""
    buf = io.BytesIO()
    with style():
        # constrained layout already fits everything in: no second, "tight" layout pass
        if image_format == "svg":
            fig.savefig(buf, format="svg", bbox_inches=None)
        else:
            fig.savefig(buf, format="png", dpi=PNG_DPI, bbox_inches=None)
    width_px = int(fig.get_size_inches()[0] * 100)
    pyplot().close(fig)
    if image_format == "svg":
        svg = buf.getvalue().decode()
        body = svg[svg.index("<svg") :]
    else:
        data = base64.b64encode(buf.getvalue()).decode()
        body = f'<img src="data:image/png;base64,{data}" width="{width_px}" alt="{esc(caption)}">'
    return f'<figure id="{esc(fig_id)}">{body}<figcaption>{esc(caption)}</figcaption></figure>'


def download_link(content: str | bytes, filename: str, mime: str, label: str) -> str:
    """A ``data:`` link that saves ``content`` as ``filename`` (empty when too large)."""
    raw = content.encode() if isinstance(content, str) else content
    if len(raw) > MAX_INLINE_DOWNLOAD:
        return (
            f'<span class="muted">{esc(label)}: too large to embed ({len(raw) / 1e6:.0f} MB)</span>'
        )
    data = base64.b64encode(raw).decode()
    return (
        f'<a class="download" download="{esc(filename)}" '
        f'href="data:{mime};base64,{data}">{esc(label)}</a>'
    )


def json_block(doc: Any, block_id: str) -> str:
    """Data for tools, not for the browser: a non-executed JSON script block."""
    text = json.dumps(to_jsonable(doc), indent=None, separators=(",", ":"))
    text = text.replace("</", "<\\/")  # cannot close the script element early
    return f'<script type="application/json" id="{esc(block_id)}">{text}</script>'


def fit_table_html(fit: FitResult, alpha: float = 0.05) -> str:
    """Parameters with estimate, interval and status: the table the report and Jupyter show."""
    params = fit.parameter_table(alpha)
    n_boot = 0 if fit.samples is None else len(fit.samples)
    published = dict(fit.law.published)
    rows = []
    for name, r in params.iterrows():
        if r["fixed"]:
            interval = "fixed"
        elif n_boot == 0:
            interval = "no bootstrap"
        else:
            interval = f"[{num(r['lo'], 5)}, {num(r['hi'], 5)}]"
        kind = "derived" if name in fit.law.derived else (
            "linear" if any(p.name == name and p.linear for p in fit.law.parameters) else "nonlinear"
        )  # fmt: skip
        rows.append([name, Raw(num(r["value"], 6)), interval, num(published.get(name)), kind])
    header = ["parameter", "estimate", f"{1 - alpha:.0%} interval", "published", "kind"]
    return table(header, rows, cls="params")


def selection_html(fit: FitResult) -> str:
    """The candidates a law chosen by cross-extrapolation was picked from, and their scores."""
    sel = fit.selection
    if sel is None or not sel.candidates:
        return ""
    rows = []
    for c in sorted(sel.candidates, key=lambda c: (c.excluded is not None, -c.weight)):
        if c.excluded is not None:
            rows.append(
                [
                    c.label,
                    "",
                    "",
                    "",
                    "",
                    Raw(f'<span class="muted">excluded: {esc(c.excluded)}</span>'),
                ]
            )
            continue
        rows.append([c.label, Raw(num(c.weight, 2)), Raw(num(c.score, 3)),
                     f"{c.nested_error:.2%}" if c.nested_error is not None else "",
                     Raw(num(c.prediction, 4)), ""])  # fmt: skip
    at = ", ".join(f"{k}={human(v)}" for k, v in sel.probe.items())
    header = ["candidate", "weight", "score", "nested |error|", f"prediction at {at}", ""]
    intro = (
        f"<p><b>Law chosen by cross-extrapolation</b> over {len(sel.holdouts)} nested holdouts "
        f"({esc(', '.join(sel.holdouts) or 'none')}); score: the worst holdout's log-error RMS "
        "per decade past the data; weights exp(-(score - best) / (0.5 best)).</p>"
    )
    notes = "".join(f'<p class="muted">{esc(n)}</p>' for n in sel.notes)
    return intro + table(header, rows) + notes


def fit_card_html(fit: FitResult, *, title: str | None = None) -> str:
    """A fit's summary: law, formula, parameters, diagnostics, warnings (no figures)."""
    res = fit.residuals
    n_boot = 0 if fit.samples is None else len(fit.samples)
    status = (
        '<span class="ok">converged</span>'
        if fit.converged
        else '<span class="bad">NOT converged</span>'
    )
    ranges = "; ".join(
        f"{esc(v)} {num(lo, 3)}&ndash;{num(hi, 3)}" for v, (lo, hi) in fit.data_range.items()
    )
    diag = [
        ["points / runs", f"{fit.n_points} / {fit.n_runs}"],
        ["data range", Raw(ranges)],
        [
            "objective",
            Raw(
                f"{num(fit.objective, 6)} (Huber, delta {num(fit.options.huber_delta)}, on log residuals)"
            ),
        ],
        ["status", Raw(status)],
        ["bootstrap", f"{n_boot} replicates (runs resampled)" if n_boot else "none"],
    ]
    if res:
        diag += [
            ["median |relative error|", f"{res.get('median_abs_rel_error', math.nan):.3%}"],
            ["max |relative error|", f"{res.get('max_abs_rel_error', math.nan):.3%}"],
            ["robust SD of log residuals", num(res.get("robust_sd"))],
        ]
    if fit.timing:
        diag.append(["fit time", f"{fit.timing.get('total_s', math.nan):.2f} s"])
    reference = f'<p class="muted">{esc(fit.law.reference)}</p>' if fit.law.reference else ""
    notes = "".join(f"<li>{esc(n)}</li>" for n in fit.notes)
    return (
        f"<h3>{esc(title or fit.law.name)}</h3>"
        f'<p><code class="formula">{esc(fit.y)} = {esc(fit.law.formula)}</code></p>{reference}'
        f'<div class="grid"><div>{fit_table_html(fit)}</div>'
        f"<div>{table(['diagnostic', 'value'], diag)}</div></div>"
        + selection_html(fit)
        + (
            f'<p class="muted">Intervals: {esc(fit.extrapolation.describe())}.</p>'
            if fit.extrapolation is not None
            else ""
        )
        + warnings_box(fit.warnings)
        + (
            f'<details><summary class="muted">notes on the data ({len(fit.notes)})</summary><ul>{notes}</ul></details>'
            if notes
            else ""
        )
    )


def page(title: str, body: str, *, subtitle: str = "", toc: Sequence[tuple[str, str]] = ()) -> str:
    """The whole document: head with inline CSS, header, table of contents, body."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in toc)
    nav = f'<nav class="toc">{links}</nav>' if links else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        # No external resource may load: forbid them, so a stray URL cannot phone out.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<style>{CSS}</style></head><body><main>"
        f'<header class="top"><h1>{esc(title)}</h1><p class="meta">{subtitle}</p></header>'
        f"{nav}{body}</main></body></html>\n"
    )


_REPR_CSS = """
.scalinglab-fit table { border-collapse: collapse; margin: 4px 16px 8px 0; display: inline-table;
                        vertical-align: top; }
.scalinglab-fit th, .scalinglab-fit td { padding: 2px 8px; text-align: right; }
.scalinglab-fit th:first-child, .scalinglab-fit td:first-child { text-align: left; }
.scalinglab-fit .warnings { background: #fff4e5; border-left: 4px solid #D55E00; padding: 4px 10px; }
.scalinglab-fit .ok { color: #009E73; font-weight: 600; }
.scalinglab-fit .bad { color: #D55E00; font-weight: 600; }
.scalinglab-fit .muted { color: #5f6368; }
"""


def fit_repr_html(fit: FitResult) -> str:
    """Jupyter's view of a fit: the report's fit card with scoped styles (no figure)."""
    card = fit_card_html(fit).replace('<div class="grid">', "<div>")
    return f'<div class="scalinglab-fit"><style>{_REPR_CSS}</style>{card}</div>'
