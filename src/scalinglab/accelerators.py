"""Accelerator peaks: the one table of dense tensor-core FLOP/s that every layer quotes.

A leaf module (it imports nothing from scalinglab), so both the cost questions
(:mod:`scalinglab.planning.cost`) and the ladder's time model (:mod:`scalinglab.ladder.sweep`)
state a peak once, here.

Example:
    >>> ACCELERATORS["h100"]["peak_flops"]
    989000000000000.0
"""

from __future__ import annotations

from typing import Any

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
