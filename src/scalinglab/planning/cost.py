"""Training cost in accelerator-hours and money, from FLOPs, a peak FLOP/s and an MFU.

``hours = C / (peak * MFU) / 3600``; ``cost = hours * price per accelerator-hour``.
MFU (model FLOPs utilisation) is the share of the peak a real run achieves: 0.3-0.5 is typical
for large dense transformers (Chowdhery et al. 2022, PaLM, report 46%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

#: Dense BF16 (FP16 for V100) tensor-core peaks in FLOP/s, without structured sparsity, from the
#: vendors' datasheets. Check your own SKU (SXM vs PCIe, clocks) before quoting a price.
ACCELERATORS: dict[str, dict[str, Any]] = {
    "v100": {"peak_flops": 125e12, "name": "NVIDIA V100 SXM2 (FP16; no BF16)"},
    "a100": {"peak_flops": 312e12, "name": "NVIDIA A100 (SXM or PCIe)"},
    "l4": {"peak_flops": 121e12, "name": "NVIDIA L4"},
    "h100": {"peak_flops": 989e12, "name": "NVIDIA H100 SXM"},
    "h100-pcie": {"peak_flops": 756e12, "name": "NVIDIA H100 PCIe"},
    "h200": {"peak_flops": 989e12, "name": "NVIDIA H200 SXM"},
    "b200": {"peak_flops": 2250e12, "name": "NVIDIA B200"},
    "mi250x": {"peak_flops": 383e12, "name": "AMD Instinct MI250X"},
    "mi300x": {"peak_flops": 1307e12, "name": "AMD Instinct MI300X"},
    "tpu-v4": {"peak_flops": 275e12, "name": "Google TPU v4 (per chip)"},
    "tpu-v5e": {"peak_flops": 197e12, "name": "Google TPU v5e (per chip)"},
    "tpu-v5p": {"peak_flops": 459e12, "name": "Google TPU v5p (per chip)"},
}


@dataclass(frozen=True)
class Hardware:
    """An accelerator's peak, the MFU a run achieves on it, and an hourly price (optional)."""

    peak_flops: float
    mfu: float = 0.4
    price: float | None = None
    name: str = "custom"

    @property
    def flops_per_second(self) -> float:
        """Sustained model FLOP/s per accelerator: peak times MFU."""
        return self.peak_flops * self.mfu

    def hours(self, flops: Any) -> np.ndarray:
        return np.asarray(flops, dtype=float) / self.flops_per_second / 3600.0

    def cost(self, flops: Any) -> np.ndarray | None:
        return None if self.price is None else self.hours(flops) * self.price

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "peak_flops": self.peak_flops,
            "mfu": self.mfu,
            "price_per_hour": self.price,
        }


def hardware(
    gpu: str | None = None,
    *,
    peak_flops: float | None = None,
    mfu: float = 0.4,
    price: float | None = None,
) -> Hardware:
    """A :class:`Hardware` from the built-in table (``gpu="h100"``) or an explicit peak.

    Example:
        >>> hw = hardware("h100", mfu=0.4, price=2.5)
        >>> round(float(hw.hours(5.76e23)))
        404449
    """
    if not 0 < mfu <= 1:
        raise InputError(f"--mfu must be in (0, 1], got {mfu:g}")
    if price is not None and (not math.isfinite(price) or price < 0):
        raise InputError(f"--price must be a non-negative number, got {price:g}")
    if peak_flops is not None:
        if not peak_flops > 0:
            raise InputError(f"--peak-flops must be positive, got {peak_flops:g}")
        return Hardware(float(peak_flops), mfu, price, gpu or "custom")
    if gpu is None:
        raise InputError("give --gpu NAME or --peak-flops FLOP/s")
    key = gpu.strip().lower()
    if key not in ACCELERATORS:
        raise InputError(
            f"unknown accelerator {gpu!r} (known: {', '.join(ACCELERATORS)}; or give --peak-flops)"
        )
    return Hardware(ACCELERATORS[key]["peak_flops"], mfu, price, key)


def training_cost(
    flops: Any, hw: Hardware, *, replicates: Any = None, interval: float = 0.9
) -> dict[str, Any]:
    """Accelerator-hours (and money) for ``flops``; intervals when replicate FLOPs are given."""
    out: dict[str, Any] = {"hardware": hw.to_json(), "gpu_hours": float(hw.hours(flops))}
    cost = hw.cost(flops)
    out["cost"] = None if cost is None else float(cost)
    if replicates is not None:
        reps = np.asarray(replicates, dtype=float)
        reps = reps[np.isfinite(reps)]
        if reps.size:
            q = ((1 - interval) / 2, 1 - (1 - interval) / 2)
            lo, hi = np.quantile(reps, q)
            out["ci"] = {"gpu_hours": [float(hw.hours(lo)), float(hw.hours(hi))]}
            if hw.price is not None:
                out["ci"]["cost"] = [float(hw.cost(lo)), float(hw.cost(hi))]
    return out
