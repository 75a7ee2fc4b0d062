"""Turning results into plain JSON: numpy values to Python, NaN and infinities to null."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_jsonable(x: Any) -> Any:
    """A copy of ``x`` that ``json.dumps`` writes as strict JSON.

    Example:
        >>> to_jsonable({"a": np.float64(1.5), "b": [float("nan")], 3: np.arange(2)})
        {'a': 1.5, 'b': [None], '3': [0, 1]}
    """
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
