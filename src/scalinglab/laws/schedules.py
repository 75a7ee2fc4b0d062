"""Learning-rate schedules and the learning-rate-annealing law of Tissue et al. 2024.

``L(s) = L0 + A * S1(s)**-alpha - C * S2(s)`` along a run, where

* ``S1(s) = sum_{i<=s} eta_i`` is the *forward area* (the learning rate summed over steps), and
* ``S2(s) = sum_{i<=s} m_i``, ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)``, the *annealing
  area*: the learning-rate drops so far, remembered with momentum ``lam`` (~0.999).

Fitted on one or two curves, the law predicts the curve of any other schedule of the same
model and data (cosine, warmup-stable-decay, constant):
:func:`scalinglab.planning.schedules.predict_schedule`.

The schedules themselves (cosine, WSD, constant) describe how a run was trained and live with
the runs: :func:`scalinglab.runs.schedules.schedule_lr`.

Example:
    >>> s1, s2 = annealing_areas(schedule_lr("wsd", 100, 1e-3, warmup_steps=10))
    >>> round(float(s1[-1]), 4), float(s2[79]) == 0.0 < float(s2[-1])
    (0.0861, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..runs.schedules import schedule_lr
from .base import Law

#: Momentum of the annealing area (Tissue et al. 2024 use lambda = 0.999).
ANNEALING_MOMENTUM = 0.999


def annealing_areas(lr: Any, lam: float = ANNEALING_MOMENTUM) -> tuple[np.ndarray, np.ndarray]:
    """``S1`` and ``S2`` after each step of a per-step learning-rate sequence.

    The annealing momentum starts at the end of warm-up (the first step at the peak): the
    warm-up's rising learning rate is not an annealing (Tissue et al. 2024, section 3).
    """
    eta = np.asarray(lr, dtype=float)
    s1 = np.cumsum(eta)
    drops = np.zeros_like(eta)
    drops[1:] = eta[:-1] - eta[1:]
    drops[: int(np.argmax(eta)) + 1] = 0.0
    from scipy.signal import lfilter  # here: importing scipy.signal costs ~1 s of CLI start-up

    m = lfilter([1.0], [1.0, -lam], drops)  # m_i = lam * m_(i-1) + drop_i
    return s1, np.cumsum(m)


def _per_step_lr(steps: np.ndarray, lrs: np.ndarray) -> np.ndarray:
    """The learning rate at every step 1..max(steps) from the logged ones (linear in between)."""
    order = np.argsort(steps)
    steps, lrs = steps[order], lrs[order]
    last = int(round(steps[-1]))
    grid = np.arange(1, last + 1, dtype=float)
    return np.interp(grid, steps, lrs)


def add_annealing_areas(df: pd.DataFrame, lam: float = ANNEALING_MOMENTUM) -> pd.DataFrame:
    """Add columns ``S1`` and ``S2`` to every per-step row, computed over each run's curve.

    The learning rate comes from an ``lr`` column, or is rebuilt from a named schedule
    (columns ``schedule`` and ``peak_lr``; ``warmup_steps``, ``min_lr_ratio``,
    ``decay_fraction`` when present, else 0, 0.1, 0.2: the ladder's defaults). Final rows
    (empty step) are dropped: the law is fitted on curves.
    """
    if "step" not in df.columns or not df["step"].notna().any():
        raise InputError(
            "law 'lr_annealing' is fitted on per-step curves: the table has no rows with a step"
        )
    has_lr = "lr" in df.columns and pd.to_numeric(df["lr"], errors="coerce").notna().any()
    named = {"schedule", "peak_lr"} <= set(df.columns)
    if not has_lr and not named:
        raise InputError(
            "law 'lr_annealing' needs the learning rate of each step: an 'lr' column, or "
            "'schedule' and 'peak_lr' columns naming the schedule"
        )
    df = df[df["step"].notna()].copy()
    df["S1"] = np.nan
    df["S2"] = np.nan
    for _, idx in df.groupby(["family", "run_id"], sort=False).groups.items():
        rows = df.loc[idx]
        steps = rows["step"].to_numpy(dtype=float)
        if has_lr:
            lr_rows = pd.to_numeric(rows["lr"], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(lr_rows)
            if not ok.any():
                continue
            eta = _per_step_lr(steps[ok], lr_rows[ok])
        else:
            first = rows.iloc[0]
            eta = schedule_lr(
                str(first["schedule"]),
                int(np.nanmax(steps)),
                float(first["peak_lr"]),
                warmup_steps=int(first.get("warmup_steps", 0) or 0),
                min_lr_ratio=float(first.get("min_lr_ratio", 0.1)),
                decay_fraction=float(first.get("decay_fraction", 0.2)),
            )
        s1, s2 = annealing_areas(eta, lam)
        at = np.clip(np.round(steps).astype(int), 1, len(eta)) - 1
        df.loc[idx, "S1"] = s1[at]
        df.loc[idx, "S2"] = s2[at]
    return df


def lr_annealing(lam: float | str = ANNEALING_MOMENTUM) -> Law:
    """The law with annealing momentum ``lam``: ``lr_annealing`` (0.999), ``lr_annealing:0.995``.

    The momentum is part of how S2 is computed, not a fitted parameter: it is recorded as the
    derived constant ``lam`` so that a saved fit predicts other schedules with the same one.
    :func:`fit_lr_annealing` picks it from a few values by the fit's objective.
    """
    try:
        lam = float(lam)
    except ValueError:
        lam = -1.0
    if not 0.0 < lam < 1.0:
        raise InputError(
            "lr_annealing: the annealing momentum must be in (0, 1), e.g. lr_annealing:0.995"
        )
    return Law.from_formula(
        "L0 + A*S1**-alpha - C*S2",
        name="lr_annealing" if lam == ANNEALING_MOMENTUM else f"lr_annealing:{lam:g}",
        variables=["S1", "S2"],
        bounds={"alpha": (0.0, 3.0)},
        grids={"alpha": (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0)},
        derived={"lam": repr(lam)},
        reference=(
            "Tissue et al. 2024, Scaling Law with Learning Rate Annealing: "
            f"L(s) = L0 + A*S1^-alpha - C*S2, S1 = sum eta, S2 = sum m, m_i = lam*m_(i-1) + eta_(i-1) - eta_i, lam = {lam:g}"
        ),
        description=(
            "Loss along a run vs the forward area S1 and annealing area S2 of its learning-rate "
            "schedule (computed per run from column lr, or schedule + peak_lr). Question: the "
            "curve under another schedule (scalinglab schedule FIT.json --schedule wsd)."
        ),
        prepare=lambda df: add_annealing_areas(df, lam),
    )


LR_ANNEALING = lr_annealing()


def law_curve(params: Mapping[str, float], lr: Any, lam: float = ANNEALING_MOMENTUM) -> np.ndarray:
    """The law's loss at every step for a per-step learning rate and known parameters."""
    s1, s2 = annealing_areas(lr, lam)
    return params["L0"] + params["A"] * s1 ** -params["alpha"] - params["C"] * s2
