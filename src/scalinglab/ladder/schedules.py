"""Learning-rate schedules: warm-up, then cosine, warmup-stable-decay (WSD) or constant.

The learning-rate-annealing scaling law (Tissue et al. 2024, *Scaling Law with Learning Rate
Annealing*) is fitted on the same budget trained under several schedules, so the three shapes
share warm-up and peak and differ only after it.

* ``cosine``: half a cosine from the peak to ``min_lr_ratio * peak`` at the last step.
* ``wsd``: constant at the peak, then a linear decay to ``min_lr_ratio * peak`` over the last
  ``decay_fraction`` of the steps (Hu et al. 2024, MiniCPM; Hägele et al. 2024).
* ``constant``: the peak until the end.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "wsd", "constant")


def learning_rate(
    step: int,
    steps: int,
    peak: float,
    *,
    schedule: str = "cosine",
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.1,
    decay_fraction: float = 0.2,
) -> float:
    """The learning rate of optimizer step ``step`` (1-based) of ``steps``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {SCHEDULES}")
    if warmup_steps > 0 and step <= warmup_steps:
        return peak * step / warmup_steps
    floor = peak * min_lr_ratio
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        span = max(1, steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
    decay_steps = max(1, round(decay_fraction * steps))
    decay_start = max(warmup_steps, steps - decay_steps)
    if step <= decay_start:
        return peak
    progress = min(1.0, (step - decay_start) / max(1, steps - decay_start))
    return peak + (floor - peak) * progress
