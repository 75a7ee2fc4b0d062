"""The law zoo's own questions: ``lr-sweep``, ``hparams``, ``density``, ``regimes``,
``schedule`` and ``steps-to-loss``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import (
    FamilyOpt,
    FitArg,
    JsonOpt,
    RunFilesArg,
    WhereOpt,
    YOpt,
    family_option,
    read_files,
    size_option,
)
from .output import check_output, command, emit_json, print_frame, say, warn, write_json

app = typer.Typer()


@app.command("lr-sweep")
@command
def lr_sweep(
    runs: RunFilesArg,
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    lr_column: Annotated[
        str | None,
        typer.Option(
            "--lr-column", help="Column of the learning rate (default: peak_lr, else lr)."
        ),
    ] = None,
    init_loss: Annotated[
        float | None,
        typer.Option("--init-loss", help="Loss counted for diverged runs in the LR sensitivity."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Save the analysis as JSON (for hparams --sweep-fit)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Optimal learning rate per model size (parabola in log-lr), LR sensitivity, trend with N."""
    from ..planning.hyperparams import analyze_lr_sweep

    check_output(output)
    sweep = analyze_lr_sweep(
        read_files(runs),
        y=y,
        lr_column=lr_column,
        family=family_option(family),
        where=where,
        init_loss=init_loss,
    )
    doc = sweep.to_json()
    if output:
        write_json(output, doc)
    if as_json:
        emit_json(doc)
        return
    print_frame(sweep.per_size, f"LR sweep ({sweep.lr_column})")
    if sweep.trend:
        t = sweep.trend
        text = f"trend: lr_opt = {t['c']:.4g} * N^-{t['alpha']:.3f}"
        if t.get("beta") is not None:
            text += f" * D^{t['beta']:.3f}"
        say(text + f" ({t['n_sizes']} sizes, rms log residual {t['rms_log_residual']:.3f})")
    warn(sweep.warnings)


@app.command()
@command
def hparams(
    params: Annotated[str, typer.Option("--params", help="Planned parameters (e.g. 1B, 7e9).")],
    tokens: Annotated[str, typer.Option("--tokens", help="Planned training tokens (e.g. 100B).")],
    sweep_fit: Annotated[
        Path | None,
        typer.Option("--sweep-fit", help="An `lr-sweep -o` JSON: take the lr from its trend."),
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option("--seq-len", min=1, help="Sequence length, to give the batch in sequences."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Learning rate and batch size for a planned run (Step Law, or an LR sweep's trend)."""
    from ..planning.hyperparams import recommend_hyperparameters

    rec = recommend_hyperparameters(
        size_option(params, "params"),
        size_option(tokens, "tokens"),
        sweep=sweep_fit,
        seq_len=seq_len,
    )
    if as_json:
        emit_json(rec)
        return
    say(f"learning rate  {rec['lr']:.4g}  ({rec['lr_source']}; Step Law {rec['step_law_lr']:.4g})")
    batch = f"{rec['batch_tokens']:.4g} tokens"
    if "batch_sequences" in rec:
        batch += f" = {rec['batch_sequences']} sequences of {rec['seq_len']}"
    say(f"batch size     {batch}  ({rec['batch_source']})")
    warn(rec["warnings"])


@app.command()
@command
def density(
    fit_file: FitArg,
    params: Annotated[str, typer.Option("--params", help="The model's parameter count.")],
    loss: Annotated[
        float, typer.Option("--loss", help="The model's loss (same metric as the reference fit).")
    ],
    tokens: Annotated[
        str | None, typer.Option("--tokens", help="Tokens it was trained on.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Effective parameter count and capacity density of a model, against a fitted reference law."""
    from ..fitting.result import FitResult
    from ..laws.density import capacity_density

    ref = FitResult.from_json(fit_file)
    result = capacity_density(
        ref,
        size_option(params, "params"),
        loss,
        tokens=None if tokens is None else size_option(tokens, "tokens"),
    )
    result["reference_law"] = ref.law.name
    if as_json:
        emit_json(result)
        return
    say(
        f"effective params {result['effective_params']:.4g} for {result['params']:.4g} params: "
        f"density {result['density']:.3f} (reference: {ref.law.name} fit {fit_file})"
    )


@app.command("regimes")
@command
def regimes_command(
    runs: RunFilesArg,
    x: Annotated[
        str,
        typer.Option("--x", help="The scale to follow: params, tokens, flops, step or a column."),
    ] = "params",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Local exponent d log L / d log x along the data: regimes, breaks, learning-curve regions."""
    from ..planning.regimes import regimes

    table = read_files(runs)
    if x not in table.variables():
        raise InputError(
            f"{x!r} is not a numeric column to follow (numeric columns: "
            f"{', '.join(table.variables())})",
            option="x",
        )
    report = regimes(table, x=x, y=y, family=family_option(family), where=where)
    if as_json:
        emit_json(report.to_json())
        return
    print_frame(
        report.points[["x", "value", "reducible", "exponent", "regime", "region"]],
        f"local exponent of the reducible loss along {x} (floor E = {report.floor:.4g}, "
        f"fitted exponent {report.exponent:.3f})",
    )
    for b in report.breaks:
        say(
            f"break near {x} = {b['x']:.3g}: exponent {b['exponent_before']:.3f} -> {b['exponent_after']:.3f}"
        )
    warn(report.warnings)


@app.command()
@command
def schedule(
    fit_file: FitArg,
    schedule: Annotated[
        list[str], typer.Option("--schedule", help="cosine, wsd or constant (repeatable).")
    ],
    steps: Annotated[int, typer.Option("--steps", min=1, help="Training steps.")],
    peak_lr: Annotated[float, typer.Option("--peak-lr", help="Peak learning rate.")],
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Warm-up steps.")] = 0,
    min_lr_ratio: Annotated[
        float, typer.Option("--min-lr-ratio", help="Final lr / peak (cosine, wsd).")
    ] = 0.1,
    decay_fraction: Annotated[
        float, typer.Option("--decay-fraction", help="Share of steps in WSD's decay.")
    ] = 0.2,
    every: Annotated[
        int,
        typer.Option(
            "--every", min=0, help="Report the curve every this many steps (0: 20 points)."
        ),
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Predicted loss curve of an lr_annealing fit under another learning-rate schedule."""
    from ..fitting.result import FitResult
    from ..planning.schedules import predict_schedule
    from ..runs.schedules import schedule_lr

    fit = FitResult.from_json(fit_file)
    every = every or max(1, steps // 20)
    results = {}
    for name in schedule:
        lr = schedule_lr(
            name,
            steps,
            peak_lr,
            warmup_steps=warmup,
            min_lr_ratio=min_lr_ratio,
            decay_fraction=decay_fraction,
        )
        results[name] = predict_schedule(fit, lr, every=every)
    if as_json:
        emit_json({
            "law": fit.law.name,
            "steps": steps,
            "peak_lr": peak_lr,
            "schedules": {
                name: {"final": curve.iloc[-1].to_dict(), "curve": curve.to_dict(orient="records")}
                for name, curve in results.items()
            },
        })  # fmt: skip
        return
    for name, curve in results.items():
        print_frame(curve, f"{name}: predicted {fit.y} (lr_annealing fit {fit_file})")
    finals = ", ".join(f"{n} {c['value'].iloc[-1]:.4f}" for n, c in results.items())
    say(f"final loss after {steps} steps: {finals}")


@app.command("steps-to-loss")
@command
def steps_to_loss_command(
    fit_file: Annotated[
        Path | None,
        typer.Argument(help="A kaplan_ns fit (default: Kaplan et al.'s published constants)."),
    ] = None,
    params: Annotated[str, typer.Option("--params", help="Model parameters.")] = "1e9",
    loss: Annotated[float, typer.Option("--loss", help="Target loss.")] = 3.0,
    batch: Annotated[str, typer.Option("--batch", help="Batch size in tokens.")] = "5e5",
    as_json: JsonOpt = False,
) -> None:
    """Steps and tokens to reach a loss at a batch size (Kaplan's L(N, S_min) + critical batch)."""
    from ..fitting.result import FitResult
    from ..laws.kaplan import KAPLAN_NS, steps_to_loss

    if fit_file is None:
        values, source = dict(KAPLAN_NS.published), "Kaplan et al. 2020 (published)"
    else:
        fit = FitResult.from_json(fit_file)
        if fit.law.name != "kaplan_ns":
            raise InputError(
                f"steps-to-loss needs a fit of law 'kaplan_ns', not {fit.law.name!r}",
                file=str(fit_file),
            )
        values, source = fit.params, str(fit_file)
    result = steps_to_loss(values, size_option(params, "params"), loss, size_option(batch, "batch"))
    result["source"] = source
    if as_json:
        emit_json(result)
        return
    say(
        f"loss {loss:g} with {result['params']:.3g} params at batch {result['batch_tokens']:.3g} tokens: "
        f"{result['steps']:.4g} steps, {result['tokens']:.4g} tokens (critical batch "
        f"{result['critical_batch_tokens']:.3g}; S_min {result['min_steps']:.4g}, E_min {result['min_tokens']:.4g}); {source}"
    )
