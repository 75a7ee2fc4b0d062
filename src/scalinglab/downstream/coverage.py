"""Coverage against the number of samples: Brown et al.'s exponentiated power law.

Brown et al. (2024, *Large Language Monkeys*) find that coverage, the share of problems solved
by at least one of k samples (mean pass@k), follows ``c(k) = exp(a * k^b)`` with a < 0 and
b < 0 over four orders of magnitude of k. Equivalently ``-log c(k) = A * k^-beta``
(A = -a, beta = -b): a power law, fitted here by least squares on its log (the objective of
``scalinglab.fit(..., objective="least_squares")``, solved in closed form since it is linear
in log k), so each bootstrap replicate costs a 2x2 solve.

* From per-problem counts (``correct`` of ``n`` samples each, as
  :func:`scalinglab.ladder.tasks.task_results` returns) the bootstrap resamples *problems*:
  the coverage curve of a replicate is recomputed from its problems, which is where the
  uncertainty of a benchmark lives.
* From coverage values alone (pass@k rows of a run table) with the number of ``problems`` and
  samples ``n`` behind them, the bootstrap is parametric at the same level: pass rates are
  drawn from the Beta distribution whose mean pass@k, ``1 - B(alpha, beta+k)/B(alpha, beta)``,
  matches the curve, each problem's correct samples from a binomial, and the law refitted to
  the curve they give. Without them it resamples the fit's residuals, which knows nothing of
  the problems (the points share them) and is far too narrow: a warning says so.

:meth:`CoverageFit.samples_for` inverts the law: the samples needed for a target coverage,
``k = (log(target) / a)^(1/b)``, with an interval from the replicates.
:func:`fit_coverage_across_sizes` fits ``-log c = A * N^-g * k^-beta`` to several model sizes
at once with the estimator (its bootstrap resamples models).

Example:
    >>> k = np.array([1, 2, 4, 8, 16])
    >>> cov = fit_coverage(k, np.exp(-0.9 * k**-0.4), bootstrap=0)
    >>> round(cov.a, 3), round(cov.b, 3)
    (-0.9, -0.4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit
from ..fitting.data import Runs, select
from ..fitting.result import FitResult
from ..planning.replicates import check_level, interval
from ..runs import RunTable
from .passk import coverage_curve

#: A prediction this many times past the largest k fitted gets a warning.
FAR_K = 10.0


def _loglog(ks: np.ndarray, coverage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log k and log(-log c) of the points the law can use (0 < c < 1)."""
    c = np.asarray(coverage, dtype=float)
    ok = (c > 0) & (c < 1) & np.isfinite(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(ks[ok]), np.log(-np.log(c[ok]))


def _solve(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares of ``y = log(-a) + b*x``: returns (a, b); NaN when it cannot be solved."""
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    b, intercept = np.polyfit(x, y, 1)
    return -math.exp(intercept), float(b)


def _beta_of_curve(ks: np.ndarray, curve: np.ndarray) -> tuple[float, float]:
    """Beta(alpha, beta) of pass rates whose mean pass@k, ``1 - B(alpha, beta+k)/B(alpha,
    beta)`` (the unbiased estimator's expectation), is closest to ``curve`` in log(-log)."""
    from scipy.optimize import minimize
    from scipy.special import betaln

    x, y = _loglog(ks, curve)
    k = np.exp(x)

    def loss(theta: np.ndarray) -> float:
        a, b = np.exp(theta)
        with np.errstate(all="ignore"):
            model = -np.expm1(betaln(a, b + k) - betaln(a, b))
            r = np.log(-np.log(model)) - y
        return float(np.sum(r * r)) if np.all(np.isfinite(r)) else 1e9

    starts = [(math.log(a), math.log(b)) for a in (0.05, 0.2, 1.0) for b in (0.5, 5.0, 50.0)]
    best = min((minimize(loss, s0, method="Nelder-Mead") for s0 in starts), key=lambda r: r.fun)
    a, b = np.exp(best.x)
    return float(a), float(b)


@dataclass
class CoverageFit(Answer):
    """``coverage(k) = exp(a * k**b)`` for one model, with bootstrap replicates of (a, b)."""

    a: float
    b: float
    samples: np.ndarray  # (B, 2): a, b of each replicate
    ks: np.ndarray
    coverage: np.ndarray
    resampled: str  # "problems" or "residuals"
    model: str = ""
    #: Per-problem pass rates (c/n), when fitted from counts: for verifier ceilings.
    rates: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"coverage law{' of ' + self.model if self.model else ''}"

    def _values(self, k: np.ndarray) -> np.ndarray:
        """(1 + B, len(k)) coverages: the estimate, then every replicate."""
        a = np.concatenate([[self.a], self.samples[:, 0]])[:, None]
        b = np.concatenate([[self.b], self.samples[:, 1]])[:, None]
        with np.errstate(all="ignore"):
            return np.exp(a * k[None, :] ** b)

    def predict(self, k: Any, *, interval_level: float = 0.9) -> pd.DataFrame:
        """Coverage at ``k`` samples with the replicates' interval."""
        check_level(interval_level)
        k = np.atleast_1d(np.asarray(k, dtype=float))
        if np.any(~(k >= 1)):
            raise InputError("must be at least 1 (a number of samples)", option="k")
        values = self._values(k)
        spans = np.array([interval(values[:, j], interval_level) for j in range(len(k))])
        out = pd.DataFrame({"k": k, "value": values[0], "lo": spans[:, 0], "hi": spans[:, 1]})
        top = float(self.ks.max())
        far = k[k > FAR_K * top]
        out.attrs["warnings"] = (
            [f"k={far.max():g} is {far.max() / top:.0f}x the largest k fitted ({top:g})"]
            if far.size else []
        )  # fmt: skip
        return out

    def samples_for(self, target: float, *, interval_level: float = 0.9) -> dict[str, Any]:
        """Samples needed to reach coverage ``target``: ``k = (log(target)/a)^(1/b)``."""
        check_level(interval_level)
        if not 0 < target < 1:
            raise InputError(f"must lie strictly between 0 and 1, got {target:g}",
                             option="target")  # fmt: skip
        a = np.concatenate([[self.a], self.samples[:, 0]])
        b = np.concatenate([[self.b], self.samples[:, 1]])
        with np.errstate(all="ignore"):
            k = (math.log(target) / a) ** (1.0 / b)
        lo, hi = interval(k, interval_level)
        return {"target": target, "k": float(k[0]), "ci": {"k": [lo, hi]},
                "warnings": self.predict(max(float(k[0]), 1.0)).attrs["warnings"]
                if math.isfinite(k[0]) else ["the law never reaches this coverage"]}  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        lo_a, hi_a = interval(np.concatenate([[self.a], self.samples[:, 0]]), 0.95)
        lo_b, hi_b = interval(np.concatenate([[self.b], self.samples[:, 1]]), 0.95)
        return {
            "model": self.model,
            "a": self.a,
            "b": self.b,
            "ci": {"a": [lo_a, hi_a], "b": [lo_b, hi_b]},
            "ks": self.ks.tolist(),
            "coverage": self.coverage.tolist(),
            "resampled": self.resampled,
            "replicates": int(len(self.samples)),
            "warnings": list(self.warnings),
        }


def fit_coverage(
    ks: Any,
    coverage: Any | None = None,
    *,
    n: int | None = None,
    correct: Any | None = None,
    problems: int | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    model: str = "",
) -> CoverageFit:
    """Fit ``coverage(k) = exp(a k^b)`` at the sample counts ``ks``.

    Give ``coverage`` (one value per k; with ``problems`` and ``n``, the problems and samples
    per problem behind it, for a parametric bootstrap of problems), or ``n`` and ``correct``
    (correct samples of each problem out of ``n``; the coverage curve is then their mean
    unbiased pass@k and the bootstrap resamples problems).

    Raises:
        InputError: no usable points (coverage strictly between 0 and 1 at two k or more),
            k outside [1, n], coverage outside [0, 1].
    """
    ks = np.asarray(ks, dtype=float).reshape(-1)
    if ks.size < 2 or np.any(~(ks >= 1)):
        raise InputError("give two or more sample counts k >= 1", option="k")
    rng = np.random.default_rng(seed)
    rates = None
    if correct is not None:
        if n is None:
            raise InputError("per-problem counts need `n`, the samples per problem", option="n")
        correct = np.asarray(correct).reshape(-1)
        curve = coverage_curve(n, correct, ks.astype(np.int64))
        rates = correct / float(n)
        resampled = "problems"
        picks = rng.integers(0, len(correct), size=(bootstrap, len(correct)))
        curves = [coverage_curve(n, correct[p], ks.astype(np.int64)) for p in picks]
    elif coverage is not None:
        curve = np.asarray(coverage, dtype=float).reshape(-1)
        if curve.shape != ks.shape:
            raise InputError(f"{len(curve)} coverage values for {len(ks)} k", option="coverage")
        if np.any((curve < 0) | (curve > 1)):
            raise InputError("must lie in [0, 1]", option="coverage")
        resampled, curves = "residuals", None
        if problems and n:
            resampled = "problems (Beta-binomial)"
            alpha, beta = _beta_of_curve(ks, curve)
            p = rng.beta(alpha, beta, size=(bootstrap, int(problems)))
            counts = rng.binomial(int(n), p)
            curves = [coverage_curve(int(n), row, ks.astype(np.int64)) for row in counts]
    else:
        raise InputError("give `coverage`, or `n` and `correct`", option="coverage")
    x, y = _loglog(ks, curve)
    a, b = _solve(x, y)
    if not math.isfinite(a):
        raise InputError(
            "coverage strictly between 0 and 1 is needed at two or more k to fit the law "
            f"(coverage: {', '.join(f'{v:.3g}' for v in curve)})",
            option="coverage",
        )
    if curves is None:  # residual bootstrap of the log-log fit
        fitted = math.log(-a) + b * x
        resid = y - fitted
        draws = fitted[None, :] + resid[rng.integers(0, len(resid), size=(bootstrap, len(resid)))]
        samples = np.array([_solve(x, row) for row in draws]).reshape(-1, 2)
    else:
        samples = np.array([_solve(*_loglog(ks, c)) for c in curves]).reshape(-1, 2)
    warnings = []
    if resampled == "residuals":
        warnings.append(
            "intervals from the fit's residuals alone: give the problems and samples behind the "
            "curve (or per-problem counts) for intervals that know the problems were sampled"
        )
    if b >= 0:
        warnings.append(f"b = {b:.3g} >= 0: coverage does not grow with k here")
    return CoverageFit(a, b, samples, ks, curve, resampled, model, rates, warnings)


def coverage_points(runs: Runs, task: str, *, family: str | None = None,
                    where: str | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per (run, k): the final ``pass@<k>_<task>`` values of each run (its last step
    when it has no final row), with the run's sizes and shape columns."""
    table = select(runs, family=family, where=where)
    df = table.df
    prefix, suffix = "pass@", f"_{task}"
    names = [m for m in table.metrics() if m.startswith(prefix) and m.endswith(suffix)]
    if not names:
        raise InputError(f"no pass@k_{task} metrics in the runs", option="task")
    rows = df[df["metric"].isin(names)].copy()
    rows["k"] = rows["metric"].str.slice(len(prefix), -len(suffix)).astype(float)
    order = rows["step"].fillna(np.inf)
    rows = rows.assign(_order=order).sort_values("_order")
    last = rows.groupby(["family", "run_id", "k"], sort=False).tail(1).drop(columns="_order")
    last = last.rename(columns={"value": "coverage"}).reset_index(drop=True)
    for what in ("problems", "samples"):  # the ladder's counts behind the curve, where present
        counts = df[df["metric"] == f"{what}_{task}"].groupby("run_id")["value"].last()
        last[what] = last["run_id"].map(counts)
    return last


def fit_coverage_per_run(
    points: pd.DataFrame, *, max_k: float | None = None, bootstrap: int = 1000, seed: int = 0
) -> dict[str, CoverageFit]:
    """A coverage law for every run of :func:`coverage_points`, on its k up to ``max_k`` (with a
    parametric bootstrap of problems where the runs record ``problems_<task>`` and
    ``samples_<task>``, as the ladder's do)."""
    fits = {}
    for run, part in points.groupby("run_id", sort=False):
        use = part if max_k is None else part[part["k"] <= max_k]
        counts = {}
        if {"problems", "samples"} <= set(part) and part[
            ["problems", "samples"]
        ].notna().all().all():
            counts = {"problems": int(part["problems"].iloc[0]), "n": int(part["samples"].iloc[0])}
        fits[str(run)] = fit_coverage(use["k"].to_numpy(), use["coverage"].to_numpy(),
                                      bootstrap=bootstrap, seed=seed, model=str(run), **counts)  # fmt: skip
    return fits


#: Across sizes: -log coverage as a power law in parameters and samples (one beta for all).
ACROSS_SIZES = "A*params**-g*k**-beta"


def fit_coverage_across_sizes(
    points: pd.DataFrame, *, max_k: float | None = None, bootstrap: int = 200, seed: int = 0
) -> FitResult:
    """``-log coverage = A * params^-g * k^-beta`` over every run of :func:`coverage_points`
    (least squares on log, the bootstrap resampling runs)."""
    use = points if max_k is None else points[points["k"] <= max_k]
    use = use[(use["coverage"] > 0) & (use["coverage"] < 1)]
    frame = pd.DataFrame({
        "family": use["family"].astype(str).to_numpy(), "run_id": use["run_id"].astype(str).to_numpy(),
        "params": use["params"].to_numpy(dtype=float), "tokens": use["tokens"].to_numpy(dtype=float),
        "flops": use["flops"].to_numpy(dtype=float), "step": use["k"].to_numpy(dtype=float),
        "metric": "neg_log_coverage", "value": -np.log(use["coverage"].to_numpy(dtype=float)),
        "k": use["k"].to_numpy(dtype=float),
    })  # fmt: skip
    # k rides as the step too, so that a run's k values count as one run's points
    return fit(RunTable(frame, "<coverage points>", []), ACROSS_SIZES, y="neg_log_coverage",
               objective="least_squares", bootstrap=bootstrap, seed=seed, skip_fraction=0.0,
               influence=False)  # fmt: skip


__all__ = [
    "ACROSS_SIZES",
    "CoverageFit",
    "coverage_points",
    "fit_coverage",
    "fit_coverage_across_sizes",
    "fit_coverage_per_run",
]
