"""Noise, reproducibility and stability: ``noise`` (replicates and what they do to a fit),
``reproduce`` (two trainings of one spec, run by run), ``snr`` (signal and noise of metrics,
decision accuracy), ``decide`` (recipes at one scale: P(best) and the seeds the call needs)
and ``cliff`` (which sizes and learning rates sit near the divergence cliff)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import (
    BootOpt,
    FamilyOpt,
    JsonOpt,
    ReplicatesOpt,
    RunFilesArg,
    SeedOpt,
    WhereOpt,
    YOpt,
    family_option,
    fit_options,
    parse_points,
    read_files,
)
from .output import command, emit_json, print_frame, say, warn

app = typer.Typer()

ByOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--by",
        help="A column that makes a point (repeatable; default: every setting but seeds, ids "
        "and measurements).",
    ),
]


def _paths(paths: list[Path] | None) -> list[str]:
    return [str(p) for p in paths or []]


def _notes(notes: list[str]) -> None:
    for n in notes:
        say(f"note: {n}")


@app.command()
@command
def noise(
    runs: Annotated[Path, typer.Argument(help="The run table whose points to measure.")],
    replicates: ReplicatesOpt = None,
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    by: ByOpt = None,
    law: Annotated[
        str | None,
        typer.Option("--law", "-l", help="Also fit this law with and without noise weights."),
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout", help="With --law: backtest both fits (largest:K or a condition)."
        ),
    ] = None,
    bootstrap: BootOpt = 200,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Replicate noise per point, its model against compute, and transient points.

    Per point: mean, SD and range of the replicates. With --law, the fit (and with --holdout,
    the backtest) with and without noise weights."""
    from ..errors import InputError
    from ..fitting.api import fit as fit_law
    from ..fitting.backtest import backtest
    from ..fitting.noise import replicate_noise

    if holdout is not None and law is None:
        raise InputError("--holdout needs --law")
    reps = _paths(replicates)
    result = replicate_noise(str(runs), reps, y=y, family=family_option(family), where=where, by=by)
    doc = result.to_json()
    fits = {}
    if law is not None:
        for weighting in ("none", "noise"):
            opts = fit_options(y=result.y, family=family, where=where, bootstrap=bootstrap,
                               seed=seed, weighting=weighting, replicates=tuple(reps))  # fmt: skip
            if holdout is None:
                fitted = fit_law(read_files([runs]), law, opts)
                fits[weighting] = {"fit": fitted.to_json() | {"bootstrap": None}}
            else:
                bt = backtest(read_files([runs]), law, opts, holdout=holdout)
                fits[weighting] = bt.to_json() | {"fit": bt.fit.to_json() | {"bootstrap": None}}
        doc["fits"] = fits
    if as_json:
        emit_json(doc)
        return
    say(result.summary())
    for weighting, part in fits.items():
        fitted = part["fit"]
        params = ", ".join(f"{k}={v:.4g}" for k, v in fitted["params"].items())
        line = f"weighting {weighting}: {params}"
        if "mean_abs_rel_error" in part:
            line += f"; held out ({holdout}): {part['verdict']}"
        say(line)
        warn(w for w in fitted["warnings"] if w.startswith("point "))


@app.command()
@command
def reproduce(
    a: Annotated[Path, typer.Argument(help="A run table.")],
    b: Annotated[Path, typer.Argument(help="Another run table of the same spec.")],
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    replicates: ReplicatesOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which runs of B differ from A beyond noise.

    Noise from replicates where there are some, else from the scatter of the differences
    themselves, fitted robustly against compute."""
    from ..compare.noise import reproduce as compare_tables

    result = compare_tables(str(a), str(b), y=y, family=family_option(family), where=where,
                            replicates=_paths(replicates), by=by)  # fmt: skip
    if as_json:
        emit_json(result.to_json())
        return
    columns = [c for c in result.points.columns if c not in ("run_id", "n_a", "n_b")]
    print_frame(result.points[columns], result.title, left=["family", "noise"])
    doc = result.to_json()
    say(f"{doc['n_differing']} of {doc['n_points']} runs differ beyond noise "
        f"(|z| > {result.z_limit:.2f}); median |difference| {doc['median_abs_rel_diff']:.2%}")  # fmt: skip
    _notes(result.notes)
    warn(result.warnings)


@app.command()
@command
def snr(
    runs: RunFilesArg,
    y: Annotated[
        list[str] | None,
        typer.Option("--y", help="Metric or pattern, e.g. 'acc_*' (repeatable; default: all)."),
    ] = None,
    group: Annotated[
        str, typer.Option("--group", help="The column naming the recipes compared.")
    ] = "family",
    where: WhereOpt = None,
    last_n: Annotated[
        int, typer.Option("--last-n", min=2, help="Checkpoints per run behind its noise.")
    ] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Signal, noise and SNR of each metric across recipes (Heineman et al. 2025).

    Also the decision accuracy of small-scale comparisons against the largest scale."""
    from ..compare.noise import signal_to_noise

    result = signal_to_noise(read_files(runs), y, group=group, where=where, last_n=last_n)
    if as_json:
        emit_json(result.to_json())
        return
    where_to = ", ".join(f"{k}={v:.4g}" for k, v in result.target.items())
    print_frame(result.tasks, f"signal and noise per metric; decisions against {where_to}",
                left=["metric", "noise_source"])  # fmt: skip
    if result.correlation is not None:
        say(f"Spearman correlation of SNR and decision accuracy: {result.correlation:.2f}")
    warn(result.warnings)


@app.command()
@command
def decide(
    runs: RunFilesArg,
    family: Annotated[
        list[str], typer.Option("--family", "-f", help="A recipe to compare (two or more).")
    ],
    y: YOpt = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="params=N,tokens=D (default: the largest where all ran)."),
    ] = None,
    replicates: ReplicatesOpt = None,
    by: ByOpt = None,
    confidence: Annotated[
        float, typer.Option("--confidence", min=0.5, max=0.9999, help="The call's confidence.")
    ] = 0.95,
    higher_is_better: Annotated[
        bool, typer.Option("--higher-is-better", help="The metric is an accuracy, not a loss.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Which recipe is best at one scale, with what probability, and how many runs it needs.

    The probability comes from the recipes' replicates at a scale they were all trained at;
    the runs per recipe are those a call at --confidence needs."""
    from ..compare.noise import decide as decide_at

    point = parse_points([at], ("params", "tokens"))[0] if at else None
    table = str(runs[0]) if len(runs) == 1 else read_files(runs)
    result = decide_at(table, family, y=y, at=point, replicates=_paths(replicates),
                       by=by, confidence=confidence, higher_is_better=higher_is_better)  # fmt: skip
    if as_json:
        emit_json(result.to_json())
        return
    print_frame(result.table, result.title, left=["family"])
    need = (
        f"{result.seeds_needed} runs per recipe"
        if result.seeds_needed
        else "more runs than practical"
    )
    say(f"winner {result.winner}, P = {result.p_win:.3f}; a call at {confidence:.0%} needs {need}")
    _notes(result.notes)
    warn(result.warnings)


@app.command()
@command
def cliff(
    runs: RunFilesArg,
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    lr_column: Annotated[
        str | None, typer.Option("--lr-column", help="Learning-rate column (default: peak_lr).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Loss above the size's best that is past it.")
    ] = 0.05,
    margin: Annotated[
        float, typer.Option("--margin", help="Within this factor below the cliff is near it.")
    ] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Which sizes and learning rates of an LR sweep sit near the divergence cliff.

    Uses the attention- and output-logit probes when the runs have them."""
    from ..planning.hyperparams import lr_cliff

    result = lr_cliff(read_files(runs), y=y, lr_column=lr_column, family=family_option(family),
                      where=where, tolerance=tolerance, margin=margin)  # fmt: skip
    if as_json:
        emit_json(result.to_json())
        return
    print_frame(result.sizes, result.title)
    print_frame(result.runs.drop(columns=["run_id"]), "runs", left=["state", "flags"])
    if result.trend:
        t = result.trend
        say(f"cliff: lr = {t['c']:.4g} * N^-{t['alpha']:.3f} ({t['n_sizes']} sizes)")
    warn(result.warnings)
