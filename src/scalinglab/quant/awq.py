"""Activation-aware weight scaling (AWQ; Lin et al. 2023, *AWQ: Activation-aware Weight
Quantization for LLM Compression and Acceleration*).

A few input channels of a layer carry much larger activations than the rest, and the weights
that multiply them matter most. AWQ scales those weight columns up before rounding and the
activations down by the same factor: ``W x = (W diag(s)) (diag(s)^-1 x)`` exactly in floats,
but after rounding ``Q(W diag(s))`` the salient columns keep more relative precision. The
per-input-channel scale is ``s = mean|x| ** a`` (their sec. 3.2) with the exponent ``a``
chosen on a grid over [0, 1] to minimise the layer's output error on calibration data,

    ``err(a) = sum over calibration tokens x of || Q(W diag(s)) diag(s)^-1 x - W x ||^2``.

``a = 0`` is plain round-to-nearest, so the chosen scaling is never worse than RTN on the
calibration set. Two things make the search cheap (seconds on a GPU for the whole ladder):

* the error is a quadratic form in the weight error ``dW``: ``err = tr(dW G dW^T)`` with
  ``G = sum x x^T`` (inputs x inputs), so the calibration tokens are read once, into ``G`` and
  ``mean|x|``, whatever their number, and each grid point costs one ``out x in x in`` product;
* all grid points are quantized and scored in one batch.

The fake-quantized layer keeps ``Q(W diag(s)) diag(s)^-1`` as its weight: the same numbers a
deployment gets by folding ``diag(s)^-1`` into the previous operation (a LayerNorm's gain, the
previous projection, or a scaled activation before an MLP's output layer, as AWQ does for
GELU MLPs). AWQ's code release also searches a clipping range per group; that is not done here.

Example:
    >>> import torch
    >>> layer = torch.nn.Linear(64, 16, bias=False)
    >>> stats = collect_activation_stats(layer, torch.randn(4, 8, 64), {"": layer})[""]
    >>> found = search_scales(layer.weight.detach(), stats, bits=3, group_size=32)
    >>> found.error <= found.rtn_error
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .weights import fake_quantize

#: Grid points over [0, 1] for the exponent (Lin et al. search 20; we add the end point 1).
DEFAULT_GRID = 20
#: Most elements of the batched candidate weights held at once (about 256 MB in float32).
_BATCH_ELEMENTS = 64 * 2**20


@dataclass
class ActivationStats:
    """What the search needs of one layer's calibration inputs: ``mean|x|`` per input channel
    and the sum of outer products ``G = sum x x^T`` (float64), over ``tokens`` input rows."""

    mean_abs: torch.Tensor
    gram: torch.Tensor
    tokens: int


@dataclass
class ScaleSearch:
    """The chosen exponent, its scales and weight, and the output errors it was chosen by."""

    alpha: float
    scales: torch.Tensor  # (in,)
    weight: torch.Tensor  # Q(W diag(s)) diag(s)^-1, the weight's dtype
    error: float  # sum of squared output errors on the calibration tokens at alpha
    rtn_error: float  # the same at alpha = 0 (round-to-nearest)


@contextmanager
def full_precision_matmuls() -> Iterator[None]:
    """float32 products in full float32, even where a caller allowed TF32 (the ladder does):
    TF32's 10-bit mantissa would blur the small error differences the grid compares."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


class _Accumulator:
    """A forward pre-hook summing ``|x|`` and ``x x^T`` over every input row of a layer."""

    def __init__(self, width: int, device: torch.device) -> None:
        self.abs_sum = torch.zeros(width, dtype=torch.float64, device=device)
        self.gram = torch.zeros(width, width, dtype=torch.float64, device=device)
        self.tokens = 0

    def __call__(self, module: nn.Module, args: tuple) -> None:
        x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
        self.abs_sum += x.abs().sum(0, dtype=torch.float64)
        self.gram += (x.T @ x).double()  # float32 per batch, float64 across batches
        self.tokens += x.shape[0]

    def stats(self) -> ActivationStats:
        n = max(self.tokens, 1)
        return ActivationStats((self.abs_sum / n).float(), self.gram, self.tokens)


@torch.no_grad()
def collect_activation_stats(
    model: nn.Module,
    calibration: torch.Tensor,
    layers: Mapping[str, nn.Linear],
    *,
    batch_size: int = 8,
) -> dict[str, ActivationStats]:
    """Inputs statistics of ``layers`` while ``model`` reads ``calibration`` (one forward pass).

    ``calibration`` is a batch of model inputs, e.g. token windows of shape ``(n, seq_len)``,
    read ``batch_size`` rows at a time. The model runs in eval mode and is left as it was.
    """
    first = next(iter(layers.values()), None)
    if first is None:
        return {}
    device = first.weight.device
    hooks, accumulators = [], {}
    for name, layer in layers.items():
        accumulators[name] = _Accumulator(layer.in_features, device)
        hooks.append(layer.register_forward_pre_hook(accumulators[name]))
    was_training = model.training
    model.eval()
    try:
        with full_precision_matmuls():
            for i in range(0, calibration.shape[0], batch_size):
                model(calibration[i : i + batch_size].to(device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {name: acc.stats() for name, acc in accumulators.items()}


def scales_for(mean_abs: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``s = mean|x| ** alpha`` for each ``alpha`` (shape ``(K,)`` -> ``(K, in)``), normalised
    to a geometric mid-range of 1 (AWQ's code: ``s / sqrt(max(s) min(s))``), which changes no
    product and keeps the scaled weights' magnitude near the original's."""
    base = mean_abs.clamp(min=1e-8)
    s = (base[None, :] ** alpha[:, None]).clamp(min=1e-4)
    return s / (s.amax(-1, keepdim=True) * s.amin(-1, keepdim=True)).sqrt()


@torch.no_grad()
def search_scales(
    weight: torch.Tensor,
    stats: ActivationStats,
    bits: int,
    group_size: int | None = None,
    *,
    symmetric: bool = False,
    grid: int = DEFAULT_GRID,
) -> ScaleSearch:
    """The exponent on ``grid + 1`` points of [0, 1] minimising the layer's output error.

    Ties go to the smaller exponent, so plain rounding is kept unless scaling helps.
    """
    w = weight.float()
    gram = stats.gram.to(w.device, torch.float32)
    alphas = torch.linspace(0.0, 1.0, grid + 1, device=w.device)
    per_batch = max(1, _BATCH_ELEMENTS // w.numel())
    errors = []
    with full_precision_matmuls():
        for chunk in alphas.split(per_batch):
            s = scales_for(stats.mean_abs.to(w.device), chunk)[:, None, :]  # (K, 1, in)
            dw = fake_quantize(w * s, bits, group_size, symmetric=symmetric).div_(s).sub_(w)
            errors.append(((dw @ gram) * dw).sum((-2, -1)))
    error = torch.cat(errors)
    best = int(torch.argmin(error))  # the first minimum: the smallest exponent
    alpha = alphas[best : best + 1]
    s = scales_for(stats.mean_abs.to(w.device), alpha)[0]
    scaled = fake_quantize(w * s, bits, group_size, symmetric=symmetric) / s
    return ScaleSearch(
        alpha=float(alpha),
        scales=s,
        weight=scaled.to(weight.dtype),
        error=float(error[best]),
        rtn_error=float(error[0]),
    )
