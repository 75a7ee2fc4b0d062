"""CLI commands for the report stage; they register on :data:`scalinglab.cli.app`.

``report`` writes one self-contained HTML page; ``init``, ``import``, ``runs`` and ``fits``
manage the project store (an embedded DuckDB file, ``scalinglab.duckdb``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .cli import (
    DEFAULT_STORE,
    BootOpt,
    CalibrateOpt,
    FamilyOpt,
    JsonOpt,
    StoreOpt,
    WhereOpt,
    YOpt,
    app,
    cli_command,
    console,
    emit_json,
    err_console,
    load_runs,
    parse_points,
    progress_bar,
)
from .errors import InputError


def _number(text: str, option: str) -> float:
    from .runs import parse_size

    try:
        return float(parse_size(text))
    except ValueError:
        raise InputError(f"{option} {text!r}: expected a number such as 5.76e23") from None


# -- report ----------------------------------------------------------------------------------
@app.command()
@cli_command
def report(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run table file(s); without any, the runs of the project store."),
    ] = None,
    law: Annotated[
        list[str] | None,
        typer.Option("--law", "-l", help="Law name or formula (repeatable; default chinchilla)."),
    ] = None,
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 200,
    calibrate: CalibrateOpt = False,
    holdout: Annotated[
        str,
        typer.Option(
            "--holdout", help="Backtest hold-out: largest:K or an expression; 'none' to skip."
        ),
    ] = "largest:2",
    flops: Annotated[
        list[str] | None,
        typer.Option(
            "--flops", help="Budget to plan for (repeatable; default 10x and 100x the data)."
        ),
    ] = None,
    at: Annotated[
        list[str] | None,
        typer.Option("--at", help="Point to predict: params=70B,tokens=1.4T (repeatable)."),
    ] = None,
    svg: Annotated[bool, typer.Option("--svg", help="Inline SVG figures instead of PNG.")] = False,
    title: Annotated[str | None, typer.Option("--title", help="Title of the page.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Fit, backtest and plan, and write everything into one self-contained HTML page."""
    from .report import build_report

    table = load_runs(runs, store)
    budgets = [_number(c, "--flops") for c in flops] if flops else None
    with progress_bar(not as_json) as update:
        built = build_report(
            table,
            law or ["chinchilla"],
            y=y,
            family=family or None,
            where=where,
            bootstrap=bootstrap,
            calibrate=calibrate,
            holdout=None if holdout.lower() == "none" else holdout,
            flops=budgets,
            at=parse_points(at) if at else None,
            title=title,
            image_format="svg" if svg else "png",
            progress=update,
        )
    path = built.write(output)
    if as_json:
        doc = built.summary()
        doc["report"] = str(path.resolve())
        emit_json(doc)
        return
    for f, bt in zip(built.fits, built.backtests, strict=True):
        fam = f.options.get("family")
        line = f"{f.law.name}{f' [{fam}]' if fam else ''}: " + ", ".join(
            f"{k}={v:.4g}" for k, v in f.params.items()
        )
        console.print(line, markup=False, highlight=False, soft_wrap=True)
        if bt is not None:
            console.print(f"  backtest {bt.holdout}: {bt.verdict}", markup=False, highlight=False)
    for w in built.warnings:
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)
    console.print(
        f"report written to {path.resolve()} ({len(built.figures)} figures, "
        f"{built.timing['total_s']:.1f} s)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


# -- the project store -----------------------------------------------------------------------
@app.command()
@cli_command
def init(
    path: Annotated[Path, typer.Argument(help="Where to create the store.")] = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Create a project store (an embedded DuckDB file); an existing one is left as it is."""
    from .runs.store import Store

    existed = path.exists()
    created = Store.init(path)
    if as_json:
        emit_json({"store": str(path.resolve()), "created": not existed})
        return
    what = "opened existing" if existed else "created"
    console.print(f"{what} store {path.resolve()}: {created!r}", markup=False, highlight=False)


@app.command("import")
@cli_command
def import_runs(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, Parquet, JSONL, W&B exports, TensorBoard logs.")
    ],
    store: StoreOpt = DEFAULT_STORE,
    y: YOpt = None,
    on_conflict: Annotated[
        str,
        typer.Option(
            "--on-conflict", help="A stored row with another value: error | skip | replace."
        ),
    ] = "error",
    params: Annotated[
        str | None, typer.Option("--params", help="Model size for files without one.")
    ] = None,
    tokens: Annotated[
        str | None, typer.Option("--tokens", help="Tokens for files without them.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add run files to the project store, all or nothing; re-imports add no duplicate rows."""
    from .runs.store import Store

    target = Store(store)
    with progress_bar(not as_json) as update:
        result = target.import_files(
            files,
            progress=lambda done, total, path: update("import", done, total),
            y=y,
            on_conflict=on_conflict,  # type: ignore[arg-type]
            params=params,
            tokens=tokens,
        )
    if as_json:
        emit_json({"store": str(store), **result.to_dict()})
        return
    out = Table(title=f"imported into {store}")
    for col in ("file", "rows", "added", "duplicates", "replaced", "note"):
        out.add_column(col, justify="left" if col in ("file", "note") else "right", overflow="fold")
    for f in result.files:
        note = "already imported" if f.already_imported else ""
        out.add_row(
            f.path, str(f.n_rows), str(f.rows_added), str(f.rows_skipped_duplicate),
            str(f.rows_replaced), note,
        )  # fmt: skip
    console.print(out)
    console.print(
        f"{result.rows_added} rows added, {result.rows_skipped_duplicate} duplicates skipped, "
        f"{result.rows_replaced} replaced; store: {target!r}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def run_rows(df: Any) -> Any:
    """One row per run and metric: sizes, number of observations, last (final) value."""
    import pandas as pd

    order = df.sort_values("step", na_position="last", kind="stable")
    keys = ["family", "run_id", "metric"]
    grouped = order.groupby(keys, sort=False)
    out = grouped[["params", "tokens", "flops"]].first()
    out["n_rows"] = grouped.size()
    out["final_value"] = grouped["value"].last()
    return pd.DataFrame(out).reset_index()


@app.command("runs")
@cli_command
def list_runs(
    store: StoreOpt = DEFAULT_STORE,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    metric: Annotated[
        str | None, typer.Option("--metric", "-m", help="Keep only this metric.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Rows to show (0: all).")] = 40,
    as_json: JsonOpt = False,
) -> None:
    """List the runs in the project store, filtered by family, metric or an expression."""
    from .runs.store import Store

    table = Store(store).runs(family=family or None, where=where, metric=metric)
    rows = run_rows(table.df)
    if as_json:
        emit_json(
            {
                "store": str(store),
                "summary": table.summary(),
                "notes": table.notes,
                "runs": rows.to_dict(orient="records"),
            }
        )
        return
    s = table.summary()
    shown = rows if limit <= 0 else rows.head(limit)
    out = Table(
        title=f"{s['n_runs']} runs, {s['n_rows']} rows in {store}",
        caption=None
        if len(shown) == len(rows)
        else f"first {len(shown)} of {len(rows)} (--limit 0 for all)",
    )
    for col in shown.columns:
        out.add_column(
            col,
            justify="left" if col in ("family", "run_id", "metric") else "right",
            overflow="fold",
        )
    for rec in shown.itertuples(index=False):
        out.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in rec))
    console.print(out)
    for note in table.notes[1:]:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)


@app.command("fits")
@cli_command
def list_fits(
    store: StoreOpt = DEFAULT_STORE,
    show: Annotated[
        int | None, typer.Option("--show", help="Print this saved fit in full.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="With --show: save the fit JSON here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the fits saved in the project store, with their provenance."""
    from .fitting.result import FitResult
    from .runs.store import Store

    target = Store(store)
    if show is not None:
        doc = target.load_fit(show)
        if output:
            output.write_text(json.dumps(doc, indent=1))
        if as_json:
            emit_json({"fit_id": show, **{k: v for k, v in doc.items() if k != "bootstrap"}})
            return
        console.print(
            FitResult.from_json(doc).summary(), markup=False, highlight=False, soft_wrap=True
        )
        return
    fits = target.fits()
    if as_json:
        records = fits.assign(created_at=fits["created_at"].astype(str)).to_dict(orient="records")
        for r in records:
            r["options"] = json.loads(r["options"])
        emit_json({"store": str(store), "fits": records})
        return
    out = Table(title=f"{len(fits)} saved fits in {store}")
    for col in ("fit_id", "created_at (UTC)", "law", "data_hash", "options", "version"):
        out.add_column(col, overflow="fold")
    for r in fits.itertuples(index=False):
        out.add_row(
            str(r.fit_id), f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.law, r.data_hash[:12],
            r.options, r.version,
        )  # fmt: skip
    console.print(out)
