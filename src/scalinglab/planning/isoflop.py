"""Hoffmann et al.'s three approaches to compute-optimal scaling, side by side.

* **Approach 1** (minimum-loss envelope): for every compute value, the run with the lowest loss
  so far; fit ``N_opt ∝ C^a`` and ``D_opt ∝ C^b`` through the envelope. On per-step curves each
  checkpoint is a point (its FLOPs pro rata of the run's steps); on final values each run is one.
* **Approach 2** (IsoFLOP parabolas): in every IsoFLOP slice, a parabola of loss against
  log N; its vertex is that budget's optimum; power laws through the vertices.
* **Approach 3** (parametric fit): fit the law, then solve for the optimum at every budget.

Approach 2 is biased when the loss surface is not symmetric in log N around the optimum
(exponents alpha != beta), when the slices' sizes are not centred on the optimum, and the more
so the wider they spread (Xu et al. 2026, *Systematic Biases in IsoFLOP Parabola Fits*).
Because the Approach-3 fit gives a full surface, the bias can be *estimated*: draw noise-free
losses from the fitted law at exactly the runs' sizes, run Approach 2 on them, and compare its
answer with the law's own optimum. :func:`isoflop_analysis` reports that estimate, with an
interval over the bootstrap replicates, and warns when it is material.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit as fit_law
from ..fitting.data import select
from ..fitting.options import FitOptions
from ..fitting.result import FitResult
from ..laws.base import Law
from ..laws.overtrain import resolve as resolve_overtrain
from ..runs.budgets import budget_slices
from .allocation import compute_optimal
from .replicates import check_level, interval, parameter_sets

#: Approach 2's estimated bias is reported as a warning above these sizes.
EXPONENT_BIAS_WARNING = 0.01
OPTIMUM_BIAS_WARNING = 0.10


@dataclass
class Exponents:
    """``N_opt = kN * C^a`` and ``D_opt = kD * C^b`` with intervals."""

    a: float
    b: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    log_kn: float
    points: pd.DataFrame  # flops, params, tokens (the optima the power laws go through)
    a_replicates: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_replicates(
        cls,
        a_reps: np.ndarray,
        b_reps: np.ndarray,
        level: float,
        log_kn: float,
        points: pd.DataFrame,
        notes: list[str] | None = None,
    ) -> Exponents:
        """Estimates in row 0 of ``a_reps``/``b_reps``, bootstrap replicates after it."""
        return cls(
            float(a_reps[0]),
            float(b_reps[0]),
            interval(a_reps, level),
            interval(b_reps, level),
            log_kn,
            points,
            np.asarray(a_reps)[1:],
            list(notes or []),
        )

    def params_at(self, flops: float) -> float:
        return float(math.exp(self.log_kn) * flops**self.a)

    def to_json(self, at: float | None = None) -> dict[str, Any]:
        doc = {
            "a": self.a,
            "b": self.b,
            "ci": {"a": list(self.a_ci), "b": list(self.b_ci)},
            "optima": self.points.to_dict(orient="records"),
            "notes": list(self.notes),
        }
        if at is not None:
            doc["params_at_flops"] = self.params_at(at)
            doc["tokens_at_flops"] = at / 6 / doc["params_at_flops"]
        return doc


def _power_law(flops: np.ndarray, sizes: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of log(size) against log(flops)."""
    x, y = np.log(flops), np.log(sizes)
    ok = np.isfinite(x) & np.isfinite(y)
    if np.unique(x[ok]).size < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x[ok], y[ok], 1)
    return float(slope), float(intercept)


def _power_law_rows(log_c: np.ndarray, log_n: np.ndarray) -> np.ndarray:
    """Slope of log N on log C for every row of ``log_n`` (S, k), NaN columns ignored."""
    slopes = np.full(log_n.shape[0], np.nan)
    for i, row in enumerate(log_n):
        ok = np.isfinite(row)
        if np.unique(log_c[ok]).size >= 2:
            slopes[i] = np.polyfit(log_c[ok], row[ok], 1)[0]
    return slopes


# -- the data --------------------------------------------------------------------------------
def slice_labels(flops: np.ndarray) -> np.ndarray:
    """Compute value of each run for Approach 1: its FLOPs rounded to 3 significant digits."""
    return np.round(np.log10(flops), 3)


def _final_points(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last observation (final value, else last step)."""
    order = obs.sort_values("step", na_position="last", kind="stable") if "step" in obs else obs
    return order.groupby("run_id", sort=False).tail(1).reset_index(drop=True)


# -- Approach 1 ------------------------------------------------------------------------------
def envelope(points: pd.DataFrame) -> pd.DataFrame:
    """Points on the minimum-loss envelope: the best point at each compute value (runs sharing
    a budget are one compute value), kept when its loss is below every point of less compute."""
    labels = slice_labels(points["c"].to_numpy(dtype=float))
    best_at = points.groupby(labels, sort=False)["value"].idxmin()
    order = points.loc[best_at.to_numpy()].sort_values("c", kind="stable")
    best = np.minimum.accumulate(order["value"].to_numpy())
    prior = np.concatenate([[np.inf], best[:-1]])
    return order[order["value"].to_numpy() < prior]


def approach1(
    obs: pd.DataFrame, *, bootstrap: int, rng: np.random.Generator, level: float
) -> Exponents:
    pts = obs[["run_id", "params", "tokens", "flops", "value"]].copy()
    notes = []
    if "step" in obs and obs["step"].notna().any():
        # Checkpoints: FLOPs so far, pro rata of the run's last step (constant batch assumed).
        last = obs.groupby("run_id")["step"].transform("max")
        share = (obs["step"] / last).where(obs["step"].notna(), 1.0)
        pts["c"] = obs["flops"] * share
        pts["tokens"] = obs["tokens"] * share
        notes.append("checkpoints' FLOPs taken pro rata of their run's steps")
    else:
        pts["c"] = pts["flops"]
    env = envelope(pts)
    a, log_kn = _power_law(env["c"].to_numpy(), env["params"].to_numpy())
    b, _ = _power_law(env["c"].to_numpy(), env["tokens"].to_numpy())
    runs = pts["run_id"].unique()
    a_reps, b_reps = [], []
    groups = {r: g for r, g in pts.groupby("run_id", sort=False)}
    for _ in range(bootstrap):
        pick = rng.choice(runs, size=runs.size, replace=True)
        sample = pd.concat([groups[r] for r in pick], ignore_index=True)
        e = envelope(sample)
        a_reps.append(_power_law(e["c"].to_numpy(), e["params"].to_numpy())[0])
        b_reps.append(_power_law(e["c"].to_numpy(), e["tokens"].to_numpy())[0])
    a_reps_arr = np.array([a, *a_reps])
    if len(env) < 3:
        notes.append(f"only {len(env)} runs on the envelope: the exponents rest on very few points")
    optima = pd.DataFrame(
        {
            "flops": env["c"].to_numpy(),
            "params": env["params"].to_numpy(),
            "tokens": env["tokens"].to_numpy(),
        }
    )
    return Exponents.from_replicates(
        a_reps_arr, np.array([b, *b_reps]), level, log_kn, optima, notes
    )


# -- Approach 2 ------------------------------------------------------------------------------
@dataclass
class Slice:
    flops: float
    log_n: np.ndarray  # the runs' log sizes
    value: np.ndarray  # their losses
    centre: float  # mean log N, the parabola's origin (for conditioning)


def make_slices(final: pd.DataFrame) -> tuple[list[Slice], list[str]]:
    notes = []
    slices = []
    budgets = budget_slices(final["flops"].to_numpy(dtype=float))
    for budget in np.unique(budgets):
        rows = final[budgets == budget]
        log_n = np.log(rows["params"].to_numpy(dtype=float))
        if np.unique(np.round(log_n, 9)).size < 3:
            notes.append(f"slice {budget:.3g} FLOPs has fewer than 3 model sizes: skipped")
            continue
        slices.append(
            Slice(
                float(np.median(rows["flops"])),
                log_n,
                rows["value"].to_numpy(dtype=float),
                float(log_n.mean()),
            )
        )
    return slices, notes


def parabola_vertices(
    s: Slice, values: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Vertex log N of a loss ~ c0 + c1 x + c2 x^2 fit (x = log N - centre) per row of values.

    ``values`` (R, n) losses, ``weights`` (R, n) bootstrap counts or None. NaN where the
    parabola opens downward (no minimum).
    """
    x = s.log_n - s.centre
    design = np.stack([np.ones_like(x), x, x * x], axis=1)  # (n, 3)
    if weights is None:
        coef = np.linalg.lstsq(design, values.T, rcond=None)[0].T  # (R, 3)
    else:
        xtw = design.T[None, :, :] * weights[:, None, :]  # (R, 3, n)
        lhs = xtw @ design  # (R, 3, 3)
        rhs = np.einsum("rkn,rn->rk", xtw, values)
        with np.errstate(all="ignore"):
            det = np.linalg.det(lhs)
            ok = np.abs(det) > 1e-12
            coef = np.full((len(values), 3), np.nan)
            if ok.any():
                coef[ok] = np.linalg.solve(lhs[ok], rhs[ok][..., None])[..., 0]
    with np.errstate(all="ignore"):
        vertex = -coef[:, 1] / (2 * coef[:, 2])
    return np.where(coef[:, 2] > 0, vertex + s.centre, np.nan)


def approach2(
    slices: list[Slice], *, bootstrap: int, rng: np.random.Generator, level: float
) -> Exponents:
    if len(slices) < 2:
        raise InputError(
            f"IsoFLOP analysis needs at least 2 slices of 3 or more model sizes; found {len(slices)} "
            "(runs whose flops lie within 0.05 decades of each other form a slice)"
        )
    log_c = np.log([s.flops for s in slices])
    vertex = np.empty((bootstrap + 1, len(slices)))
    notes = []
    for j, s in enumerate(slices):
        n = s.log_n.size
        weights = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1 / n), size=bootstrap)])
        vertex[:, j] = parabola_vertices(s, np.broadcast_to(s.value, (bootstrap + 1, n)), weights)
        v = vertex[0, j]
        if not np.isfinite(v):
            notes.append(f"slice {s.flops:.3g} FLOPs: the parabola has no minimum; slice left out")
        elif not s.log_n.min() <= v <= s.log_n.max():
            notes.append(
                f"slice {s.flops:.3g} FLOPs: the vertex lies outside the sampled sizes (extrapolated)"
            )
    log_d = np.log(np.exp(log_c) / 6) - vertex
    a_reps = _power_law_rows(log_c, vertex)
    b_reps = _power_law_rows(log_c, log_d)
    ok = np.isfinite(vertex[0])
    log_kn = float(np.polyfit(log_c[ok], vertex[0, ok], 1)[1]) if ok.sum() >= 2 else math.nan
    optima = pd.DataFrame(
        {"flops": np.exp(log_c), "params": np.exp(vertex[0]), "tokens": np.exp(log_d[0])}
    )
    return Exponents.from_replicates(a_reps, b_reps, level, log_kn, optima, notes)


# -- Approach 3 and the bias of Approach 2 ---------------------------------------------------
def approach3(fit: FitResult, budgets: np.ndarray, level: float) -> tuple[Exponents, np.ndarray]:
    """Exponents of the fitted law's optima over the slices' budgets; also log N_opt (S, k)."""
    log_n = np.column_stack([np.log(np.concatenate([[p.params.value], p.params.replicates]))
                             for p in (compute_optimal(fit, c, interval=level) for c in budgets)])  # fmt: skip
    log_c = np.log(budgets)
    log_d = np.log(budgets / 6)[None, :] - log_n
    a_reps = _power_law_rows(log_c, log_n)
    b_reps = _power_law_rows(log_c, log_d)
    log_kn = float(np.polyfit(log_c, log_n[0], 1)[1])
    optima = pd.DataFrame(
        {"flops": budgets, "params": np.exp(log_n[0]), "tokens": np.exp(log_d[0])}
    )
    exps = Exponents.from_replicates(a_reps, b_reps, level, log_kn, optima)
    return exps, log_n


@dataclass
class Approach2Bias:
    """Approach 2's error on noise-free data from the Approach-3 fit, at the runs' own sizes."""

    exponent: float  # a from Approach 2 minus the law's a
    exponent_ci: tuple[float, float]
    optimum: np.ndarray  # per slice: N_opt from Approach 2 / the law's N_opt - 1
    optimum_ci: np.ndarray  # (k, 2)
    flops: np.ndarray
    offset: np.ndarray  # per slice: the law's optimum / the slice's geometric centre
    span: np.ndarray  # per slice: largest / smallest size
    asymmetry: float | None  # alpha / beta when the law has them

    def to_json(self) -> dict[str, Any]:
        return {
            "exponent_a": self.exponent,
            "ci": {"exponent_a": list(self.exponent_ci)},
            "slices": [
                {
                    "flops": float(c),
                    "params_opt_bias": float(b),
                    "ci": [float(lo), float(hi)],
                    "optimum_over_centre": float(o),
                    "span": float(s),
                }
                for c, b, (lo, hi), o, s in zip(
                    self.flops, self.optimum, self.optimum_ci, self.offset, self.span, strict=True
                )
            ],
            "alpha_over_beta": self.asymmetry,
        }


def approach2_bias(
    fit: FitResult, slices: list[Slice], log_n_opt: np.ndarray, level: float
) -> Approach2Bias:
    sets = parameter_sets(fit)
    log_c = np.log([s.flops for s in slices])
    vertex = np.empty((sets.size, len(slices)))
    for j, s in enumerate(slices):
        n = np.exp(s.log_n)
        clean = sets.evaluate({"params": n[None, :], "tokens": (s.flops / 6 / n)[None, :]})
        vertex[:, j] = parabola_vertices(s, np.asarray(clean, dtype=float))
    a2 = _power_law_rows(log_c, vertex)
    a3 = _power_law_rows(log_c, log_n_opt)
    exponent = a2 - a3
    ratio = np.exp(vertex - log_n_opt) - 1
    spans = np.array([interval(ratio[:, j], level) for j in range(len(slices))])
    alpha = fit.params.get("alpha")
    beta = fit.params.get("beta")
    return Approach2Bias(
        exponent=float(exponent[0]),
        exponent_ci=interval(exponent, level),
        optimum=ratio[0],
        optimum_ci=spans,
        flops=np.exp(log_c),
        offset=np.exp(log_n_opt[0] - np.array([s.centre for s in slices])),
        span=np.array([math.exp(s.log_n.max() - s.log_n.min()) for s in slices]),
        asymmetry=None if alpha is None or beta is None or beta == 0 else float(alpha / beta),
    )


def bias_warning(bias: Approach2Bias) -> str | None:
    worst = int(np.nanargmax(np.abs(bias.optimum)))
    if not (
        abs(bias.exponent) > EXPONENT_BIAS_WARNING
        or abs(bias.optimum[worst]) > OPTIMUM_BIAS_WARNING
    ):
        return None
    causes = []
    if bias.asymmetry is not None and abs(math.log(bias.asymmetry)) > math.log(1.2):
        causes.append(f"asymmetric exponents (alpha/beta = {bias.asymmetry:.2f})")
    off = float(np.max(np.abs(np.log(bias.offset))))
    if off > math.log(1.5):
        causes.append(
            f"slices off-centre (the optimum up to {math.exp(off):.1f}x from a slice's centre)"
        )
    if float(np.max(bias.span)) > 30:
        causes.append(f"wide slices (up to {np.max(bias.span):.0f}x in size)")
    why = "; ".join(causes) or "the loss surface is not symmetric around the optimum"
    return (
        f"Approach 2 (IsoFLOP parabolas) is biased here: {why}. From the Approach-3 fit, its N_opt "
        f"exponent is off by {bias.exponent:+.3f} and its optimum at {bias.flops[worst]:.3g} FLOPs by "
        f"{bias.optimum[worst]:+.0%} (Xu et al. 2026); prefer Approach 3"
    )


@dataclass
class IsoflopAnalysis(Answer):
    """Hoffmann et al.'s Approaches 1-3 side by side, with Approach 2's estimated bias."""

    approach1: Exponents
    approach2: Exponents
    approach3: Exponents
    bias: Approach2Bias
    fit: FitResult
    slices: list[Slice]
    interval: float
    flops: float | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    title = "compute-optimal exponents: N_opt ∝ C^a, D_opt ∝ C^b"

    def to_frame(self) -> pd.DataFrame:
        """One row per approach (:meth:`table`)."""
        return self.table()

    def summary(self) -> str:
        """The three approaches' exponents, Approach 2's bias, warnings and notes, as text."""
        lines = [self.title, self.table().to_string(index=False, float_format=lambda v: f"{v:.4g}"),
                 f"Approach 2's bias: a {self.bias.exponent:+.4f}; corrected a = "
                 f"{self.approach2.a - self.bias.exponent:.3f}"]  # fmt: skip
        lines += [f"note: {n}" for n in self.notes] + [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def table(self) -> pd.DataFrame:
        """One row per approach: a, b and their intervals (and N_opt at ``flops`` if given)."""
        rows = []
        for name, e in (
            ("1: envelope", self.approach1),
            ("2: IsoFLOP parabolas", self.approach2),
            ("3: parametric fit", self.approach3),
        ):
            row = {
                "approach": name,
                "a": e.a,
                "a_lo": e.a_ci[0],
                "a_hi": e.a_ci[1],
                "b": e.b,
                "b_lo": e.b_ci[0],
                "b_hi": e.b_ci[1],
            }
            if self.flops is not None:
                row["params_at_flops"] = e.params_at(self.flops)
            rows.append(row)
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "law": self.fit.law.name,
            "interval": self.interval,
            "flops": self.flops,
            "n_slices": len(self.slices),
            "approaches": {
                "1": self.approach1.to_json(self.flops),
                "2": self.approach2.to_json(self.flops),
                "3": self.approach3.to_json(self.flops),
            },
            "approach2_bias": self.bias.to_json(),
            "approach2_corrected_a": self.approach2.a - self.bias.exponent,
            "fit": {
                k: v
                for k, v in self.fit.to_json().items()
                if k in ("params", "ci", "n_points", "converged")
            },
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def isoflop_analysis(
    runs: Any,
    law: str | Law = "chinchilla",
    options: FitOptions | Mapping[str, Any] | None = None,
    *,
    interval: float = 0.9,
    flops: float | None = None,
    fit: FitResult | None = None,
    progress: Any = None,
    **option_values: Any,
) -> IsoflopAnalysis:
    """Approaches 1-3 on the same runs, and the estimated bias of Approach 2.

    ``runs`` are IsoFLOP slices (runs sharing a ``flops`` budget) and/or training curves. The
    exponents are ``a`` in ``N_opt ∝ C^a`` and ``b`` in ``D_opt ∝ C^b``. ``options`` (or
    keywords, see :class:`~scalinglab.fitting.options.FitOptions`) select the runs and set the
    bootstrap of every approach; ``fit`` is an Approach-3 fit made already.

    Example:
        >>> iso = isoflop_analysis("../shared/data/isoflops_epochai_chinchilla.csv")  # doctest: +SKIP
        >>> iso.table()                                                             # doctest: +SKIP
    """
    level = check_level(interval)
    opts = FitOptions.of(options, **option_values)
    table = select(runs, family=opts.family, where=opts.where)
    obs = table.observations(opts.y, skip_fraction=opts.skip_fraction)
    final = _final_points(obs)
    slices, notes = make_slices(final)
    rng = np.random.default_rng(opts.seed)
    a2 = approach2(slices, bootstrap=opts.bootstrap, rng=rng, level=level)
    a1 = approach1(obs, bootstrap=opts.bootstrap, rng=rng, level=level)
    if fit is None:  # the table is selected already
        fit = fit_law(table, resolve_overtrain(law), opts.replace(family=None, where=None),
                      progress=progress)  # fmt: skip
    budgets = np.array([s.flops for s in slices])
    a3, log_n_opt = approach3(fit, budgets, level)
    bias = approach2_bias(fit, slices, log_n_opt, level)
    warnings = list(fit.warnings)
    found = bias_warning(bias)
    if found:
        warnings.insert(0, found)
    notes += a1.notes + a2.notes
    return IsoflopAnalysis(a1, a2, a3, bias, fit, slices, level, flops, warnings, notes)
