"""Architecture and sparsity questions: ``moe-leverage`` (Tian et al. 2025), ``sparsity-tokens``
(Luo et al. 2024) and ``avg-params`` (Jin et al. 2025's average parameter count of a pruning
schedule). Fitting their laws is ``scalinglab fit --law moe_leverage`` (``sparsing_relu``,
``sparsing_silu``, ``sparse_pretraining``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import IntervalOpt, JsonOpt, size_option
from .output import command, emit_answer, emit_json

app = typer.Typer()

OptionalFitArg = Annotated[
    Path | None,
    typer.Argument(help="A fit saved with `scalinglab fit -o FIT.json` (default: the paper's)."),
]


def _fit(path: Path | None):  # noqa: ANN202 - FitResult, imported here (pandas)
    from ..fitting.result import FitResult

    return None if path is None else FitResult.from_json(path)


@app.command("moe-leverage")
@command
def moe_leverage_command(
    activation_ratio: Annotated[
        float,
        typer.Option(
            "--activation-ratio", help="(activated + shared)/(experts + shared), in (0, 1]."
        ),
    ],
    granularity: Annotated[
        float, typer.Option("--granularity", help="2*d_model/d_expert (Tian et al.'s G).")
    ],
    flops: Annotated[str, typer.Option("--flops", help="Training compute of the MoE run.")],
    fit_file: OptionalFitArg = None,
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Efficiency leverage of an MoE vs a dense model, its dense-equivalent compute, best G."""
    from ..planning.architecture import moe_leverage

    answer = moe_leverage(
        _fit(fit_file),
        activation_ratio,
        granularity,
        size_option(flops, "flops"),
        interval=interval,
    )
    doc = answer.to_json()
    emit_answer(doc, f"{answer.title} ({doc['source']}; {interval:.0%} intervals)", as_json=as_json)


@app.command("sparsity-tokens")
@command
def sparsity_tokens(
    fit_file: Annotated[
        Path | None, typer.Argument(help="A fit of sparsing_relu or sparsing_silu.")
    ] = None,
    published: Annotated[
        str | None,
        typer.Option(
            "--published", help="Instead of a fit, a row of Luo et al.'s Table 2: relu:2.4B."
        ),
    ] = None,
    tokens: Annotated[
        str | None, typer.Option("--tokens", help="Training tokens: the activation ratio there.")
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(
            "--target", help="An activation ratio (1 - sparsity): the tokens to reach it."
        ),
    ] = None,
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Activation sparsity after D tokens, its limit, and the tokens to a target ratio."""
    from ..planning.architecture import activation_sparsity

    if (fit_file is None) == (published is None):
        raise InputError("give a fit file or `published` (a row of Table 2, e.g. relu:2.4B)")
    source = published if fit_file is None else _fit(fit_file)
    answer = activation_sparsity(
        source,
        tokens=None if tokens is None else size_option(tokens, "tokens"),
        target=target,
        interval=interval,
    )
    doc = answer.to_json()
    emit_answer(doc, f"{answer.title} ({doc['source']}; {interval:.0%} intervals)", as_json=as_json)


@app.command("avg-params")
@command
def avg_params(
    params: Annotated[str, typer.Option("--params", help="Parameters of the dense model.")],
    final_sparsity: Annotated[
        float, typer.Option("--final-sparsity", help="Share of prunable weights pruned at the end.")
    ],
    prune_start: Annotated[float, typer.Option("--prune-start", help="Pruning starts here.")],
    prune_end: Annotated[float, typer.Option("--prune-end", help="... and ends here.")],
    total: Annotated[
        float, typer.Option("--total", help="End of training (same unit: steps, tokens, 1.0).")
    ] = 1.0,
    schedule: Annotated[
        str, typer.Option("--schedule", help="cubic (Zhu & Gupta) or linear.")
    ] = "cubic",
    over: Annotated[
        str, typer.Option("--over", help="Schedule over steps, or over training compute.")
    ] = "steps",
    prunable: Annotated[
        str | None, typer.Option("--prunable", help="Parameters subject to pruning (default all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Average parameter count over a pruning schedule (Jin et al.'s N_avg, column avg_params)."""
    from ..laws.architecture import average_param_count
    from .output import say

    n = size_option(params, "params")
    avg = average_param_count(
        n, final_sparsity, prune_start, prune_end, total, schedule=schedule, over=over,
        prunable=None if prunable is None else size_option(prunable, "prunable"),
    )  # fmt: skip
    doc = {
        "params": n, "final_sparsity": final_sparsity, "prune_start": prune_start,
        "prune_end": prune_end, "total": total, "schedule": schedule, "over": over,
        "avg_params": avg, "average_density": avg / n,
    }  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    say(f"avg_params {avg:.4g} ({avg / n:.4f} of {n:.4g}; {schedule} schedule over {over})")
