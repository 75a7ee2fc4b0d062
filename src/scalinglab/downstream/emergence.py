"""Emergence and monotonicity: does a task follow its law, and from how many sizes on?

* **Breaks.** One step ahead: the task's link (:mod:`.predict`) is fitted on the runs of the
  n smallest model sizes and predicts the next size; the first size whose metric leaves its
  prediction interval is a *break*: above it, the ability arrived sooner than the law said
  (the breakthrough behaviour of BIG-bench tasks, Srivastava et al. 2022); below it, the
  task saturated or turned. Where the runs span enough compute, a broken power law (BNSL,
  Caballero et al. 2022: ``bnsl:flops``) is fitted to the shortfall for reference, and its
  break reported.
* **Monotonicity.** :func:`.trend.trend` over all runs: ``inverse scaling`` (McKenzie et al.
  2023), ``non-monotone``, ``flat`` or ``improves``.
* **Predictable from N sizes?** The same fits, each predicting the *largest* size: the task is
  predictable from N sizes when every fit on N or more sizes puts the largest model inside its
  interval and within ``tolerance`` (3 points by default), the question Hu et al. (2023) and
  Schaeffer et al. (2024) ask of a capability. A miss names the size that failed and by how
  much.

Example:
    >>> e = emergence("runs.csv", "acc_mc_next_line", loss="val_loss")   # doctest: +SKIP
    >>> e.verdict                                                       # doctest: +SKIP
    'predictable from 3 sizes (of 6): every fit on 3+ sizes ...'
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
from ..runs import RunTable
from .metrics import parse_metric
from .predict import fit_task_link, metric_pairs

#: Fewest model sizes a link is fitted on in the stepwise fits.
MIN_SIZES = 3
#: Runs over this many decades of compute get a BNSL fit for reference.
BNSL_MIN_POINTS = 7


@dataclass
class Emergence(Answer):
    """Stepwise fits of one task: breaks, monotonicity, and the predictability verdict."""

    metric: str
    via: str
    sizes: list[float]
    status: str
    trend: dict[str, Any]
    steps: pd.DataFrame
    break_at: float | None
    break_direction: str | None
    predictable_from: int | None
    verdict: str
    bnsl_break: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"emergence of {self.metric} via {self.via}"

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "via": self.via,
            "status": self.status,
            "sizes": list(self.sizes),
            "trend": dict(self.trend),
            "break_at": self.break_at,
            "break_direction": self.break_direction,
            "bnsl_break_flops": self.bnsl_break,
            "predictable_from": self.predictable_from,
            "verdict": self.verdict,
            "steps": self.steps.to_dict(orient="records"),
            "warnings": list(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        return self.steps.copy()

    def summary(self) -> str:
        lines = [self.title, f"  monotonicity  {self.trend.get('verdict')} (rank correlation "
                 f"{self.trend.get('spearman', math.nan):.2f})"]  # fmt: skip
        if self.break_at is not None:
            lines.append(f"  break         at size {self.break_at:.3g} ({self.break_direction})")
        if self.bnsl_break is not None:
            lines.append(f"  BNSL break    at {self.bnsl_break:.3g} FLOPs")
        lines.append(f"  verdict       {self.verdict}")
        if len(self.steps):
            lines.append(self.steps.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)


def emergence(
    runs: Runs,
    metric: str,
    *,
    via: str = "loss",
    loss: str | None = None,
    size: str = "params",
    chance: float | None = None,
    tolerance: float = 0.03,
    interval: float = 0.9,
    family: str | None = None,
    where: str | None = None,
    bootstrap: int = 100,
    seed: int = 0,
) -> Emergence:
    """Breaks, monotonicity and the "predictable from N sizes?" verdict of one task.

    Model sizes are the distinct values of ``size``; each stepwise fit is a
    :func:`.predict.fit_task_link` (through ``loss``, or ``via="flops"``) on the runs up to a
    size, and predicts runs at their actual loss (or compute), so that a miss is the task's
    departure from its link, not the loss law's error. ``tolerance`` is in the metric's units
    for fractions (0.03: three points of accuracy) and relative for log-probabilities (3%).
    """
    table = select(runs, family=family, where=where)
    m = parse_metric(metric)
    pairs = metric_pairs(table, metric, via=via, loss=loss)
    if size not in pairs:
        raise InputError(f"no column {size!r} to order model sizes by", option="size")
    sizes = sorted(float(s) for s in pairs[size].dropna().unique())
    whole = fit_task_link(table, metric, via=via, loss=loss, chance=chance,
                          bootstrap=bootstrap, seed=seed)  # fmt: skip
    base = dict(metric=metric, via=loss or via, sizes=sizes, trend=whole.trend)
    if whole.status in ("at chance", "inverse scaling"):
        return Emergence(**base, status=whole.status, steps=pd.DataFrame(), break_at=None,
                         break_direction=None, predictable_from=None,
                         verdict=f"not predictable: {whole.status}: {whole.reason}")  # fmt: skip
    if len(sizes) < MIN_SIZES + 1:
        return Emergence(**base, status="too few sizes", steps=pd.DataFrame(), break_at=None,
                         break_direction=None, predictable_from=None, verdict=(
                             f"cannot tell: {len(sizes)} sizes; a fit on {MIN_SIZES} sizes and "
                             "one more size to predict are needed"))  # fmt: skip
    steps = []
    for n in range(MIN_SIZES, len(sizes)):
        train = _up_to(table, pairs, size, sizes[n - 1])
        link = fit_task_link(train, metric, via=via, loss=loss, chance=chance,
                             bootstrap=bootstrap, seed=seed)  # fmt: skip
        for target, role in ((sizes[n], "next"), (sizes[-1], "largest")):
            if role == "largest" and n == len(sizes) - 1:
                continue  # the next size is the largest: one row says it
            held = pairs[pairs[size] == target]
            steps.append(_step(link, m, held, n, sizes[n - 1], target, role, tolerance, interval,
                               seed))  # fmt: skip
    frame = pd.DataFrame(steps)
    break_at, direction = _first_break(frame)
    predictable = _predictable_from(frame, len(sizes))
    verdict = _verdict(
        frame, predictable, len(sizes), f"{tolerance:g}" if m.bounded else f"{tolerance:.0%}"
    )
    return Emergence(**base, status="fitted", steps=frame, break_at=break_at,
                     break_direction=direction, predictable_from=predictable, verdict=verdict,
                     bnsl_break=_bnsl_break(table, m, pairs, seed),
                     warnings=list(whole.warnings))  # fmt: skip


def _up_to(table: RunTable, pairs: pd.DataFrame, size: str, largest: float) -> RunTable:
    keep = set(pairs.loc[pairs[size] <= largest, "run_id"].astype(str))
    return RunTable(table.df[table.df["run_id"].astype(str).isin(keep)], table.source, [])


def _step(link, m, held, n, fitted_to, target, role, tolerance, interval, seed) -> dict:
    at = {"loss": held["x"].to_numpy()} if link.via == "loss" else {"flops": held["x"].to_numpy()}
    pred = link.predict(at, interval=interval, seed=seed)
    actual = held["value"].to_numpy(dtype=float)
    p, lo, hi = (pred[c].to_numpy(dtype=float) for c in ("value", "pred_lo", "pred_hi"))
    fitted = link.fit is not None
    error = float(np.mean(p - actual)) if fitted else math.nan
    return {
        "sizes_fitted": n, "largest_fitted": fitted_to, "predicted_size": target, "role": role,
        "link": link.link, "status": link.status, "actual": float(np.mean(actual)),
        "predicted": float(np.mean(p)) if fitted else math.nan,
        "pred_lo": float(np.mean(lo)) if fitted else math.nan,
        "pred_hi": float(np.mean(hi)) if fitted else math.nan,
        "error": error,
        # several runs of one size (token budgets): inside when most of them are
        "inside": bool(fitted and np.mean((actual >= lo) & (actual <= hi)) >= 0.5),
        # fractions: within `tolerance` points; log-probabilities: within that share of the value
        "within_tolerance": bool(fitted and abs(error) <= tolerance * (
            1.0 if m.bounded else abs(float(np.mean(actual))))),
        "above": bool(fitted and np.mean(actual) > np.mean(hi)),
    }  # fmt: skip


def _first_break(frame: pd.DataFrame) -> tuple[float | None, str | None]:
    nxt = frame[frame["role"] == "next"]
    missed = nxt[~nxt["inside"] & (nxt["status"] == "fitted")]
    if missed.empty:
        return None, None
    row = missed.iloc[0]
    return float(row["predicted_size"]), (
        "above its law: arrived sooner than the smaller sizes predicted"
        if row["above"]
        else "below its law: saturated or turned"
    )


def _largest_rows(frame: pd.DataFrame, n_sizes: int) -> pd.DataFrame:
    last = frame["predicted_size"] == frame["predicted_size"].max()
    return frame[last].sort_values("sizes_fitted")


def _predictable_from(frame: pd.DataFrame, n_sizes: int) -> int | None:
    rows = _largest_rows(frame, n_sizes)
    ok = (rows["inside"] & rows["within_tolerance"]).to_numpy()
    if not ok.any() or not ok[-1]:
        return None
    first_bad = np.flatnonzero(~ok)
    start = int(first_bad[-1]) + 1 if first_bad.size else 0
    return int(rows["sizes_fitted"].iloc[start])


def _verdict(frame: pd.DataFrame, predictable: int | None, n_sizes: int, tol: str) -> str:
    rows = _largest_rows(frame, n_sizes)
    if predictable is not None:
        return (f"predictable from {predictable} sizes (of {n_sizes}): every fit on "
                f"{predictable}+ sizes puts the largest inside its interval and within "
                f"{tol} of it")  # fmt: skip
    last = rows.iloc[-1]
    why = "outside its interval" if not last["inside"] else f"off by more than {tol}"
    return (f"not predictable from the sizes given: the fit on {int(last['sizes_fitted'])} "
            f"sizes predicts the largest at {last['predicted']:.4g} (actual {last['actual']:.4g},"
            f" {why})")  # fmt: skip


def _bnsl_break(table: RunTable, m, pairs: pd.DataFrame, seed: int) -> float | None:
    """Where a one-break BNSL puts the break of the shortfall in compute, when it can be fitted."""
    if len(pairs) < BNSL_MIN_POINTS or pairs["flops"].isna().any():
        return None
    frame = pd.DataFrame({
        "family": "pairs", "run_id": [f"p{i}" for i in range(len(pairs))],
        "params": pairs["params"].to_numpy(dtype=float), "tokens": np.nan,
        "flops": pairs["flops"].to_numpy(dtype=float), "step": np.nan, "metric": "shortfall",
        "value": np.maximum(m.shortfall(pairs["value"]), 1e-4),
    })  # fmt: skip
    try:
        result = fit(RunTable(frame, table.source, []), "bnsl:flops", y="shortfall",
                     bootstrap=0, influence=False, seed=seed)  # fmt: skip
    except InputError:
        return None
    d1 = result.params.get("d1")
    flops = pairs["flops"].to_numpy(dtype=float)
    if not result.converged or d1 is None or not (flops.min() < d1 < flops.max()):
        return None  # a break outside the data is no break in it
    return float(d1)


__all__ = ["Emergence", "emergence"]
