"""Learning-rate schedules: how a run's learning rate moved from step to step.

A schedule is part of how a run was trained, so it lives with the runs: the ladder trains
with it, and the learning-rate-annealing law (:mod:`scalinglab.laws.schedules`) rebuilds a
run's per-step learning rate from it when the table names the schedule instead of logging it.

Conventions (the ladder's): 1-based steps, linear warm-up to the peak, floor
``min_lr_ratio * peak``; cosine decays from the end of warm-up to the last step; WSD
(warmup-stable-decay) holds the peak and decays linearly over the last ``decay_fraction`` of
steps; constant holds the peak after warm-up.

Example:
    >>> lr = schedule_lr("wsd", 100, 1e-3, warmup_steps=10)
    >>> [round(float(x), 6) for x in (lr[0], lr[50], lr[-1])]
    [0.0001, 0.001, 0.0001]
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

SCHEDULES = ("cosine", "wsd", "constant")


def schedule_lr(
    schedule: str,
    steps: int,
    peak: float,
    *,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.1,
    decay_fraction: float = 0.2,
) -> np.ndarray:
    """Learning rate of steps 1..``steps`` under a named schedule (an array of ``steps``)."""
    if schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    if steps < 1 or not peak > 0:
        raise InputError(
            f"a schedule needs steps >= 1 and a positive peak lr (got {steps}, {peak:g})"
        )
    s = np.arange(1, steps + 1, dtype=float)
    floor = peak * min_lr_ratio
    if schedule == "constant":
        lr = np.full(steps, float(peak))
    elif schedule == "cosine":
        span = max(1, steps - warmup_steps)
        progress = np.clip((s - warmup_steps) / span, 0.0, 1.0)
        lr = floor + 0.5 * (peak - floor) * (1.0 + np.cos(np.pi * progress))
    else:
        decay_steps = max(1, round(decay_fraction * steps))
        start = max(warmup_steps, steps - decay_steps)
        progress = np.clip((s - start) / max(1, steps - start), 0.0, 1.0)
        lr = np.where(s <= start, peak, peak + (floor - peak) * progress)
    if warmup_steps > 0:
        lr = np.where(s <= warmup_steps, peak * s / warmup_steps, lr)
    return lr
