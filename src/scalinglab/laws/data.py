"""Data laws: repeated data losing its value, and curves that beat a power law.

* ``data_filtering`` — Goyal et al. 2024, *Scaling Laws for Data Filtering — Data Curation
  cannot be Compute Agnostic* (arXiv:2404.07177, CVPR 2024): a pool of data has a utility
  (the scaling exponent ``b`` of the error in samples seen) that halves every ``tau``
  repetitions. :func:`mixture_error` gives the error of several pools trained on together, the
  basis of the question "which filter (pool) is best at this compute"
  (:func:`scalinglab.compare.pools.best_pool`).
* ``exponential:X`` — Sorscher et al. 2022, *Beyond neural scaling laws: beating power law
  scaling via data pruning* (arXiv:2206.14486): with a good pruning metric, error can fall
  exponentially in the (pruned) dataset size rather than as a power law. Beside
  ``power_floor:X`` it answers "which holds on my data"
  (:func:`scalinglab.planning.data_curves.curve_form`).
* :data:`MUENNIGHOFF_FIT` — the full parametric fit of Muennighoff et al. 2023's
  ``data_constrained`` law, for :func:`scalinglab.planning.repetition.repetition_epochs`.

What was read: for Goyal et al., the abstract and the authors' released code
(github.com/locuslab/scaling_laws_data_filtering, ``objective.py: func_effective_utility`` and
``estimate_best_pool.py``); the paper's own equations were not readable here, so the law
follows the code, and the docstrings say where. For Sorscher et al., the abstract: its
exponential form ``E + a*exp(-X/X0)`` is the plainest reading of "exponential scaling"; the
paper's theory (a perceptron, error vs pruned examples per parameter) is not reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .base import Law
from .pretraining import with_unique_tokens

# -- Goyal et al. 2024: utility decaying with repetition --------------------------------------

#: Repetitions the ``data_filtering`` formula counts: its sum has one term per repetition, and a
#: law formula may have at most 1,000 parts (46 repetitions would be the most). A pass past the
#: 41st adds no utility; at tau = 5 the 41st repetition keeps 2**(-41/5) = 0.3% of b.
MAX_REPETITIONS = 40


def _repetition_sum(repetitions: int = MAX_REPETITIONS) -> str:
    """``sum_k 2**(-k/tau) * log(n_k / n_(k-1))`` over the repetitions k = 1..K: the log of
    the samples seen in pass k+1 over those seen before it, clipped to that pass."""
    passes = "tokens/unique_tokens"
    return " + ".join(
        f"2**(-{k}/tau)*log(minimum(maximum({passes}, {k}), {k + 1})/{k})"
        for k in range(1, repetitions + 1)
    )


#: Samples are counted in units of 1e5, as the released code does (``normalizer=100_000``).
SAMPLE_UNIT = 1e5
#: What the released code gives for T-MARS pools on ImageNet zero-shot error: a = 0.022
#: (``ablations/finding_tau.py``, "retrieved by running finding_a.py"; 0.033 for the average
#: over 18 tasks). The repository's results/parameter_values.jsonl also releases fitted T-MARS
#: pools (entry tmars_imagenet1k_utility: a = 0.025, d = 0.1, b = 0.16, 0.125, 0.1, 0.085 and
#: tau = 6.73, 8.55, 5.27, 2.27 for the top 0-10% .. 30-40%), used in tests/test_zoo_data.py.
GOYAL_PUBLISHED = {"a": 0.022}

DATA_FILTERING = Law.from_formula(
    "(d + (a*minimum(tokens, unique_tokens)/1e5)**-b)*exp(-b*(" + _repetition_sum() + "))",
    name="data_filtering",
    variables=["tokens", "unique_tokens"],
    bounds={"d": (0.0, 10.0), "a": (1e-8, 1e4), "b": (0.0, 3.0), "tau": (0.05, 1e3)},
    grids={
        "d": (0.0, 0.1, 0.3),
        "a": (1e-4, 1e-3, 1e-2, 1e-1),
        "b": (0.05, 0.15, 0.3, 0.6),
        "tau": (1.0, 3.0, 8.0, 25.0),
    },
    log_scale=["a"],
    nonlinear=["d"],
    published=GOYAL_PUBLISHED,
    reference=(
        "Goyal et al. 2024, Scaling Laws for Data Filtering (arXiv:2404.07177; the authors' "
        "func_effective_utility): y = (a*n/1e5)^-b + d on the first pass, b_k = b*2^(-k/tau) at "
        "the "
        "k-th repetition, each pass multiplying y by (n_k/n_(k-1))^-b_k"
    ),
    description=(
        "Error vs samples seen (tokens) from a pool of unique_tokens samples: utility b halves "
        f"every tau repetitions (half-life; up to {MAX_REPETITIONS} repetitions counted). "
        "Question: the best pool at a compute budget (scalinglab best-pool)."
    ),
    prepare=with_unique_tokens,  # runs without the column saw each sample once
)


def utility(b: float, tau: float, repetition: float) -> float:
    """The utility of a pool's ``repetition``-th repetition (0: the first pass): ``b*2**(-k/tau)``.

    Example:
        >>> utility(0.2, 5.0, 5)    # one half-life later
        0.1
    """
    return b * 2.0 ** (-repetition / tau)


def mixture_error(
    samples: np.ndarray | float,
    sizes: Sequence[float],
    params: Sequence[Mapping[str, np.ndarray | float]],
) -> np.ndarray:
    """The error after ``samples`` seen from pools trained on together (Goyal et al. 2024).

    Pool i holds ``sizes[i]`` samples and has ``params[i]`` (``a``, ``b``, ``tau``, ``d``, each a
    number or an ``(S, 1)`` column of bootstrap replicates). Samples are drawn from the union, so
    after ``n`` samples every one of them has been seen ``n / sum(sizes)`` times: pass k (k = 0
    the first) has utility ``sum_i w_i b_i 2**(-k/tau_i)`` with ``w_i = sizes[i]/sum(sizes)``
    (the size-weighted mean the released code takes for equal pools, ``np.mean`` of the decayed
    b). The first pass uses the geometric mean of the ``a_i`` (exact when the pools share ``a``,
    as the paper fits them) and the weighted mean of the ``d_i``. Each further pass multiplies
    the error by ``(n_k/n_(k-1))**-b_mix(k)``, as ``func_effective_utility_aggregation`` does.
    Unlike the released ``estimate_best_pool.py``, which also multiplies each tau by the number
    of pools mixed, a repetition here is a repetition of a sample: tau keeps its meaning.

    One pool gives the ``data_filtering`` law itself (without its cap on repetitions).

    Example:
        >>> p = {"a": 0.1, "b": 0.2, "tau": 4.0, "d": 0.1}
        >>> one = mixture_error(3e6, [1e6], [p])
        >>> law = DATA_FILTERING.evaluate({"tokens": 3e6, "unique_tokens": 1e6}, p)
        >>> bool(np.isclose(one, law))
        True
    """
    sizes = np.asarray(sizes, dtype=float)
    total = float(sizes.sum())
    w = sizes / total
    n = np.asarray(samples, dtype=float)
    col = [{k: np.asarray(p[k], dtype=float) for k in ("a", "b", "tau", "d")} for p in params]
    log_a = sum(wi * np.log(p["a"] / SAMPLE_UNIT) for wi, p in zip(w, col, strict=True))
    d = sum(wi * p["d"] for wi, p in zip(w, col, strict=True))

    def b_mix(k: int) -> np.ndarray:
        return sum(wi * p["b"] * 2.0 ** (-k / p["tau"]) for wi, p in zip(w, col, strict=True))

    passes = n / total
    first = np.minimum(n, total)
    with np.errstate(all="ignore"):
        y = d + np.exp(-b_mix(0) * (log_a + np.log(first)))
        log_gain = np.zeros(np.broadcast_shapes(np.shape(y), np.shape(passes)))
        for k in range(1, int(np.ceil(np.max(passes))) + 1):
            step = np.log(np.minimum(np.maximum(passes, k), k + 1) / k)
            log_gain = log_gain - b_mix(k) * step
    return y * np.exp(log_gain)


# -- Sorscher et al. 2022: exponential data curves --------------------------------------------

#: Starting scales X0 per variable (log-spaced over the usual range of that column).
_SCALE_GRIDS: dict[str, tuple[float, ...]] = {
    "tokens": (1e3, 1e5, 1e7, 1e9, 1e11),
    "params": (1e5, 1e7, 1e9, 1e11),
    "flops": (1e15, 1e18, 1e21, 1e24),
    "step": (10.0, 100.0, 1e3, 1e4, 1e5),
}
_DEFAULT_SCALES = (1.0, 1e2, 1e4, 1e6, 1e8, 1e10)


def exponential(variable: str = "tokens") -> Law:
    """``E + a*exp(-X/X0)``: error falling exponentially in ``X`` (Sorscher et al. 2022).

    Example:
        >>> law = exponential("tokens")
        >>> round(float(law.evaluate({"tokens": 2e4}, {"E": 0.05, "a": 0.5, "X0": 1e4})), 4)
        0.1177
    """
    variable = variable or "tokens"
    return Law.from_formula(
        f"E + a*exp(-{variable}/X0)",
        name=f"exponential:{variable}",
        variables=[variable],
        bounds={"X0": (1e-30, 1e40)},
        grids={"X0": _SCALE_GRIDS.get(variable, _DEFAULT_SCALES)},
        log_scale=["X0"],
        reference=(
            "Sorscher et al. 2022, Beyond neural scaling laws: beating power law scaling via "
            "data pruning (arXiv:2206.14486): with a good pruning metric, error can fall "
            "exponentially in the pruned dataset size"
        ),
        description=(
            f"Exponential data curve in {variable} with floor E and scale X0. Against "
            f"power_floor:{variable}: which holds on your data (scalinglab curve-form)."
        ),
    )


# -- Muennighoff et al. 2023: the published data-constrained fit -----------------------------

#: Muennighoff et al. 2023's fit of their data-constrained law, from the authors' repository
#: (github.com/huggingface/datablations, README "Parametric Fit", Apache-2.0): there written
#: as logs, a = 6.255414, b = 7.3049974, e = 0.6254804 (A, B, E = exp of them), alpha = beta =
#: 0.3526596, R_D* = 15.387756, R_N* = 5.309743.
MUENNIGHOFF_FIT = {
    "E": math.exp(0.6254804),
    "A": math.exp(6.255414),
    "alpha": 0.3526596,
    "B": math.exp(7.3049974),
    "beta": 0.3526596,
    "RD_star": 15.387756,
    "RN_star": 5.309743,
}
#: The losses the same README gives for the two models of the paper's Figure 1 (right), both at
#: 25B unique tokens: 6.34B parameters on 242B tokens, and 8.67B on 178B tokens.
MUENNIGHOFF_FIGURE1 = ((6.34e9, 242e9, 25e9, 2.2256440889984477),
                       (8.67e9, 178e9, 25e9, 2.2269634075087867))  # fmt: skip
