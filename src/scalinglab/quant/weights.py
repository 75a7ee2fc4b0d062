"""Round-to-nearest integer quantization of weight matrices, per output channel or group-wise.

A weight ``W`` of shape ``(out, in)`` is cut into groups of ``group_size`` consecutive inputs
of one output row (the whole row when ``group_size`` is None: per-channel). Each group gets one
scale (and, asymmetric, one integer zero point) and its values become ``bits``-bit codes:

* symmetric: ``scale = max|w| / qmax``, ``q = clamp(round(w / scale), -qmax, qmax)`` with
  ``qmax = 2**(bits-1) - 1``, ``w ~ q * scale``. The grid is the restricted one (int8's
  -127..127): a sign-symmetric grid keeps ``-w`` and ``w`` equally precise; at 2 bits it is
  ternary (-1, 0, 1).
* asymmetric: the range ``[min(w, 0), max(w, 0)]`` in ``2**bits - 1`` steps,
  ``scale = (hi - lo) / (2**bits - 1)``, ``zero = round(-lo / scale)``,
  ``q = clamp(round(w / scale) + zero, 0, 2**bits - 1)``, ``w ~ (q - zero) * scale``. Keeping 0
  inside the range (as GPTQ does, Frantar et al. 2023) makes the zero point a code, zero exactly
  representable, and the error of every weight at most ``scale / 2``; AWQ's reference code
  clamps the zero point instead, which clips one-signed groups.

All bit widths and groups are computed in float32 whatever the weight's dtype (bf16 has 8 bits
of mantissa: a 8-bit grid computed in it would not be a grid), batched over any leading
dimensions (the AWQ search quantizes all its candidate scalings at once).

Example:
    >>> import torch
    >>> w = torch.tensor([[-1.0, 0.0, 0.5, 1.0]])
    >>> q = quantize(w, bits=2, symmetric=True)
    >>> q.codes.tolist(), q.scales.tolist(), q.dequantized.tolist()
    ([[-1, 0, 0, 1]], [[1.0]], [[-1.0, 0.0, 0.0, 1.0]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .configs import check_bits, check_group


@dataclass(frozen=True)
class QuantizedWeight:
    """A quantized weight: integer codes, one scale (and zero point) per group, and the
    dequantized float weight they stand for (``(codes - zeros) * scales``, expanded)."""

    dequantized: torch.Tensor  # (..., out, in), the input's dtype
    codes: torch.Tensor  # (..., out, in) int32
    scales: torch.Tensor  # (..., out, in // group_size) float32
    zeros: torch.Tensor | None  # (..., out, in // group_size) int32; None when symmetric
    bits: int
    group_size: int  # inputs per group (the width itself for per-channel quantization)
    symmetric: bool


def _check(weight: torch.Tensor, bits: int, group_size: int | None) -> int:
    check_bits(bits)
    if weight.dim() < 2:
        raise ValueError(
            f"a weight matrix has at least 2 dimensions, got shape {tuple(weight.shape)}"
        )
    width = weight.shape[-1]
    check_group(group_size, width)
    return group_size or width


def _grid(
    weight: torch.Tensor, bits: int, group: int, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Codes (as floats), scales and zero points of ``weight`` viewed as ``(..., groups, group)``.

    The codes are a fresh tensor, computed in place: the AWQ search quantizes 21 candidate
    weights at once, and on a CPU the temporaries cost more than the arithmetic.
    """
    x = weight.float().unflatten(-1, (weight.shape[-1] // group, group))
    one = torch.ones((), dtype=x.dtype, device=x.device)
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        scale = x.abs().amax(-1, keepdim=True) / qmax
        scale = torch.where(scale > 0, scale, one)  # an all-zero group: any scale is exact
        return torch.div(x, scale).round_().clamp_(-qmax, qmax), scale, None
    qmax = 2**bits - 1
    lo, hi = torch.aminmax(x, dim=-1, keepdim=True)
    lo.clamp_(max=0)
    hi.clamp_(min=0)
    scale = (hi - lo) / qmax
    scale = torch.where(scale > 0, scale, one)
    zero = torch.round(-lo / scale)  # in [0, qmax]: lo <= 0 <= hi
    return torch.div(x, scale).round_().add_(zero).clamp_(0, qmax), scale, zero


def _dequantize_(
    codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None
) -> torch.Tensor:
    """``(codes - zero) * scale``, overwriting ``codes``, with the group axis flattened."""
    if zero is not None:
        codes.sub_(zero)
    return codes.mul_(scale).flatten(-2)


def fake_quantize(
    weight: torch.Tensor, bits: int, group_size: int | None = None, *, symmetric: bool = False
) -> torch.Tensor:
    """Quantize and dequantize ``weight``: the float weight a ``bits``-bit model computes with.

    Raises :class:`~scalinglab.errors.InputError` for bits outside 2..8 or a group size that
    does not divide the input width.

    Example:
        >>> fake_quantize(torch.tensor([[0.0, 0.1, 0.2, 1.5]]), bits=2).tolist()
        [[0.0, 0.0, 0.0, 1.5]]
    """
    group = _check(weight, bits, group_size)
    q, scale, zero = _grid(weight, bits, group, symmetric)
    return _dequantize_(q, scale, zero).to(weight.dtype)


def quantize(
    weight: torch.Tensor, bits: int, group_size: int | None = None, *, symmetric: bool = False
) -> QuantizedWeight:
    """Integer codes, scales and zero points of ``weight``, and the weight they dequantize to.

    Use :func:`fake_quantize` where only the dequantized weight is needed (it skips the
    integer tensors).
    """
    group = _check(weight, bits, group_size)
    q, scale, zero = _grid(weight, bits, group, symmetric)
    codes = q.flatten(-2).to(torch.int32)
    return QuantizedWeight(
        dequantized=_dequantize_(q, scale, zero).to(weight.dtype),
        codes=codes,
        scales=scale.squeeze(-1),
        zeros=None if zero is None else zero.squeeze(-1).to(torch.int32),
        bits=bits,
        group_size=group,
        symmetric=symmetric,
    )
