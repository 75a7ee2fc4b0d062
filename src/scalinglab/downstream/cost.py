"""What sampling costs: FLOPs *and* bytes moved per generated token, on a named accelerator.

Generating one token with a decoder-only transformer of N non-embedding parameters, L layers
and width d, at a context of T tokens:

* **FLOPs**: ``2 N`` for the weights (a multiply and an add each; Kaplan et al. 2020, Table 1),
  ``2 V d`` for the output projection, and ``4 L d T`` for attention (scores and the weighted
  sum of values, two FLOPs per multiply-add; the forward third of the ladder's ``12 L d T``);
* **bytes**: every weight read once per decoding step and shared by the ``batch`` sequences
  decoded together (``b_w (N + V d) / batch``), and each sequence's own key/value cache read in
  full (``2 L T d_kv b_kv``: keys and values) and one new entry written (``2 L d_kv b_kv``).

At small batch, decoding moves far more bytes than it computes FLOPs; attention's bytes grow
with the context while the weights' do not, which is why long generations and many samples are
memory-bound (Sadhukhan et al. 2025, *Kinetics*: test-time compute must count memory traffic).
Time per token is the roofline ``max(FLOPs / (peak * mfu), bytes / (bandwidth * mbu))``, and
Kinetics' *equivalent FLOPs* ``FLOPs + bytes * peak / bandwidth`` put both on one scale. The
prompt (prefill) is processed once, all positions together: its weights are read once, its
attention is quadratic in its length, and all samples of a problem share it.

Example:
    >>> shape = DecoderShape(params=1e9, n_layers=16, d_model=2048)
    >>> c = token_cost(shape, context=1024, accelerator="h100")
    >>> f"{c['flops']:.4g} FLOPs, {c['bytes']:.4g} bytes, {c['seconds'] * 1e3:.3g} ms"
    '2.134e+09 FLOPs, 2.134e+09 bytes, 0.637 ms'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..accelerators import ACCELERATORS
from ..answer import Answer
from ..errors import InputError


@dataclass(frozen=True)
class DecoderShape:
    """What the cost of a token depends on: parameters, layers, width, KV width, vocabulary."""

    params: float  # non-embedding parameters (read every step)
    n_layers: int
    d_model: int
    kv_dim: int | None = None  # keys' (and values') width per layer: d_model unless GQA/MQA
    vocab_size: int = 0  # output projection (V x d): 0 to leave it out
    name: str = ""

    def __post_init__(self) -> None:
        for field_name in ("params", "n_layers", "d_model"):
            value = getattr(self, field_name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"must be a positive number, got {value!r}", option=field_name)

    @property
    def kv(self) -> int:
        return int(self.kv_dim or self.d_model)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], name: str = "") -> DecoderShape:
        """From a run-table row holding ``params``, ``n_layers`` and ``d_model`` (the ladder's
        runs do; ``vocab_size`` 256 for its byte models unless given)."""
        missing = [c for c in ("params", "n_layers", "d_model") if c not in row or
                   not np.isfinite(float(row[c]))]  # fmt: skip
        if missing:
            raise InputError(f"the runs need column(s) {', '.join(missing)} to cost inference",
                             option="runs")  # fmt: skip
        vocab = row.get("vocab_size", 256)
        return cls(float(row["params"]), int(row["n_layers"]), int(row["d_model"]),
                   vocab_size=int(vocab) if np.isfinite(float(vocab)) else 256, name=name)  # fmt: skip


@dataclass(frozen=True)
class Hardware:
    """An accelerator's peak FLOP/s and bandwidth, and the shares of them reached."""

    name: str
    peak_flops: float
    bandwidth: float
    mfu: float = 1.0
    mbu: float = 1.0

    @property
    def intensity(self) -> float:
        """FLOPs per byte at which compute and memory take equally long (the ridge point)."""
        return self.peak_flops * self.mfu / (self.bandwidth * self.mbu)


def hardware(accelerator: str = "h100", *, mfu: float = 1.0, mbu: float = 1.0) -> Hardware:
    """An accelerator of :data:`scalinglab.accelerators.ACCELERATORS` (peak FLOP/s and memory
    bandwidth) at a model-FLOPs and a memory-bandwidth utilisation (1: the peaks)."""
    key = accelerator.strip().lower()
    if key not in ACCELERATORS or "memory_bandwidth" not in ACCELERATORS[key]:
        raise InputError(f"unknown accelerator {accelerator!r} (known: {', '.join(ACCELERATORS)})",
                         option="accelerator")  # fmt: skip
    for name, value in (("mfu", mfu), ("mbu", mbu)):
        if not 0 < value <= 1:
            raise InputError(f"must lie in (0, 1], got {value:g}", option=name)
    spec = ACCELERATORS[key]
    return Hardware(key, float(spec["peak_flops"]), float(spec["memory_bandwidth"]), mfu, mbu)


def _check(name: str, value: Any, least: float) -> float:
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)
            and value >= least):  # fmt: skip
        raise InputError(f"must be a number >= {least:g}, got {value!r}", option=name)
    return float(value)


def token_cost(
    shape: DecoderShape,
    *,
    context: float,
    accelerator: str | Hardware = "h100",
    batch: int = 1,
    bytes_per_param: float = 2.0,
    bytes_per_kv: float = 2.0,
) -> dict[str, float]:
    """FLOPs, bytes, seconds and equivalent FLOPs of one generated token at ``context``."""
    hw = accelerator if isinstance(accelerator, Hardware) else hardware(accelerator)
    t = _check("context", context, 0)
    b = _check("batch", batch, 1)
    flops = _flops(shape, np.asarray(t))
    data = _bytes(shape, np.asarray(t), b, bytes_per_param, bytes_per_kv)
    return {"flops": float(flops), "bytes": float(data),
            "seconds": float(_seconds(hw, flops, data)),
            "equivalent_flops": float(flops + data * hw.peak_flops / hw.bandwidth),
            "arithmetic_intensity": float(flops / data)}  # fmt: skip


def _flops(shape: DecoderShape, context: np.ndarray) -> np.ndarray:
    weights = 2.0 * (shape.params + shape.vocab_size * shape.d_model)
    return weights + 4.0 * shape.n_layers * shape.d_model * context


def _bytes(shape, context: np.ndarray, batch: float, b_param: float, b_kv: float) -> np.ndarray:
    weights = b_param * (shape.params + shape.vocab_size * shape.d_model) / batch
    kv = 2.0 * shape.n_layers * shape.kv * b_kv
    return weights + kv * context + kv  # read the cache, write one entry


def _seconds(hw: Hardware, flops: Any, data: Any) -> Any:
    return np.maximum(flops / (hw.peak_flops * hw.mfu), data / (hw.bandwidth * hw.mbu))


@dataclass
class GenerationCost(Answer):
    """The cost of answering one problem with ``samples`` generations of ``generated`` tokens
    after a ``prompt`` (shared by the samples)."""

    shape: DecoderShape
    hardware: Hardware
    prompt: int
    generated: int
    samples: int
    batch: int
    prefill: dict[str, float]
    per_sample: dict[str, float]
    title = "inference cost per problem"

    def total(self, samples: Any = None) -> dict[str, Any]:
        """Totals for ``samples`` (default: this cost's): prefill once plus each sample."""
        k = np.asarray(self.samples if samples is None else samples, dtype=float)
        return {q: self.prefill[q] + k * self.per_sample[q]
                for q in ("flops", "bytes", "seconds", "equivalent_flops")}  # fmt: skip

    def samples_within(self, budget: float, unit: str = "seconds") -> int:
        """The most samples a ``budget`` (in ``unit``: seconds, flops, equivalent_flops) pays."""
        if unit not in ("seconds", "flops", "equivalent_flops", "bytes"):
            raise InputError(f"must be seconds, flops, equivalent_flops or bytes, got {unit!r}",
                             option="unit")  # fmt: skip
        left = budget - self.prefill[unit]
        return max(0, int(math.floor(left / self.per_sample[unit]))) if left > 0 else 0

    def to_json(self) -> dict[str, Any]:
        total = {k: float(v) for k, v in self.total().items()}
        return {
            "model": asdict(self.shape),
            "accelerator": asdict(self.hardware),
            "prompt_tokens": self.prompt,
            "generated_tokens": self.generated,
            "samples": self.samples,
            "batch": self.batch,
            "prefill": dict(self.prefill),
            "per_sample": dict(self.per_sample),
            "total": total,
            "memory_bound_share": float(self.per_sample["memory_bound_tokens"] / self.generated)
            if self.generated else None,
        }  # fmt: skip


def generation_cost(
    shape: DecoderShape,
    *,
    prompt: int,
    generated: int,
    samples: int = 1,
    accelerator: str | Hardware = "h100",
    batch: int = 1,
    bytes_per_param: float = 2.0,
    bytes_per_kv: float = 2.0,
) -> GenerationCost:
    """The cost of ``samples`` generations of ``generated`` tokens after a shared ``prompt``.

    Each generated token is costed at its own context (the prompt and the tokens before it):
    per-token rooflines summed, so a generation that turns memory-bound as its cache grows is
    timed as it goes. The prefill reads the weights once for all prompt positions; its
    attention costs ``4 L d`` per pair of positions (``2 L d P^2`` with the causal half).
    """
    hw = accelerator if isinstance(accelerator, Hardware) else hardware(accelerator)
    p = int(_check("prompt", prompt, 0))
    g = int(_check("generated", generated, 1))
    k = int(_check("samples", samples, 1))
    b = int(_check("batch", batch, 1))
    contexts = np.arange(p, p + g, dtype=float)
    flops = _flops(shape, contexts)
    data = _bytes(shape, contexts, b, bytes_per_param, bytes_per_kv)
    seconds = _seconds(hw, flops, data)
    per_sample = {
        "flops": float(flops.sum()), "bytes": float(data.sum()), "seconds": float(seconds.sum()),
        "equivalent_flops": float((flops + data * hw.peak_flops / hw.bandwidth).sum()),
        "memory_bound_tokens": int(np.sum(data / (hw.bandwidth * hw.mbu)
                                          >= flops / (hw.peak_flops * hw.mfu))),
    }  # fmt: skip
    weights = shape.params + shape.vocab_size * shape.d_model
    pre_flops = 2.0 * weights * p + 2.0 * shape.n_layers * shape.d_model * p * p
    pre_bytes = bytes_per_param * weights + 2.0 * shape.n_layers * shape.kv * bytes_per_kv * p
    prefill = {
        "flops": pre_flops, "bytes": pre_bytes,
        "seconds": float(_seconds(hw, pre_flops, pre_bytes)) if p else 0.0,
        "equivalent_flops": pre_flops + pre_bytes * hw.peak_flops / hw.bandwidth,
    }  # fmt: skip
    if not p:
        prefill = {q: 0.0 for q in prefill}
    return GenerationCost(shape, hw, p, g, k, b, prefill, per_sample)


__all__ = ["DecoderShape", "GenerationCost", "Hardware", "generation_cost", "hardware",
           "token_cost"]  # fmt: skip
