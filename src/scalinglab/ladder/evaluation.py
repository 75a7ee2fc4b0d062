"""Measurements of a model at fractions of its training, written into its run table.

A run whose config names evaluators (``evaluate = ["quant", "tasks", "probes"]``, at
``evaluate_at`` fractions of its steps; ``[evaluate]`` in a spec) hands the model to each at
those steps; every metric an evaluator returns becomes a run-table row at that step:

* ``probes`` (Wortsman et al. 2023, *Small-scale proxies for large-scale Transformer training
  instabilities*): the largest attention logit and the largest output logit on one validation
  batch (``max_attn_logit``, ``max_output_logit``), whose growth precedes divergence;
* ``quant`` (:mod:`scalinglab.quant`): the validation loss under weight and KV-cache
  quantizers and its degradation (``val_loss_w4g128_rtn``, ``qid_w4g128_awq``, ...);
* ``tasks`` (:mod:`scalinglab.ladder.tasks`): next-line completion and multiple-choice next
  line on held-out Python files (``acc_mc_next_line``, ``pass@k_next_line``, ...).

With ``keep_weights`` the model's weights are saved there too (``weights/step<N>.pt``: the
state dict and the run's config), for measurements made later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .config import RunConfig
from .corpus import Corpus
from .model import GPT, _apply_rotary


@dataclass
class Checkpoint:
    """What an evaluator gets: the model (eval mode, on its device) and how to measure it."""

    model: GPT
    cfg: RunConfig
    corpus: Corpus
    device: torch.device
    autocast: Callable[[], Any]
    step: int
    #: The validation loss of a model (this one, or a modified copy) on the run's periodic
    #: evaluation windows, in nats per token.
    val_loss: Callable[[nn.Module], float]
    #: Batches of training tokens, (n, seq_len), for calibrating quantizers.
    calibration: torch.Tensor
    #: Validation token windows, (n, seq_len + 1), for probes.
    validation: torch.Tensor


Evaluator = Callable[[Checkpoint], dict[str, float]]


@torch.no_grad()
def probes(ckpt: Checkpoint) -> dict[str, float]:
    """The largest attention logit (q.k / sqrt(d_head), causal) and output logit on a batch."""
    model, x = ckpt.model, ckpt.validation[:8, :-1].long()
    captured: list[torch.Tensor] = []
    hooks = [block.attn.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out))
             for block in model.blocks]  # fmt: skip
    try:
        with ckpt.autocast():
            logits = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    shape = model.shape
    b, t = x.shape
    causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
    largest = -math.inf
    for qkv in captured:
        qkv = qkv.float().view(b, t, 3, shape.n_heads, shape.head_dim)
        qk = qkv[:, :, :2]
        if model.pos is None:
            qk = _apply_rotary(qk, model.rot_cos, model.rot_sin)
        q, k = (z.transpose(1, 2) for z in qk.unbind(2))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(shape.head_dim)
        largest = max(largest, float(scores.masked_fill(~causal, -math.inf).amax()))
    return {"max_attn_logit": largest, "max_output_logit": float(logits.float().abs().amax())}


def _quant(ckpt: Checkpoint) -> dict[str, float]:
    from ..quant import quantization_metrics

    return quantization_metrics(ckpt.model, ckpt.val_loss, ckpt.calibration)


def _tasks(ckpt: Checkpoint) -> dict[str, float]:
    from .tasks import task_metrics

    tasks = _tasks_for(ckpt.corpus, ckpt.cfg.shape.seq_len)
    return task_metrics(ckpt.model, tasks, device=ckpt.device, autocast=ckpt.autocast)


_TASKS: dict[tuple[str, int], Any] = {}


def _tasks_for(corpus: Corpus, seq_len: int) -> Any:
    """The code tasks of a corpus for models reading ``seq_len`` bytes (built once): lines of
    up to 60 bytes after 448 bytes of context on the ladder's 512; shorter on smaller models."""
    from .tasks import build_tasks

    key = (corpus.fingerprint, seq_len)
    if key not in _TASKS:
        max_line = min(60, seq_len // 4)
        shape = {"seed": 0, "context": min(448, seq_len - max_line - 1), "max_line": max_line}
        try:
            _TASKS[key] = build_tasks(corpus, 200, **shape)
        except InputError:  # a small corpus (tests): the problems it has, at least 10
            _TASKS[key] = build_tasks(corpus, 10, **shape)
    return _TASKS[key]


EVALUATORS: dict[str, Evaluator] = {"probes": probes, "quant": _quant, "tasks": _tasks}


def evaluate_checkpoint(ckpt: Checkpoint) -> dict[str, float]:
    """Every evaluator the run's config names, on the model as it is at ``ckpt.step``."""
    was_training = ckpt.model.training
    ckpt.model.eval()
    metrics: dict[str, float] = {}
    try:
        for name in ckpt.cfg.evaluate:
            metrics.update(EVALUATORS[name](ckpt))
    finally:
        ckpt.model.train(was_training)
    return metrics


def save_weights(run_dir: Path, model: GPT, cfg: RunConfig, step: int) -> Path:
    """The model's weights and the run's config, ``run_dir/weights/step<N>.pt`` (atomic)."""
    folder = run_dir / "weights"
    folder.mkdir(exist_ok=True)
    path = folder / f"step{step}.pt"
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "step": step}, tmp)
    tmp.replace(path)
    return path
