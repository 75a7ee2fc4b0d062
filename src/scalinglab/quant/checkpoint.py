"""Reading a ladder checkpoint: its weights and the run config that rebuilds its model.

Two layouts are read:

* a final-weights file ``{"model": state_dict, "config": RunConfig.to_dict(), ...}``;
* a training checkpoint ``ckpt.pt`` (``{"model", "optimizer", "step", "rows", "elapsed"}``,
  :func:`scalinglab.ladder.train.save_checkpoint`), whose config is the run folder's
  ``config.json`` beside it.

Files are loaded with ``weights_only=True``: a checkpoint handed to the CLI is data, and
unpickling arbitrary objects would run code. Anything else is refused in one line.

Example:
    >>> ckpt = read_checkpoint("runs/gpu-ladder-d384L8-.../ckpt.pt")   # doctest: +SKIP
    >>> ckpt.config["shape"]["d_model"], ckpt.step                      # doctest: +SKIP
    (384, 6000)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

#: The prefix ``torch.compile`` adds to a compiled module's parameter names.
_COMPILED = "_orig_mod."


@dataclass
class Checkpoint:
    """A ladder model's weights, its run config (a ``RunConfig.to_dict()``), its step if known."""

    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    step: int | None
    path: Path


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """The weights and run config of a ladder checkpoint (see the module docstring)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise InputError("no such checkpoint file", file=where)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (zip, pickle, EOF) for a foreign file
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise InputError(
            f"not a ladder checkpoint (torch cannot load it: {reason})", file=where
        ) from None
    if not isinstance(state, Mapping) or not isinstance(state.get("model"), Mapping):
        raise InputError(
            "not a ladder checkpoint: expected a dict with a 'model' state dict", file=where
        )
    weights = {
        (k.removeprefix(_COMPILED) if isinstance(k, str) else k): v
        for k, v in state["model"].items()
    }
    if not weights or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise InputError("not a ladder checkpoint: its 'model' holds no tensors", file=where)
    config = state.get("config")
    if config is None:
        config = _config_beside(path)
    if not isinstance(config, Mapping) or not isinstance(config.get("shape"), Mapping):
        raise InputError("not a ladder checkpoint: its run config has no model 'shape'", file=where)
    step = state.get("step")
    return Checkpoint(weights, dict(config), step if isinstance(step, int) else None, path)


def _config_beside(path: Path) -> Any:
    config = path.parent / "config.json"
    if not config.is_file():
        raise InputError(
            "not a ladder checkpoint: it holds no 'config' and there is no config.json beside it",
            file=str(path),
        )
    try:
        return json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the run config ({exc})", file=str(config)) from None
