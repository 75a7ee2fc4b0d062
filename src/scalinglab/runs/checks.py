"""Checks on the numbers of a run table: finite, positive sizes, derived sizes, steps, losses.

Each check is vectorised over a column and raises an :class:`~scalinglab.errors.InputError`
naming the file, row and column of the *first* bad cell, so a million rows cost a few numpy
passes and the message is the same as a cell-by-cell loop would give.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .sizes import Text, cell_text, is_empty_cell

SIZES = ("params", "tokens", "flops")
#: What names one observation: unique in a run table.
KEY = ("family", "run_id", "step", "metric")

#: A positive loss below this is a bug upstream (an underflow, a wrong unit), not a measurement:
#: one such value among 56 drove a Chinchilla fit to E = A = B = 0 with an infinite objective.
MIN_LOSS = 1e-30
#: A loss this many times above or below the median of its metric is refused (a diverged step
#: logs inf or NaN, which are refused anyway; 1e6 leaves room for any real learning curve).
MAX_LOSS_RATIO = 1e6


# 6ND is the standard training-FLOP estimate for dense transformers (Kaplan et al. 2020,
# eq. 2.1): the missing one of params, tokens and flops is derived from the two others. Each
# makes one new array and works in it: a fresh array of millions costs page faults.
def _flops(n, d, c):
    out = np.multiply(n, 6.0)
    out *= d
    return out


def _tokens(n, d, c):
    out = np.multiply(n, 6.0)
    return np.divide(c, out, out=out)


def _params(n, d, c):
    out = np.multiply(d, 6.0)
    return np.divide(c, out, out=out)


_DERIVED = {
    "flops": ("6*params*tokens", _flops),
    "tokens": ("flops/(6*params)", _tokens),
    "params": ("flops/(6*tokens)", _params),
}


def _range(values: np.ndarray) -> tuple[float, float]:
    """Smallest and largest value ignoring NaN (NaN when all are NaN), allocating nothing:
    the usual column passes its checks without a mask of its bad cells being built."""
    values = _one_if_broadcast(values)
    if values.size == 0:
        return np.nan, np.nan
    return float(np.fmin.reduce(values)), float(np.fmax.reduce(values))


def _one_if_broadcast(values: np.ndarray) -> np.ndarray:
    """An absent column is one NaN broadcast to every row: its first cell says it all."""
    return values[:1] if values.ndim == 1 and values.strides == (0,) else values


def _isnan(values: np.ndarray) -> np.ndarray:
    """np.isnan, keeping an absent column's mask broadcast (not a new array of n cells)."""
    if values is _one_if_broadcast(values):
        return np.isnan(values)
    return np.broadcast_to(np.isnan(values[:1]), values.shape)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def check_finite(frame, values, col, file, rows, *, allow_nan: bool) -> None:
    """Refuse inf (and NaN unless ``allow_nan``: an empty cell)."""
    low, high = _range(values)
    if not np.isinf([low, high]).any() and (allow_nan or not np.isnan(values).any()):
        return
    i = _first(np.isinf(values) if allow_nan else ~np.isfinite(values))
    if i is not None:
        raise InputError(
            f"not finite: {cell_text(frame[col], i)!r}", file=file, row=int(rows[i]), column=col
        )


def require(frame, values, col, file, rows) -> None:
    """A column every row must fill with a finite number (``value``)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is NaN: looked at below
        total = np.add.reduce(values)
    if np.isfinite(total):  # no NaN, no inf (a sum past 1e308 looks below)
        return
    i = _first(np.isnan(values))
    if i is not None:
        cell = frame[col].iloc[i]
        if is_empty_cell(cell) or pd.isna(cell):
            raise InputError("empty value", file=file, row=int(rows[i]), column=col)
    check_finite(frame, values, col, file, rows, allow_nan=False)


def check_sizes(frame, sizes: dict[str, np.ndarray], file, rows) -> None:
    """Every given size finite and positive; every row with at least one size."""
    for c in SIZES:
        check_finite(frame, sizes[c], c, file, rows, allow_nan=True)
        if not _range(sizes[c])[0] <= 0:
            continue
        i = _first(sizes[c] <= 0)
        if i is not None:
            raise InputError(
                f"must be positive: {cell_text(frame[c], i)!r}",
                file=file,
                row=int(rows[i]),
                column=c,
            )
    i = _first(_isnan(sizes["params"]) & _isnan(sizes["tokens"]) & _isnan(sizes["flops"]))
    if i is not None:
        col = next(c for c in SIZES if c in frame.columns)
        raise InputError(
            "empty value (need at least one of params, tokens, flops)",
            file=file,
            row=int(rows[i]),
            column=col,
        )


def derive_sizes(sizes: dict[str, np.ndarray], file, rows, notes: list[str]) -> None:
    """Fill the one missing size of each row from the two others (in place; counted in notes).

    A row with one size only (an L(N), L(D) or L(C) table) keeps the other two empty: laws of
    that size alone can be fitted. A derived size must be a positive finite number:
    ``params = tokens = 1e200`` would give ``flops = inf``, which no fit can use.
    """
    missing = {c: _isnan(sizes[c]) for c in SIZES}
    derivable = (missing["params"].view(np.int8) + missing["tokens"] + missing["flops"]) == 1
    n, d, c = sizes["params"], sizes["tokens"], sizes["flops"]
    for col, (formula, compute) in _DERIVED.items():
        where = missing[col] & derivable
        if not where.any():
            continue
        with np.errstate(over="ignore", under="ignore"):
            derived = compute(n, d, c) if where.all() else compute(n[where], d[where], c[where])
        low, high = _range(derived)
        ok = 0 < low and high < np.inf and not np.isnan(derived).any()
        i = None if ok else _first(~(np.isfinite(derived) & (derived > 0)))
        if i is not None:
            row = np.flatnonzero(where)[i]
            given = ", ".join(f"{s} {sizes[s][row]:g}" for s in SIZES if s != col)
            raise InputError(
                f"{formula} is {derived[i]:g}, not a positive finite number ({given})",
                file=file,
                row=int(rows[row]),
                column=col,
            )
        if where.all():
            sizes[col] = derived
        else:
            sizes[col] = sizes[col].copy()  # the given array may be a read-only view
            sizes[col][where] = derived
        notes.append(f"{col} derived as {formula} for {where.sum()} rows")


def check_steps(frame, step: np.ndarray, file, rows) -> None:
    """Steps are finite and not negative (empty = a final value)."""
    check_finite(frame, step, "step", file, rows, allow_nan=True)
    if not _range(step)[0] < 0:
        return
    i = _first(step < 0)
    if i is not None:
        raise InputError(
            f"must not be negative: {cell_text(frame['step'], i)!r}",
            file=file,
            row=int(rows[i]),
            column="step",
        )


def is_loss(metric: str) -> bool:
    """A metric named like a loss (``loss``, ``val_loss``; not fp16's ``loss_scale``)."""
    name = metric.lower()
    return "loss" in name and "scale" not in name


def check_losses(frame, value: np.ndarray, metric: Text, file, rows) -> None:
    """Refuse a positive loss below :data:`MIN_LOSS` or :data:`MAX_LOSS_RATIO` times from
    the median of its metric's positive values: an absurd value, not a measurement."""
    codes = metric.codes
    first, median_of_first = None, np.nan
    for code, name in enumerate(metric.distinct):
        if not is_loss(name):
            continue
        where = np.flatnonzero(codes == code) if len(metric.distinct) > 1 else np.arange(len(value))
        v = value[where] if len(metric.distinct) > 1 else value
        positive = v > 0
        if not positive.any():
            continue
        low, high = np.min(v, where=positive, initial=np.inf), v.max()
        if low >= MIN_LOSS and high <= low * MAX_LOSS_RATIO:
            continue  # every value, and so the median, lies within the limits of every other
        median = float(np.median(v[positive]))
        far = (v < MIN_LOSS) | (v > median * MAX_LOSS_RATIO) | (v < median / MAX_LOSS_RATIO)
        i = _first(positive & far)
        if i is not None and (first is None or where[i] < first):
            first, median_of_first = int(where[i]), median
    if first is None:
        return
    v = value[first]
    why = (
        f"below {MIN_LOSS:g}"
        if v < MIN_LOSS
        else f"{max(v / median_of_first, median_of_first / v):.3g} times from the median "
        f"{median_of_first:.4g} of the metric; the limit is {MAX_LOSS_RATIO:g}"
    )
    raise InputError(
        f"implausible {metric.values.iloc[first]!r} value {cell_text(frame['value'], first)!r} ({why})",
        file=file,
        row=int(rows[first]),
        column="value",
    )


def check_unique(
    df: pd.DataFrame,
    rows: np.ndarray,
    names: Sequence[str],
    source: np.ndarray | None = None,
    codes: Sequence[Text | pd.Series] | None = None,
) -> None:
    """Raise on the first row whose key (family, run_id, step, metric) was already seen.

    ``names[source[i]]`` is the source of row ``i`` (a file name, or ``<DataFrame>``; all
    ``names[0]`` when ``source`` is None); ``codes`` are the key columns, as :class:`Text` where
    the caller has their codes already.
    """
    i = first_duplicate(codes or [df[c] for c in KEY])
    if i is None:
        return
    k = df.iloc[i]
    same = (
        (df["family"] == k["family"])
        & (df["run_id"] == k["run_id"])
        & (df["metric"] == k["metric"])
    )
    same &= (df["step"] == k["step"]) | (df["step"].isna() & pd.isna(k["step"]))
    first = int(np.flatnonzero(same.to_numpy())[0])
    file, first_file = (
        (names[0], names[0]) if source is None else (names[source[i]], names[source[first]])
    )
    where = f"row {rows[first]}" if first_file == file else f"{first_file} row {rows[first]}"
    step = "final" if pd.isna(k["step"]) else f"{k['step']:g}"
    raise InputError(
        f"duplicate run_id {k['run_id']!r}, step {step}, metric {k['metric']!r} "
        f"(family {k['family']!r}; first at {where})",
        file=file,
        row=int(rows[i]),
    )


def first_duplicate(columns: Sequence[pd.Series | Text]) -> int | None:
    """Position of the first row whose values in ``columns`` all equal an earlier row's.

    Tables are usually written run by run and step by step, with codes numbering texts in
    order of appearance: rows in strictly increasing order (compared column by column) prove
    there is no duplicate without hashing anything. Otherwise each column becomes integer
    codes (missing values equal each other), the codes one mixed-radix integer per row, and
    those are hashed.
    """
    varying = [c for c in columns if not _constant(c)]
    n = len(columns[0].codes if isinstance(columns[0], Text) else columns[0])
    if not varying:  # every row has the same key
        return 1 if n > 1 else None
    if _strictly_increasing([_sortable(c) for c in varying]):
        return None
    key = np.zeros(n, np.int64)
    radix = 1
    for col in varying:
        if isinstance(col, Text):
            codes, size = col.codes, len(col.distinct)  # key columns have no missing cell
        else:
            codes, distinct = pd.factorize(col, use_na_sentinel=False)
            size = len(distinct)
        if radix * size >= 2**62:  # keep the key exact: renumber it first
            key, kept = pd.factorize(key)
            radix = len(kept)
        key = key * size + codes
        radix *= size
    dup = pd.Series(key).duplicated().to_numpy()
    return int(np.argmax(dup)) if dup.any() else None


def _constant(col: pd.Series | Text) -> bool:
    """One family, one metric, only final values: nothing in it tells rows apart."""
    if isinstance(col, Text):
        return len(col.distinct) == 1
    return pd.api.types.is_float_dtype(col.dtype) and bool(np.isnan(_range(col.to_numpy())[1]))


def _sortable(col: pd.Series | Text) -> np.ndarray:
    """Codes of a text column (in order of appearance); a step column with its final rows
    (NaN) after every step."""
    if isinstance(col, Text):
        return col.codes
    if not pd.api.types.is_float_dtype(col.dtype):
        return pd.factorize(col)[0]
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(values), np.inf, values)  # steps are finite: inf is free


def _strictly_increasing(columns: Sequence[np.ndarray]) -> bool:
    """Whether each row is greater than the one before, comparing column by column."""
    n = len(columns[0])
    if n < 2:
        return True
    greater, equal = np.zeros(n - 1, dtype=bool), np.ones(n - 1, dtype=bool)
    for values in columns:
        before, after = values[:-1], values[1:]
        greater |= equal & (after > before)
        equal &= after == before
    return bool(greater.all())
