"""Decisions that survive noise: signal-to-noise of metrics, decision accuracy, P(win) with
seed noise, the seeds a call needs, and whether two trainings of one spec agree.

* :func:`signal_to_noise`: for each metric, the signal-to-noise ratio of Heineman et al. 2025
  (*Signal and Noise*): signal = max_{j,k} |m_j - m_k| / mean(m) over the models (recipes)
  compared at one scale, noise = SD / mean of one model's score (over its last checkpoints as
  in the paper; else over its replicates; else from the table's own scatter); and the
  *decision accuracy*: the share of pairs of recipes ranked at a small scale as at the largest
  scale in the data (their ``decision_acc_fast``).
* :func:`seed_noise_decision`: P(win) of a comparison of fitted laws with each run's seed noise
  added (``compare`` calls it when the fits know their replicate noise), the seeds the call
  needs and the budget where it would be made at a requested confidence.
* :func:`decide`: recipes measured at one scale (no law needed): P(best) from their replicates
  and the noise model, and the seeds per recipe the call needs.
* :func:`reproduce`: two run tables of one spec, point by point: which differ beyond noise.

Example:
    >>> s = signal_to_noise("../shared/data/overtrain_gadre.csv", ["acc_*"])   # doctest: +SKIP
    >>> s.tasks[["metric", "snr", "decision_accuracy"]]                        # doctest: +SKIP
    >>> reproduce("data/ladder/runs.csv",                                      # doctest: +SKIP
    ...           "../shared/data/ladder_rerun_h200/runs.csv", y="val_loss").differing
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.noise import (
    FAMILY_LEVEL,
    NoiseModel,
    final_results,
    fit_noise_model,
    noise_compute,
    read_table,
    replicate_noise,
    source_name,
)

#: Monte Carlo draws behind a probability of winning.
DRAWS = 4000
#: The most seeds a call is said to need; beyond, the difference is too small to resolve.
MOST_SEEDS = 10_000


def check_confidence(level: float, option: str = "confidence") -> float:
    """A call's confidence: a probability above 0.5 and below 1."""
    if not (isinstance(level, int | float) and 0.5 < level < 1):
        raise InputError(f"must be between 0.5 and 1, got {level:g}", option=option)
    return float(level)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(level))


def seeds_for(delta: float, sd: float, level: float, have: float = 1.0) -> int | None:
    """Replicates (of everything behind ``sd``, which ``have`` replicates gave) so that a mean
    difference ``delta`` is called at one-sided confidence ``level``: the spread of an average
    falls as 1/sqrt(seeds). None when ``delta`` is 0 or beyond :data:`MOST_SEEDS`.

    Example:
        >>> seeds_for(0.01, 0.01, 0.95)      # (1.645 * 0.01 / 0.01)^2 = 2.7
        3
    """
    if not (delta > 0 and math.isfinite(sd)):
        return None
    k = math.ceil(have * (_z(level) * sd / delta) ** 2 - 1e-9)
    return max(1, k) if k <= MOST_SEEDS else None


# -- P(win) of fitted laws, with seed noise --------------------------------------------------
def seed_noise_decision(
    at: Mapping[str, np.ndarray],
    noise: Mapping[str, NoiseModel | None],
    compute: Mapping[str, float],
    *,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, Any]]:
    """P(best) of each family with one run's seed noise added to its law, and what the call
    needs.

    ``at``: each family's loss at the budget, row 0 its fit's estimate, rows 1.. its bootstrap
    replicates; ``noise``: each family's replicate noise (None: unknown, counted as 0);
    ``compute``: each family's compute there. Every replicate is drawn many times, each with
    log-normal noise of the family's variance at its compute (lower loss wins). Returns the new
    P(best) and ``{"p_best_law", "seed_sd", "seeds_needed", "confidence"}``: seeds per run (the
    small runs and the runs at the budget alike; the spread of the difference between leader
    and runner-up falls as 1/sqrt(seeds)) for the leader to win at ``confidence``.
    """
    fams = list(at)
    reps = np.log(np.column_stack([at[f] for f in fams])[1:])
    ok = np.all(np.isfinite(reps), axis=1)
    reps = reps[ok]
    sd = np.array([0.0 if noise.get(f) is None else float(noise[f].variance(compute[f])) ** 0.5
                   for f in fams])  # fmt: skip
    extra = {"p_best_law": {}, "seed_sd": dict(zip(fams, map(float, sd), strict=True)),
             "seeds_needed": None, "confidence": confidence}  # fmt: skip
    if len(reps) == 0:
        return {}, extra
    law_best = np.argmin(reps, axis=1)
    extra["p_best_law"] = {f: float(np.mean(law_best == i)) for i, f in enumerate(fams)}
    copies = max(1, math.ceil(DRAWS / len(reps)))
    draws = np.repeat(reps, copies, axis=0)
    draws += np.random.default_rng(seed).standard_normal(draws.shape) * sd
    best = np.argmin(draws, axis=1)
    p_best = {f: float(np.mean(best == i)) for i, f in enumerate(fams)}
    estimate = np.log([at[f][0] for f in fams])
    if np.all(np.isfinite(estimate)) and len(fams) > 1:
        leader, runner = np.argsort(estimate)[:2]
        diff = draws[:, runner] - draws[:, leader]
        extra["seeds_needed"] = seeds_for(float(np.mean(diff)), float(np.std(diff)), confidence)
    return p_best, extra


def budget_for_confidence(
    grid: np.ndarray,
    curves: Mapping[str, np.ndarray],
    noise: Mapping[str, NoiseModel | None],
    rate: Mapping[str, float],
    start: float,
    confidence: float,
) -> tuple[float | None, str | None]:
    """The least budget of ``grid`` at or above ``start`` where one family is best with
    probability ``confidence`` (law replicates and seed noise), and that family."""
    fams = list(curves)
    for j in np.flatnonzero(grid >= start * (1 - 1e-12)):
        at = {f: curves[f][:, j] for f in fams}
        p, _ = seed_noise_decision(
            at, noise, {f: grid[j] * rate[f] for f in fams}, confidence=confidence
        )
        if p and max(p.values()) >= confidence:
            return float(grid[j]), max(p, key=p.__getitem__)
    return None, None


# -- recipes measured at one scale -----------------------------------------------------------
@dataclass
class Decision(Answer):
    """Which recipe is best at one measured scale, given its replicates and the noise."""

    y: str
    at: dict[str, float]
    table: pd.DataFrame  # family, n, mean, noise_sd, se, p_best
    winner: str
    p_win: float
    seeds_needed: int | None
    confidence: float
    noise: NoiseModel | None
    higher_is_better: bool = False
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        where = ", ".join(f"{k}={v:.4g}" for k, v in self.at.items())
        return f"{self.y} at {where}: which recipe is best"

    def to_frame(self) -> pd.DataFrame:
        """One row per recipe: replicates, mean, noise SD (of one run), standard error, P(best)."""
        return self.table.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "y": self.y, "at": dict(self.at), "winner": self.winner, "p_win": self.p_win,
            "confidence": self.confidence, "seeds_needed": self.seeds_needed,
            "higher_is_better": self.higher_is_better,
            "families": self.table.to_dict(orient="records"),
            "noise": None if self.noise is None else self.noise.to_json(),
            "notes": list(self.notes), "warnings": list(self.warnings),
        }  # fmt: skip

    def summary(self) -> str:
        lines = [self.title, self.table.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        need = (
            f"{self.seeds_needed} runs per recipe" if self.seeds_needed
            else "more runs than anyone will train (the recipes are equal within noise)"
        )  # fmt: skip
        lines.append(
            f"winner {self.winner} with P = {self.p_win:.3f}; a call at {self.confidence:.0%} "
            f"needs {need}"
        )
        lines += [f"note: {n}" for n in self.notes] + [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def decide(
    runs: Any,
    families: Sequence[str],
    *,
    y: str | None = None,
    at: Mapping[str, float] | None = None,
    replicates: Sequence[Any] = (),
    by: Sequence[str] | None = None,
    confidence: float = 0.95,
    higher_is_better: bool = False,
    seed: int = 0,
) -> Decision:
    """The best of ``families`` at one scale where all were trained, from their runs alone.

    ``at``: ``{"params": ..., "tokens": ...}`` (default: the largest compute where every family
    has a run). Each family's value there is the mean of its replicates (in ``runs`` and in the
    ``replicates`` tables); a run's noise is its point's moderated replicate variance
    (:mod:`scalinglab.fitting.noise`, the model fitted across every scale of these families).
    P(best) draws each family's mean log value from a normal of its standard error (noise / n);
    ``seeds_needed`` is the runs per recipe for the leader to beat the runner-up at
    ``confidence`` (a two-sample z rule).

    Example:
        >>> d = decide("data/ladder/runs.csv", ["gpu-ladder", "gpu-ladder-wsd"],   # doctest: +SKIP
        ...            y="val_loss", replicates=["../shared/data/ladder_rerun_h200/runs.csv"])
        >>> d.winner, d.p_win, d.seeds_needed                                     # doctest: +SKIP
    """
    confidence = check_confidence(confidence)
    families = list(dict.fromkeys(families))
    if len(families) < 2:
        raise InputError("a decision needs at least two families (`family`)")
    noise = replicate_noise(runs, replicates, y=y, family=families, by=by)
    if noise.model is None:
        raise InputError(
            f"{noise.y}: no point has two differing replicates: the noise is unknown; give "
            "replicate tables (`replicates`) or runs with several seeds"
        )
    points = noise.points
    for c in ("params", "tokens"):
        if c not in points:
            raise InputError(f"a decision at one scale needs column {c!r}")
    scale = _scale_of(points, families, at)
    here = points[(points["params"] == scale["params"]) & (points["tokens"] == scale["tokens"])]
    rows = []
    for f in families:
        mine = here[here["family"] == f]
        if len(mine) != 1:
            raise InputError(
                f"family {f!r} has {len(mine)} points at params={scale['params']:.4g}, "
                f"tokens={scale['tokens']:.4g}: give `by` settings that make one",
            )
        i = mine.index[0]
        logs = np.log(noise.runs.loc[noise.runs["point"] == i, "value"].to_numpy(dtype=float))
        var = float(points.at[i, "var"])
        rows.append({"family": f, "n": len(logs), "mean": float(np.exp(logs.mean())),
                     "noise_sd": var**0.5, "se": (var / len(logs)) ** 0.5,
                     "log_mean": float(logs.mean())})  # fmt: skip
    table = pd.DataFrame(rows)
    sign = -1.0 if higher_is_better else 1.0
    rng = np.random.default_rng(seed)
    draws = (
        table["log_mean"].to_numpy()
        + rng.standard_normal((DRAWS * 5, len(table))) * table["se"].to_numpy()
    )
    best = np.argmin(sign * draws, axis=1)
    table["p_best"] = [float(np.mean(best == i)) for i in range(len(table))]
    order = np.argsort(sign * table["log_mean"].to_numpy())
    lead, runner = table.iloc[order[0]], table.iloc[order[1]]
    delta = abs(float(lead["log_mean"] - runner["log_mean"]))
    needed = seeds_for(delta, (lead["noise_sd"] ** 2 + runner["noise_sd"] ** 2) ** 0.5, confidence)
    return Decision(
        y=noise.y, at=scale, table=table.drop(columns="log_mean"), winner=str(lead["family"]),
        p_win=float(lead["p_best"]), seeds_needed=needed, confidence=confidence,
        noise=noise.model, higher_is_better=higher_is_better, notes=list(noise.notes),
        warnings=list(noise.warnings),
    )  # fmt: skip


def _scale_of(
    points: pd.DataFrame, families: list[str], at: Mapping[str, float] | None
) -> dict[str, float]:
    if at is not None:
        missing = [c for c in ("params", "tokens") if c not in at]
        if missing:
            raise InputError(f"`at` needs params and tokens; missing {', '.join(missing)}")
        return {"params": float(at["params"]), "tokens": float(at["tokens"])}
    have = points.groupby(["params", "tokens"])["family"].agg(lambda s: set(s) >= set(families))
    common = have[have]
    if common.empty:
        raise InputError(
            f"no params and tokens where every family ({', '.join(families)}) has a run"
        )
    n, d = max(common.index, key=lambda nd: nd[0] * nd[1])
    return {"params": float(n), "tokens": float(d)}


# -- two trainings of one spec ---------------------------------------------------------------
@dataclass
class Reproduction(Answer):
    """Two run tables of one spec compared point by point."""

    y: str
    tables: tuple[str, str]
    points: (
        pd.DataFrame
    )  # settings, run_id, n_a, n_b, value_a, value_b, rel_diff, noise_sd, noise, z, beyond
    z_limit: float
    model: NoiseModel | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.y}: {self.tables[1]} against {self.tables[0]}"

    @property
    def differing(self) -> pd.DataFrame:
        """The points whose difference is beyond noise."""
        return self.points[self.points["beyond"]]

    def to_frame(self) -> pd.DataFrame:
        """One row per point of both tables."""
        return self.points.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "y": self.y, "a": self.tables[0], "b": self.tables[1],
            "n_points": len(self.points), "n_differing": int(self.points["beyond"].sum()),
            "z_limit": self.z_limit,
            "median_abs_rel_diff": float(self.points["rel_diff"].abs().median()),
            "model": None if self.model is None else self.model.to_json(),
            "points": self.points.to_dict(orient="records"),
            "notes": list(self.notes), "warnings": list(self.warnings),
        }  # fmt: skip

    def summary(self) -> str:
        lines = [self.title, self.points.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        lines.append(
            f"{int(self.points['beyond'].sum())} of {len(self.points)} points differ beyond "
            f"noise (|z| > {self.z_limit:.2f}); median |difference| "
            f"{self.points['rel_diff'].abs().median():.2%}"
        )
        lines += [f"note: {n}" for n in self.notes] + [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def reproduce(
    a: Any,
    b: Any,
    *,
    y: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    replicates: Sequence[Any] = (),
    by: Sequence[str] | None = None,
    level: float = FAMILY_LEVEL,
) -> Reproduction:
    """Which points of run table ``b`` differ from those of ``a`` beyond noise.

    Runs of the two tables are paired by their settings (:mod:`scalinglab.fitting.noise`:
    replicates of one point share every setting but a seed), so tables with several seeds per
    point compare their means. A point's noise, in order: its replicates within ``a``, within
    ``b`` and in the ``replicates`` tables (measured, moderated toward the model); else the
    model of noise against compute fitted to those replicates and to the differences between
    the tables themselves, each difference a one-degree-of-freedom variance, fitted robustly:
    differences beyond the Bonferroni limit leave the fit in turn, so that the runs under test
    do not set their own noise. ``z`` = log(b/a) / its noise; ``beyond``: |z| above the
    two-sided Bonferroni limit at ``level`` over the points compared.

    Example:
        >>> r = reproduce("data/ladder/runs.csv",                                 # doctest: +SKIP
        ...               "../shared/data/ladder_rerun_h200/runs.csv", y="val_loss")
        >>> r.differing[["params", "tokens", "value_a", "value_b", "z"]]           # doctest: +SKIP
    """
    from scipy.stats import norm

    if not 0 < level < 1:
        raise InputError(f"must be between 0 and 1, got {level:g}", option="level")
    table_a = read_table(a)
    if family is not None or where is not None:
        table_a = table_a.filter(family=family, where=where)
    noise = replicate_noise(table_a, [b, *replicates], y=y, by=by)
    runs = noise.runs
    points = noise.points
    logs = np.log(runs["value"].to_numpy(dtype=float))
    runs = runs.assign(log=logs)
    stats = runs.groupby(["point", "table"])["log"].agg(["mean", "count", "var"]).reset_index()
    side = {t: stats[stats["table"] == t].set_index("point") for t in (0, 1)}
    within = stats.assign(ss=stats["var"].fillna(0) * (stats["count"] - 1), k=stats["count"] - 1)
    pooled = within.groupby("point")[["ss", "k"]].sum()
    paired = points.index[points.index.isin(side[1].index)]
    n_a = side[0].loc[paired, "count"].to_numpy(dtype=float)
    n_b = side[1].loc[paired, "count"].to_numpy(dtype=float)
    diff = side[1].loc[paired, "mean"].to_numpy() - side[0].loc[paired, "mean"].to_numpy()
    harmonic = 1 / n_a + 1 / n_b
    # replicates within each table (A, B, each replicate table): independent of A - B
    k_within = pooled.reindex(paired)["k"].fillna(0).to_numpy(dtype=float)
    ss = pooled.reindex(paired)["ss"].to_numpy(dtype=float)
    var_within = np.where(k_within > 0, ss / np.maximum(k_within, 1), np.nan)
    compute = points.loc[paired, "compute"].to_numpy(dtype=float)
    # the model: independent replicates (never suspects) and the differences (suspects)
    model, _ = fit_noise_model(
        np.concatenate([compute, compute]),
        np.concatenate([var_within, diff**2 / harmonic]),
        np.concatenate([k_within, np.ones(len(diff))]),
        suspects=np.concatenate([np.zeros(len(diff), bool), np.ones(len(diff), bool)]),
        compute_name=noise.model.compute if noise.model is not None else noise_compute(points)[1],
    )
    if model is None:
        raise InputError(f"{noise.y}: the two tables agree exactly: no noise to judge by")
    var = model.moderated(var_within, k_within, compute)
    z = diff / np.sqrt(var * harmonic)
    limit = float(norm.isf(level / 2 / max(len(paired), 1)))
    shown = points.loc[paired, noise.shown_columns].reset_index(drop=True)
    first_id = runs[runs["table"] == 0].groupby("point")["run_id"].first()
    out = shown.assign(
        run_id=first_id.reindex(paired).to_numpy(), n_a=n_a.astype(int), n_b=n_b.astype(int),
        value_a=np.exp(side[0].loc[paired, "mean"].to_numpy()),
        value_b=np.exp(side[1].loc[paired, "mean"].to_numpy()), rel_diff=np.expm1(diff),
        noise_sd=np.sqrt(var), noise=np.where(k_within > 0, "replicates", "model"), z=z,
        beyond=np.abs(z) > limit,
    )  # fmt: skip
    notes = list(noise.notes)
    only_a = len(points) - len(paired)
    if only_a:
        notes.append(f"{only_a} point(s) of {noise.tables[0]} have no run in {noise.tables[1]}")
    names = (source_name(a, table_a), noise.tables[1])
    return Reproduction(noise.y, names, out, limit, model, notes, list(noise.warnings))


# -- signal and noise of metrics -------------------------------------------------------------
@dataclass
class SignalNoise(Answer):
    """Signal, noise, SNR and decision accuracy of each metric across groups (recipes)."""

    group: str
    target: dict[str, float]
    tasks: (
        pd.DataFrame
    )  # metric, noise_source, noise, signal, snr, snr_target, decision_accuracy, n_scales
    scales: pd.DataFrame  # metric, params, tokens, n_groups, mean, signal, noise, snr, agreement
    correlation: float | None  # Spearman, SNR against decision accuracy, over the metrics
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    title = "signal and noise of each metric (Heineman et al. 2025)"

    def to_frame(self) -> pd.DataFrame:
        """One row per metric (:attr:`tasks`)."""
        return self.tasks.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group, "target": dict(self.target),
            "spearman_snr_decision_accuracy": self.correlation,
            "tasks": self.tasks.to_dict(orient="records"),
            "scales": self.scales.to_dict(orient="records"),
            "notes": list(self.notes), "warnings": list(self.warnings),
        }  # fmt: skip

    def summary(self) -> str:
        where = ", ".join(f"{k}={v:.4g}" for k, v in self.target.items())
        lines = [
            f"{self.title}; groups by {self.group!r}; decisions against {where}",
            self.tasks.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
        ]
        if self.correlation is not None:
            lines.append(
                f"Spearman correlation of SNR and decision accuracy: {self.correlation:.2f}"
            )
        lines += [f"note: {n}" for n in self.notes] + [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def select_metrics(available: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    """Metrics named or matched by glob patterns (``acc_*``), in the table's order.

    Example:
        >>> select_metrics(["acc_a", "acc_b", "loss_c"], ["acc_*"])
        ['acc_a', 'acc_b']
    """
    if not wanted:
        return list(available)
    out = []
    for pattern in wanted:
        hits = fnmatch.filter(available, pattern)
        if not hits:
            raise InputError(f"no metric matches {pattern!r}; metrics: {', '.join(available)}",
                             option="y")  # fmt: skip
        out += hits
    return list(dict.fromkeys(out))


def signal_to_noise(
    runs: Any,
    metrics: Sequence[str] | None = None,
    *,
    group: str = "family",
    where: str | None = None,
    last_n: int = 5,
) -> SignalNoise:
    """SNR and decision accuracy of each metric across the values of ``group`` (recipes).

    A *scale* is one (params, tokens); the *target* the scale of largest compute (6ND) where
    every group has a run. At each scale where two or more groups have runs (a group's value:
    the mean of its runs there):

    * signal = max_{j,k} |m_j - m_k| / mean(m) (Heineman et al. 2025, relative dispersion);
    * noise = SD / mean of one run's value, from the best source the table has: the SD of its
      last ``last_n`` checkpoints (the paper's checkpoint-to-checkpoint noise, RMS over the runs
      there); else the SD of its replicates; else from the table's own scatter: the second
      differences of each group's values along tokens at fixed params (which remove a trend
      linear in the index), SD = 1.4826 median|e| / sqrt(6) pooled over the metric
      (the DER_SNR estimator of Stoehr et al. 2008);
    * SNR = signal / noise; agreement = the share of pairs of groups ranked as at the target.

    Per metric: ``snr`` (median over the scales below the target), ``snr_target``, and
    ``decision_accuracy`` (mean agreement over the scales below the target). Across metrics:
    the Spearman correlation of SNR with decision accuracy (the paper's claim: high-SNR
    benchmarks make small-scale decisions that hold at scale).
    """
    from scipy.stats import spearmanr

    if not (isinstance(last_n, int) and last_n >= 2):
        raise InputError(f"must be a whole number >= 2, got {last_n!r}", option="last_n")
    table = read_table(runs)
    if where is not None:
        table = table.filter(where=where)
    if group not in table.df.columns:
        raise InputError(f"no column {group!r} to group by; columns: {', '.join(table.df.columns)}",
                         option="group")  # fmt: skip
    for c in ("params", "tokens"):
        if table.df[c].isna().all():
            raise InputError(f"signal and noise compare recipes at each (params, tokens): no {c}")
    chosen = select_metrics(table.metrics(), metrics)
    task_rows, scale_rows, notes = [], [], []
    target: dict[str, float] = {}
    for metric in chosen:
        final = final_results(table, metric)
        values = final.groupby([group, "params", "tokens"])["value"].mean()
        wide = values.unstack(group)
        if wide.shape[1] < 2:
            raise InputError(f"{metric}: one {group} only; signal compares two or more")
        compute = wide.index.get_level_values("params") * wide.index.get_level_values("tokens")
        full = wide.notna().all(axis=1).to_numpy()
        candidates = np.flatnonzero(full) if full.any() else np.arange(len(wide))
        t = candidates[np.argmax(np.asarray(compute)[candidates])]
        target = {"params": float(wide.index[t][0]), "tokens": float(wide.index[t][1])}
        noise, source = _metric_noise(table, final, metric, group, last_n, wide)
        for j, (scale, row) in enumerate(wide.iterrows()):
            m = row.dropna()
            if len(m) < 2:
                continue
            mean = float(m.mean())
            signal = float(m.max() - m.min()) / abs(mean) if mean else math.nan
            sd = noise.get(scale, noise.get(None, math.nan))
            rel_noise = sd / abs(mean) if mean else math.nan
            scale_rows.append({
                "metric": metric, "params": scale[0], "tokens": scale[1], "n_groups": len(m),
                "mean": mean, "signal": signal, "noise": rel_noise,
                "snr": signal / rel_noise if rel_noise > 0 else math.nan,
                "agreement": math.nan if j == t else _agreement(row, wide.iloc[t]),
                "target": j == t,
            })  # fmt: skip
        mine = pd.DataFrame([r for r in scale_rows if r["metric"] == metric])
        below = mine[~mine["target"]]
        at_target = mine[mine["target"]]
        task_rows.append({
            "metric": metric, "noise_source": source,
            "noise": float(below["noise"].median()) if len(below) else math.nan,
            "signal": float(below["signal"].median()) if len(below) else math.nan,
            "snr": float(below["snr"].median()) if len(below) else math.nan,
            "snr_target": float(at_target["snr"].iloc[0]) if len(at_target) else math.nan,
            "decision_accuracy": float(below["agreement"].mean()) if len(below) else math.nan,
            "n_scales": len(below),
        })  # fmt: skip
    tasks = pd.DataFrame(task_rows)
    ok = tasks[["snr", "decision_accuracy"]].notna().all(axis=1)
    correlation = None
    if ok.sum() >= 3 and tasks.loc[ok, "decision_accuracy"].nunique() > 1:
        correlation = float(spearmanr(tasks.loc[ok, "snr"], tasks.loc[ok, "decision_accuracy"])[0])
    sources = sorted(set(tasks["noise_source"]))
    notes.append(f"noise from {', '.join(sources)}")
    return SignalNoise(group, target, tasks, pd.DataFrame(scale_rows), correlation, notes)


def _agreement(small: pd.Series, target: pd.Series) -> float:
    """Heineman et al.'s decision accuracy: the share of pairs (j, k) with m_j > m_k at the
    small scale exactly when at the target (pairs present at both)."""
    both = small.notna() & target.notna()
    s, t = small[both].to_numpy(dtype=float), target[both].to_numpy(dtype=float)
    if len(s) < 2:
        return math.nan
    upper = np.triu(np.ones((len(s), len(s)), bool), k=1)
    agree = (s[:, None] > s[None, :]) == (t[:, None] > t[None, :])
    return float(agree[upper].mean())


def _metric_noise(
    table: Any, final: pd.DataFrame, metric: str, group: str, last_n: int, wide: pd.DataFrame
) -> tuple[dict[Any, float], str]:
    """SD of one run's value per scale ((params, tokens) -> SD; None -> pooled), and its source."""
    rows = table.df[(table.df["metric"] == metric) & table.df["step"].notna()]
    if len(rows):
        ordered = rows.sort_values("step", kind="stable")
        last = ordered.groupby(["family", "run_id"], sort=False).tail(last_n)
        per_run = last.groupby(["family", "run_id"]).agg(
            sd=("value", lambda v: float(np.std(v)) if len(v) >= last_n else math.nan),
            params=("params", "first"), tokens=("tokens", "first"),
        ).dropna()  # fmt: skip
        if len(per_run):
            by_scale = per_run.groupby(["params", "tokens"])["sd"].agg(
                lambda s: float(np.sqrt(np.mean(s**2)))
            )
            out: dict[Any, float] = {k: float(v) for k, v in by_scale.items()}
            out[None] = float(np.sqrt(np.mean(per_run["sd"] ** 2)))
            return out, f"last {last_n} checkpoints"
    counts = final.groupby([group, "params", "tokens"])["value"]
    var, n = counts.var(ddof=1), counts.size()
    if (n >= 2).any():
        k = (n - 1)[n >= 2]
        pooled = (var[n >= 2] * k).groupby(level=["params", "tokens"]).sum() / k.groupby(
            level=["params", "tokens"]
        ).sum()
        out = {key: float(v) ** 0.5 for key, v in pooled.items()}
        out[None] = float(((var[n >= 2] * k).sum() / k.sum()) ** 0.5)
        return out, "replicates"
    second = []
    for (_, _), line in final.groupby([group, "params"]):
        v = line.sort_values("tokens")["value"].to_numpy(dtype=float)
        if len(v) >= 3:
            second.append(v[:-2] - 2 * v[1:-1] + v[2:])
    if not second:
        return {None: math.nan}, "none (no checkpoints, replicates or token series)"
    e = np.concatenate(second)
    sd = 1.4826 * np.median(np.abs(e)) / math.sqrt(6)
    if not sd > 0:  # most second differences exactly 0 (a task at 0% or 100%): their RMS
        sd = float(np.sqrt(np.mean(e**2) / 6))
    return {None: float(sd)}, "trend (second differences)"
