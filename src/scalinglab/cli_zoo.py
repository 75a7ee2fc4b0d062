"""CLI commands for the zoo stage; they register on :data:`scalinglab.cli.app`.

``lr-sweep``, ``hparams``, ``density``, ``regimes``, ``schedule`` and ``steps-to-loss``: the
law-specific questions of the law zoo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .cli import (
    FamilyOpt,
    JsonOpt,
    WhereOpt,
    YOpt,
    _family,
    app,
    cli_command,
    console,
    emit_json,
    err_console,
)
from .errors import InputError

FitArg = Annotated[Path, typer.Argument(help="A fit saved with `scalinglab fit -o FIT.json`.")]
RunsArg = Annotated[
    list[Path],
    typer.Argument(help="Run table file(s): CSV, Parquet, JSONL, W&B export, TensorBoard."),
]


def _read(runs: list[Path]):  # noqa: ANN202
    from .runs import read_runs

    return read_runs([str(p) for p in runs] if len(runs) > 1 else str(runs[0]))


def _print_frame(frame, title: str) -> None:  # noqa: ANN001
    out = Table(title=title)
    for col in frame.columns:
        out.add_column(str(col), justify="right")
    for _, row in frame.iterrows():
        out.add_row(*(f"{v:.5g}" if isinstance(v, float) else str(v) for v in row))
    console.print(out)


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)


@app.command("lr-sweep")
@cli_command
def lr_sweep(
    runs: RunsArg,
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
    import json

    from .planning.hyperparams import analyze_lr_sweep

    sweep = analyze_lr_sweep(
        _read(runs),
        y=y,
        lr_column=lr_column,
        family=_family(family),
        where=where,
        init_loss=init_loss,
    )
    doc = sweep.to_json()
    if output:
        output.write_text(json.dumps(doc, indent=1))
    if as_json:
        emit_json(doc)
        return
    _print_frame(sweep.per_size, f"LR sweep ({sweep.lr_column})")
    if sweep.trend:
        t = sweep.trend
        text = f"trend: lr_opt = {t['c']:.4g} * N^-{t['alpha']:.3f}"
        if t.get("beta") is not None:
            text += f" * D^{t['beta']:.3f}"
        console.print(
            text + f" ({t['n_sizes']} sizes, rms log residual {t['rms_log_residual']:.3f})"
        )
    _warn(sweep.warnings)


@app.command()
@cli_command
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
    from .planning.hyperparams import recommend_hyperparameters

    rec = recommend_hyperparameters(
        _size(params, "--params"), _size(tokens, "--tokens"), sweep=sweep_fit, seq_len=seq_len
    )
    if as_json:
        emit_json(rec)
        return
    console.print(
        f"learning rate  {rec['lr']:.4g}  ({rec['lr_source']}; Step Law {rec['step_law_lr']:.4g})"
    )
    batch = f"{rec['batch_tokens']:.4g} tokens"
    if "batch_sequences" in rec:
        batch += f" = {rec['batch_sequences']} sequences of {rec['seq_len']}"
    console.print(f"batch size     {batch}  ({rec['batch_source']})")
    _warn(rec["warnings"])


@app.command()
@cli_command
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
    from .fitting.result import FitResult
    from .laws.density import capacity_density

    ref = FitResult.from_json(fit_file)
    result = capacity_density(
        ref,
        _size(params, "--params"),
        loss,
        tokens=None if tokens is None else _size(tokens, "--tokens"),
    )
    result["reference_law"] = ref.law.name
    if as_json:
        emit_json(result)
        return
    console.print(
        f"effective params {result['effective_params']:.4g} for {result['params']:.4g} params: "
        f"density {result['density']:.3f} (reference: {ref.law.name} fit {fit_file})"
    )


@app.command("regimes")
@cli_command
def regimes_command(
    runs: RunsArg,
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
    from .planning.regimes import regimes

    report = regimes(_read(runs), x=x, y=y, family=_family(family), where=where)
    if as_json:
        emit_json(report.to_json())
        return
    _print_frame(
        report.points[["x", "value", "reducible", "exponent", "regime", "region"]],
        f"local exponent of the reducible loss along {x} (floor E = {report.floor:.4g}, "
        f"fitted exponent {report.exponent:.3f})",
    )
    for b in report.breaks:
        console.print(
            f"break near {x} = {b['x']:.3g}: exponent {b['exponent_before']:.3f} -> {b['exponent_after']:.3f}"
        )
    _warn(report.warnings)


@app.command()
@cli_command
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
    from .fitting.result import FitResult
    from .laws.schedules import schedule_lr
    from .planning.schedules import predict_schedule

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
        _print_frame(curve, f"{name}: predicted {fit.y} (lr_annealing fit {fit_file})")
    finals = ", ".join(f"{n} {c['value'].iloc[-1]:.4f}" for n, c in results.items())
    console.print(f"final loss after {steps} steps: {finals}")


@app.command("steps-to-loss")
@cli_command
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
    from .fitting.result import FitResult
    from .laws.kaplan import KAPLAN_NS, steps_to_loss

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
    result = steps_to_loss(values, _size(params, "--params"), loss, _size(batch, "--batch"))
    result["source"] = source
    if as_json:
        emit_json(result)
        return
    console.print(
        f"loss {loss:g} with {result['params']:.3g} params at batch {result['batch_tokens']:.3g} tokens: "
        f"{result['steps']:.4g} steps, {result['tokens']:.4g} tokens (critical batch "
        f"{result['critical_batch_tokens']:.3g}; S_min {result['min_steps']:.4g}, E_min {result['min_tokens']:.4g}); {source}"
    )


def _size(text: str, option: str) -> float:
    from .runs.sizes import parse_size

    try:
        value = parse_size(str(text))
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: {exc}") from None
    if not value > 0:
        raise InputError(f"{option} {text!r}: must be positive")
    return float(value)
