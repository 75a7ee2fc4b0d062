"""The project store: ``init``, ``import``, ``runs`` and ``fits`` (an embedded DuckDB file,
``scalinglab.duckdb``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .options import DEFAULT_STORE, FamilyOpt, JsonOpt, StoreOpt, WhereOpt, YOpt
from .output import check_output, command, emit_json, print_rows, progress_bar, say, write_json

app = typer.Typer()


# -- the project store -----------------------------------------------------------------------
@app.command()
@command
def init(
    path: Annotated[Path, typer.Argument(help="Where to create the store.")] = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Create a project store (an embedded DuckDB file); an existing one is left as it is."""
    from ..runs.store import Store

    existed = path.exists()
    created = Store.init(path)
    if as_json:
        emit_json({"store": str(path.resolve()), "created": not existed})
        return
    what = "opened existing" if existed else "created"
    say(f"{what} store {path.resolve()}: {created!r}")


@app.command("import")
@command
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
    from ..runs.store import Store

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
    rows = [(f.path, f.n_rows, f.rows_added, f.rows_skipped_duplicate, f.rows_replaced,
             "already imported" if f.already_imported else "") for f in result.files]  # fmt: skip
    print_rows(f"imported into {store}", ("file", "rows", "added", "duplicates", "replaced", "note"),
               rows, left=("file", "note"))  # fmt: skip
    say(f"{result.rows_added} rows added, {result.rows_skipped_duplicate} duplicates skipped, "
        f"{result.rows_replaced} replaced; store: {target!r}")  # fmt: skip


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
@command
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
    from ..runs.store import Store

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
    print_rows(
        f"{s['n_runs']} runs, {s['n_rows']} rows in {store}", list(shown.columns),
        ([f"{v:.3g}" if isinstance(v, float) else v for v in rec] for rec in shown.itertuples(index=False)),
        left=("family", "run_id", "metric"),
        caption=None if len(shown) == len(rows) else f"first {len(shown)} of {len(rows)} (--limit 0 for all)",
    )  # fmt: skip
    for note in table.notes[1:]:
        say(f"note: {note}")


@app.command("fits")
@command
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
    from ..fitting.result import FitResult
    from ..runs.store import Store

    check_output(output)
    target = Store(store)
    if show is not None:
        doc = target.load_fit(show)
        if output:
            write_json(output, doc)
        if as_json:
            emit_json({"fit_id": show, **{k: v for k, v in doc.items() if k != "bootstrap"}})
            return
        say(FitResult.from_json(doc).summary())
        return
    fits = target.fits()
    if as_json:
        records = fits.assign(created_at=fits["created_at"].astype(str)).to_dict(orient="records")
        for r in records:
            r["options"] = json.loads(r["options"])
        emit_json({"store": str(store), "fits": records})
        return
    columns = ("fit_id", "created_at (UTC)", "law", "data_hash", "options", "version")
    rows = [(r.fit_id, f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.law, r.data_hash[:12], r.options,
             r.version) for r in fits.itertuples(index=False)]  # fmt: skip
    print_rows(f"{len(fits)} saved fits in {store}", columns, rows, left=columns)
