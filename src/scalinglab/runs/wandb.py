"""Weights & Biases CSV exports, mapped onto the run-table schema.

Accepted shapes (both as exported from the W&B web UI):

* the **runs table** export: one row per run, ``Name``, ``State``, ``Created``... then config
  and summary-metric columns (final values; no step);
* a **history** export: ``Name`` plus ``Step`` (or ``_step``) and one column per metric, with
  optional ``<metric>__MIN`` / ``<metric>__MAX`` band columns (dropped).

``Name`` becomes ``run_id``, ``Step``/``_step`` becomes ``step``, ``Group`` becomes ``family``
(when there is no ``family`` column). Model size and data come from config columns named
``params``/``n_params``/``num_params``/``model/params`` and ``tokens``/``n_tokens``/
``num_tokens`` (or ``flops``). Metric columns are those named by ``y``, else those with
``__MIN``/``__MAX`` bands, else those whose name contains ``loss``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..errors import InputError
from .schema import ALIASES, CANONICAL, SIZES, RawTable

# Run metadata W&B adds to every export; none of it is a variable of a scaling law.
META_COLUMNS = frozenset(
    {"State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep", "ID", "Hostname",
     "Job Type", "Commit", "GitHub", "GPU Type", "GPU Count", "_runtime", "_timestamp",
     "_wandb"}
)  # fmt: skip
_BANDS = ("__MIN", "__MAX")
_SIGNS = frozenset({"Step", "_step", "State", "Runtime", "Created"})


def looks_like_wandb(frame: pd.DataFrame) -> bool:
    """A CSV whose columns are W&B's: ``Name`` and ``Step``/``State``..., or ``__MIN`` bands."""
    cols = {str(c).strip() for c in frame.columns}
    if any(c.endswith(_BANDS) for c in cols):
        return True
    return "Name" in cols and "run_id" not in cols and bool(cols & _SIGNS)


def _size_names(size: str) -> list[str]:
    return [size, *(alias for alias, target in ALIASES.items() if target == size)]


def to_raw(
    raw: RawTable, y: str | list[str] | None, overrides: Mapping[str, object]
) -> tuple[RawTable, list[str], list[str]]:
    """Rename W&B columns to the schema; return ``(raw, metric columns, notes)``."""
    frame = raw.frame.rename(columns=lambda c: str(c).strip())
    cols = list(frame.columns)
    found = ", ".join(cols)
    if "Name" not in cols and "run_id" not in cols:
        if any(" - " in c for c in cols):
            raise InputError(
                "this W&B export is a chart export (one column per run); export the runs "
                "table or the run history instead, which have a 'Name' column",
                file=raw.file,
            )
        raise InputError(
            f"W&B export without a 'Name' column; columns found: {found}", file=raw.file
        )
    banded = [c[: -len(_BANDS[0])] for c in cols if c.endswith(_BANDS[0])]
    drop = [c for c in cols if c.endswith(_BANDS) or c in META_COLUMNS or c.startswith("_wandb")]
    notes = [f"W&B export: dropped columns {', '.join(drop)}"] if drop else []
    frame = frame.drop(columns=drop)
    rename = {"Name": "run_id"} if "Name" in frame.columns else {}
    step_col = next((c for c in ("Step", "_step") if c in frame.columns), None)
    if step_col:
        rename[step_col] = "step"
        frame = frame.drop(columns=[c for c in ("Step", "_step") if c != step_col and c in frame])
    if "Group" in frame.columns and "family" not in frame.columns:
        rename["Group"] = "family"
    frame = frame.rename(columns=rename)
    if rename:
        notes.append("W&B export: read " + ", ".join(f"{a!r} as {b!r}" for a, b in rename.items()))

    lower = {c.lower() for c in frame.columns}
    have = {s for s in SIZES if overrides.get(s) is not None or lower & set(_size_names(s))}
    if len(have) < 2:
        size = "params" if "params" not in have else "tokens"
        also = ", ".join(_size_names(size)[1:])
        other = " (or 'flops')" if size == "tokens" else ""
        raise InputError(
            f"W&B export has no {size!r} config column: add a column {size!r}{other} "
            f"(also read: {also}); columns found: {', '.join(frame.columns)}",
            file=raw.file,
        )
    if y is not None:
        metrics = [y] if isinstance(y, str) else list(y)
    else:
        taken = set(CANONICAL) | {n for s in SIZES for n in _size_names(s)}
        metrics = [c for c in banded if c in frame.columns]
        if not metrics:
            metrics = [c for c in frame.columns if "loss" in c.lower() and c.lower() not in taken]
        if not metrics:
            raise InputError(
                "W&B export: cannot tell which columns are metrics; pass y=COLUMN; "
                f"columns found: {', '.join(frame.columns)}",
                file=raw.file,
            )
        notes.append(f"W&B export: metrics {', '.join(metrics)}")
    return RawTable(frame, raw.rows, raw.file, raw.family), metrics, notes
