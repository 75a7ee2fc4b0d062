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

from ..accelerators import ACCELERATORS
from ..errors import InputError


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
