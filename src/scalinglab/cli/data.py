"""Data commands: ``epochs`` (how many epochs before repetition costs more than x%, Muennighoff
et al. 2023), ``best-pool`` (the best data filter at a compute budget, Goyal et al. 2024) and
``curve-form`` (power law or exponential data curve, Sorscher et al. 2022)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import (
    BootOpt,
    FamilyOpt,
    FixOpt,
    IntervalOpt,
    JsonOpt,
    RunFilesArg,
    SeedOpt,
    WhereOpt,
    YOpt,
    fit_options,
    parse_assignments,
    read_files,
    size_option,
)
from .output import command, emit_answer, emit_json, print_answer, print_rows, say, warn

app = typer.Typer()


@app.command()
@command
def epochs(
    fit_file: Annotated[
        Path | None,
        typer.Argument(help="A data_constrained fit (default: Muennighoff et al.'s published)."),
    ] = None,
    params: Annotated[str, typer.Option("--params", help="Model parameters (e.g. 1B).")] = "1e9",
    unique_tokens: Annotated[
        str, typer.Option("--unique-tokens", help="Unique tokens available (e.g. 20B).")
    ] = "2e10",
    cost: Annotated[
        float, typer.Option("--cost", help="Loss above fresh data that is too much (0.01: 1%).")
    ] = 0.01,
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Epochs of the unique tokens before repeating them costs more than --cost of the loss."""
    from ..fitting.result import FitResult
    from ..planning.repetition import repetition_epochs

    fit = None if fit_file is None else FitResult.from_json(fit_file)
    answer = repetition_epochs(
        fit,
        size_option(params, "params"),
        size_option(unique_tokens, "unique_tokens"),
        cost=cost,
        interval=interval,
    )
    doc = answer.to_json()
    emit_answer(doc, f"{answer.title} ({interval:.0%} intervals; {doc['source']})", as_json=as_json)


@app.command("best-pool")
@command
def best_pool_command(
    runs: RunFilesArg,
    family: Annotated[
        list[str], typer.Option("--family", "-f", help="A data pool, as a family (two or more).")
    ],
    budget: Annotated[
        list[str],
        typer.Option("--budget", help="Samples seen in training (repeatable, e.g. 128M)."),
    ],
    pool_size: Annotated[
        list[str] | None,
        typer.Option("--size", help="POOL=SAMPLES, a pool's size (default: its unique_tokens)."),
    ] = None,
    y: YOpt = None,
    where: WhereOpt = None,
    fix: FixOpt = None,
    bootstrap: BootOpt = 200,
    interval: IntervalOpt = 0.9,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """The best data filter (top-m pools by utility) at each budget, from per-pool fits."""
    from ..compare.pools import best_pool, fit_pools

    sizes = {name: size_option(value, "size")
             for name, value in parse_assignments(pool_size, "--size").items()}  # fmt: skip
    unknown = [name for name in sizes if name not in family]
    if unknown:
        raise InputError(f"--size {unknown[0]}: not a pool given with --family")
    budgets = [size_option(b, "budget") for b in budget]
    options = fit_options(y=y, where=where, fix=fix, bootstrap=bootstrap, seed=seed)
    fits = fit_pools(read_files(runs), list(family), options)
    result = best_pool(fits, budgets, sizes=sizes or None, interval=interval)
    doc = result.to_json()
    if as_json:
        emit_json(doc)
        return
    rows = [(p, f"{u['b']:.4g}", f"[{u['ci']['b'][0]:.4g}, {u['ci']['b'][1]:.4g}]",
             f"{u['tau']:.3g}", f"{doc['sizes'][p]:.4g}") for p, u in doc["utility"].items()]  # fmt: skip
    print_rows(f"pools by utility ({interval:.0%} intervals)",
               ("pool", "b", "interval", "tau (half-life)", "size"), rows, left=("pool",))  # fmt: skip
    rows = [(f"{b['samples']:.4g}", b["best"], f"{b['p_best']:.0%}",
             f"{b['candidates'][b['best']]['error']:.4f}") for b in doc["budgets"]]  # fmt: skip
    print_rows("best filter by budget", ("samples", "best pools", "P(best)", "error"), rows,
               left=("best pools",))  # fmt: skip
    for s in doc["switches"]:
        say(f"near {s['samples']:.3g} samples the best filter goes from {s['from']} to {s['to']}")
    warn(doc["warnings"])


@app.command("curve-form")
@command
def curve_form_command(
    runs: RunFilesArg,
    x: Annotated[str, typer.Option("--x", help="The dataset-size column.")] = "tokens",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    decisive: Annotated[
        float, typer.Option("--decisive", help="How many times worse the loser must be.")
    ] = 1.5,
    as_json: JsonOpt = False,
) -> None:
    """Power law or exponential in dataset size: which extrapolates inside the runs."""
    from ..planning.data_curves import curve_form, fit_curve_forms

    table = read_files(runs)
    if x not in table.variables():
        raise InputError(
            f"{x!r} is not a numeric column of the runs (numeric columns: "
            f"{', '.join(table.variables())})",
            option="x",
        )
    options = fit_options(y=y, family=family, where=where)
    answer = curve_form(fit_curve_forms(table, x, options), decisive=decisive)
    doc = answer.to_json()
    if as_json:
        emit_json(doc)
        return
    print_answer(answer.title, {k: v for k, v in doc.items() if not isinstance(v, dict)})
    keys = ("law", "score", "weight", "nested_error", "prediction_at_probe", "excluded")
    rows = []
    for form in ("power law", "exponential"):
        d = doc[form]
        score = "-" if d["score"] is None else f"{d['score']:.4g}"
        err = "-" if d["nested_error"] is None else f"{d['nested_error']:.2%}"
        fitted = " ".join(f"{k}={v:.4g}" for k, v in d.items() if k not in keys)
        rows.append((form, d["law"], score, err, fitted, d.get("excluded", "")))
    print_rows("cross-extrapolation inside the runs (score: log error per decade, lower wins)",
               ("form", "law", "score", "nested error", "fitted", "excluded"), rows,
               left=("form", "law", "fitted", "excluded"))  # fmt: skip
    for note in doc["notes"]:
        say(f"note: {note}")
    warn(doc["warnings"])
