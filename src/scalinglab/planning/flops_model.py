"""Training FLOPs as a function of model size and tokens: the budget's constraint.

The planner trades N against D along ``flops_model(N, D) = C``. The default is C = 6ND
(Kaplan et al. 2020, eq. 2.1); embedding or attention terms are added as numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..expr import Expression
from .replicates import bisect_increasing

#: C = 6ND: forward and backward passes of a dense transformer (Kaplan et al. 2020, eq. 2.1).
DEFAULT_FLOPS_MODEL = "6*params*tokens"
#: Model sizes searched by the numerical solver (parameters).
N_RANGE = (1e2, 1e16)
#: Token counts searched when solving for D (tokens); "unlimited data" is evaluated at the top.
D_RANGE = (1.0, 1e40)


class FlopsModel:
    """Training FLOPs as a function of params and tokens, e.g. ``"6*params*tokens"``.

    Add embedding or attention terms with numbers, e.g.
    ``"6*params*tokens + 6*2*24*2048*1024*tokens"`` (layers x context x width per token).
    The model must grow with tokens; when it is affine in tokens (the usual case) D is solved
    exactly, otherwise by bisection.

    Example:
        >>> float(FlopsModel()(1e9, 2e10))
        1.2e+20
        >>> float(FlopsModel().tokens_for(1e9, 1.2e20))
        20000000000.0
    """

    def __init__(self, formula: str = DEFAULT_FLOPS_MODEL) -> None:
        self.formula = formula.strip()
        self.expression = Expression(self.formula, what="FLOPs model")
        unknown = sorted(self.expression.names - {"params", "tokens"})
        if unknown:
            raise InputError(
                f"FLOPs model {self.formula!r} may use only params and tokens (and numbers); "
                f"it refers to {', '.join(unknown)}"
            )
        if "tokens" not in self.expression.names:
            raise InputError(f"FLOPs model {self.formula!r} does not use tokens")
        n = np.array([1e6, 1e9, 1e12])
        f0, f1, f2 = (self(n, d) for d in (0.0, 1e10, 2e10))
        if not np.all(f2 > f1):
            raise InputError(f"FLOPs model {self.formula!r} does not grow with tokens")
        self.affine = bool(np.allclose(f2 - f1, f1 - f0, rtol=1e-9, atol=0))

    @property
    def is_default(self) -> bool:
        return self.formula.replace(" ", "") in {"6*params*tokens", "6*tokens*params"}

    def __call__(self, params: Any, tokens: Any) -> np.ndarray:
        return np.asarray(self.expression({"params": params, "tokens": tokens}), dtype=float)

    def tokens_for(self, params: Any, flops: Any) -> np.ndarray:
        """D with ``flops_model(params, D) = flops`` (NaN where the budget is too small)."""
        params = np.asarray(params, dtype=float)
        flops = np.asarray(flops, dtype=float)
        with np.errstate(all="ignore"):
            if self.affine:
                f0 = self(params, 0.0)
                slope = (self(params, 1e12) - f0) / 1e12
                d = (flops - f0) / slope
            else:
                shape = np.broadcast_shapes(params.shape, flops.shape)
                lo = np.full(shape, math.log(D_RANGE[0]))
                hi = np.full(shape, math.log(D_RANGE[1]))
                logf = np.log(flops)
                d = np.exp(
                    bisect_increasing(lambda x: np.log(self(params, np.exp(x))), logf, lo, hi)
                )
                d = np.where(
                    np.isclose(np.log(self(params, d)), logf, rtol=0, atol=1e-9), d, np.nan
                )
        return np.where(d > 0, d, np.nan)

    def __repr__(self) -> str:
        return f"FlopsModel({self.formula!r})"


def as_flops_model(model: str | FlopsModel | None) -> FlopsModel:
    if isinstance(model, FlopsModel):
        return model
    return FlopsModel(model or DEFAULT_FLOPS_MODEL)
