"""Learning rate and batch size for a planned run, and the analysis of LR sweeps.

* :func:`analyze_lr_sweep` reads runs trained at several learning rates per model size and
  gives, per size, the optimal learning rate (vertex of a parabola in log-LR), the loss there,
  the curvature and the LR sensitivity of Wortsman et al. 2023; then the trend of the optimal
  learning rate with N (and D when it varies independently).
* :func:`lr_cliff` says which sizes and learning rates of a sweep sit near the divergence cliff
  (Wortsman et al. 2023), with the logit probes of the ladder when the runs have them.
* :func:`recommend_hyperparameters` answers "what lr and batch for this planned run": from a
  sweep's trend when there is one, else from Step Law (:mod:`scalinglab.laws.hyperparams`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import select
from ..laws.hyperparams import step_law

# -- LR sweeps ------------------------------------------------------------------------------

#: A trend extrapolated this many times beyond the largest swept size gets a warning.
FAR_BEYOND = 10.0


@dataclass
class LRSweep(Answer):
    """Per-size optimal learning rates and their trend with size."""

    per_size: (
        pd.DataFrame
    )  # params, tokens, n_lrs, lr_opt, loss_opt, curvature, sensitivity, method
    trend: dict[str, float] = field(
        default_factory=dict
    )  # log lr_opt = log_c - alpha log N (+ beta log D)
    warnings: list[str] = field(default_factory=list)
    lr_column: str = "lr"

    title = "LR sweep: optimal learning rate per model size"

    def to_frame(self) -> pd.DataFrame:
        """One row per model size (:attr:`per_size`)."""
        return self.per_size.copy()

    def lr_at(self, params: float, tokens: float | None = None) -> float:
        """The trend's optimal learning rate for a model of ``params`` trained on ``tokens``."""
        if not self.trend:
            raise InputError("the LR sweep has a single model size: no trend to extrapolate")
        log_lr = self.trend["log_c"] - self.trend["alpha"] * math.log(params)
        if self.trend.get("beta") is not None:
            if tokens is None:
                raise InputError("the LR trend depends on tokens too: give the planned tokens")
            log_lr += self.trend["beta"] * math.log(tokens)
        return math.exp(log_lr)

    def to_json(self) -> dict[str, Any]:
        return {
            "lr_column": self.lr_column,
            "per_size": self.per_size.to_dict(orient="records"),
            "trend": dict(self.trend),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, source: str | Path | dict[str, Any]) -> LRSweep:
        """Reload :meth:`to_json` output (a dict or a JSON file, e.g. ``lr-sweep --json`` output)."""
        if isinstance(source, dict):
            doc = source
        else:  # the guarded open: a regular UTF-8 file of bounded size, strict JSON
            from ..runs.files import load_json

            doc = load_json(source)
        if not isinstance(doc, dict) or "per_size" not in doc:
            raise InputError(
                "not an LR-sweep JSON: no 'per_size'",
                file=None if isinstance(source, dict) else str(source),
            )
        return cls(
            pd.DataFrame(doc["per_size"]),
            dict(doc.get("trend") or {}),
            list(doc.get("warnings", [])),
            doc.get("lr_column", "lr"),
        )


def _vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, str]:
    """Minimum of a parabola through the best point and its neighbours: (x_opt, y_opt,
    curvature, method); ``edge`` when the best point is the first or last of the sweep."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    best = int(np.argmin(y))
    # the best point and its nearest neighbour on each side: LR landscapes are asymmetric (a
    # cliff towards divergence), so a wider least-squares parabola can put its vertex far
    # below every measured loss
    lo = min(max(0, best - 1), max(0, len(x) - 3))
    xs, ys = x[lo : lo + 3], y[lo : lo + 3]
    c2 = math.nan
    if len(np.unique(xs)) >= 3:
        c2, c1, c0 = np.polyfit(xs, ys, 2)
        x_opt = -c1 / (2 * c2) if c2 > 0 else math.nan
        if 0 < best < len(x) - 1 and x[0] <= x_opt <= x[-1]:
            return float(x_opt), float(c0 + c1 * x_opt + c2 * x_opt**2), float(c2), "parabola"
    curvature = float(c2) if c2 > 0 else math.nan  # a minimum's curvature, or none
    method = "edge" if best in (0, len(x) - 1) else "best_observed"
    return float(x[best]), float(y[best]), curvature, method


def analyze_lr_sweep(
    runs: Any,
    *,
    y: str | None = None,
    lr_column: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    init_loss: float | None = None,
) -> LRSweep:
    """Optimal learning rate per model size, LR sensitivity and the trend with size.

    ``runs``: a RunTable, DataFrame or file with the final loss of each run and its learning
    rate (``lr_column``: ``peak_lr`` when the table has it, else ``lr``). Runs of one size are
    those with the same ``params`` and ``tokens``. Per size, the parabola in log(lr) through the
    best run and its neighbour on each side gives ``lr_opt`` (Li et al. 2025 find the
    landscape convex in log-lr). ``sensitivity`` is Wortsman et al. 2023's
    ``mean over swept lr of min(L(lr), L_init) - L*`` (diverged runs count as ``init_loss``,
    default the worst finite loss of that size).
    """

    table = select(runs, family=family, where=where)
    obs = table.observations(y, final_only=None)
    df = table.df
    col = lr_column or ("peak_lr" if "peak_lr" in df.columns else "lr")
    if col not in obs.columns:
        raise InputError(
            f"an LR sweep needs a learning-rate column {col!r}; columns: {', '.join(df.columns)}",
            file=table.source,
        )
    # A run's last observation is its result (final row, or last step).
    if "step" in obs.columns:
        obs = obs.sort_values("step", na_position="last", kind="stable")
    final = obs.groupby("run_id", sort=False).tail(1)
    lrs = pd.to_numeric(final[col], errors="coerce").to_numpy(dtype=float)
    if not np.all(lrs > 0):
        raise InputError(
            f"learning rates in column {col!r} must be positive numbers",
            file=table.source,
            column=col,
        )
    final = final.assign(_lr=lrs)
    rows, warnings = [], []
    for (n, d), group in final.groupby(["params", "tokens"], sort=True):
        x = np.log(group["_lr"].to_numpy(dtype=float))
        loss = group["value"].to_numpy(dtype=float)
        ok = np.isfinite(loss)
        if len(np.unique(x[ok])) < 3:
            warnings.append(
                f"size params={n:.4g}, tokens={d:.4g}: fewer than 3 learning rates, skipped"
            )
            continue
        x_opt, y_opt, curv, method = _vertex(x[ok], loss[ok])
        if method == "edge":
            warnings.append(
                f"size params={n:.4g}: the best learning rate is at the edge of the sweep "
                "(extend the sweep); using the best observed"
            )
        cap = init_loss if init_loss is not None else float(np.max(loss[ok]))
        capped = np.minimum(np.where(ok, loss, cap), cap)
        rows.append({
            "params": float(n), "tokens": float(d), "n_lrs": int(len(np.unique(x))),
            "lr_opt": math.exp(x_opt), "loss_opt": y_opt, "curvature": curv,
            "sensitivity": float(np.mean(capped - min(y_opt, float(np.min(loss[ok]))))),
            "lr_min": float(np.exp(x.min())), "lr_max": float(np.exp(x.max())), "method": method,
        })  # fmt: skip
    if not rows:
        raise InputError("no model size has runs at 3 or more learning rates", file=table.source)
    per_size = pd.DataFrame(rows)
    return LRSweep(per_size, _trend(per_size, warnings), warnings, col)


def _trend(per_size: pd.DataFrame, warnings: list[str]) -> dict[str, float]:
    """``log lr_opt = log_c - alpha log N (+ beta log D)`` by least squares in logs."""
    if len(per_size) < 2:
        return {}
    if per_size["params"].nunique() < 2:
        warnings.append("every size has the same params: no trend in N")
        return {}
    log_n = np.log(per_size["params"].to_numpy())
    log_d = np.log(per_size["tokens"].to_numpy())
    log_lr = np.log(per_size["lr_opt"].to_numpy())
    columns = [np.ones_like(log_n), -log_n]
    # D enters only when it varies, and independently of N: neither one token budget for every
    # size nor a fixed tokens-per-parameter ratio separates its exponent from N's.
    with_d = (
        len(per_size) >= 4
        and np.ptp(log_d) > 0.5
        and np.ptp(log_d - log_n) > 0.5
        and np.linalg.matrix_rank(np.stack([*columns, log_d], axis=1), tol=1e-6) == 3
    )
    if with_d:
        columns.append(log_d)
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, log_lr, rcond=None)
    resid = log_lr - design @ coef
    out = {
        "log_c": float(coef[0]),
        "c": float(math.exp(coef[0])),
        "alpha": float(coef[1]),
        "beta": float(coef[2]) if with_d else None,
        "rms_log_residual": float(np.sqrt(np.mean(resid**2))),
        "n_sizes": int(len(per_size)),
        "params_max": float(per_size["params"].max()),
    }
    return out


# -- the divergence cliff -------------------------------------------------------------------

#: Metrics of the logit probes (``ladder``'s ``probes`` evaluator, Wortsman et al. 2023).
LOGIT_METRICS = ("max_attn_logit", "max_output_logit")


@dataclass
class LRCliff(Answer):
    """Which sizes and learning rates sit near the divergence cliff (Wortsman et al. 2023).

    ``runs``: one row per run: ``params``, ``tokens``, ``lr``, ``lr_ratio`` (lr / the size's
    optimum), ``value``, ``excess`` (value / the size's best - 1), ``state`` (``ok``, ``near
    cliff``, ``past cliff``, ``diverged``), ``flags`` (loss spike, growing logits) and, when the
    table has them, each logit metric's last value, its peak and its growth (peak / first).
    ``sizes``: per size: ``lr_opt``, ``lr_cliff`` (the least swept lr past the cliff; NaN when
    the sweep never reaches it), ``headroom`` (lr_cliff / lr_opt). ``trend``: lr_cliff =
    c * N^-alpha over the sizes with a cliff.
    """

    runs: pd.DataFrame
    sizes: pd.DataFrame
    trend: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.05
    warnings: list[str] = field(default_factory=list)

    title = "LR sweep: the divergence cliff per model size"

    def to_frame(self) -> pd.DataFrame:
        """One row per run (:attr:`runs`)."""
        return self.runs.copy()

    @property
    def near(self) -> pd.DataFrame:
        """Runs near or past the cliff, or diverged."""
        return self.runs[self.runs["state"] != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "sizes": self.sizes.to_dict(orient="records"),
            "runs": self.runs.to_dict(orient="records"),
            "trend": dict(self.trend),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        fmt = lambda v: f"{v:.4g}"  # noqa: E731
        lines = [self.title, self.sizes.to_string(index=False, float_format=fmt),
                 self.runs.to_string(index=False, float_format=fmt)]  # fmt: skip
        if self.trend:
            lines.append(f"cliff: lr = {self.trend['c']:.4g} * N^-{self.trend['alpha']:.3f} "
                         f"({self.trend['n_sizes']} sizes)")  # fmt: skip
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def lr_cliff(
    runs: Any,
    *,
    y: str | None = None,
    lr_column: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    tolerance: float = 0.05,
    margin: float = 2.0,
    growth: float = 10.0,
) -> LRCliff:
    """Which sizes and learning rates sit near the divergence cliff of an LR sweep.

    Per size (params, tokens), the optimum ``lr_opt`` is the vertex of :func:`analyze_lr_sweep`;
    a run above it is *past the cliff* when its final loss exceeds the size's best by more than
    ``tolerance`` (or it diverged: a non-finite loss, a status other than ``done``), *near the
    cliff* when it is not but lies within a factor ``margin`` below the least lr past it.
    Wortsman et al. 2023 (*Small-scale proxies for large-scale Transformer training
    instabilities*) find this cliff at small scale and see it move to lower learning rates with
    size; the trend of ``lr_cliff`` with N says how fast here. A run is also flagged when its
    loss curve rises more than ``tolerance`` above its running minimum (a spike), and, when the
    table holds the logit probes (``max_attn_logit``, ``max_output_logit`` per step), when a
    logit grows more than ``growth`` times over training or peaks ``growth`` times above the
    size's run at the best lr: attention-logit growth and output-logit divergence precede the
    loss divergence.

    Example:
        >>> c = lr_cliff(["data/ladder/lr-sweep-50m/lr-x1.csv",              # doctest: +SKIP
        ...               "data/ladder/lr-sweep-50m/runs.csv"], y="val_loss")
        >>> c.sizes[["params", "lr_opt", "lr_cliff"]]                       # doctest: +SKIP
    """
    for name, value, low in (("tolerance", tolerance, 0.0), ("margin", margin, 1.0),
                             ("growth", growth, 1.0)):  # fmt: skip
        if not (isinstance(value, int | float) and math.isfinite(value) and value > low):
            raise InputError(f"must be a number above {low:g}, got {value!r}", option=name)
    sweep = analyze_lr_sweep(runs, y=y, lr_column=lr_column, family=family, where=where)
    table = select(runs, family=family, where=where)
    obs = table.observations(y, final_only=None)
    col = sweep.lr_column
    if "step" in obs.columns:
        obs = obs.sort_values("step", na_position="last", kind="stable")
    final = obs.groupby("run_id", sort=False).tail(1)
    status = table.df.groupby("run_id")["status"].last() if "status" in table.df else None
    logits = _logit_probes(table)
    metric = table.df["metric"] == obs.attrs["metric"]
    curves = _spikes(table.df[metric & table.df["step"].notna()], tolerance)
    rows, sizes = [], []
    for size in sweep.per_size.itertuples():
        mine = final[(final["params"] == size.params) & (final["tokens"] == size.tokens)]
        lr = pd.to_numeric(mine[col], errors="coerce").to_numpy(dtype=float)
        value = mine["value"].to_numpy(dtype=float)
        ids = mine["run_id"].astype(str).to_numpy()
        failed = ~np.isfinite(value)
        if status is not None:
            failed |= status.reindex(ids).fillna("done").to_numpy() != "done"
        best = float(np.nanmin(np.where(failed, np.nan, value)))
        excess = value / best - 1
        above = lr > size.lr_opt * (1 + 1e-9)
        past = above & (failed | (excess > tolerance))
        cliff = float(lr[past].min()) if past.any() else math.nan
        near = above & ~past & (lr * margin >= cliff)
        # the logits' reference: the best run of the size that has them (tables joined from
        # sweeps with and without probes have them on some runs only)
        probed = np.array([run in logits for run in ids])
        ranked = np.where(failed | ~probed, np.inf, value)
        at_best = ids[np.argmin(ranked)] if np.isfinite(ranked).any() else ""
        for i in np.argsort(lr):
            flags = [*curves.get(ids[i], []), *_logit_flags(logits, ids[i], at_best, growth)]
            state = ("diverged" if failed[i] else "past cliff" if past[i]
                     else "near cliff" if near[i] else "ok")  # fmt: skip
            rows.append({
                "params": size.params, "tokens": size.tokens, "lr": lr[i],
                "lr_ratio": lr[i] / size.lr_opt, "value": value[i], "excess": excess[i],
                "state": state, "flags": "; ".join(flags),
                **{k: v for k, v in logits.get(ids[i], {}).items()}, "run_id": ids[i],
            })  # fmt: skip
        sizes.append({"params": size.params, "tokens": size.tokens, "lr_opt": size.lr_opt,
                      "lr_cliff": cliff, "headroom": cliff / size.lr_opt,
                      "lr_max": float(np.max(lr))})  # fmt: skip
    per_size = pd.DataFrame(sizes)
    warnings = list(sweep.warnings)
    beyond = per_size[per_size["lr_cliff"].isna()]
    if len(beyond):
        warnings.append(
            "no cliff within the sweep for params "
            + ", ".join(f"{n:.4g}" for n in beyond["params"])
            + f" (every lr above the optimum within {tolerance:.0%} of the best): extend it"
        )
    with_cliff = per_size.dropna(subset=["lr_cliff"])
    trend = {}
    if with_cliff["params"].nunique() >= 2:
        slope, log_c = np.polyfit(np.log(with_cliff["params"]), np.log(with_cliff["lr_cliff"]), 1)
        trend = {"c": float(math.exp(log_c)), "alpha": float(-slope),
                 "n_sizes": int(len(with_cliff))}  # fmt: skip
    return LRCliff(pd.DataFrame(rows), per_size, trend, tolerance, warnings)


def _spikes(steps: pd.DataFrame, tolerance: float) -> dict[str, list[str]]:
    """Runs whose loss curve (per-step rows) rises more than ``tolerance`` above its running
    minimum."""
    found: dict[str, list[str]] = {}
    for run_id, curve in steps.sort_values("step", kind="stable").groupby("run_id", sort=False):
        v = curve["value"].to_numpy(dtype=float)
        rise = v / np.minimum.accumulate(np.where(np.isfinite(v), v, np.inf)) - 1
        if np.any(rise > tolerance) or not np.all(np.isfinite(v)):
            at = curve["step"].to_numpy()[
                int(np.nanargmax(np.where(np.isfinite(rise), rise, np.inf)))
            ]
            found[str(run_id)] = [f"loss spike at step {at:g}"]
    return found


def _logit_probes(table: Any) -> dict[str, dict[str, float]]:
    """Per run, each logit probe's last value, its peak over training and its growth (peak /
    first logged). The peak, not the last value, because a learning rate past the cliff makes
    the logits shoot up early and then partly settle: on the ladder's 50M-token LR sweep
    (``data/ladder/lr-probes``) the attention logits of the 4x and 8x runs peak at 2,000-40,000
    in the first half of training and end 2-10x lower."""
    out: dict[str, dict[str, float]] = {}
    for metric in LOGIT_METRICS:
        rows = table.df[table.df["metric"] == metric]
        if rows.empty:
            continue
        rows = rows.assign(_order=rows["step"].astype(float).fillna(np.inf))
        rows = rows.sort_values("_order", kind="stable")
        for run_id, series in rows.groupby("run_id", sort=False):
            v = np.abs(series["value"].to_numpy(dtype=float))
            run = out.setdefault(str(run_id), {})
            run[metric] = float(v[-1])
            # an overflowed probe (inf) or a missing one (NaN) must not print numpy warnings
            peak = float(np.max(v, initial=-math.inf, where=~np.isnan(v)))
            run[f"{metric}_peak"] = peak if peak >= 0 else math.nan
            with np.errstate(invalid="ignore", divide="ignore"):
                run[f"{metric}_growth"] = float(peak / v[0]) if v[0] > 0 else math.nan
    return out


def _logit_flags(
    logits: dict[str, dict[str, float]], run_id: str, at_best: str, growth: float
) -> list[str]:
    mine, best = logits.get(run_id, {}), logits.get(at_best, {})
    flags = []
    for metric in LOGIT_METRICS:
        if metric not in mine:
            continue
        what = "attention logits" if "attn" in metric else "output logits"
        if mine[f"{metric}_growth"] > growth:
            flags.append(f"{what} grew {mine[f'{metric}_growth']:.0f}x in training")
        peak, best_peak = mine[f"{metric}_peak"], best.get(f"{metric}_peak", 0.0)
        if best_peak > 0 and peak > growth * best_peak:
            flags.append(f"{what} peaked at {peak / best_peak:.0f}x those at the best lr")
    return flags


def recommend_hyperparameters(
    params: float,
    tokens: float,
    *,
    sweep: LRSweep | str | Path | dict[str, Any] | None = None,
    seq_len: int | None = None,
) -> dict[str, Any]:
    """Learning rate and batch size for a planned run of ``params`` trained on ``tokens``.

    The learning rate comes from an LR sweep's trend when one is given (``LRSweep`` or its
    JSON), else from Step Law; the batch size from Step Law (tokens; sequences too when
    ``seq_len`` is given). Warnings say when the trend is extrapolated far.

    Example:
        >>> rec = recommend_hyperparameters(1e9, 1e11, seq_len=2048)
        >>> rec["lr_source"], rec["batch_sequences"]
        ('step_law', 541)
    """
    law = step_law(params, tokens)
    out: dict[str, Any] = {
        "params": float(params),
        "tokens": float(tokens),
        "lr": law["lr"],
        "lr_source": "step_law",
        "step_law_lr": law["lr"],
        "batch_tokens": law["batch_tokens"],
        "batch_source": "step_law",
        "warnings": [],
    }
    if sweep is not None:
        sw = sweep if isinstance(sweep, LRSweep) else LRSweep.from_json(sweep)
        out["lr"] = sw.lr_at(params, tokens)
        out["lr_source"] = "lr_sweep"
        largest = sw.trend.get("params_max", math.nan)
        if largest > 0 and params > FAR_BEYOND * largest:
            out["warnings"].append(
                f"the LR trend is extrapolated {params / largest:.0f}x beyond the largest swept "
                f"model ({largest:.3g} params)"
            )
    if seq_len:
        out["seq_len"] = int(seq_len)
        out["batch_sequences"] = max(1, int(round(out["batch_tokens"] / seq_len)))
    return out
