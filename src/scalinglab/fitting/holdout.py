"""Holding runs out: which runs a backtest predicts, and how its predictions are scored.

Accuracy is judged by held-out extrapolation, not by in-sample fit: the held-out runs are the
largest by a chosen column (``largest:K`` — the K largest model sizes), or those matching an
expression (``flops > 1e21``). Backtests (:mod:`.backtest`) and the calibration of prediction
intervals (:mod:`.calibration`) both split runs here.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import InputError
from ..expr import Expression
from ..laws.base import Law
from ..runs import RunTable
from ..runs.budgets import budget_slices
from .data import observations_for
from .options import FitOptions
from .result import FitResult

_LARGEST = re.compile(r"^largest:(\d+)(?::(\w+))?$")


def parse_holdout(spec: str) -> tuple[int, str] | Expression:
    """``largest:K[:COLUMN]`` as ``(K, COLUMN)``, or a condition; what any table could hold
    out (the data decide the rest), so a command can refuse a bad spec before its work.

    Example:
        >>> parse_holdout("largest:2")
        (2, 'params')
    """
    m = _LARGEST.match(spec.strip())
    if m:
        if int(m.group(1)) < 1:
            raise InputError(f"{spec}: need K >= 1", option="holdout")
        return int(m.group(1)), m.group(2) or "params"
    expr = Expression(spec, what="holdout")
    if not expr.is_condition:
        raise InputError(
            f"{spec!r} is a number, not a condition: use largest:K or e.g. 'flops > 1e21'",
            option="holdout",
        )
    return expr


def holdout_mask(final: pd.DataFrame, spec: str) -> np.ndarray:
    """Which runs (rows of one-row-per-run ``final``) to hold out for ``spec``."""
    parsed = parse_holdout(spec)
    if isinstance(parsed, tuple):
        k, column = parsed
        if column not in final.columns:
            raise InputError(f"{spec}: no column {column!r} to rank runs by", option="holdout")
        sizes = np.unique(final[column].to_numpy(dtype=float))
        if k < 1 or k >= len(sizes):
            raise InputError(
                f"{spec}: need 1 <= K < {len(sizes)} (the number of distinct {column} values)",
                option="holdout",
            )
        return final[column].to_numpy(dtype=float) >= sizes[-k]
    expr = parsed
    unknown = sorted(expr.names - set(final.columns))
    if unknown:
        raise InputError(
            f"{spec!r} refers to unknown column(s) {', '.join(unknown)}", option="holdout"
        )
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


#: Nested holdouts cut this many levels deep along each axis (sizes, compute budgets).
NESTED_LEVELS = 2
#: ... and leave at least this many distinct sizes (or budgets) to fit.
MIN_LEVELS_LEFT = 3
#: Fewer nested holdouts than this are too little to learn from: none are made.
MIN_NESTED_HOLDOUTS = 2
#: ... and so are runs of fewer model sizes (or values of a one-variable law's variable).
MIN_SIZES = 5


def nested_holdouts(final: pd.DataFrame, law: Law) -> list[str]:
    """Holdouts that extrapolate inside the user's own runs, as a prediction past them would.

    The 1 and 2 largest model sizes, and the runs of the 1 and 2 largest compute budgets
    (runs within 0.05 decades of compute form a budget, as IsoFLOP slices do), each where at
    least three sizes (budgets) stay to fit; for a law of one variable, its 1 and 2 largest
    values. Cutting along two axes measures both ways a prediction leaves the data. Runs of
    fewer than five sizes, or fewer than two such holdouts, are too little to learn from:
    then there are none.

    Example:
        >>> final = pd.DataFrame({"params": [1, 2, 3, 4, 5.0], "tokens": [10.0] * 5,
        ...                       "flops": [60, 120, 180, 240, 300.0]})
        >>> from scalinglab.laws import get_law
        >>> nested_holdouts(final, get_law("chinchilla"))
        ['largest:1', 'largest:2', 'flops >= 300.0', 'flops >= 240.0']
    """
    specs: list[str] = []
    size = "params" if "params" in law.variables else law.variables[0]
    if size not in final or final[size].nunique() < MIN_SIZES:
        return specs
    if size in final:
        levels = np.unique(final[size].to_numpy(dtype=float))
        column = "" if size == "params" else f":{size}"
        specs += [f"largest:{k}{column}" for k in range(1, NESTED_LEVELS + 1)
                  if len(levels) - k >= MIN_LEVELS_LEFT]  # fmt: skip
    if "flops" in final and size != "flops" and final["flops"].notna().all():
        flops = final["flops"].to_numpy(dtype=float)
        budgets = budget_slices(flops)
        levels = np.unique(budgets)
        for k in range(1, NESTED_LEVELS + 1):
            if len(levels) - k >= MIN_LEVELS_LEFT:
                specs.append(f"flops >= {float(flops[budgets >= levels[-k]].min())!r}")
    return specs if len(specs) >= MIN_NESTED_HOLDOUTS else []


def split(
    table: RunTable, law: Law, options: FitOptions, spec: str
) -> tuple[RunTable, pd.DataFrame]:
    """The runs to fit (every row of the runs kept) and the final observations held out."""
    final = final_observations(table, law, options.y, options.skip_fraction)
    held = holdout_mask(final, spec)
    if held.all():
        raise InputError(f"{spec!r} holds out every run: nothing left to fit", option="holdout")
    if not held.any():
        raise InputError(f"{spec!r} holds out no run", option="holdout")
    held_ids = set(final.loc[held, "run_id"].astype(str))
    kept = ~table.df["run_id"].astype(str).isin(held_ids)
    note = f"backtest held out {len(held_ids)} run(s) ({spec})"
    return RunTable(table.df[kept], table.source, [*table.notes, note]), final[held]


def score(
    fit: FitResult, held_out: pd.DataFrame, interval: float
) -> tuple[pd.DataFrame, list[str]]:
    """Predictions of the held-out runs against what they measured, and the predictions' warnings.

    Columns: run_id, the law's variables, actual, predicted, lo, hi (the prediction interval),
    rel_error (predicted / actual - 1), inside.
    """
    pred = fit.predict(held_out[list(fit.law.variables)], interval=interval)
    points = pd.DataFrame({"run_id": held_out["run_id"].astype(str).to_numpy()})
    for v in fit.law.variables:
        points[v] = held_out[v].to_numpy(dtype=float)
    points["actual"] = held_out["value"].to_numpy(dtype=float)
    points["predicted"] = pred["value"].to_numpy()
    points["lo"] = pred["pred_lo"].to_numpy()
    points["hi"] = pred["pred_hi"].to_numpy()
    points["rel_error"] = points["predicted"] / points["actual"] - 1
    points["inside"] = (points["actual"] >= points["lo"]) & (points["actual"] <= points["hi"])
    return points, pred.attrs.get("warnings", [])
