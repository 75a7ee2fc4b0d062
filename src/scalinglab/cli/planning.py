"""Planning commands: ``plan`` (questions a saved fit answers), ``isoflop`` (Hoffmann et al.'s
Approaches 1-3 on raw runs) and ``compare`` (which family wins at a budget, where they cross)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import (
    BootOpt,
    FamilyOpt,
    FitArg,
    FlopsModelOpt,
    IntervalOpt,
    JsonOpt,
    LawOpt,
    ReplicatesOpt,
    SeedOpt,
    WhereOpt,
    YOpt,
    fit_options,
    parse_assignments,
    read_files,
)
from .output import command, emit_answer, emit_json, print_rows, progress_bar, say, warn

app = typer.Typer()


@app.command()
@command
def plan(
    fit_file: FitArg,
    flops: Annotated[
        str | None,
        typer.Option("--flops", help="Training budget C in FLOPs (compute-optimal N and D)."),
    ] = None,
    target_loss: Annotated[
        float | None, typer.Option("--target-loss", help="A loss to reach.")
    ] = None,
    params: Annotated[
        str | None,
        typer.Option("--params", help="Model size N (loss at N, D; tokens to a target)."),
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option("--tokens", help="Training tokens D (with --params: the loss there)."),
    ] = None,
    inference_tokens: Annotated[
        str | None,
        typer.Option(
            "--inference-tokens", help="Tokens the model will serve over its life (2N FLOPs each)."
        ),
    ] = None,
    flops_model: FlopsModelOpt = "6*params*tokens",
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", help="Accelerator for the cost: h100, a100, b200, tpu-v5p, ..."),
    ] = None,
    peak_flops: Annotated[
        float | None, typer.Option("--peak-flops", help="Peak FLOP/s of a custom accelerator.")
    ] = None,
    mfu: Annotated[
        float, typer.Option("--mfu", help="Model FLOPs utilisation (share of peak achieved).")
    ] = 0.4,
    price: Annotated[
        float | None, typer.Option("--price", help="Price per accelerator-hour.")
    ] = None,
    interval: IntervalOpt = 0.9,
    lr: Annotated[
        bool,
        typer.Option(
            "--lr", help="Also recommend a learning rate and batch size (Step Law or --sweep-fit)."
        ),
    ] = False,
    sweep_fit: Annotated[
        Path | None,
        typer.Option(
            "--sweep-fit",
            help="An `scalinglab lr-sweep -o` JSON whose trend gives the learning rate.",
        ),
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option(
            "--seq-len", min=1, help="Sequence length, to give the batch in sequences too."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer planning questions from a fit: compute-optimal N and D, tokens to a target, cost."""
    from ..planning.questions import plan as answer

    result = answer(
        fit_file, flops=flops, target_loss=target_loss, params=params, tokens=tokens,
        inference_tokens=inference_tokens, flops_model=flops_model, gpu=gpu,
        peak_flops=peak_flops, mfu=mfu, price=price, interval=interval, lr=lr,
        sweep_fit=sweep_fit, seq_len=seq_len,
    )  # fmt: skip
    doc = result.to_json()
    emit_answer(doc, f"plan from {doc['law']} fit ({interval:.0%} intervals)", as_json=as_json)


@app.command()
@command
def isoflop(
    runs: Annotated[
        list[Path], typer.Argument(help="Run table file(s): IsoFLOP slices and/or training curves.")
    ],
    law: LawOpt = "chinchilla",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 200,
    flops: Annotated[
        str | None,
        typer.Option("--flops", help="Also report each approach's N_opt at this budget."),
    ] = None,
    interval: IntervalOpt = 0.9,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Hoffmann et al.'s Approaches 1-3 side by side, with Approach 2's estimated bias."""
    from ..planning.isoflop import isoflop_analysis
    from ..planning.questions import size

    options = fit_options(y=y, family=family, where=where, bootstrap=bootstrap, seed=seed)
    budget = size(flops, "flops")
    table = read_files(runs)
    with progress_bar(not as_json) as update:
        result = isoflop_analysis(
            table, law, options, interval=interval, flops=budget, progress=update
        )
    if as_json:
        emit_json(result.to_json())
        return
    frame = result.table()
    columns = ["approach", "a", "interval a", "b", "interval b"]
    columns += ["N_opt at C"] if result.flops else []
    rows = []
    for _, row in frame.iterrows():
        cells = [row["approach"], f"{row['a']:.3f}", f"[{row['a_lo']:.3f}, {row['a_hi']:.3f}]",
                 f"{row['b']:.3f}", f"[{row['b_lo']:.3f}, {row['b_hi']:.3f}]"]  # fmt: skip
        if result.flops:
            cells.append(f"{row['params_at_flops']:.3g}")
        rows.append(cells)
    print_rows(f"compute-optimal exponents: N_opt ∝ C^a, D_opt ∝ C^b ({interval:.0%} intervals)",
               columns, rows)  # fmt: skip
    b = result.bias
    say(
        f"Approach 2's bias estimated from the Approach-3 fit: a {b.exponent:+.4f} "
        f"[{b.exponent_ci[0]:+.4f}, {b.exponent_ci[1]:+.4f}]; corrected a = "
        f"{result.approach2.a - b.exponent:.3f}"
    )
    for note in result.notes:
        say(f"note: {note}")
    warn(result.warnings)


def _range(text: str | None) -> tuple[float, float] | None:
    from ..planning.questions import size

    if text is None:
        return None
    lo, sep, hi = text.partition(":")
    if not sep:
        raise InputError(f"{text!r}: expected lo:hi, e.g. 1e18:1e26", option="range")
    low, high = size(lo, "range"), size(hi, "range")
    assert low is not None and high is not None
    if low >= high:
        raise InputError(f"{text!r}: expected lo < hi", option="range")
    return low, high


@app.command()
@command
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run table file(s) holding every family.")],
    family: Annotated[
        list[str], typer.Option("--family", "-f", help="A family to compare (give two or more).")
    ],
    law: LawOpt = "chinchilla",
    y: YOpt = None,
    where: WhereOpt = None,
    flops: Annotated[
        str | None, typer.Option("--flops", help="Compare at this training budget (FLOPs).")
    ] = None,
    hours: Annotated[
        str | None,
        typer.Option("--hours", help="Compare at equal accelerator-hours (needs --throughput)."),
    ] = None,
    throughput: Annotated[
        list[str] | None,
        typer.Option("--throughput", help="FAMILY=FLOP/s sustained per accelerator (repeatable)."),
    ] = None,
    shared_exponents: Annotated[
        bool,
        typer.Option(
            "--shared-exponents", help="One joint fit: shared exponents, per-family coefficients."
        ),
    ] = False,
    search: Annotated[
        str | None, typer.Option("--range", help="Budgets searched for a crossover, lo:hi.")
    ] = None,
    flops_model: FlopsModelOpt = "6*params*tokens",
    bootstrap: BootOpt = 200,
    interval: IntervalOpt = 0.9,
    replicates: ReplicatesOpt = None,
    confidence: Annotated[
        float,
        typer.Option(
            "--confidence",
            min=0.5,
            max=0.999,
            help="With --replicates: the seeds or budget a call at this confidence needs.",
        ),
    ] = 0.95,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Which family wins at a budget, with what probability, and where their laws cross."""
    from ..compare import compare as run_compare
    from ..planning.questions import size

    rates = None
    if throughput:
        rates = {name: size(value, "throughput")
                 for name, value in parse_assignments(throughput, "--throughput").items()}  # fmt: skip
    options = fit_options(y=y, where=where, bootstrap=bootstrap, seed=seed,
                          replicates=tuple(str(p) for p in replicates or ()))  # fmt: skip
    budget, scale_hours, search_range = size(flops, "flops"), size(hours, "hours"), _range(search)
    table = read_files(runs)
    with progress_bar(not as_json) as update:
        result = run_compare(
            table, list(family), law, options, flops=budget, hours=scale_hours, throughput=rates,
            shared_exponents=shared_exponents, flops_model=flops_model, search_range=search_range,
            interval=interval, confidence=confidence, progress=update,
        )  # fmt: skip
    doc = result.to_json()
    if as_json:
        emit_json(doc)
        return
    for part in (doc, doc.get("accelerator_hours")):
        if not part:
            continue
        unit = part["unit"]
        scale = part[unit]
        label = "FLOPs" if unit == "flops" else "accelerator-hours"
        if scale is not None:
            rows = []
            for name, row in part["families"].items():
                p = part["p_best"].get(name)
                rows.append((name, f"{row['loss']:.4f}", f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}]",
                             "" if p is None else f"{p:.0%}"))  # fmt: skip
            print_rows(f"{result.law} at {scale:.3g} {label} ({interval:.0%} intervals)",
                       ("family", "loss", "interval", "P(best)"), rows)  # fmt: skip
            if part["winner"]:
                p = part["p_win"]
                say(f"winner: {part['winner']}" + ("" if p is None else f" (probability {p:.0%})"))
        for c in part["crossovers"]:
            a, b = c["families"]
            if c[unit] is None:
                say(
                    f"{a} vs {b}: {c['message']} (crossover in {c['p_crossover']:.0%} of replicates)"
                )
            else:
                say(
                    f"{a} vs {b}: cross at {c[unit]:.3g} {label} [{c['ci'][0]:.3g}, {c['ci'][1]:.3g}]; "
                    f"{c['winner_below']} wins below, {c['winner_above']} above "
                    f"(crossover in {c['p_crossover']:.0%} of replicates)"
                )
    noise = doc.get("seed_noise")
    if noise:  # the laws alone vs one run's seed noise added (--replicates)
        law_only = ", ".join(f"{k} {v:.0%}" for k, v in noise.get("p_best_law", {}).items())
        say(f"with seed noise: P(best) above; from the laws alone {law_only}")
        seeds = noise.get("seeds_needed")
        level = f"{noise.get('confidence', confidence):.0%}"
        say(f"a call at {level} needs {seeds} seed(s) per run" if seeds
            else f"no number of seeds makes the call at {level}")  # fmt: skip
        budget_needed = noise.get("budget_for_confidence")
        if budget_needed:
            unit = "FLOPs" if doc["unit"] == "flops" else "accelerator-hours"
            say(f"one run per family makes the call at {level} from {budget_needed:.3g} {unit} "
                f"({noise.get('winner_there')} wins there)")  # fmt: skip
    warn(doc.get("warnings", []))
