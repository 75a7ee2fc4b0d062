"""Quantization-induced degradation of one model: its validation loss under each quantizer.

QiD = (validation loss of the quantized model) - (validation loss of the model as trained),
Ouyang et al. 2024's measure (*Low-Bit Quantization Favors Undertrained LLMs*). The
ladder calls :func:`quantization_metrics` at each checkpoint and writes the result into the run
table as metrics; the ``qid`` law is fitted to those rows (:func:`scalinglab.quant.qid_runs`).

Example:
    >>> metrics = quantization_metrics(model, val_loss, calibration)     # doctest: +SKIP
    >>> metrics["qid_w4g32_awq"] <= metrics["qid_w4g32_rtn"]             # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..errors import InputError
from .apply import as_config, check_fits, quantizable_linears, quantize_weights_
from .awq import collect_activation_stats
from .configs import DEFAULT_CONFIGS, QuantConfig
from .kv import attention_modules, kv_quantization

#: Key of the unquantized loss in the result (the ladder evaluates in bf16 autocast on GPUs).
BASELINE = "val_loss_bf16"


def quantization_metrics(
    model: nn.Module,
    val_loss: Callable[[nn.Module], float],
    calibration: torch.Tensor | None,
    configs: Iterable[str | QuantConfig] = DEFAULT_CONFIGS,
) -> dict[str, float]:
    """``val_loss`` of ``model`` and of a quantized copy per config, and each one's QiD.

    Args:
        model: the model as trained, the eager module (not its ``torch.compile`` wrapper); it
            is not changed (weight quantizers work on a deep copy, KV quantization on hooks
            removed afterwards).
        val_loss: evaluates a model on the validation set (nats per token).
        calibration: model inputs AWQ reads its activation statistics from, e.g. token windows
            of the train split, shape ``(n, seq_len)``; read once, shared by every AWQ config.
            Only needed when some config uses AWQ.
        configs: quantizer names (:mod:`scalinglab.quant.configs`), default
            :data:`DEFAULT_CONFIGS`.

    Returns:
        ``{"val_loss_bf16": L, "val_loss_<cfg>": Lq, "qid_<cfg>": Lq - L, ...}``.

    Every config is checked against the model (bits, group sizes that divide each layer's
    width, an attention to hook for KV configs) before any evaluation: bad input costs nothing.
    """
    chosen = check_configs(model, configs)
    if any(c.kind == "weight" and c.method == "awq" for c in chosen) and calibration is None:
        raise InputError("AWQ configs need `calibration` inputs")
    layers = quantizable_linears(model)

    base = float(val_loss(model))
    out = {BASELINE: base}
    stats = None  # AWQ's calibration statistics, collected once for every AWQ config
    for config in chosen:
        if config.kind == "kv":
            with kv_quantization(model, config.bits, token_group=config.token_group):
                loss = float(val_loss(model))
        else:
            if config.method == "awq" and stats is None:
                stats = collect_activation_stats(model, calibration, layers)
            quantized = copy.deepcopy(model)
            quantize_weights_(quantized, config, stats=stats)
            loss = float(val_loss(quantized))
            del quantized
        out[f"val_loss_{config.name}"] = loss
        out[f"qid_{config.name}"] = loss - base
    return out


def check_configs(model: nn.Module, configs: Iterable[str | QuantConfig]) -> list[QuantConfig]:
    """The configs, each checked against ``model``: weight groups dividing every quantized
    layer's width, an attention with a fused ``qkv`` to hook for KV configs, no name twice."""
    chosen = [as_config(c) for c in configs]
    if not chosen:
        raise InputError("no quantizer given")
    names = [c.name for c in chosen]
    if twice := next((n for i, n in enumerate(names) if n in names[:i]), None):
        raise InputError(f"quantizer {twice!r} is named twice")
    layers = quantizable_linears(model)
    for config in chosen:
        if config.kind == "weight":
            check_fits(layers, config)
        elif not attention_modules(model):
            raise InputError(f"{config.name}: the model has no attention with a fused qkv to hook")
    return chosen
