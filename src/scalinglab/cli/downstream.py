"""Beyond the loss: ``downstream``, ``emergence``, ``pooled``, ``passk``, ``verifier``,
``coverage``, ``inference-cost`` and ``inference-budget`` (:mod:`scalinglab.downstream`)."""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from .options import (
    BootOpt,
    FamilyOpt,
    IntervalOpt,
    JsonOpt,
    RunFilesArg,
    SeedOpt,
    WhereOpt,
    family_option,
    parse_points,
    read_files,
)
from .output import check_output, command, emit_json, print_frame, say, warn

app = typer.Typer()

MetricOpt = Annotated[
    list[str],
    typer.Option("--metric", "-m", help="Downstream metric(s): acc_*, err_*, exact_*, pass@K_*, "
                 "prob_*, logprob_*; shell patterns allowed ('acc_*')."),
]  # fmt: skip
LossOpt = Annotated[
    str | None, typer.Option("--loss", help="The loss metric the link reads (e.g. val_loss).")
]
ViaOpt = Annotated[
    str, typer.Option("--via", help="What the link reads: loss (--loss) or flops (compute).")
]
ChanceOpt = Annotated[
    float | None, typer.Option("--chance", help="The metric at chance (default: the task's).")
]
FigureOpt = Annotated[Path | None, typer.Option("--figure", help="Save the figure (png/pdf/svg).")]
TaskOpt = Annotated[str, typer.Option("--task", help="Task of the pass@K_<task> metrics.")]
AcceleratorOpt = Annotated[
    str, typer.Option("--accelerator", help="Accelerator (scalinglab.accelerators: h100, h200...).")
]


def _metrics(runs: Any, patterns: list[str]) -> list[str]:
    from ..downstream import parse_metric

    names = []
    for pattern in patterns:
        found = [m for m in runs.metrics() if fnmatch.fnmatchcase(m, pattern)]
        if not found:
            raise InputError(f"{pattern!r} matches no metric of the runs (metrics: "
                             f"{', '.join(runs.metrics())})", option="metric")  # fmt: skip
        names += [m for m in found if m not in names]
    for name in names:
        parse_metric(name)
    return names


def _save(fig: Any, path: Path | None) -> None:
    if path is not None:
        from ..report.figures import save_figure

        save_figure(fig, path)


@app.command()
@command
def downstream(
    runs: RunFilesArg,
    metric: MetricOpt,
    loss: LossOpt = None,
    via: ViaOpt = "loss",
    link: Annotated[
        str,
        typer.Option(
            "--link", help="auto, or exponential, sigmoid, power (a comma-separated choice)."
        ),
    ] = "auto",
    chance: ChanceOpt = None,
    ceiling: Annotated[
        float | None, typer.Option("--ceiling", help="The best score the task allows.")
    ] = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout",
            help="Backtest: hold out runs per "
            "family (largest:1), predict them through the loss law.",
        ),
    ] = None,
    loss_law: Annotated[
        str,
        typer.Option("--loss-law", help="The law of --loss in N and D, for --holdout and --at."),
    ] = "chinchilla",
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            help="Predict at params=..,tokens=.. (through the loss law) or loss=.. (repeatable).",
        ),
    ] = None,
    interval: IntervalOpt = 0.9,
    bootstrap: BootOpt = 200,
    seed: SeedOpt = 0,
    figure: FigureOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Links from loss (or compute) to task metrics, chosen by cross-extrapolation.

    Backtests them, and predicts through a loss law with both fits' uncertainty."""
    from ..downstream import backtest_tasks, fit_task_link
    from ..fitting.api import fit

    check_output(figure, option="figure")
    table = read_files(runs)
    names = _metrics(table, metric)
    fam = family_option(family)
    if holdout is not None:
        if loss is None:
            raise InputError("a backtest predicts through the loss law: give `loss`", option="loss")
        bt = backtest_tasks(table, names, loss=loss, holdout=holdout, loss_law=loss_law, link=link,
                            family=fam, where=where, chance=chance, interval=interval,
                            bootstrap=bootstrap, seed=seed)  # fmt: skip
        if as_json:
            emit_json(bt.to_json())
            return
        cols = ["family", "metric", "status", "link", "actual", "predicted", "lo", "hi",
                "abs_error_points", "inside"]  # fmt: skip
        print_frame(bt.points[cols], "held-out predictions", left=["family", "metric", "status",
                                                                    "link"])  # fmt: skip
        say(bt.summary())
        return
    points = parse_points(at) if at else []
    loss_fit = None
    if points and "loss" not in points[0] and via == "loss":
        if loss is None:
            raise InputError("predicting at sizes goes through the loss law: give `loss`",
                             option="loss")  # fmt: skip
        loss_fit = fit(table, loss_law, y=loss, family=fam, where=where, bootstrap=bootstrap,
                       seed=seed)  # fmt: skip
    docs, tasks = [], []
    for name in names:
        task = fit_task_link(table, name, via=via, loss=loss, link=link, chance=chance,
                             ceiling=ceiling, family=fam, where=where, bootstrap=bootstrap,
                             seed=seed)  # fmt: skip
        doc = task.to_json()
        if points:
            import pandas as pd

            pred = task.predict(pd.DataFrame(points), loss_fit=loss_fit, interval=interval,
                                seed=seed)  # fmt: skip
            doc["predictions"] = pred.to_dict(orient="records")
        docs.append(doc)
        tasks.append(task)
    if figure is not None:
        from ..report.downstream import plot_metric_vs_loss

        _save(plot_metric_vs_loss(tasks[0], interval=interval), figure)
    if as_json:
        emit_json({"tasks": docs})
        return
    for task, doc in zip(tasks, docs, strict=True):
        say(task.summary())
        for p in doc.get("predictions", []):
            say(f"  at {', '.join(f'{k}={v:.4g}' for k, v in p.items() if k in points[0])}: "
                f"{p['value']:.4g} [{p['pred_lo']:.4g}, {p['pred_hi']:.4g}]")  # fmt: skip


@app.command()
@command
def emergence(
    runs: RunFilesArg,
    metric: MetricOpt,
    loss: LossOpt = None,
    via: ViaOpt = "loss",
    chance: ChanceOpt = None,
    size: Annotated[str, typer.Option("--size", help="Column that orders model sizes.")] = "params",
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance", help="Largest miss still 'predictable', in the metric's units."
        ),
    ] = 0.03,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    interval: IntervalOpt = 0.9,
    bootstrap: BootOpt = 100,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Breaks, monotonicity and 'predictable from N sizes?' of each task."""
    from ..downstream import emergence as run_emergence

    table = read_files(runs)
    results = [run_emergence(table, name, via=via, loss=loss, size=size, chance=chance,
                             tolerance=tolerance, interval=interval, family=family_option(family),
                             where=where, bootstrap=bootstrap, seed=seed)
               for name in _metrics(table, metric)]  # fmt: skip
    if as_json:
        emit_json({"tasks": [r.to_json() for r in results]})
        return
    for r in results:
        say(r.summary())


@app.command()
@command
def pooled(
    runs: RunFilesArg,
    law: Annotated[str, typer.Option("--law", "-l", help="One law (e.g. power_floor:flops).")],
    y: Annotated[str | None, typer.Option("--y", help="The metric to fit.")] = None,
    per_family: Annotated[
        list[str] | None,
        typer.Option(
            "--per-family",
            help="Coefficient each family fits itself (default: the scaling terms').",
        ),
    ] = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    at: Annotated[
        list[str] | None,
        typer.Option("--at", help="Predict every family at params=.. (repeatable)."),
    ] = None,
    interval: IntervalOpt = 0.9,
    bootstrap: BootOpt = 200,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Many families at once: shared exponents, per-family offsets, the loan of strength stated."""
    import pandas as pd

    from ..downstream import pooled_fit

    result = pooled_fit(read_files(runs), law, y=y, families=family, per_family=per_family,
                        where=where, bootstrap=bootstrap, seed=seed)  # fmt: skip
    doc = result.to_json()
    if at:
        points = pd.DataFrame(parse_points(at))
        doc["predictions"] = {f: result.predict(f, points, interval=interval, seed=seed)
                              .to_dict(orient="records") for f in result.families}  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    say(result.summary())
    for f, rows in doc.get("predictions", {}).items():
        for p in rows:
            say(f"  {f}: {p['value']:.4g} [{p['pred_lo']:.4g}, {p['pred_hi']:.4g}]")
    warn(result.warnings)


@app.command()
@command
def passk(
    n: Annotated[int, typer.Option("--n", help="Samples drawn per problem.")],
    c: Annotated[
        list[int],
        typer.Option(
            "--c", help="Correct samples (repeatable: one per problem; the result is their mean)."
        ),
    ],
    k: Annotated[list[int], typer.Option("--k", help="k of pass@k (repeatable).")],
    as_json: JsonOpt = False,
) -> None:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021), stable for any n."""
    import numpy as np

    from ..downstream import pass_at_k

    values = np.asarray(pass_at_k(n, np.asarray(c)[:, None], np.asarray(k)[None, :]))
    doc = {"n": n, "c": list(c), "pass_at_k": {str(kk): float(v) for kk, v in
                                              zip(k, values.mean(axis=0), strict=True)}}  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    for kk, v in doc["pass_at_k"].items():
        say(f"pass@{kk}  {v:.6g}")


@app.command()
@command
def verifier(
    pass_rate: Annotated[
        list[float],
        typer.Option("--pass-rate", help="A problem's pass rate (repeatable: one per problem)."),
    ],
    fpr: Annotated[float, typer.Option("--fpr", help="Verifier's false-positive rate.")],
    tpr: Annotated[float, typer.Option("--tpr", help="Verifier's true-positive rate.")] = 1.0,
    k: Annotated[list[int] | None, typer.Option("--k", help="Samples drawn (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy of resampling against an imperfect verifier, and its ceiling (Stroebl et al.)."""
    import numpy as np

    from ..downstream import verified_accuracy, verifier_ceiling

    rates = np.asarray(pass_rate)
    doc = {"ceiling": verifier_ceiling(rates, fpr=fpr, tpr=tpr), "fpr": fpr, "tpr": tpr,
           "accuracy": {str(kk): float(np.mean(verified_accuracy(rates, kk, fpr=fpr, tpr=tpr)))
                        for kk in (k or [])}}  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    say(f"ceiling  {doc['ceiling']:.6g}  (no number of samples does better)")
    for kk, v in doc["accuracy"].items():
        say(f"k={kk}  {v:.6g}")


@app.command()
@command
def coverage(
    runs: RunFilesArg,
    task: TaskOpt,
    fit_max_k: Annotated[
        float | None, typer.Option("--fit-max-k", help="Fit on k up to this.")
    ] = None,
    check_k: Annotated[
        float | None,
        typer.Option(
            "--check-k",
            help="Predict coverage at this k (held out when above --fit-max-k) and compare.",
        ),
    ] = None,
    target: Annotated[
        float | None, typer.Option("--target", help="Samples needed for this coverage.")
    ] = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    interval: IntervalOpt = 0.9,
    bootstrap: BootOpt = 1000,
    seed: SeedOpt = 0,
    figure: FigureOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Coverage laws c(k) = exp(a k^b) per run (Brown et al. 2024) and across sizes.

    With held-out checks, and the samples needed for a target coverage."""
    import pandas as pd

    from ..downstream import coverage_points, fit_coverage_across_sizes, fit_coverage_per_run

    check_output(figure, option="figure")
    points = coverage_points(read_files(runs), task, family=family_option(family), where=where)
    fits = fit_coverage_per_run(points, max_k=fit_max_k, bootstrap=bootstrap, seed=seed)
    rows = []
    for run, cov in fits.items():
        part = points[points["run_id"] == run]
        row: dict[str, Any] = {"run_id": run, "params": float(part["params"].iloc[0]),
                               "tokens": float(part["tokens"].iloc[0]), "a": cov.a, "b": cov.b}  # fmt: skip
        if check_k is not None:
            pred = cov.predict(check_k, interval_level=interval)
            actual = part.loc[part["k"] == check_k, "coverage"]
            row |= {"k": check_k, "predicted": float(pred["value"][0]), "lo": float(pred["lo"][0]),
                    "hi": float(pred["hi"][0]),
                    "actual": float(actual.iloc[0]) if len(actual) else math.nan}  # fmt: skip
            row["inside"] = bool(row["lo"] <= row["actual"] <= row["hi"])
        if target is not None:
            need = cov.samples_for(target, interval_level=interval)
            row |= {"samples_for_target": need["k"], "samples_lo": need["ci"]["k"][0],
                    "samples_hi": need["ci"]["k"][1]}  # fmt: skip
        rows.append(row)
    frame = pd.DataFrame(rows)
    across = fit_coverage_across_sizes(points, max_k=fit_max_k, bootstrap=min(bootstrap, 200),
                                       seed=seed)  # fmt: skip
    if figure is not None:
        from ..report.downstream import plot_coverage

        _save(plot_coverage(fits, points, fit_max_k=fit_max_k), figure)
    doc = {"task": task, "fit_max_k": fit_max_k, "runs": frame.to_dict(orient="records"),
           "across_sizes": {"law": across.law.formula, "params": across.params,
                            "ci": {n: list(r) for n, r in across.conf_int().iterrows()}}}  # fmt: skip
    if check_k is not None:
        doc["inside"] = int(frame["inside"].sum())
    if as_json:
        emit_json(doc)
        return
    shown = [c for c in ("run_id", "params", "tokens", "a", "b", "predicted", "lo", "hi",
                         "actual", "inside", "samples_for_target") if c in frame]  # fmt: skip
    print_frame(frame[shown], f"coverage laws of pass@k_{task}", left=["run_id"])
    if check_k is not None:
        say(f"k={check_k:g}: {doc['inside']} of {len(frame)} runs inside their "
            f"{interval:.0%} interval")  # fmt: skip
    say(
        f"across sizes: -log coverage = {across.law.formula} with "
        + ", ".join(f"{n}={v:.4g}" for n, v in across.params.items())
    )


@app.command("inference-cost")
@command
def inference_cost(
    params: Annotated[float, typer.Option("--params", help="Non-embedding parameters.")],
    layers: Annotated[int, typer.Option("--layers", help="Transformer layers.")],
    d_model: Annotated[int, typer.Option("--d-model", help="Model width.")],
    prompt: Annotated[int, typer.Option("--prompt", help="Prompt tokens.")] = 0,
    generated: Annotated[int, typer.Option("--generated", help="Generated tokens.")] = 1,
    samples: Annotated[int, typer.Option("--samples", help="Samples per prompt.")] = 1,
    kv_dim: Annotated[int | None, typer.Option("--kv-dim", help="Key/value width (GQA).")] = None,
    vocab: Annotated[int, typer.Option("--vocab", help="Vocabulary (output projection).")] = 0,
    batch: Annotated[int, typer.Option("--batch", help="Sequences decoded together.")] = 1,
    accelerator: AcceleratorOpt = "h100",
    as_json: JsonOpt = False,
) -> None:
    """FLOPs, bytes moved and time of generating samples after a prompt (roofline)."""
    from ..downstream import DecoderShape, generation_cost

    shape = DecoderShape(params, layers, d_model, kv_dim=kv_dim, vocab_size=vocab)
    cost = generation_cost(shape, prompt=prompt, generated=generated, samples=samples,
                           accelerator=accelerator, batch=batch)  # fmt: skip
    doc = cost.to_json()
    if as_json:
        emit_json(doc)
        return
    for part in ("prefill", "per_sample", "total"):
        values = doc[part]
        say(f"{part:<10} {values['flops']:.4g} FLOPs  {values['bytes']:.4g} bytes  "
            f"{values['seconds']:.4g} s  {values['equivalent_flops']:.4g} equivalent FLOPs")  # fmt: skip
    say(f"memory-bound share of generated tokens: {doc['memory_bound_share']:.0%}")


@app.command("inference-budget")
@command
def inference_budget(
    runs: RunFilesArg,
    task: TaskOpt,
    budget: Annotated[
        list[float], typer.Option("--budget", help="Budget per problem (repeatable).")
    ],
    unit: Annotated[
        str, typer.Option("--unit", help="seconds, flops, equivalent_flops or bytes.")
    ] = "seconds",
    prompt: Annotated[int, typer.Option("--prompt", help="Prompt tokens.")] = 448,
    generated: Annotated[int, typer.Option("--generated", help="Tokens per sample.")] = 61,
    batch: Annotated[int, typer.Option("--batch", help="Sequences decoded together.")] = 1,
    accelerator: AcceleratorOpt = "h100",
    fit_max_k: Annotated[
        float | None, typer.Option("--fit-max-k", help="Fit on k up to this.")
    ] = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 300,
    seed: SeedOpt = 0,
    figure: FigureOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which model and how many samples give the highest coverage at an inference budget.

    The models are runs of RUNS; they need params, n_layers and d_model columns (the
    ladder's have)."""
    import numpy as np

    from ..downstream import DecoderShape, budget_frontier, coverage_points, fit_coverage_per_run

    check_output(figure, option="figure")
    table = read_files(runs)
    points = coverage_points(table, task, family=family_option(family), where=where)
    fits = fit_coverage_per_run(points, max_k=fit_max_k, bootstrap=bootstrap, seed=seed)
    from ..runs.sizes import format_size

    # a run's shape and its final size (its last row: per-step rows count tokens so far)
    first = table.df.sort_values("tokens").drop_duplicates("run_id", keep="last")
    first = first.set_index("run_id")
    models = {}
    for run, cov in fits.items():
        row = first.loc[run]
        label = (
            f"N={format_size(row['params'], digits=3)}, D={format_size(row['tokens'], digits=3)}"
        )
        label = label if label not in models else f"{label} ({run})"
        models[label] = (DecoderShape.from_row(row, name=run), cov)
    options = dict(unit=unit, prompt=prompt, generated=generated, accelerator=accelerator,
                   batch=batch, seed=seed)  # fmt: skip
    frontier = budget_frontier(models, budget, **options)
    if figure is not None:
        from ..report.downstream import plot_cost_coverage_frontier

        lo, hi = min(budget), max(budget)
        grid = np.geomspace(lo / 10 if lo == hi else lo, hi * 10 if lo == hi else hi, 40)
        _save(plot_cost_coverage_frontier(budget_frontier(models, grid, **options), unit=unit),
              figure)  # fmt: skip
    best = frontier[frontier["best"]][["budget", "model", "k", "coverage", "lo", "hi", "p_best"]]
    doc = {"task": task, "unit": unit, "accelerator": accelerator,
           "best": best.to_dict(orient="records"), "models": frontier.to_dict(orient="records")}  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    print_frame(best, f"best model per budget ({unit} per problem, {accelerator})",
                left=["model"])  # fmt: skip


__all__ = ["app"]
