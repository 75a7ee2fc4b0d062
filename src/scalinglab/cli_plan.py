"""CLI commands for the plan stage; they register on :data:`scalinglab.cli.app`.

``plan`` answers questions from a saved fit; ``isoflop`` compares Hoffmann et al.'s three
approaches on raw runs; ``compare`` says which family wins at a budget and where they cross.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .cli import (
    BootOpt,
    FamilyOpt,
    JsonOpt,
    LawOpt,
    SeedOpt,
    WhereOpt,
    YOpt,
    app,
    cli_command,
    console,
    emit_json,
    err_console,
    parse_assignments,
    progress_bar,
)
from .errors import InputError

IntervalOpt = Annotated[
    float, typer.Option("--interval", min=0.01, max=0.999, help="Interval level.")
]


def _size(text: str | None, option: str, *, zero: bool = False) -> float | None:
    from .runs.sizes import parse_size

    if text is None:
        return None
    try:
        value = parse_size(str(text))
    except ValueError:
        raise InputError(f"{option} {text!r}: expected a number such as 5.76e23 or 70B") from None
    if not (math.isfinite(value) and (value > 0 or (zero and value == 0))):
        raise InputError(f"{option} {text!r}: expected a positive number")
    return value


def _print_doc(title: str, doc: dict[str, Any]) -> None:
    """Key/value lines for humans: numbers with their interval when the doc has one."""
    out = Table(title=title, show_header=False)
    out.add_column("quantity")
    out.add_column("value", justify="right")
    out.add_column("interval", justify="right")
    ci = doc.get("ci", {})
    for key, value in doc.items():
        if key in ("ci", "warnings") or isinstance(value, dict | list):
            continue
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        span = ci.get(key)
        missing = (
            not span or span[0] is None or (isinstance(span[0], float) and math.isnan(span[0]))
        )
        interval = "" if missing else f"[{span[0]:.4g}, {span[1]:.4g}]"
        out.add_row(key, text, interval)
    console.print(out)
    for key, value in doc.items():
        if isinstance(value, dict) and key not in ("ci",):
            _print_doc(f"{title}: {key}", value)


def _warn(doc: dict[str, Any]) -> None:
    for w in doc.get("warnings", []):
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)


@app.command()
@cli_command
def plan(
    fit_file: Annotated[
        Path, typer.Argument(help="A fit saved with `scalinglab fit -o FIT.json`.")
    ],
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
    flops_model: Annotated[
        str, typer.Option("--flops-model", help="Training FLOPs of params and tokens.")
    ] = "6*params*tokens",
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
    from .fitting.result import FitResult
    from .planning import allocation, cost, inference, targets

    fit = FitResult.from_json(fit_file)
    budget = _size(flops, "--flops")
    n = _size(params, "--params")
    d = _size(tokens, "--tokens")
    t_inf = _size(inference_tokens, "--inference-tokens", zero=True)
    model = allocation.FlopsModel(flops_model)
    hw = None
    if gpu is not None or peak_flops is not None:
        hw = cost.hardware(gpu, peak_flops=peak_flops, mfu=mfu, price=price)
    elif price is not None:
        raise InputError("--price needs --gpu NAME or --peak-flops")

    doc: dict[str, Any]
    if budget is not None:
        if n is not None or d is not None:
            raise InputError(
                "--flops chooses N and D itself: drop --params/--tokens, or drop --flops"
            )
        result = allocation.compute_optimal(fit, budget, flops_model=model, interval=interval)
        doc = result.to_json()
        if hw is not None:
            doc["cost"] = cost.training_cost(budget, hw)
        if target_loss is not None:
            doc["models_for_target"] = targets.models_for_target(
                fit, budget, target_loss, flops_model=model, interval=interval
            ).to_json()
        if t_inf is not None:
            doc["inference_aware"] = inference.inference_optimal(
                fit, inference_tokens=t_inf, target_loss=target_loss, flops=budget,
                flops_model=model, interval=interval,
            ).to_json()  # fmt: skip
    elif n is not None and d is not None:
        if target_loss is not None:
            raise InputError("--params with --tokens asks for the loss there: drop --target-loss")
        doc = allocation.loss_at(fit, n, d, interval=interval)
        doc["flops"] = float(model(n, d))
        if hw is not None:
            doc["cost"] = cost.training_cost(doc["flops"], hw)
    elif n is not None and target_loss is not None:
        result = targets.tokens_to_target(fit, target_loss, n, flops_model=model, interval=interval)
        doc = result.to_json()
        if hw is not None:
            doc["cost"] = cost.training_cost(
                result.flops.value, hw, replicates=result.flops.replicates, interval=interval
            )
    elif target_loss is not None:
        result = inference.inference_optimal(
            fit,
            inference_tokens=t_inf or 0.0,
            target_loss=target_loss,
            flops_model=model,
            interval=interval,
        )
        doc = result.to_json()
        doc["loss"] = doc["target_loss"]
        if hw is not None:
            doc["cost"] = cost.training_cost(
                result.train_flops.value,
                hw,
                replicates=result.train_flops.replicates,
                interval=interval,
            )
    else:
        raise InputError(
            "plan needs a question: --flops C, --target-loss L, or --params N with --tokens D or --target-loss L"
        )
    doc.setdefault("law", fit.law.name)
    if lr or sweep_fit is not None:
        from .planning.hyperparams import recommend_hyperparameters

        if not all(isinstance(doc.get(k), float) for k in ("params", "tokens")):
            raise InputError(
                "--lr needs a plan with a model size and a token count (--flops, or --params with --tokens)"
            )
        doc["hyperparameters"] = recommend_hyperparameters(
            doc["params"], doc["tokens"], sweep=sweep_fit, seq_len=seq_len
        )
    if as_json:
        emit_json(doc)
        return
    _print_doc(f"plan from {fit.law.name} fit ({interval:.0%} intervals)", doc)
    _warn(doc)


@app.command()
@cli_command
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
    from .cli import _family
    from .planning.isoflop import isoflop_analysis
    from .runs import read_runs

    table = read_runs([str(p) for p in runs] if len(runs) > 1 else str(runs[0]))
    with progress_bar(not as_json) as update:
        result = isoflop_analysis(
            table, y=y, family=_family(family), where=where, law=law, bootstrap=bootstrap,
            seed=seed, interval=interval, flops=_size(flops, "--flops"), progress=update,
        )  # fmt: skip
    if as_json:
        emit_json(result.to_json())
        return
    frame = result.table()
    out = Table(
        title=f"compute-optimal exponents: N_opt ∝ C^a, D_opt ∝ C^b ({interval:.0%} intervals)"
    )
    for col in (
        "approach",
        "a",
        "interval a",
        "b",
        "interval b",
        *(["N_opt at C"] if result.flops else []),
    ):
        out.add_column(col, justify="right")
    for _, row in frame.iterrows():
        cells = [row["approach"], f"{row['a']:.3f}", f"[{row['a_lo']:.3f}, {row['a_hi']:.3f}]",
                 f"{row['b']:.3f}", f"[{row['b_lo']:.3f}, {row['b_hi']:.3f}]"]  # fmt: skip
        if result.flops:
            cells.append(f"{row['params_at_flops']:.3g}")
        out.add_row(*cells)
    console.print(out)
    b = result.bias
    console.print(
        f"Approach 2's bias estimated from the Approach-3 fit: a {b.exponent:+.4f} "
        f"[{b.exponent_ci[0]:+.4f}, {b.exponent_ci[1]:+.4f}]; corrected a = {result.approach2.a - b.exponent:.3f}",
        markup=False,
        highlight=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    _warn(result.to_json())


def _range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    lo, sep, hi = text.partition(":")
    if not sep:
        raise InputError(f"--range {text!r}: expected lo:hi, e.g. 1e18:1e26")
    low, high = _size(lo, "--range"), _size(hi, "--range")
    assert low is not None and high is not None
    if low >= high:
        raise InputError(f"--range {text!r}: expected lo < hi")
    return low, high


@app.command()
@cli_command
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
    flops_model: Annotated[
        str, typer.Option("--flops-model", help="Training FLOPs of params and tokens.")
    ] = "6*params*tokens",
    bootstrap: BootOpt = 200,
    interval: IntervalOpt = 0.9,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Which family wins at a budget, with what probability, and where their laws cross."""
    from .compare import compare as run_compare
    from .runs import read_runs

    rates = None
    if throughput:
        rates = {}
        for name, value in parse_assignments(throughput, "--throughput").items():
            rates[name] = _size(value, f"--throughput {name}=")
    table = read_runs([str(p) for p in runs] if len(runs) > 1 else str(runs[0]))
    with progress_bar(not as_json) as update:
        result = run_compare(
            table, list(family), law, flops=_size(flops, "--flops"), hours=_size(hours, "--hours"),
            throughput=rates, shared_exponents=shared_exponents, y=y, where=where,
            bootstrap=bootstrap, seed=seed, flops_model=flops_model, search_range=_range(search),
            interval=interval, progress=update,
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
            out = Table(title=f"{result.law} at {scale:.3g} {label} ({interval:.0%} intervals)")
            for col in ("family", "loss", "interval", "P(best)"):
                out.add_column(col, justify="right")
            for name, row in part["families"].items():
                p = part["p_best"].get(name)
                out.add_row(name, f"{row['loss']:.4f}", f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}]",
                            "" if p is None else f"{p:.0%}")  # fmt: skip
            console.print(out)
            if part["winner"]:
                p = part["p_win"]
                console.print(
                    f"winner: {part['winner']}" + ("" if p is None else f" (probability {p:.0%})"),
                    markup=False,
                )
        for c in part["crossovers"]:
            a, b = c["families"]
            if c[unit] is None:
                console.print(
                    f"{a} vs {b}: {c['message']} (crossover in {c['p_crossover']:.0%} of replicates)",
                    markup=False,
                )
            else:
                console.print(
                    f"{a} vs {b}: cross at {c[unit]:.3g} {label} [{c['ci'][0]:.3g}, {c['ci'][1]:.3g}]; "
                    f"{c['winner_below']} wins below, {c['winner_above']} above "
                    f"(crossover in {c['p_crossover']:.0%} of replicates)",
                    markup=False,
                )
    _warn(doc)
