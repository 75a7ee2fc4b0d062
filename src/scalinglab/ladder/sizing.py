"""Model shapes, parameter counts and FLOPs, without torch.

The ladder plans sweeps before anything is trained, so counting lives here in plain Python and
``model.py`` checks itself against it (a test asserts the counts equal ``numel`` of the built
model).

Conventions (the ones the scaling-law literature uses):

* ``params`` (non-embedding) counts every weight except the token embedding, the learned
  position embedding and the output projection to the vocabulary, as in Kaplan et al. (2020),
  *Scaling Laws for Neural Language Models*, section 2.1. With a byte vocabulary (256) the
  difference is small but it matters for the smallest models.
* FLOPs per token: ``6 * params`` for the forward and backward pass of the weights, plus the
  attention-score term ``12 * n_layers * d_model * seq_len`` (scores and the weighted sum,
  forward and backward, causal mask ignored), as in the PaLM paper's model-FLOPs utilisation
  (Chowdhery et al. 2022, appendix B).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import InputError
from ..runs.sizes import format_size

POSITIONS = ("rope", "learned")


@dataclass(frozen=True)
class ModelShape:
    """The shape of a decoder-only GPT: everything that fixes its parameter count."""

    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int = 256
    vocab_size: int = 256
    mlp_ratio: int = 4
    positions: str = "rope"
    tied_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.d_model < 8 or self.n_layers < 1 or self.n_heads < 1:
            raise InputError(
                f"impossible model size: d_model={self.d_model}, n_layers={self.n_layers}, "
                f"n_heads={self.n_heads} (need d_model >= 8, n_layers >= 1, n_heads >= 1)"
            )
        if self.d_model % self.n_heads:
            raise InputError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2 and self.positions == "rope":
            raise InputError("rotary positions need an even head dimension")
        if self.positions not in POSITIONS:
            raise InputError(f"positions must be one of {POSITIONS}, not {self.positions!r}")
        if self.seq_len < 2 or self.vocab_size < 2:
            raise InputError("seq_len and vocab_size must be at least 2")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


def non_embedding_params(shape: ModelShape) -> int:
    """Weights of the transformer blocks and the final norm (LayerNorms carry no bias)."""
    d = shape.d_model
    attn = 4 * d * d  # fused q, k, v and the output projection, no biases
    mlp = 2 * shape.mlp_ratio * d * d
    norms = 2 * d
    return shape.n_layers * (attn + mlp + norms) + d


def embedding_params(shape: ModelShape) -> int:
    """Token embedding, learned positions if any, and the untied output head if any."""
    n = shape.vocab_size * shape.d_model
    if shape.positions == "learned":
        n += shape.seq_len * shape.d_model
    if not shape.tied_embeddings:
        n += shape.vocab_size * shape.d_model
    return n


def total_params(shape: ModelShape) -> int:
    return non_embedding_params(shape) + embedding_params(shape)


def flops_per_token(shape: ModelShape, *, attention: bool = True) -> float:
    """Training FLOPs per token: ``6 N`` plus, with ``attention``, ``12 L d T``."""
    flops = 6.0 * non_embedding_params(shape)
    if attention:
        flops += 12.0 * shape.n_layers * shape.d_model * shape.seq_len
    return flops


def default_heads(d_model: int) -> int:
    """Heads of width 64 where the width allows it, else 32, else one head."""
    for head_dim in (64, 32, 16):
        if d_model % head_dim == 0 and d_model >= head_dim:
            return d_model // head_dim
    return 1


def shape_for_params(
    target: float,
    *,
    aspect: float = 64.0,
    width_multiple: int | None = None,
    **shape_kwargs,
) -> ModelShape:
    """The shape whose non-embedding count is closest to ``target``, with ``d_model ~ aspect*L``.

    A fixed width/depth ratio keeps the ladder on one line of shapes (Kaplan et al. found the
    loss insensitive to the ratio over a wide range, so one ratio is enough).
    """
    if not math.isfinite(target) or target < 5e3 or target > 2e11:
        raise InputError(f"impossible target size: params={target:g} (need 5e3 to 2e11)")
    if width_multiple is None:  # heads of 64 for real sizes, finer steps for toy ones
        width_multiple = 32 if target < 2e6 else 64
    layers = max(1, round((target / (12.0 * aspect * aspect)) ** (1.0 / 3.0)))
    best: ModelShape | None = None
    best_key: tuple[float, float] = (math.inf, math.inf)
    for n_layers in {max(1, layers - 1), layers, layers + 1}:
        width = math.sqrt(target / (12.0 * n_layers))
        for d in {
            max(width_multiple, math.floor(width / width_multiple) * width_multiple),
            max(width_multiple, math.ceil(width / width_multiple) * width_multiple),
        }:
            shape = ModelShape(
                d_model=d, n_layers=n_layers, n_heads=default_heads(d), **shape_kwargs
            )
            err = abs(math.log(non_embedding_params(shape) / target))
            ratio = abs(math.log(d / (aspect * n_layers)))
            key = (round(err, 2), ratio)
            if key < best_key:
                best, best_key = shape, key
    assert best is not None
    return best


def human(n: float) -> str:
    """``12345678 -> '12.3M'``: compact sizes for run ids and tables."""
    return format_size(n, digits=3)
