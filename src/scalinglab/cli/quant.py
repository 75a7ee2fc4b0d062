"""Precision commands: ``quantize`` (QiD of a saved ladder checkpoint), ``qid-table`` (the rows
the ``qid`` law is fitted to) and ``plan-precision`` (how long to train, and N and D, for a model
served at P bits). Torch is imported inside ``quantize`` only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from .options import FlopsModelOpt, IntervalOpt, JsonOpt, RunFilesArg, read_files
from .output import check_output, command, emit_answer, emit_json, print_rows, say

app = typer.Typer()

GroupOpt = Annotated[
    int,
    typer.Option("--group", help="Inputs per quantization group (0: one scale per output row)."),
]
MethodOpt = Annotated[str, typer.Option("--method", help="rtn (round to nearest) or awq.")]
SymmetricOpt = Annotated[
    bool, typer.Option("--symmetric", help="Symmetric grid, no zero point (default asymmetric).")
]


def _weight_config_name(bits: int, group: int, method: str, symmetric: bool) -> str:
    from ..quant.configs import weight_config

    try:
        return weight_config(bits, group or None, method=method, symmetric=symmetric).name
    except InputError as exc:
        if exc.option == "group_size":  # the library's argument is this command's --group
            raise InputError(exc.message, option="group") from None
        raise


@app.command()
@command
def quantize(
    checkpoint: Annotated[
        Path,
        typer.Argument(help="A ladder checkpoint: a run's ckpt.pt, or a {model, config} file."),
    ],
    bits: Annotated[int, typer.Option("--bits", help="Weight bits, 2 to 8.")] = 4,
    group: GroupOpt = 32,
    method: MethodOpt = "rtn",
    symmetric: SymmetricOpt = False,
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            help="Quantizers by name instead (repeatable): w4g128_awq, w8_rtn, kv2, ...",
        ),
    ] = None,
    eval_tokens: Annotated[
        int | None,
        typer.Option("--eval-tokens", min=1, help="Validation tokens (default: the run's)."),
    ] = None,
    calibration: Annotated[
        int, typer.Option("--calibration", min=1, help="Train windows AWQ calibrates on.")
    ] = 16,
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="The run's corpus, if it moved.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, cuda (default: best).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure the QiD of a ladder checkpoint: validation loss quantized minus as trained."""
    from ..quant.checkpoint import read_checkpoint
    from ..quant.metrics import BASELINE, check_configs, quantization_metrics

    names = config or [_weight_config_name(bits, group, method, symmetric)]
    ckpt = read_checkpoint(checkpoint)
    cfg, model = _ladder_model(ckpt)
    chosen = check_configs(model, names)  # before the corpus is read: bad input costs nothing
    val_loss, windows, dev = _evaluation(cfg, model, corpus, eval_tokens, calibration, device)
    t0 = time.perf_counter()
    metrics = quantization_metrics(model, val_loss, windows, chosen)
    step = ckpt.step
    tokens_per_step = cfg.batch_size * cfg.shape.seq_len
    doc = {
        "checkpoint": str(checkpoint),
        "run_id": cfg.run_id,
        "params": cfg.params,
        "tokens": step * tokens_per_step if step else cfg.tokens_trained,
        "step": step,
        "device": str(dev),
        "eval_tokens": val_loss.tokens,
        "calibration_tokens": int(windows.numel()),
        "seconds": time.perf_counter() - t0,
        "metrics": metrics,
    }
    if as_json:
        emit_json(doc)
        return
    rows = [("as trained", metrics[BASELINE], 0.0)] + [
        (c.name, metrics[f"val_loss_{c.name}"], metrics[f"qid_{c.name}"]) for c in chosen
    ]
    print_rows(
        f"{cfg.run_id}: validation loss on {val_loss.tokens:,} tokens",
        ("quantizer", "val_loss", "QiD"),
        rows,
        left=("quantizer",),
        caption=f"{doc['seconds']:.1f}s on {dev}",
    )


def _ladder_model(ckpt: Any) -> tuple[Any, Any]:
    """The run config and the GPT of a checkpoint, its weights loaded."""
    from ..ladder.config import RunConfig
    from ..ladder.model import GPT

    where = str(ckpt.path)
    try:
        cfg = RunConfig.from_dict(ckpt.config)
    except InputError as exc:
        raise InputError(f"its run config is not valid: {exc.message}", file=where) from None
    except (TypeError, KeyError, ValueError) as exc:
        raise InputError(
            f"not a ladder checkpoint: its run config does not describe a ladder run ({exc})",
            file=where,
        ) from None
    model = GPT(cfg.shape)
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), "")
        raise InputError(
            f"not a checkpoint of the model its config describes ({first})", file=where
        ) from None
    return cfg, model


class _ValidationLoss:
    """The run's validation windows (those its periodic evaluation reads), as a callable."""

    def __init__(self, cfg: Any, batches: Any, autocast: Any) -> None:
        self.cfg, self.batches, self.autocast = cfg, batches, autocast
        self.tokens = int(batches.eval_index.numel() * cfg.shape.seq_len)

    def __call__(self, model: Any) -> float:
        from ..ladder.train import evaluate

        return evaluate(model, self.batches, self.cfg.batch_size, self.autocast)


def _evaluation(
    cfg: Any, model: Any, corpus: str | None, eval_tokens: int | None, n_calib: int, device: Any
) -> tuple[_ValidationLoss, Any, Any]:
    """The validation loss, the calibration windows (from the train split) and the device."""
    import dataclasses

    import numpy as np
    import torch

    from ..ladder.corpus import load_corpus
    from ..ladder.train import Batches, pick_device

    dev = pick_device(device)
    model.to(dev)
    if eval_tokens:
        cfg = dataclasses.replace(cfg, eval_tokens=eval_tokens)
    data = load_corpus(corpus or cfg.corpus, val_fraction=cfg.val_fraction, dtype=cfg.corpus_dtype)
    use_bf16 = dev.type == "cuda"  # as the ladder evaluates (bf16 autocast on GPUs)

    def autocast() -> Any:
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_bf16)

    try:
        batches = Batches(data, cfg, dev)
    except ValueError as exc:
        raise InputError(f"the corpus is too small for this run: {exc}") from None
    t = cfg.shape.seq_len
    train = np.asarray(data.train)
    rng = np.random.default_rng(cfg.seed)
    offsets = rng.integers(0, train.shape[0] - t, size=n_calib)
    windows = torch.from_numpy(train[offsets[:, None] + np.arange(t)].astype(np.int64)).to(dev)
    return _ValidationLoss(cfg, batches, autocast), windows, dev


@app.command("qid-table")
@command
def qid_table(
    runs: RunFilesArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The CSV to write.")],
    method: MethodOpt = "awq",
    group: GroupOpt = 32,
    symmetric: SymmetricOpt = False,
    bits: Annotated[
        list[int] | None, typer.Option("--bits", help="Bit widths to keep (default 2, 3, 4).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """One quantizer's QiD metrics as rows of metric qid with a column bits (for --law qid)."""
    from ..quant.table import FIT_BITS, qid_runs
    from ..runs.files import write_atomic

    check_output(output)
    table = qid_runs(
        read_files(runs), method=method, group_size=group or None, symmetric=symmetric,
        bits=bits or FIT_BITS,
    )  # fmt: skip
    write_atomic(output, table.df.to_csv(index=False))
    doc = {
        "output": str(output),
        "rows": len(table.df),
        "runs": int(table.df["run_id"].nunique()),
        "bits": sorted(int(b) for b in table.df["bits"].unique()),
        "notes": table.notes,
    }
    if as_json:
        emit_json(doc)
        return
    say(f"{doc['rows']} rows of bits {doc['bits']} written to {output}")
    # QiD scatters by ~5% between checkpoints: with the default delta (1e-3) the Huber loss is
    # nearly L1 there, and the fit crawls (it did not converge on the bundled ladder's table).
    say(f"fit them with: scalinglab fit {output} --law qid --y qid --huber-delta 0.01")


@app.command("plan-precision")
@command
def plan_precision(
    loss_fit: Annotated[Path, typer.Argument(help="A loss fit (params, tokens), saved as JSON.")],
    qid_fit: Annotated[Path, typer.Argument(help="A fit of the qid law, saved as JSON.")],
    bits: Annotated[float, typer.Option("--bits", help="The precision it will be served at.")],
    flops: Annotated[
        str | None, typer.Option("--flops", help="Training budget: the N and D to choose.")
    ] = None,
    params: Annotated[
        str | None, typer.Option("--params", help="Model size: the tokens worth training.")
    ] = None,
    target_loss: Annotated[
        float | None, typer.Option("--target-loss", help="With --params: tokens meeting it.")
    ] = None,
    flops_model: FlopsModelOpt = "6*params*tokens",
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Training for a served precision: tokens worth training at N, or N and D for a budget."""
    from ..fitting.result import FitResult
    from ..planning.precision import precision_allocation, precision_tokens
    from ..planning.questions import size

    if (flops is None) == (params is None):
        raise InputError("give `flops` (choose N and D) or `params` (tokens worth training)")
    if target_loss is not None and params is None:
        raise InputError("`target_loss` goes with `params`")
    fits = FitResult.from_json(loss_fit), FitResult.from_json(qid_fit)
    if flops is not None:
        answer = precision_allocation(
            *fits, size(flops, "flops"), bits, flops_model=flops_model, interval=interval
        )
    else:
        answer = precision_tokens(
            *fits, size(params, "params"), bits, target_loss=target_loss, interval=interval
        )
    doc = answer.to_json()
    emit_answer(doc, f"{answer.title} ({interval:.0%} intervals)", as_json=as_json)
