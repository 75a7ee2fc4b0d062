"""Sizing questions of the literature: ``vocab`` (the compute-optimal vocabulary, Tao et al.
2024) and ``knowledge`` (bits of knowledge a model stores, Allen-Zhu & Li 2024)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import IntervalOpt, JsonOpt
from .output import command, emit_json, print_answer, say, warn

app = typer.Typer()


def _size(text: str | None, option: str) -> float | None:
    from ..planning.questions import size

    return size(text, option)


@app.command()
@command
def vocab(
    fit_file: Annotated[
        Path | None,
        typer.Argument(help="A vocabulary fit (default: Tao et al.'s published constants)."),
    ] = None,
    params: Annotated[
        str | None, typer.Option("--params", help="Non-vocabulary parameters N_nv (e.g. 70B).")
    ] = None,
    flops: Annotated[
        str | None,
        typer.Option("--flops", help="Training budget (default: compute-optimal for --params)."),
    ] = None,
    d_model: Annotated[
        str | None,
        typer.Option("--d-model", help="Embedding width d (default: the paper's for --params)."),
    ] = None,
    current: Annotated[
        str | None,
        typer.Option("--vocab", help="A vocabulary to compare with the optimum (e.g. 32K)."),
    ] = None,
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Compute-optimal vocabulary for a model and/or a budget (Tao et al. 2024, Approach 3)."""
    from ..fitting.result import FitResult
    from ..planning.vocabulary import optimal_vocabulary

    fit = None if fit_file is None else FitResult.from_json(fit_file)
    answer = optimal_vocabulary(
        fit,
        flops=_size(flops, "flops"),
        params=_size(params, "params"),
        d_model=_size(d_model, "d_model"),
        vocab=_size(current, "vocab"),
        interval=interval,
    )
    doc = answer.to_json()
    if as_json:
        emit_json(doc)
        return
    print_answer(f"{answer.title} ({interval:.0%} intervals)", doc)
    for note in doc["notes"]:
        say(f"note: {note}")
    warn(doc["warnings"])


@app.command()
@command
def knowledge(
    params: Annotated[
        str | None, typer.Option("--params", help="Model parameters: the bits they store.")
    ] = None,
    knowledge_bits: Annotated[
        str | None,
        typer.Option("--knowledge-bits", help="Bits of knowledge: the parameters they need."),
    ] = None,
    exposures: Annotated[
        int, typer.Option("--exposures", help="Exposures per fact in training: 1000 or 100.")
    ] = 1000,
    weight_bits: Annotated[
        int, typer.Option("--weight-bits", help="Weights served at 16 (as trained), 8 or 4 bits.")
    ] = 16,
    as_json: JsonOpt = False,
) -> None:
    """Bits of knowledge a model stores, ~2 per parameter (Allen-Zhu & Li 2024)."""
    from ..planning.knowledge import knowledge_capacity

    answer = knowledge_capacity(
        _size(params, "params"),
        knowledge_bits=_size(knowledge_bits, "knowledge_bits"),
        exposures=exposures,
        weight_bits=weight_bits,
    )
    doc = answer.to_json()
    if as_json:
        emit_json(doc)
        return
    ratio = doc["bits_per_param"]
    say(
        f"{doc['params']:.4g} parameters store {doc['knowledge_bits']:.4g} bits of knowledge at "
        f"{ratio:g} bit{'' if ratio == 1 else 's'}/param ({doc['source']}; {doc['reference']})"
    )
    for note in doc["notes"]:
        say(f"note: {note}")
