"""Backtests: fit on the small runs, predict the large ones that were held out.

Accuracy is judged by held-out extrapolation, not by in-sample fit: the held-out runs are the
largest by a chosen column (``largest:K`` — the K largest model sizes), or those matching an
expression (``flops > 1e21``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..expr import Expression
from ..laws.base import Law
from ..laws.zoo import get_law
from ..runs import RunTable
from .api import fit, observations_for, select
from .result import FitResult

_LARGEST = re.compile(r"^largest:(\d+)(?::(\w+))?$")


@dataclass
class BacktestResult:
    """Per-point predictions for held-out runs and their summary."""

    fit: FitResult
    points: pd.DataFrame  # run_id, variables, actual, predicted, lo, hi, rel_error, inside
    holdout: str
    interval: float
    warnings: list[str] = field(default_factory=list)

    @property
    def mare(self) -> float:
        """Mean absolute relative error of the held-out predictions."""
        return float(np.mean(np.abs(self.points["rel_error"])))

    @property
    def coverage(self) -> float:
        """Share of held-out values inside their prediction interval."""
        return float(np.mean(self.points["inside"]))

    @property
    def verdict(self) -> str:
        grade = "good" if self.mare < 0.02 else "fair" if self.mare < 0.05 else "poor"
        return (
            f"{grade}: mean |relative error| {self.mare:.2%} on {len(self.points)} held-out point(s); "
            f"{self.coverage:.0%} inside their {self.interval:.0%} prediction interval"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "law": self.fit.law.name,
            "holdout": self.holdout,
            "n_train": self.fit.n_points,
            "n_holdout": len(self.points),
            "mean_abs_rel_error": self.mare,
            "coverage": self.coverage,
            "interval": self.interval,
            "verdict": self.verdict,
            "points": self.points.to_dict(orient="records"),
            "fit": {k: v for k, v in self.fit.to_json().items() if k != "bootstrap"},
            "warnings": list(self.warnings),
        }


def holdout_mask(final: pd.DataFrame, spec: str) -> np.ndarray:
    """Which runs (rows of one-row-per-run ``final``) to hold out for ``spec``."""
    m = _LARGEST.match(spec.strip())
    if m:
        k, column = int(m.group(1)), m.group(2) or "params"
        if column not in final.columns:
            raise InputError(f"--holdout {spec}: no column {column!r} to rank runs by")
        sizes = np.unique(final[column].to_numpy(dtype=float))
        if k < 1 or k >= len(sizes):
            raise InputError(
                f"--holdout {spec}: need 1 <= K < {len(sizes)} (the number of distinct {column} values)"
            )
        return final[column].to_numpy(dtype=float) >= sizes[-k]
    expr = Expression(spec, what="holdout")
    unknown = sorted(expr.names - set(final.columns))
    if unknown:
        raise InputError(f"--holdout {spec!r} refers to unknown column(s) {', '.join(unknown)}")
    return np.broadcast_to(
        np.asarray(expr({c: final[c].to_numpy() for c in expr.names}), bool), len(final)
    ).copy()


def final_observations(
    table: RunTable, law: Law, y: str | None, skip_fraction: float = 0.1
) -> pd.DataFrame:
    """One row per run: its last observation (the final value, or the last step)."""
    obs = observations_for(table, law, y, skip_fraction=skip_fraction)
    order = obs.sort_values("step", na_position="last", kind="stable") if "step" in obs else obs
    return order.groupby("run_id", sort=False).tail(1).reset_index(drop=True)


def backtest(
    runs: RunTable | pd.DataFrame | str,
    law: str | Law = "chinchilla",
    *,
    holdout: str = "largest:1",
    y: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    interval: float = 0.9,
    **fit_options: Any,
) -> BacktestResult:
    """Fit on all runs but the held-out ones, predict those, report the errors.

    Example:
        >>> bt = backtest("../shared/data/chinchilla_epoch.csv", "chinchilla",   # doctest: +SKIP
        ...               holdout="largest:2", where="value < 3.42")
        >>> bt.verdict                                                            # doctest: +SKIP
    """
    table = select(runs, family=family, where=where)
    law = get_law(law, columns=table.variables())
    final = final_observations(table, law, y, fit_options.get("skip_fraction", 0.1))
    held = holdout_mask(final, holdout)
    if held.all():
        raise InputError(f"--holdout {holdout!r} holds out every run: nothing left to fit")
    if not held.any():
        raise InputError(f"--holdout {holdout!r} holds out no run")
    held_ids = set(final.loc[held, "run_id"].astype(str))
    kept = ~table.df["run_id"].astype(str).isin(held_ids)
    note = f"backtest held out {len(held_ids)} run(s) ({holdout})"
    train = RunTable(table.df[kept], table.source, [*table.notes, note])
    result = fit(train, law, y=y, **fit_options)
    test = final[held]
    pred = result.predict(test[list(result.law.variables)], interval=interval)
    points = pd.DataFrame({"run_id": test["run_id"].astype(str).to_numpy()})
    for v in result.law.variables:
        points[v] = test[v].to_numpy(dtype=float)
    points["actual"] = test["value"].to_numpy(dtype=float)
    points["predicted"] = pred["value"].to_numpy()
    points["lo"] = pred["pred_lo"].to_numpy()
    points["hi"] = pred["pred_hi"].to_numpy()
    points["rel_error"] = points["predicted"] / points["actual"] - 1
    points["inside"] = (points["actual"] >= points["lo"]) & (points["actual"] <= points["hi"])
    return BacktestResult(result, points, holdout, interval, pred.attrs.get("warnings", []))
