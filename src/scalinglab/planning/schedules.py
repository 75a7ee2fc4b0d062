"""What a fitted learning-rate-annealing law says about other schedules (Tissue et al. 2024).

:func:`fit_lr_annealing` fits the law of :mod:`scalinglab.laws.schedules` to one or more
curves, choosing the annealing momentum; :func:`predict_schedule` gives the loss curve it
predicts for any per-step learning rate (cosine, warmup-stable-decay, constant, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..fitting.api import fit
from ..laws.schedules import ANNEALING_MOMENTUM, annealing_areas, lr_annealing

#: Momenta tried by :func:`fit_lr_annealing`: Tissue et al.'s 0.999 suits runs of tens of
#: thousands of steps; shorter runs forget faster.
MOMENTA = (0.99, 0.995, 0.999, 0.9995)


def fit_lr_annealing(
    runs: Any,
    options: Any = None,
    *,
    momenta: tuple[float, ...] = MOMENTA,
    progress: Any = None,
    **option_values: Any,
) -> Any:
    """Fit ``lr_annealing`` with each momentum and keep the fit with the lowest objective.

    ``options`` (a :class:`~scalinglab.fitting.options.FitOptions`) or keywords go to
    :func:`scalinglab.fit` (``y``, ``family``, ``bootstrap``, ...). The fits share their
    observations, so their objectives compare; the winner's notes list them.
    """
    fits = [
        fit(runs, lr_annealing(lam), options, progress=progress, **option_values) for lam in momenta
    ]
    best = min(fits, key=lambda f: f.objective)
    best.notes.append(
        "annealing momentum chosen by objective: "
        + ", ".join(f"{lam:g}: {f.objective:.4g}" for lam, f in zip(momenta, fits, strict=True))
    )
    return best


def predict_schedule(
    fit: Any,
    lr: Any,
    *,
    every: int = 1,
    interval: float = 0.9,
    lam: float | None = None,
) -> pd.DataFrame:
    """The loss curve a fitted ``lr_annealing`` law predicts for a per-step learning rate.

    ``fit`` is a :class:`~scalinglab.fitting.result.FitResult` of the ``lr_annealing`` law;
    ``lr`` the learning rate of steps 1..S (e.g.
    :func:`scalinglab.runs.schedules.schedule_lr`). Returns one row per
    ``every`` steps (and always the last step): ``step, lr, S1, S2, value, lo, hi``.
    The annealing momentum is the fit's own (its derived ``lam``) unless ``lam`` is given.
    """
    if tuple(fit.law.variables) != ("S1", "S2"):
        raise InputError(
            f"a schedule prediction needs a fit of law 'lr_annealing', not {fit.law.name!r}"
        )
    if lam is None:
        lam = float(fit.derived.get("lam", ANNEALING_MOMENTUM))
    eta = np.asarray(lr, dtype=float)
    s1, s2 = annealing_areas(eta, lam)
    steps = np.arange(1, len(eta) + 1)
    keep = (steps % max(1, every) == 0) | (steps == len(eta))
    pred = fit.predict({"S1": s1[keep], "S2": s2[keep]}, interval=interval)
    out = pd.DataFrame({"step": steps[keep], "lr": eta[keep], "S1": s1[keep], "S2": s2[keep]})
    for col in ("value", "lo", "hi"):
        out[col] = pred[col].to_numpy()
    return out
