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

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from .checks import (
    SIZES,
    check_losses,
    check_sizes,
    check_steps,
    check_unique,
    derive_sizes,
    require,
)
from .sizes import (
    Text,
    by_category,
    clean_text,
    empty_mask,
    format_size,
    number_of_cell,
    parse_column,
    parse_size,
    read_numbers,
    spread,
)

CANONICAL = ("family", "run_id", "params", "tokens", "flops", "step", "metric", "value")

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
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):  # " a" and "a" once stripped
        raise InputError(f"column {twice[0]!r} appears twice; keep one", file=raw.file)
    by_case: dict[str, str] = {}
    for col in frame.columns:
        other = by_case.setdefault(col.lower(), col)
        if other != col:  # Params and params would both mean params; a store keeps one of them
            raise InputError(
                f"columns {other!r} and {col!r} differ only in case; keep one", file=raw.file
            )
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

    # Text columns are cleaned and extra columns read on a second thread (pyarrow and numpy
    # release the GIL) while the numbers are checked here; results are used, and errors
    # raised, in the order of a single thread.
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = {c: pool.submit(clean_text, frame[c]) for c in _TEXT if c in frame.columns}
        extras = {c: pool.submit(_extra, frame[c]) for c in frame.columns if c not in CANONICAL}
        sizes = {c: _numbers(frame, c, file, rows) for c in SIZES}
        check_sizes(frame, sizes, file, rows)
        derive_sizes(sizes, file, rows, notes)
        value = parse_column(frame["value"], column="value", file=file, rows=rows)
        require(frame, value, "value", file, rows)
        step = (
            parse_column(frame["step"], column="step", file=file, rows=rows)
            if "step" in frame
            else _no_values(len(frame))
        )
        check_steps(frame, step, file, rows)
        cleaned = {c: task.result() for c, task in texts.items()}
        family = _text(cleaned.get("family"), "family", raw.family, len(frame), file, rows, notes)
        metric = _text(cleaned.get("metric"), "metric", None, len(frame), file, rows, notes)
        check_losses(frame, value, metric, file, rows)
        run_id = _run_ids(cleaned.get("run_id"), family.values, sizes, notes)
        columns = {"family": family.values, "run_id": run_id.values, **sizes}
        columns |= {"step": step, "metric": metric.values, "value": value}
        columns |= {c: task.result() for c, task in extras.items()}
    # One frame built at once: adding columns one by one fragments it (and pandas prints a
    # PerformanceWarning per 100 columns of a wide table); concat copies no column.
    out = pd.concat({c: _column(v, frame.get(c)) for c, v in columns.items()}, axis=1)
    codes = [family, run_id, out["step"], metric]
    check_unique(out, rows, [file], codes=codes)
    return out, rows, notes


def _column(values: np.ndarray | pd.Series, source: pd.Series | None) -> pd.Series:
    """A column of the canonical frame, without a copy.

    A read-only array is a view of a float64 column of the input (``source``): that column
    itself is handed on, which pandas copies only if the user edits the frame
    (``runs.df.loc[3, "value"] = -1``), instead of copying it now.
    """
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        if source is not None and source.dtype == np.float64:
            return source.reset_index(drop=True)
        values = values.copy()
    return pd.Series(values, copy=False)


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
            "missing size columns: need at least one of params, tokens, flops (a law in another "
            "column, such as scalerl:gpu_hours, still needs one: add a constant params column); "
            f"columns found: {found}",
            file=file,
        )
    if y is None:
        for col in ("value", "metric"):
            if col not in frame.columns:
                raise InputError(
                    f"missing column {col!r} (a wide table with one column per metric needs "
                    f"`y` naming its column); columns found: {found}",
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


def _no_values(n: int) -> np.ndarray:
    """An absent column: NaN everywhere, without allocating it (read-only; copied if kept)."""
    return np.broadcast_to(np.float64(np.nan), (n,))


def _numbers(frame, col, file, rows) -> np.ndarray:
    if col not in frame.columns:
        return _no_values(len(frame))
    return parse_column(frame[col], column=col, file=file, rows=rows)


_TEXT = ("family", "metric", "run_id")


def _text(text: Text | None, col, default, n, file, rows, notes) -> Text:
    """A text column cleaned (None: the column is absent); empty cells take ``default`` (an
    error when there is none)."""
    if text is None:
        if default is None:
            raise InputError(f"missing column {col!r}", file=file)
        notes.append(f"{col} set to {default!r} (the file name) for all {n} rows")
        return Text.of(pd.Series([default] * n, dtype="str"), np.zeros(n, dtype=bool))
    if text.empty.any():
        if default is None:
            i = np.flatnonzero(text.empty)[0]
            raise InputError("empty value", file=file, row=int(rows[i]), column=col)
        notes.append(
            f"{col} set to {default!r} (the file name) for {text.empty.sum()} rows where empty"
        )
        text = text.filled(default)
    return text


def _run_ids(ids: Text | None, family: pd.Series, sizes, notes) -> Text:
    """Given run ids (cleaned; None when there is no such column), or stable ones built from
    family, params and tokens."""
    n = len(family)
    if ids is not None:
        if not ids.empty.any():
            return ids
        empty = ids.empty
        notes.append(
            f"run_id built from family, params and tokens for {empty.sum()} rows where empty"
        )
        ids = ids.values.copy()
    else:
        empty = np.ones(n, dtype=bool)
        ids = pd.Series([""] * n, dtype="str")
        notes.append(f"run_id built from family, params and tokens for all {n} rows")
    # Runs have many rows: name each (family, params, tokens, flops) once.
    keys = pd.DataFrame({"family": family[empty].to_numpy(), **{c: sizes[c][empty] for c in SIZES}})
    run = keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()
    names = [_run_name(*key) for key in keys.drop_duplicates().itertuples(index=False)]
    ids[empty] = np.asarray(names, dtype=object)[run]
    return Text.of(ids, np.zeros(n, dtype=bool))


def _run_name(family: str, params: float, tokens: float, flops: float) -> str:
    sized = [
        f"{tag}{format_size(v)}" for tag, v in (("N", params), ("D", tokens)) if np.isfinite(v)
    ]
    return "-".join([family, *(sized or [f"C{flops:.3g}"])])


def _extra(values: pd.Series) -> pd.Series:
    """Keep an extra column; numeric (sizes included) when every non-empty cell is a number.

    Text stays text (empty cells become missing) and booleans stay booleans; nested values
    (JSON lists and objects, Parquet lists and structs) become JSON text, which filters and
    the store can hold.
    """
    values = values.reset_index(drop=True)
    if (categorical := by_category(values)) is not None:
        categories, codes = categorical
        return spread(_extra(categories), codes)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype(np.float64)
    empty = empty_mask(values)
    if _holds_other_than_text_and_numbers(values, empty):
        return pd.Series(
            [None if e else _json_if_nested(v) for v, e in zip(values, empty, strict=True)]
        )
    if empty.all():
        return pd.Series(np.full(len(values), np.nan))
    try:  # a column whose first value is text is text: no need to read the rest as numbers
        number_of_cell(values.iloc[int(np.argmin(empty))])
    except ValueError:
        return _kept_text(values, empty)
    numbers, bad = read_numbers(values, empty)
    return pd.Series(numbers) if bad < 0 else _kept_text(values, empty)


def _holds_other_than_text_and_numbers(values: pd.Series, empty: np.ndarray) -> bool:
    if isinstance(values.dtype, pd.StringDtype):
        return False
    if pd.api.types.infer_dtype(values, skipna=True) in _TEXT_OR_NUMBERS:
        return False
    return any(
        isinstance(v, bool | np.bool_) or not isinstance(v, str | int | float | np.number)
        for v, e in zip(values, empty, strict=True)
        if not e
    )


_TEXT_OR_NUMBERS = ("string", "floating", "integer", "mixed-integer-float", "empty")


def _kept_text(values: pd.Series, empty: np.ndarray) -> pd.Series:
    """A text column as read, missing where empty."""
    if isinstance(values.dtype, pd.StringDtype) or pd.api.types.infer_dtype(values) == "string":
        text = values.astype("str")
        return text.mask(empty) if empty.any() else text
    return pd.Series([None if e else v for v, e in zip(values, empty, strict=True)])


def _json_if_nested(cell: object) -> object:
    if isinstance(cell, list | tuple | dict | np.ndarray):
        return json.dumps(cell, default=_plain)
    return cell


def _plain(value: object) -> object:
    """A value inside a nested cell that JSON has no type for: numpy's as Python's (pyarrow
    gives lists as arrays), anything else (a timestamp, a decimal) as its text."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return str(value)
