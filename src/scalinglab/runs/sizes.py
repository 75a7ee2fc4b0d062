"""Numbers the way people write them in run tables: ``70B``, ``1.4T``, ``125M``, ``1,000``.

Every numeric cell of a run table goes through :func:`parse_column`, which turns a column into
floats and raises an :class:`~scalinglab.errors.InputError` naming the file, row and column of
the first cell it cannot read.

Example:
    >>> parse_size("1.4T"), parse_size("125M"), parse_size("1,000"), parse_size("5.76e23")
    (1400000000000.0, 125000000.0, 1000.0, 5.76e+23)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..expr import SIZE_SUFFIXES

# Suffixes are matched case-insensitively: nobody means "milli" in a parameter count.
_SIZE = re.compile(
    r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([" + "".join(SIZE_SUFFIXES) + r"])?$",
    re.IGNORECASE,
)
# Commas are only accepted as thousands separators ("1,000,000"): "1,5" (a European decimal
# comma) must be an error, not silently 15.
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?\s*[A-Za-z]?$")

#: Cell texts read as "no value" (pandas' usual missing-value spellings, case-insensitive).
EMPTY_TEXTS = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>"})


def parse_size(text: str) -> float:
    """Read one number written the human way; raise ``ValueError`` if it is not one.

    Example:
        >>> parse_size("70B"), parse_size("32k"), parse_size(" 2e9 ")
        (70000000000.0, 32000.0, 2000000000.0)
    """
    s = text.strip()
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _SIZE.match(s)
    if not m:
        raise ValueError(f"not a number: {text!r}")
    number = float(m.group(1))
    if m.group(2):
        number *= SIZE_SUFFIXES[m.group(2).upper()]
    return number


def is_empty_cell(value: object) -> bool:
    """True for None, NaN, pandas NA and the texts in :data:`EMPTY_TEXTS`."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in EMPTY_TEXTS


def empty_mask(values: pd.Series) -> np.ndarray:
    """Boolean mask of the empty cells of a column (vectorised for text columns)."""
    if isinstance(values.dtype, pd.StringDtype):
        lowered = values.str.strip().str.lower()
        return (values.isna() | lowered.isin(EMPTY_TEXTS)).to_numpy(dtype=bool, na_value=True)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.isna().to_numpy()
    return np.fromiter((is_empty_cell(v) for v in values), dtype=bool, count=len(values))


def as_text(values: pd.Series) -> np.ndarray:
    """A column as stripped strings (object array); run ids read as floats lose their ``.0``."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.str.strip().to_numpy(dtype=object)
    return np.array([_one_text(v) for v in values], dtype=object)


def _one_text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # 3.0 -> "3"
    return str(v).strip()


def parse_column(
    values: pd.Series,
    *,
    column: str,
    file: str | None,
    rows: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Return a column as float64, NaN where a cell is empty.

    Numeric columns (Parquet, DataFrames) pass through; text cells are read with
    :func:`parse_size`. The first unreadable cell raises
    ``InputError("not a number: 'abc'", file=..., row=..., column=...)``.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(
            f"not a number: {values.iloc[0]!r}", file=file, row=int(rows[0]), column=column
        )
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    empty = empty_mask(values)
    cells = values.to_numpy(dtype=object)
    # Fast path: most cells are plain numbers and pandas reads them in C.
    plain = pd.Series(np.where(empty, None, cells), dtype=object)
    numbers = pd.to_numeric(plain, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan, copy=True
    )
    for i in np.flatnonzero(np.isnan(numbers) & ~empty):
        cell = cells[i]
        if isinstance(cell, bool) or not isinstance(cell, str | int | float | np.number):
            raise InputError(f"not a number: {cell!r}", file=file, row=int(rows[i]), column=column)
        try:
            numbers[i] = parse_size(str(cell))
        except ValueError as exc:
            raise InputError(str(exc), file=file, row=int(rows[i]), column=column) from None
    return numbers


def cell_text(values: pd.Series, i: int) -> str:
    """The cell as the user wrote it, for messages (``'-5'``, ``'inf'``)."""
    cell = values.iloc[i]
    return cell.strip() if isinstance(cell, str) else repr(cell) if cell is None else f"{cell:g}"


def format_size(x: float, digits: int = 6) -> str:
    """Short human form of a size, used in generated run ids: ``6.7956B``, ``245.106M``.

    Example:
        >>> format_size(70e9), format_size(1.4e12), format_size(125.5e6), format_size(12)
        ('70B', '1.4T', '125.5M', '12')
    """
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{suffix}"
    return f"{x:.{digits}g}"
