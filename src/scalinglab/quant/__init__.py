"""Quantizers for measuring what low precision costs a trained model (torch, an extra).

* weights, round-to-nearest, symmetric or asymmetric, per channel or group-wise, 2-8 bits:
  :func:`quantize`, :func:`fake_quantize` (:mod:`.weights`);
* activation-aware scaling (AWQ, Lin et al. 2023): :func:`collect_activation_stats`,
  :func:`search_scales` (:mod:`.awq`);
* KV-cache fake quantization (KIVI, Liu et al. 2024): :func:`kv_quantization` (:mod:`.kv`);
* a whole model: :func:`quantize_weights_`; its QiD under each quantizer:
  :func:`quantization_metrics` (:mod:`.metrics`), what the ladder calls at each checkpoint;
* quantizers by name (``w4g128_awq``, ``kv2``): :func:`parse_config` (:mod:`.configs`);
  ladder checkpoints: :func:`read_checkpoint`; the rows the ``qid`` law is fitted to:
  :func:`qid_runs`.

Nothing is imported until used (torch only by the modules that need it), so the CLI's
``--help`` and ``qid_runs`` work without torch.

Example:
    >>> from scalinglab.quant import quantization_metrics                 # doctest: +SKIP
    >>> quantization_metrics(model, val_loss, calibration)["qid_w4g32_awq"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names and the module each is read from, on first use (PEP 562).
_EXPORTS = {
    "BITS": "configs",
    "DEFAULT_CONFIGS": "configs",
    "QuantConfig": "configs",
    "parse_config": "configs",
    "weight_config": "configs",
    "QuantizedWeight": "weights",
    "fake_quantize": "weights",
    "quantize": "weights",
    "ActivationStats": "awq",
    "ScaleSearch": "awq",
    "collect_activation_stats": "awq",
    "search_scales": "awq",
    "kv_quantization": "kv",
    "quantize_keys": "kv",
    "quantize_values": "kv",
    "quantizable_linears": "apply",
    "quantize_weights_": "apply",
    "check_configs": "metrics",
    "quantization_metrics": "metrics",
    "Checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "qid_runs": "table",
}


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scalinglab.quant' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
