"""Commands on fits: ``fit``, ``predict``, ``backtest``, ``laws``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import (
    BootOpt,
    BoundOpt,
    CalibrateOpt,
    DeltaOpt,
    FamilyOpt,
    FitArg,
    FixOpt,
    HoldoutOpt,
    IntervalOpt,
    JsonOpt,
    LawOpt,
    ReplicatesOpt,
    RunsArg,
    SeedOpt,
    SkipOpt,
    StoreOpt,
    WeightingOpt,
    WhereOpt,
    YOpt,
    fit_options,
    load_runs,
    parse_points,
)
from .output import check_output, command, emit_json, print_frame, progress_bar, say, warn

app = typer.Typer()

DEFAULT_STORE = Path("scalinglab.duckdb")


@app.command()
@command
def fit(
    runs: RunsArg = None,
    law: LawOpt = "chinchilla",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 200,
    fix: FixOpt = None,
    bound: BoundOpt = None,
    huber_delta: DeltaOpt = 1e-3,
    skip_fraction: SkipOpt = 0.1,
    calibrate: CalibrateOpt = False,
    weighting: WeightingOpt = "none",
    replicates: ReplicatesOpt = None,
    seed: SeedOpt = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Save the fit as JSON here.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            "-s",
            help="Read runs from (when no file is given) and save the fit into this project store.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a scaling law to runs: robust, multi-start, with bootstrap intervals."""
    from ..fitting.api import fit as fit_law
    from ..fitting.data import select
    from ..runs.store import Store

    options = fit_options(
        y=y, family=family, where=where, fix=fix, bound=bound, bootstrap=bootstrap,
        huber_delta=huber_delta, skip_fraction=skip_fraction, seed=seed, calibrate=calibrate,
        weighting=weighting, replicates=tuple(str(p) for p in replicates or ()),
    )  # fmt: skip
    # Where the fit goes is checked before it is computed, not after.
    check_output(output)
    if store:
        Store(store).check_writable("save the fit in the store")
    table = load_runs(runs, store, y)
    with progress_bar(not as_json) as update:
        if law.replace(" ", "") == "lr_annealing:auto":  # the annealing momentum by objective
            from ..planning.schedules import fit_lr_annealing

            result = fit_lr_annealing(table, options, progress=update)
        else:
            result = fit_law(table, law, options, progress=update)
    doc = result.to_json()
    if output:
        result.save(output)
        doc["saved_to"] = str(output)
    if store:
        provenance = {"y": y, "family": family, "where": where, "bootstrap": bootstrap, "fix": fix,
                      "bound": bound, "huber_delta": huber_delta, "skip_fraction": skip_fraction,
                      "seed": seed, "source": table.source, "calibrate": calibrate}  # fmt: skip
        data_hash = select(table, family=options.family, where=where).data_hash()
        doc["fit_id"] = Store(store).save_fit(
            doc, data_hash=data_hash, law=result.law.name, options=provenance
        )
    if as_json:
        doc["bootstrap"] = None if result.samples is None else len(result.samples)
        emit_json(doc)
        return
    say(result.summary())
    if output:
        say(f"saved to {output}")
    if store:
        say(f"saved in the store {store} as fit {doc['fit_id']}")


@app.command()
@command
def predict(
    fit_file: FitArg,
    at: Annotated[
        list[str],
        typer.Option("--at", help="Point to predict: params=7e10,tokens=1.4e12 (repeatable)."),
    ],
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Predict the fitted metric at new scales, with intervals."""
    import pandas as pd

    from ..fitting.result import FitResult

    result = FitResult.from_json(fit_file)
    points = parse_points(at, result.law.variables)
    frames = [result.predict(p, interval=interval) for p in points]
    warnings = sorted({w for f in frames for w in f.attrs.get("warnings", [])})
    table = pd.concat(frames, ignore_index=True)
    for given, row in zip(at, table.itertuples(), strict=True):
        if not math.isfinite(row.value):
            raise InputError(f"--at {given!r}: the law has no finite value there ({row.value})")
        if not (math.isfinite(row.pred_lo) and math.isfinite(row.pred_hi)):
            raise InputError(
                f"--at {given!r}: the prediction interval there is unbounded "
                f"({row.decades:.3g} decades past the data)"
            )
    if as_json:
        emit_json({"law": result.law.name, "interval": interval,
                   "predictions": table.to_dict(orient="records"), "warnings": warnings})  # fmt: skip
        return
    print_frame(table, f"{result.law.name}: predicted {result.y} ({interval:.0%} intervals)")
    warn(warnings)


@app.command()
@command
def backtest(
    runs: RunsArg = None,
    law: LawOpt = "chinchilla",
    holdout: HoldoutOpt = "largest:1",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 200,
    fix: FixOpt = None,
    interval: IntervalOpt = 0.9,
    calibrate: CalibrateOpt = False,
    huber_delta: DeltaOpt = 1e-3,
    weighting: WeightingOpt = "none",
    replicates: ReplicatesOpt = None,
    seed: SeedOpt = 0,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Fit on all but the held-out (largest) runs, predict them, report the errors."""
    from ..fitting.backtest import backtest as run_backtest

    options = fit_options(y=y, family=family, where=where, fix=fix, bootstrap=bootstrap,
                          seed=seed, calibrate=calibrate, huber_delta=huber_delta,
                          weighting=weighting,
                          replicates=tuple(str(p) for p in replicates or ()))  # fmt: skip
    table = load_runs(runs, store, y)
    with progress_bar(not as_json) as update:
        result = run_backtest(
            table, law, options, holdout=holdout, interval=interval, progress=update
        )
    if as_json:
        emit_json(result.to_json())
        return
    columns = ["run_id", *result.fit.law.variables, "actual", "predicted", "lo", "hi",
               "rel_error", "inside"]  # fmt: skip
    print_frame(result.points[columns], f"backtest of {result.fit.law.name}, holdout {holdout}",
                left=["run_id"])  # fmt: skip
    say(result.verdict)
    if result.fit.selection is not None:
        for line in result.fit.selection.summary_lines():
            say(line)
    warn([*result.warnings, *result.fit.warnings])


@app.command()
@command
def laws(as_json: JsonOpt = False) -> None:
    """List every built-in law with its formula and reference."""
    from ..laws import all_laws
    from .output import print_rows

    found = all_laws()
    if as_json:
        emit_json({"laws": [law.to_dict() for law in found]})
        return
    rows = [(law.name, law.display_formula(), ", ".join(p.name for p in law.parameters if p.linear),
             law.reference) for law in found]  # fmt: skip
    print_rows("scalinglab laws (or pass any formula to --law)",
               ("name", "formula", "linear", "reference"), rows,
               left=("name", "formula", "linear", "reference"))  # fmt: skip
