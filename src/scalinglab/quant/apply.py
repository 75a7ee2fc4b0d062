"""Quantizing a model's weights in place: which layers, and each layer by RTN or AWQ.

Every ``nn.Linear`` of the model is quantized except the output head and anything sharing a
weight with an embedding (a tied head *is* the embedding): AWQ and GPTQ keep embeddings and
the head in 16 bits, and their size is the vocabulary's, not the model's.

Example:
    >>> from scalinglab.ladder.model import GPT                        # doctest: +SKIP
    >>> model = GPT(shape)                                             # doctest: +SKIP
    >>> quantize_weights_(model, "w4g32_awq", calibration=tokens)      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import InputError
from .awq import ActivationStats, collect_activation_stats, search_scales
from .configs import QuantConfig, check_group, parse_config
from .weights import fake_quantize

#: Names of output heads left in full precision.
HEAD_NAMES = ("head", "lm_head")


def quantizable_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The model's ``nn.Linear`` layers a weight quantizer changes, by module name."""
    embedded = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear)
        and name.rpartition(".")[2] not in HEAD_NAMES
        and id(m.weight) not in embedded
    }


def as_config(config: str | QuantConfig) -> QuantConfig:
    return config if isinstance(config, QuantConfig) else parse_config(config)


def check_fits(layers: Mapping[str, nn.Linear], config: QuantConfig) -> None:
    """Refuse, before any work, a group size that does not divide some layer's input width."""
    for name, layer in layers.items():
        try:
            check_group(config.group_size, layer.in_features)
        except InputError as exc:
            raise InputError(f"{config.name}: layer {name!r}: group size {exc.message}") from None


@torch.no_grad()
def quantize_weights_(
    model: nn.Module,
    config: str | QuantConfig,
    *,
    calibration: torch.Tensor | None = None,
    stats: Mapping[str, ActivationStats] | None = None,
) -> dict[str, float]:
    """Fake-quantize ``model``'s linear weights in place; return AWQ's exponent per layer.

    ``config`` is a weight quantizer (``"w4g128_rtn"``, ``"w3g64_awq"``, a
    :class:`QuantConfig`). AWQ needs the layers' input statistics: ``stats`` from
    :func:`collect_activation_stats` (reusable across AWQ configs), or ``calibration`` inputs
    to collect them from. Returns ``{}`` for RTN.
    """
    config = as_config(config)
    if config.kind != "weight":
        raise InputError(f"{config.name} is a KV-cache quantizer, not a weight quantizer")
    layers = quantizable_linears(model)
    check_fits(layers, config)
    if config.method == "awq" and stats is None:
        if calibration is None:
            raise InputError(f"{config.name} needs `calibration` inputs (or `stats`)")
        stats = collect_activation_stats(model, calibration, layers)
    alphas = {}
    for name, layer in layers.items():
        if config.method == "awq":
            found = search_scales(
                layer.weight, stats[name], config.bits, config.group_size,
                symmetric=config.symmetric,
            )  # fmt: skip
            layer.weight.copy_(found.weight)
            alphas[name] = found.alpha
        else:
            layer.weight.copy_(
                fake_quantize(
                    layer.weight, config.bits, config.group_size, symmetric=config.symmetric
                )
            )
    return alphas
