"""Accelerator peaks: the one table of dense tensor-core FLOP/s and memory bandwidth that every
layer quotes.

A leaf module (it imports nothing from scalinglab), so the cost questions
(:mod:`scalinglab.planning.cost`), the ladder's time model (:mod:`scalinglab.ladder.sweep`) and
the inference cost model (:mod:`scalinglab.downstream.cost`) state a peak once, here.
Decoding one token at a time is bound by memory traffic (weights and KV cache read per token),
not FLOPs, so inference needs the bandwidth too (Sadhukhan et al. 2025, *Kinetics*).

Example:
    >>> ACCELERATORS["h100"]["peak_flops"], ACCELERATORS["h100"]["memory_bandwidth"]
    (989000000000000.0, 3350000000000.0)
"""

from __future__ import annotations

from typing import Any

#: Dense BF16 (FP16 for V100) tensor-core peaks in FLOP/s, without structured sparsity, and
#: peak memory (HBM/GDDR) bandwidth in bytes/s, from the vendors' datasheets. Check your own SKU
#: (SXM vs PCIe, memory size, clocks) before quoting a price: the A100 row is the 80 GB SXM
#: (40 GB: 1.56 TB/s; 80 GB PCIe: 1.94 TB/s).
ACCELERATORS: dict[str, dict[str, Any]] = {
    "v100": {"peak_flops": 125e12, "memory_bandwidth": 0.9e12,
             "name": "NVIDIA V100 SXM2 (FP16; no BF16)"},
    "a100": {"peak_flops": 312e12, "memory_bandwidth": 2.039e12, "name": "NVIDIA A100 (SXM or PCIe)"},
    "l4": {"peak_flops": 121e12, "memory_bandwidth": 0.3e12, "name": "NVIDIA L4"},
    "h100": {"peak_flops": 989e12, "memory_bandwidth": 3.35e12, "name": "NVIDIA H100 SXM"},
    "h100-pcie": {"peak_flops": 756e12, "memory_bandwidth": 2.0e12, "name": "NVIDIA H100 PCIe"},
    "h200": {"peak_flops": 989e12, "memory_bandwidth": 4.8e12, "name": "NVIDIA H200 SXM"},
    "b200": {"peak_flops": 2250e12, "memory_bandwidth": 8.0e12, "name": "NVIDIA B200"},
    "mi250x": {"peak_flops": 383e12, "memory_bandwidth": 3.2768e12, "name": "AMD Instinct MI250X"},
    "mi300x": {"peak_flops": 1307e12, "memory_bandwidth": 5.3e12, "name": "AMD Instinct MI300X"},
    "tpu-v4": {"peak_flops": 275e12, "memory_bandwidth": 1.228e12, "name": "Google TPU v4 (per chip)"},
    "tpu-v5e": {"peak_flops": 197e12, "memory_bandwidth": 0.819e12,
                "name": "Google TPU v5e (per chip)"},
    "tpu-v5p": {"peak_flops": 459e12, "memory_bandwidth": 2.765e12,
                "name": "Google TPU v5p (per chip)"},
}  # fmt: skip
