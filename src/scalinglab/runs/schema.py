"""The canonical run-table schema and the one function that brings any input to it.

Every reader (CSV, JSONL, Parquet, W&B, TensorBoard, DataFrame) produces a :class:`RawTable`:
the cells as read plus the row number of each row in its source. :func:`to_canonical` then
checks the columns, melts wide tables, reads human sizes, derives the missing one of
params/tokens/flops and fills defaults, raising :class:`~scalinglab.errors.InputError` with the
file, row and column of the first problem, and returning notes that say what it did.

Canonical columns (extra columns follow, numeric where every cell is a number)::

    family, run_id, params, tokens, flops, step, metric, value
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from .sizes import (
    as_text,
    cell_text,
    empty_mask,
    format_size,
    is_empty_cell,
    parse_column,
    parse_size,
)

CANONICAL = ("family", "run_id", "params", "tokens", "flops", "step", "metric", "value")
SIZES = ("params", "tokens", "flops")

#: Other spellings accepted for canonical columns (matched case-insensitively).
ALIASES: dict[str, str] = {
    "n_params": "params",
    "num_params": "params",
    "model/params": "params",
    "n_tokens": "tokens",
    "num_tokens": "tokens",
}


@dataclass
class RawTable:
    """Cells as read from one source, before validation.

    ``rows[i]`` is how the user finds row ``i`` in the source: the line number in a CSV or
    JSONL file, the 1-based position in a Parquet file or DataFrame.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    file: str
    family: str


def rename_columns(raw: RawTable, notes: list[str]) -> pd.DataFrame:
    """Strip column names and map ``Params``, ``n_params``... to the canonical names."""
    frame = raw.frame.rename(columns=lambda c: str(c).strip())
    mapping: dict[str, str] = {}
    for col in frame.columns:
        low = col.lower()
        target = low if low in CANONICAL else ALIASES.get(low)
        if target and target != col and target not in frame.columns:
            mapping[col] = target
    targets = list(mapping.values())
    for target in set(targets):
        if targets.count(target) > 1:
            sources = sorted(c for c, t in mapping.items() if t == target)
            raise InputError(
                f"columns {', '.join(map(repr, sources))} all mean {target!r}; keep one",
                file=raw.file,
            )
    if mapping:
        said = ", ".join(f"{c!r} as {t!r}" for c, t in mapping.items())
        notes.append(f"read column {said}")
    return frame.rename(columns=mapping)


def to_canonical(
    raw: RawTable,
    *,
    y: str | list[str] | None = None,
    overrides: Mapping[str, float | str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Validate one source; return ``(frame, rows, notes)`` in canonical form."""
    notes: list[str] = []
    file = raw.file
    frame = rename_columns(raw, notes)
    rows = np.asarray(raw.rows, dtype=np.int64)
    if len(frame) == 0:
        raise InputError("no rows", file=file)
    frame, rows = _apply_overrides(frame, rows, overrides or {}, file, notes)
    _check_columns(frame, file, y)
    frame, rows = _to_long(frame, rows, y, file, notes)
    if len(frame) == 0:
        raise InputError("no rows", file=file)

    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    sizes = {c: _numbers(frame, c, file, rows) for c in SIZES}
    _derive_sizes(frame, sizes, file, rows, notes)
    value = parse_column(frame["value"], column="value", file=file, rows=rows)
    _require(frame, value, "value", file, rows)
    step = (
        parse_column(frame["step"], column="step", file=file, rows=rows)
        if "step" in frame
        else np.full(len(frame), np.nan)
    )
    _check_finite(frame, step, "step", file, rows, allow_nan=True)

    out["family"] = _text(frame, "family", raw.family, file, rows, notes)
    metric = _text(frame, "metric", None, file, rows, notes)
    out["run_id"] = _run_ids(frame, out["family"].to_numpy(), sizes, raw.file, notes)
    for c in SIZES:
        out[c] = sizes[c]
    out["step"] = step
    out["metric"] = metric
    out["value"] = value
    for col in frame.columns:
        if col not in CANONICAL:
            out[col] = _extra(frame[col])
    return out, rows, notes


def _apply_overrides(frame, rows, overrides, file, notes):
    given_sizes = {k: v for k, v in overrides.items() if v is not None}
    if given_sizes:
        frame = frame.copy()
    for name, given in given_sizes.items():
        if name not in SIZES:
            raise InputError(f"unknown override {name!r} (known: {', '.join(SIZES)})", file=file)
        try:
            number = parse_size(given) if isinstance(given, str) else float(given)
        except ValueError as exc:
            raise InputError(f"{name}={given!r}: {exc}", file=file) from None
        if not number > 0 or not np.isfinite(number):
            raise InputError(f"{name}={given!r}: must be positive", file=file)
        frame[name] = number
        notes.append(f"{name} set to {number:g} for all {len(frame)} rows (given as an argument)")
    return frame, rows


def _check_columns(frame: pd.DataFrame, file: str, y) -> None:
    found = ", ".join(frame.columns)
    if not any(c in frame.columns for c in SIZES):
        raise InputError(
            f"missing size columns: need at least one of params, tokens, flops; columns found: {found}",
            file=file,
        )
    if y is None:
        for col in ("value", "metric"):
            if col not in frame.columns:
                raise InputError(
                    f"missing column {col!r} (a wide table with one column per metric needs "
                    f"y=COLUMN); columns found: {found}",
                    file=file,
                )


def _to_long(frame, rows, y, file, notes):
    """Melt a wide table (``y`` names columns) or select metrics of a long one."""
    if y is None:
        return frame, rows
    ys = [y] if isinstance(y, str) else list(y)
    if not ys:
        raise InputError("y is empty", file=file)
    long_form = "metric" in frame.columns and "value" in frame.columns
    if long_form:
        metric = frame["metric"].astype(str).str.strip()
        known = sorted(set(metric))
        for name in ys:
            if name not in known:
                raise InputError(f"unknown metric {name!r}; metrics: {', '.join(known)}", file=file)
        keep = metric.isin(ys).to_numpy()
        if not keep.all():
            notes.append(f"y={ys!r} kept {keep.sum()} of {len(keep)} rows")
        return frame[keep].reset_index(drop=True), rows[keep]
    for name in ys:
        if name not in frame.columns:
            found = ", ".join(frame.columns)
            raise InputError(
                f"unknown column {name!r} given as y; columns found: {found}", file=file
            )
    for col in ("value", "metric"):
        if col in frame.columns:
            raise InputError(
                f"a wide table (y={ys!r}) cannot also have a {col!r} column; rename it", file=file
            )
    ids = frame.drop(columns=ys)
    n, k = len(frame), len(ys)
    # Row-major melt (each source row, then each metric) keeps row numbers in order.
    long = ids.loc[ids.index.repeat(k)].reset_index(drop=True)
    long["metric"] = np.tile(np.array(ys, dtype=object), n)
    long["value"] = frame[ys].to_numpy(dtype=object).reshape(-1)
    long_rows = np.repeat(rows, k)
    empty = empty_mask(long["value"])
    if empty.any():
        notes.append(f"skipped {empty.sum()} empty cells of {', '.join(map(repr, ys))}")
        long, long_rows = long[~empty].reset_index(drop=True), long_rows[~empty]
    return long, long_rows


def _numbers(frame, col, file, rows) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return parse_column(frame[col], column=col, file=file, rows=rows)


def _derive_sizes(frame, sizes, file, rows, notes) -> None:
    """Fill the one missing size of each row from the two others (flops = 6*params*tokens).

    6ND is the standard training-FLOP estimate for dense transformers (Kaplan et al. 2020,
    eq. 2.1); the rows derived are counted in the notes. A row with one size only (an L(N),
    L(D) or L(C) table) keeps the other two empty: laws of that size alone can be fitted.
    """
    for c in SIZES:
        _check_finite(frame, sizes[c], c, file, rows, allow_nan=True)
        bad = np.flatnonzero(sizes[c] <= 0)
        if bad.size:
            i = bad[0]
            raise InputError(
                f"must be positive: {cell_text(frame[c], i)!r}",
                file=file,
                row=int(rows[i]),
                column=c,
            )
    missing = np.column_stack([np.isnan(sizes[c]) for c in SIZES])
    none = np.flatnonzero(missing.all(axis=1))
    if none.size:
        i = none[0]
        col = next(c for c in SIZES if c in frame.columns)
        raise InputError(
            "empty value (need at least one of params, tokens, flops)",
            file=file,
            row=int(rows[i]),
            column=col,
        )
    derivable = missing.sum(axis=1) == 1
    n, d, c = sizes["params"], sizes["tokens"], sizes["flops"]
    formulas = {
        "flops": ("6*params*tokens", lambda: 6.0 * n * d),
        "tokens": ("flops/(6*params)", lambda: c / (6.0 * n)),
        "params": ("flops/(6*tokens)", lambda: c / (6.0 * d)),
    }
    for col, (formula, compute) in formulas.items():
        where = np.isnan(sizes[col]) & derivable
        if where.any():
            sizes[col][where] = compute()[where]
            notes.append(f"{col} derived as {formula} for {where.sum()} rows")


def _check_finite(frame, values, col, file, rows, *, allow_nan: bool) -> None:
    bad = np.isinf(values) if allow_nan else ~np.isfinite(values)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise InputError(
            f"not finite: {cell_text(frame[col], i)!r}", file=file, row=int(rows[i]), column=col
        )


def _require(frame, values, col, file, rows) -> None:
    empty = np.isnan(values)
    if empty.any():
        i = np.flatnonzero(empty)[0]
        if is_empty_cell(frame[col].iloc[i]) or pd.isna(frame[col].iloc[i]):
            raise InputError("empty value", file=file, row=int(rows[i]), column=col)
    _check_finite(frame, values, col, file, rows, allow_nan=False)


def _text(frame, col, default, file, rows, notes) -> np.ndarray:
    """A text column; empty cells take ``default`` (an error when there is none)."""
    n = len(frame)
    if col not in frame.columns:
        if default is None:
            raise InputError(f"missing column {col!r}", file=file)
        notes.append(f"{col} set to {default!r} (the file name) for all {n} rows")
        return np.full(n, default, dtype=object)
    empty = empty_mask(frame[col])
    text = as_text(frame[col])
    if empty.any():
        if default is None:
            i = np.flatnonzero(empty)[0]
            raise InputError("empty value", file=file, row=int(rows[i]), column=col)
        text[empty] = default
        notes.append(f"{col} set to {default!r} (the file name) for {empty.sum()} rows where empty")
    return text


def _run_ids(frame, family, sizes, file, notes) -> np.ndarray:
    """Given run ids, or stable ones built from family, params and tokens."""
    if "run_id" in frame.columns:
        empty = empty_mask(frame["run_id"])
        ids = as_text(frame["run_id"])
        if not empty.any():
            return ids
        notes.append(
            f"run_id built from family, params and tokens for {empty.sum()} rows where empty"
        )
    else:
        empty = np.ones(len(frame), dtype=bool)
        ids = np.empty(len(frame), dtype=object)
        notes.append(f"run_id built from family, params and tokens for all {len(frame)} rows")
    built: dict[tuple, str] = {}  # one id per (family, params, tokens): runs have many rows
    for i in np.flatnonzero(empty):
        key = (family[i], sizes["params"][i], sizes["tokens"][i], sizes["flops"][i])
        if key not in built:
            sized = zip("ND", key[1:3], strict=True)
            parts = [f"{tag}{format_size(v)}" for tag, v in sized if np.isfinite(v)]
            built[key] = "-".join([key[0], *(parts or [f"C{key[3]:.3g}"])])
        ids[i] = built[key]
    return ids


def _extra(values: pd.Series) -> pd.Series:
    """Keep an extra column; numeric (sizes included) when every non-empty cell is a number."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(np.float64).reset_index(drop=True)
    cells = values.to_numpy(dtype=object)
    kept = pd.Series(np.where(empty_mask(values), None, cells), dtype=object)
    if any(
        isinstance(c, bool) or not isinstance(c, str | int | float | np.number)
        for c in kept.dropna()
    ):
        return pd.Series(kept.tolist())  # let pandas pick the dtype (str for text)
    numbers = pd.to_numeric(kept, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan, copy=True
    )
    for i in np.flatnonzero(np.isnan(numbers) & kept.notna().to_numpy()):
        try:
            numbers[i] = parse_size(str(cells[i]))
        except ValueError:
            return pd.Series(kept.tolist())
    return pd.Series(numbers)
