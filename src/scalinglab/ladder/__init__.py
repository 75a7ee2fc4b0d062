"""The ladder: train sweeps of small GPTs and turn them into a run table.

Torch is an optional extra, so nothing here imports it at import time: the model, the trainer
and the executors import it when called.

    >>> from scalinglab.ladder import load_spec, run_sweep        # doctest: +SKIP
    >>> summary = run_sweep(load_spec("data/ladder/gpu-ladder.toml"), "runs/")  # doctest: +SKIP
"""

from __future__ import annotations

from .config import RunConfig
from .presets import PRESETS, preset
from .sizing import (
    ModelShape,
    flops_per_token,
    non_embedding_params,
    shape_for_params,
    total_params,
)
from .spec import LadderSpec, Sweep, expand_spec, load_spec, parse_spec, validate_spec
from .sweep import plan_rows, run_sweep

__all__ = [
    "PRESETS",
    "LadderSpec",
    "ModelShape",
    "RunConfig",
    "Sweep",
    "expand_spec",
    "flops_per_token",
    "load_spec",
    "non_embedding_params",
    "parse_spec",
    "plan_rows",
    "preset",
    "run_sweep",
    "shape_for_params",
    "total_params",
    "validate_spec",
]
