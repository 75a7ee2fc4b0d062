"""Reinforcement-learning compute: the sigmoidal reward-compute curve of Khatri et al. 2025.

*The Art of Scaling Reinforcement Learning Compute for LLMs* (Khatri, Madaan, Tiwari, Bansal,
Duvvuri, Zaheer, Dhillon, Brandfonbrener, Agarwal; arXiv:2510.13786, ScaleRL) fit the mean
pass rate on held-out prompts after RL compute C (GPU-hours) with their eq. 1:

    ``R_C - R_0 = (A - R_0) / (1 + (C_mid / C)**B)``

``R_0`` the pass rate the run starts from, ``A`` the asymptote (the ceiling a recipe reaches
with unlimited compute), ``B > 0`` the scaling exponent (compute efficiency: how steeply the gain
is collected) and ``C_mid`` the compute at which half of the gain ``A - R_0`` is reached. A
sigmoid, not a power law: the metric is bounded, and the paper found power-law fits unstable
when extrapolated (their appendix). Their fits leave out the first ~1.5k GPU-hours of a run
(the early transient); scalinglab drops each curve's first 10% of steps by default
(``skip_fraction``).

Here the curve is written ``R0 + gain/(1 + (C_mid/C)**B)`` with ``gain = A - R0``: the same
function, with both coefficients entering linearly, so the estimator solves them exactly and
searches only ``B`` and ``C_mid``; ``A = R0 + gain`` is a derived quantity with its bootstrap
interval. ``scalerl:VARIABLE`` picks the compute column (default ``gpu_hours``; ``flops``,
``step`` or any numeric column work).

Published values (we could not read the PDF itself; the numbers below were read from the
Hugging Face rl-llm-wiki discussion #370, whose reviewer checked them against the arXiv PDF,
and from a summary of the paper): ScaleRL on the 8B dense model reaches ``A = 0.61`` (their
Fig. 2; with FP32 logits at the LM head the asymptote rose from 0.52 to 0.61, Fig. 5b); in the
leave-one-out study (Fig. 7) ScaleRL's efficiency is ``B = 2.01`` against 1.77 with the DAPO
loss; three independent runs put the asymptote within +-0.02 (Fig. 8a). ``C_mid`` and ``R_0``
are not given numerically in anything we could read, so they are not borrowed.

The questions: :func:`scalinglab.planning.rl.rl_asymptote` (the asymptote with its interval,
the compute to collect a share of the gain) and :func:`scalinglab.compare.rl.compare_rl_recipes`
(which recipe has the higher ceiling, which is more efficient, where their curves cross).

Example:
    >>> law = scalerl("gpu_hours")
    >>> v = {"R0": 0.40, "gain": 0.21, "C_mid": 1e4, "B": 2.01}
    >>> round(float(law.evaluate({"gpu_hours": 1e4}, v)), 3)   # half the gain at C_mid
    0.505
    >>> round(float(law.derive(v)["A"]), 2)
    0.61
"""

from __future__ import annotations

from .base import Law

#: The paper's reported numbers we test against (see the module docstring for the source).
SCALERL_PUBLISHED = {"A": 0.61, "B": 2.01}
#: B of the leave-one-out run with the DAPO loss (Khatri et al. 2025, Fig. 7).
DAPO_LOSS_B = 1.77
#: The asymptote without FP32 logits at the LM head (Fig. 5b): 0.52, against 0.61 with them.
BF16_HEAD_A = 0.52
#: Run-to-run spread of the fitted asymptote over three independent runs (Fig. 8a): +-0.02.
ASYMPTOTE_MARGIN = 0.02

#: Starting midpoints per compute column (log-spaced over its usual range).
_MIDPOINT_GRIDS: dict[str, tuple[float, ...]] = {
    "gpu_hours": (3e2, 1e3, 3e3, 1e4, 3e4, 1e5),
    "flops": (1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24),
    "step": (10.0, 100.0, 300.0, 1e3, 3e3, 1e4, 1e5),
    "tokens": (1e6, 1e7, 1e8, 1e9, 1e10, 1e11),
}
_DEFAULT_MIDPOINTS = (1e-2, 1.0, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12)


def scalerl(variable: str = "gpu_hours") -> Law:
    """Khatri et al. 2025's sigmoidal reward-compute curve in ``variable`` (their eq. 1)."""
    variable = variable or "gpu_hours"
    return Law.from_formula(
        f"R0 + gain/(1 + (C_mid/{variable})**B)",
        name=f"scalerl:{variable}",
        variables=[variable],
        bounds={"B": (0.05, 10.0), "C_mid": (1e-30, 1e40)},
        grids={
            "B": (0.5, 1.0, 1.5, 2.0, 3.0),
            "C_mid": _MIDPOINT_GRIDS.get(variable, _DEFAULT_MIDPOINTS),
        },
        log_scale=["C_mid"],
        derived={"A": "R0 + gain"},
        published=SCALERL_PUBLISHED,
        reference=(
            "Khatri et al. 2025, The Art of Scaling Reinforcement Learning Compute for LLMs "
            "(arXiv:2510.13786, eq. 1): R_C - R_0 = (A - R_0)/(1 + (C_mid/C)^B)"
        ),
        description=(
            f"RL reward (pass rate) vs compute ({variable}): a sigmoid from R0 to the asymptote "
            "A = R0 + gain, efficiency B, half the gain at C_mid. Questions: scalinglab "
            "rl-asymptote, rl-compare."
        ),
    )
