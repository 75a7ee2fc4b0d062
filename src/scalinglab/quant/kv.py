"""KV-cache fake quantization as KIVI stores the cache (Liu et al. 2024, *KIVI: A Tuning-Free
Asymmetric 2bit Quantization for KV Cache*).

Keys have a few channels of consistently large magnitude, values do not: KIVI quantizes keys
**per channel** (one scale and offset per channel over a group of tokens, G = 32) and values
**per token** (one per token, over its channels), both asymmetric min-max with a float offset:
``scale = (max - min) / (2**bits - 1)``, ``x ~ round((x - min) / scale) * scale + min``.

Where in the attention the keys are taken: :func:`kv_quantization` hooks the output of the
fused ``qkv`` projection of every attention module (any module with a ``qkv`` ``nn.Linear`` and
an ``n_heads``, as in :mod:`scalinglab.ladder.model`), so keys are quantized *before* the rotary
embedding. That is KVQuant's choice (Hooper et al. 2024, "pre-RoPE key
quantization": rotation mixes channel pairs by position and smears the outlier channels that
per-channel scales exploit); KIVI's code quantizes keys after it. Values are the same either
way. Every key and value is quantized (KIVI keeps the latest R tokens in full precision while
their group fills; a whole-window forward pass has no "latest"), so this measures the cache's
full quantization error; the scales of a key group are computed from its own 32 tokens, as
KIVI does once the group is complete.

Example:
    >>> import torch
    >>> k = torch.tensor([[[1.0, -5.0], [2.0, -5.0], [3.0, -5.0]]])   # (batch, tokens, channels)
    >>> quantize_keys(k, bits=2, token_group=4)[0, :, 1].tolist()     # channel 1 is exact
    [-5.0, -5.0, -5.0]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .configs import KV_TOKEN_GROUP, check_bits


def _min_max(x: torch.Tensor, bits: int, group: int) -> torch.Tensor:
    """Asymmetric min-max fake quantization of ``x`` in groups of ``group`` along its last axis
    (which ``group`` divides)."""
    g = x.float().unflatten(-1, (x.shape[-1] // group, group))
    lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
    scale = (hi - lo) / (2**bits - 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant group is exact
    return (torch.round((g - lo) / scale) * scale + lo).flatten(-2).to(x.dtype)


def quantize_keys(keys: torch.Tensor, bits: int, token_group: int = KV_TOKEN_GROUP) -> torch.Tensor:
    """Keys ``(..., tokens, channels)`` quantized per channel over groups of ``token_group``
    tokens (a last, shorter group is padded with its last token, which moves no min or max)."""
    check_bits(bits)
    t = keys.shape[-2]
    pad = -t % token_group
    x = keys.transpose(-1, -2)  # (..., channels, tokens)
    if pad:
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], pad)], dim=-1)
    return _min_max(x, bits, token_group)[..., :t].transpose(-1, -2)


def quantize_values(
    values: torch.Tensor, bits: int, channel_group: int | None = None
) -> torch.Tensor:
    """Values ``(..., tokens, channels)`` quantized per token, over groups of ``channel_group``
    channels (a head's width; all channels when None)."""
    check_bits(bits)
    return _min_max(values, bits, channel_group or values.shape[-1])


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """Modules with a fused ``qkv`` projection (an ``nn.Linear``) and a head count."""
    return [
        m
        for m in model.modules()
        if isinstance(getattr(m, "qkv", None), nn.Linear)
        and isinstance(getattr(m, "n_heads", None), int)
    ]


@contextmanager
def kv_quantization(
    model: nn.Module, bits: int, *, token_group: int = KV_TOKEN_GROUP
) -> Iterator[int]:
    """Within the block, every attention of ``model`` computes with quantized keys and values.

    Yields the number of attention modules hooked; the hooks are removed on exit. Keys are
    quantized per channel over ``token_group`` tokens, values per token and head.

    Example:
        >>> with kv_quantization(model, bits=2):         # doctest: +SKIP
        ...     loss_kv2 = val_loss(model)
    """
    check_bits(bits)

    def hook(heads: int):
        def quantize_output(module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
            q, k, v = out.chunk(3, dim=-1)  # the fused projection's q | k | v columns
            k = quantize_keys(k, bits, token_group)
            v = quantize_values(v, bits, v.shape[-1] // heads)
            return torch.cat([q, k, v], dim=-1)

        return quantize_output

    handles = []
    try:
        for attn in attention_modules(model):
            handles.append(attn.qkv.register_forward_hook(hook(attn.n_heads)))
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
