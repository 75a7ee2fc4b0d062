"""Kaplan et al. 2020's loss vs parameters and optimisation steps, and the critical batch size.

``L(N, S) = (Nc/N)**alpha_N + (Sc/S_min)**alpha_S`` where ``S_min = S / (1 + B_crit(L)/B)``
is the number of steps the run would have needed at a very large batch, and
``B_crit(L) = B_star / L**(1/alpha_B)`` the critical batch size (McCandlish et al. 2018;
Kaplan et al. 2020, section 5.1). The law is fitted on per-step curves: ``S_min`` is computed
for every row from its step, its batch size in tokens and its observed loss (as Kaplan et al.
did), with ``B_star`` and ``alpha_B`` fixed (published values by default).

Example:
    >>> from scalinglab.laws.kaplan import critical_batch
    >>> round(critical_batch(3.0))   # tokens, Kaplan's B* = 2e8, alpha_B = 0.21
    1069114
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .base import Law

#: Kaplan et al. 2020, eq. 5.3 (B in tokens): B_crit(L) = B* / L^(1/alpha_B).
B_STAR = 2e8
ALPHA_B = 0.21

#: Kaplan et al. 2020, Table 3 (fit of L(N, S_min)); approx.
KAPLAN_NS_PUBLISHED = {"alpha_N": 0.077, "Nc": 6.5e13, "alpha_S": 0.76, "Sc": 2.1e3}


def critical_batch(loss: Any, b_star: float = B_STAR, alpha_b: float = ALPHA_B) -> Any:
    """Critical batch size in tokens at ``loss`` (nats/token); arrays broadcast."""
    value = b_star / np.asarray(loss, dtype=float) ** (1.0 / alpha_b)
    return float(value) if value.ndim == 0 else value


def min_steps(
    steps: Any, batch_tokens: Any, loss: Any, b_star: float = B_STAR, alpha_b: float = ALPHA_B
) -> Any:
    """``S_min = S / (1 + B_crit(L)/B)``: steps the run would need at a very large batch."""
    return np.asarray(steps, dtype=float) / (
        1.0 + critical_batch(loss, b_star, alpha_b) / np.asarray(batch_tokens, dtype=float)
    )


def _add_min_steps(df: pd.DataFrame, b_star: float, alpha_b: float) -> pd.DataFrame:
    has_step = df["step"].notna()
    if not has_step.any():
        raise InputError(
            "law 'kaplan_ns' is fitted on per-step curves: the table has no rows with a step"
        )
    # Final rows (empty step) repeat the last step's information; the law reads the curves.
    df = df[has_step].copy()
    steps = df["step"].to_numpy(dtype=float)
    if "batch_tokens" in df.columns:
        batch = pd.to_numeric(df["batch_tokens"], errors="coerce").to_numpy(dtype=float)
    else:
        # Tokens seen so far / steps taken: the batch in tokens of a constant-batch run.
        batch = df["tokens"].to_numpy(dtype=float) / np.maximum(steps, 1.0)
    with np.errstate(all="ignore"):
        df["s_min"] = min_steps(steps, batch, df["value"].to_numpy(dtype=float), b_star, alpha_b)
    return df


def kaplan_ns(b_star: float = B_STAR, alpha_b: float = ALPHA_B) -> Law:
    """The L(N, S_min) law with the critical-batch constants ``b_star`` (tokens), ``alpha_b``."""
    a = KAPLAN_NS_PUBLISHED
    return Law.from_formula(
        "A*params**-alpha_N + B*s_min**-alpha_S",
        name="kaplan_ns",
        variables=["params", "s_min"],
        bounds={"alpha_N": (0.0, 3.0), "alpha_S": (0.0, 3.0)},
        grids={
            "alpha_N": (0.03, 0.05, 0.077, 0.12, 0.2, 0.35),
            "alpha_S": (0.1, 0.25, 0.5, 0.76, 1.0, 1.5),
        },
        derived={"Nc": "A**(1/alpha_N)", "Sc": "B**(1/alpha_S)"},
        published={
            **a,
            "A": a["Nc"] ** a["alpha_N"],
            "B": a["Sc"] ** a["alpha_S"],
        },
        reference=(
            "Kaplan et al. 2020, Scaling Laws for Neural Language Models (eq. 1.6, 5.4, Table 3): "
            "L(N,S) = (Nc/N)^alpha_N + (Sc/S_min)^alpha_S, S_min = S/(1+B_crit(L)/B), "
            f"B_crit(L) = B*/L^(1/alpha_B), B* = {b_star:g} tokens, alpha_B = {alpha_b:g}"
        ),
        description=(
            "Loss along training vs parameters and steps, corrected to the large-batch step "
            "count S_min (column s_min, computed per step from the batch in tokens = "
            "batch_tokens or tokens/step). Nc = A^(1/alpha_N), Sc = B^(1/alpha_S). "
            "Question: steps/tokens to reach a loss at a batch size."
        ),
        prepare=lambda df: _add_min_steps(df, b_star, alpha_b),
    )


KAPLAN_NS = kaplan_ns()


def steps_to_loss(
    params: Mapping[str, float],
    n_params: float,
    loss: float,
    batch_tokens: float,
    *,
    b_star: float = B_STAR,
    alpha_b: float = ALPHA_B,
) -> dict[str, float]:
    """Steps and tokens a model of ``n_params`` needs to reach ``loss`` at batch ``batch_tokens``.

    Inverts the fitted (or published) L(N, S_min): ``S_min = Sc * (L - (Nc/N)^alpha_N)^(-1/alpha_S)``,
    then ``S = S_min (1 + B_crit/B)`` and tokens ``E = S B`` (Kaplan et al. 2020, eq. 5.4; the
    same trade-off curve gives ``E_min = S_min B_crit``, the fewest tokens, reached at small B).
    """
    p = _nc_sc(params)
    floor = (p["Nc"] / n_params) ** p["alpha_N"]
    if not loss > floor:
        raise InputError(
            f"loss {loss:g} is out of reach for {n_params:.3g} parameters: the law's limit at "
            f"unlimited steps is {floor:.4g}"
        )
    s_min = p["Sc"] * (loss - floor) ** (-1.0 / p["alpha_S"])
    b_crit = float(critical_batch(loss, b_star, alpha_b))
    steps = s_min * (1.0 + b_crit / batch_tokens)
    return {
        "loss": loss,
        "params": n_params,
        "batch_tokens": batch_tokens,
        "critical_batch_tokens": b_crit,
        "min_steps": s_min,
        "steps": steps,
        "tokens": steps * batch_tokens,
        "min_tokens": s_min * b_crit,
    }


def _nc_sc(params: Mapping[str, float]) -> dict[str, float]:
    out = dict(params)
    if "Nc" not in out:
        out["Nc"] = params["A"] ** (1.0 / params["alpha_N"])
    if "Sc" not in out:
        out["Sc"] = params["B"] ** (1.0 / params["alpha_S"])
    return out


def fit_critical_batch(steps: Any, tokens: Any) -> dict[str, float]:
    """S_min, E_min and B_crit = E_min/S_min from runs reaching one loss at several batch sizes.

    McCandlish et al. 2018's trade-off ``(S/S_min - 1)(E/E_min - 1) = 1`` is, rearranged,
    ``S_min/S + E_min/E = 1``: linear in (S_min, E_min), solved by least squares.
    ``steps`` and ``tokens`` are each run's steps and tokens to reach the loss.
    """
    s = np.asarray(steps, dtype=float)
    e = np.asarray(tokens, dtype=float)
    if s.shape != e.shape or s.size < 2:
        raise InputError(
            "fit_critical_batch needs steps and tokens of at least 2 runs, same length"
        )
    if not (np.all(s > 0) and np.all(e > 0)):
        raise InputError("fit_critical_batch: steps and tokens must be positive")
    design = np.stack([1.0 / s, 1.0 / e], axis=1)
    (s_min, e_min), *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    if not (s_min > 0 and e_min > 0):
        raise InputError("the runs do not show a steps/tokens trade-off (S_min or E_min <= 0)")
    return {
        "min_steps": float(s_min),
        "min_tokens": float(e_min),
        "critical_batch_tokens": float(e_min / s_min),
    }


def fit_critical_batch_law(loss: Any, critical_batch_tokens: Any) -> dict[str, float]:
    """B* and alpha_B of ``B_crit(L) = B*/L^(1/alpha_B)`` from critical batches at several losses."""
    logl = np.log(np.asarray(loss, dtype=float))
    logb = np.log(np.asarray(critical_batch_tokens, dtype=float))
    if logl.size < 2 or np.ptp(logl) == 0:
        raise InputError(
            "fit_critical_batch_law needs critical batches at 2 or more distinct losses"
        )
    slope, intercept = np.polyfit(logl, logb, 1)
    if not slope < 0:
        raise InputError("the critical batch does not grow as the loss falls: no B_crit(L) law")
    return {"B_star": float(math.exp(intercept)), "alpha_B": float(-1.0 / slope)}
