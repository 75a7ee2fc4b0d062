"""Sampling at test time: unbiased pass@k, PassUntil for tiny pass rates, verifier ceilings.

* **pass@k** (Chen et al. 2021, *Evaluating Large Language Models Trained on Code*): from n
  samples of which c are correct, the unbiased estimate of "at least one of k is correct" is
  ``1 - C(n-c, k) / C(n, k)``. Binomials of n = 10,000 overflow a float; the ratio is the
  product ``prod_{i=n-c+1}^{n} (1 - k/i)``, summed here in logs (``log1p``) and turned back
  with ``expm1``, so even a pass rate of 1e-4 keeps its digits.
* **PassUntil** (Hu et al. 2023, *Unlock Predictable Scaling from Emergent Abilities*): a pass
  rate of 1e-5 is 0 in any fixed budget of samples; sampling each problem *until* its r-th
  success measures it. With K samples to the r-th success, ``(r-1)/(K-1)`` is unbiased for
  r >= 2 (Haldane 1945, the negative binomial); ``1/K`` (r = 1) and ``s/K`` for a problem whose
  budget ran out first are the maximum-likelihood values.
* **Verifier ceiling** (Stroebl et al. 2024, *Inference Scaling fLaws*): resampling until a
  verifier accepts returns a wrong answer whenever the verifier accepts one. With pass rate p,
  true-positive rate t and false-positive rate f, each sample is accepted with probability
  ``q = p*t + (1-p)*f``, the first accepted of k samples is correct with probability
  ``p*t*(1 - (1-q)^k) / q``, and no number of samples beats ``p*t / q``.

Example:
    >>> round(pass_at_k(100, 3, 10), 6)
    0.273469
    >>> round(float(verifier_ceiling(0.1, fpr=0.05)), 4)
    0.6897
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError


def _whole(name: str, value: Any, least: int) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" or array.size == 0 or np.any(array < least):
        shown = value if array.size == 1 else f"{array.min()!r} at least"
        raise InputError(f"must be a whole number >= {least}, got {shown}", option=name)
    return array.astype(np.int64)


def _check_counts(n: Any, c: Any, k: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, c, k = _whole("n", n, 1), _whole("c", c, 0), _whole("k", k, 1)
    n_b, c_b, k_b = np.broadcast_arrays(n, c, k)
    bad = np.flatnonzero((c_b > n_b).ravel())
    if bad.size:
        i = bad[0]
        raise InputError(
            f"must be at most n (correct samples cannot outnumber samples): c={c_b.ravel()[i]}, "
            f"n={n_b.ravel()[i]}",
            option="c",
        )
    bad = np.flatnonzero((k_b > n_b).ravel())
    if bad.size:
        i = bad[0]
        raise InputError(
            f"must be at most n (pass@k needs k of the n samples): k={k_b.ravel()[i]}, "
            f"n={n_b.ravel()[i]}",
            option="k",
        )
    return n_b, c_b, k_b


def pass_at_k(n: Any, c: Any, k: Any) -> Any:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (arrays broadcast).

    Raises:
        InputError: n, c or k not whole numbers, c > n, k > n, k < 1.

    Example:
        >>> pass_at_k(5, 0, 2), pass_at_k(5, 4, 2)
        (0.0, 1.0)
        >>> pass_at_k([10, 10], [1, 2], 1).tolist()
        [0.1, 0.2]
    """
    n_b, c_b, k_b = _check_counts(n, c, k)
    out = np.empty(n_b.shape, dtype=float)
    pairs = np.stack([n_b.ravel(), k_b.ravel()], axis=1)
    for n_i, k_i in np.unique(pairs, axis=0):  # one cumulative sum per (n, k), indexed by c
        where = (n_b == n_i) & (k_b == k_i)
        i = np.arange(n_i, 0, -1, dtype=float)  # n, n-1, ..., 1
        with np.errstate(divide="ignore"):  # log(0) at i = k: there the product is 0 anyway
            logs = np.concatenate([[0.0], np.cumsum(np.log1p(-np.minimum(k_i / i, 1.0)))])
        c_i = c_b[where]
        # sum of log(1 - k/i) over i = n-c+1 .. n ("0.0 -": an exact 0 is never -0.0)
        out[where] = np.where(n_i - c_i < k_i, 1.0, 0.0 - np.expm1(logs[c_i]))
    return float(out) if out.ndim == 0 else out


def coverage_curve(n: Any, c: Any, ks: Any) -> np.ndarray:
    """The mean pass@k over problems (``c`` correct of ``n`` each) for each k in ``ks``: the
    coverage curve of Brown et al. 2024.

    Example:
        >>> coverage_curve(4, [0, 1, 4], [1, 2]).round(4).tolist()
        [0.4167, 0.5]
    """
    c = np.asarray(c).reshape(-1)
    ks = np.asarray(ks).reshape(-1)
    values = pass_at_k(np.asarray(n)[..., None], c[:, None], ks[None, :])
    return np.asarray(values, dtype=float).reshape(len(c), len(ks)).mean(axis=0)


# -- PassUntil --------------------------------------------------------------------------------
@dataclass
class PassUntil(Answer):
    """Pass rate of a task from sampling each problem until its r-th success (Hu et al. 2023)."""

    rate: float
    ci: tuple[float, float]
    pooled: float
    per_problem: np.ndarray
    attempts: np.ndarray
    successes: np.ndarray
    required: int
    interval: float
    warnings: list[str] = field(default_factory=list)
    title = "PassUntil pass rate"

    def to_json(self) -> dict[str, Any]:
        censored = int(np.sum(self.successes < self.required))
        return {
            "rate": self.rate,
            "pooled_rate": self.pooled,
            "problems": int(len(self.attempts)),
            "samples": int(self.attempts.sum()),
            "required_successes": self.required,
            "censored_problems": censored,
            "interval": self.interval,
            "ci": {"rate": list(self.ci)},
            "warnings": list(self.warnings),
        }


def pass_until(
    attempts: Any,
    successes: Any | None = None,
    *,
    required: int = 1,
    interval: float = 0.9,
    bootstrap: int = 1000,
    seed: int = 0,
) -> PassUntil:
    """The mean pass rate of problems sampled until their ``required``-th success.

    ``attempts[i]``: samples drawn for problem i; ``successes[i]``: correct among them (default:
    ``required``, every problem reached it). A problem with fewer successes stopped at its
    budget (censored). Per problem: ``(r-1)/(K-1)`` when it reached r >= 2 successes (unbiased),
    ``r/K`` otherwise (maximum likelihood; 0 for a problem never solved, which biases a
    task's rate low: the warning counts them). ``rate`` is the mean over problems, as Hu et al.
    average instances; ``pooled`` = all successes / all samples; the interval resamples
    problems.

    Example:
        >>> pu = pass_until([2000, 5000, 800], required=1, bootstrap=0)
        >>> f"{pu.rate:.3g}"
        '0.00065'
    """
    k = _whole("attempts", attempts, 1).reshape(-1)
    s = (
        np.full(k.shape, required)
        if successes is None
        else _whole("successes", successes, 0).reshape(-1)
    )
    required = int(_whole("required", required, 1))
    if s.shape != k.shape:
        raise InputError(f"{len(s)} successes for {len(k)} problems", option="successes")
    if np.any(s > k):
        i = int(np.flatnonzero(s > k)[0])
        raise InputError(f"problem {i}: {s[i]} successes in {k[i]} attempts", option="successes")
    if np.any(s > required):
        raise InputError(f"a problem has more than `required` ({required}) successes",
                         option="successes")  # fmt: skip
    if not 0 < interval < 1:
        raise InputError(f"must be between 0 and 1, got {interval:g}", option="interval")
    unbiased = (s == required) & (s >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(unbiased, (s - 1) / np.maximum(k - 1, 1), s / k)
    rng = np.random.default_rng(seed)
    if bootstrap and len(rates) > 1:
        draws = rates[rng.integers(0, len(rates), size=(bootstrap, len(rates)))].mean(axis=1)
        q = ((1 - interval) / 2, 1 - (1 - interval) / 2)
        ci = tuple(float(v) for v in np.quantile(draws, q))
    else:
        ci = (math.nan, math.nan)
    warnings = []
    unsolved = int(np.sum(s == 0))
    if unsolved:
        warnings.append(
            f"{unsolved} of {len(k)} problem(s) were never solved within their budget and count "
            "as 0: the rate is a lower bound; sample them longer"
        )
    return PassUntil(float(rates.mean()), ci, float(s.sum() / k.sum()), rates, k, s, required,
                     interval, warnings)  # fmt: skip


# -- imperfect verifiers ----------------------------------------------------------------------
def _rates(p: Any, fpr: float, tpr: float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise InputError("must lie in [0, 1] (a pass rate)", option="pass_rate")
    if not 0 <= fpr <= 1:
        raise InputError(f"must lie in [0, 1], got {fpr:g}", option="fpr")
    if not 0 < tpr <= 1:
        raise InputError(f"must lie in (0, 1], got {tpr:g}", option="tpr")
    return p


def verified_accuracy(p: Any, k: Any, *, fpr: float, tpr: float = 1.0) -> np.ndarray:
    """Probability that resampling up to ``k`` times and returning the first answer the verifier
    accepts is correct (Stroebl et al. 2024); ``p`` per problem (arrays broadcast).

    Example:
        >>> verified_accuracy(0.5, [1, 1000], fpr=0.0).round(3).tolist()  # a perfect verifier
        [0.5, 1.0]
    """
    p = _rates(p, fpr, tpr)
    k = _whole("k", k, 1).astype(float)
    accept = p * tpr + (1 - p) * fpr
    with np.errstate(invalid="ignore", divide="ignore"):
        found = -np.expm1(k * np.log1p(-np.minimum(accept, 1.0)))  # 1 - (1-q)^k
        value = np.where(accept > 0, p * tpr * found / accept, 0.0)
    return value


def verifier_ceiling(p: Any, *, fpr: float, tpr: float = 1.0) -> Any:
    """Accuracy of unlimited resampling against the verifier: the mean over problems of
    ``p*t / (p*t + (1-p)*f)`` (0 for a problem never solved).

    Example:
        >>> float(verifier_ceiling([0.5, 0.0], fpr=0.0))
        0.5
    """
    p = _rates(p, fpr, tpr)
    accept = p * tpr + (1 - p) * fpr
    with np.errstate(invalid="ignore", divide="ignore"):
        per_problem = np.where(accept > 0, p * tpr / accept, 0.0)
    return float(np.mean(per_problem))


__all__ = [
    "PassUntil",
    "coverage_curve",
    "pass_at_k",
    "pass_until",
    "verified_accuracy",
    "verifier_ceiling",
]
