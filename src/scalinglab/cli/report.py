"""``report`` (one self-contained HTML page) and ``demo`` (the whole flow on the bundled data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from .options import (
    DEFAULT_STORE,
    BootOpt,
    CalibrateOpt,
    DeltaOpt,
    FamilyOpt,
    HoldoutOpt,
    JsonOpt,
    StoreOpt,
    WhereOpt,
    YOpt,
    fit_options,
    load_runs,
    parse_points,
)
from .output import check_output, command, emit_json, progress_bar, say, warn

app = typer.Typer()


# -- report ----------------------------------------------------------------------------------
@app.command()
@command
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
    huber_delta: DeltaOpt = 1e-3,
    calibrate: CalibrateOpt = False,
    holdout: HoldoutOpt = "largest:2",
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
    """Fit, backtest and plan, and write everything into one self-contained HTML page.

    The backtest holds out --holdout (default the 2 largest sizes; 'none' skips it). Sections
    appear when the runs have what they need: Precision (a qid fit), Downstream (pass@k
    metrics), Divergence cliff (an LR sweep).
    """
    from ..analysis import analyse
    from ..fitting.holdout import parse_holdout
    from ..planning.questions import size
    from ..report import render_report

    options = fit_options(y=y, family=family, where=where, bootstrap=bootstrap,
                          huber_delta=huber_delta, calibrate=calibrate)  # fmt: skip
    budgets = [size(c, "flops") for c in flops] if flops else None
    points = parse_points(at) if at else None
    # a backtest these runs cannot make becomes a warning in the report; a bad spec is refused
    if holdout.lower() != "none":
        parse_holdout(holdout)
    check_output(output)
    table = load_runs(runs, store, y)
    with progress_bar(not as_json) as update:
        analysis = analyse(
            table, law or ["chinchilla"], options, flops=budgets, at=points,
            holdout=None if holdout.lower() == "none" else holdout, progress=update,
        )  # fmt: skip
        _check_points_named(at or [], points or [], analysis)
        built = render_report(
            analysis, title=title, image_format="svg" if svg else "png", progress=update
        )
    path = built.write(output)
    if as_json:
        emit_json({**built.to_json(), "report": str(path.resolve())})
        return
    for line in analysis.digest():
        say(line)
    warn(analysis.warnings)
    say(f"report written to {path.resolve()} ({len(built.figures)} figures, "
        f"{built.timing['total_s']:.1f} s)")  # fmt: skip


def _check_points_named(at: list[str], points: list[dict[str, float]], analysis: Any) -> None:
    """Refuse an ``--at`` name that no fitted law has (the laws are known once fitted)."""
    known = {v for fit in analysis.fits for v in fit.law.variables}
    for given, point in zip(at, points, strict=True):
        if unknown := sorted(set(point) - known):
            raise InputError(
                f"--at {given!r}: {unknown[0]!r} is not a variable of the laws fitted "
                f"({', '.join(sorted(known))})"
            )


@app.command()
@command
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path(
        "out/demo"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Run the whole flow on the bundled data: fit, backtest, predict."""
    from ..demo import run_demo

    with progress_bar(not as_json) as update:
        result = run_demo(out, progress=update)
    if as_json:
        emit_json(result.summary)
        return
    for line in result.lines:
        say(line)
    for name, path in result.outputs.items():
        say(f"{name} written to {path}")
