"""Numbers the way people write them in run tables: ``70B``, ``1.4T``, ``125M``, ``1,000``.

Every numeric cell of a run table goes through :func:`parse_column`, which turns a column into
floats and raises an :class:`~scalinglab.errors.InputError` naming the file, row and column of
the first cell it cannot read.

Example:
    >>> parse_size("1.4T"), parse_size("125M"), parse_size("1,000"), parse_size("5.76e23")
    (1400000000000.0, 125000000.0, 1000.0, 5.76e+23)
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def by_category(values: pd.Series) -> tuple[pd.Series, np.ndarray] | None:
    """A categorical column's categories (as a column) and codes (-1: missing), else None.

    Parquet text is read as categories: such a column is read through its few distinct
    values, each once, and the result spread back by code.
    """
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return None
    return pd.Series(values.cat.categories), values.cat.codes.to_numpy()


def _by_code(per_category: np.ndarray, codes: np.ndarray, *, missing: bool) -> np.ndarray:
    """A mask per category to one per row (``missing`` where the code is -1)."""
    if not per_category.any() and not (missing and codes.min(initial=0) < 0):
        return np.zeros(len(codes), dtype=bool)  # the usual case: no gather needed
    return np.append(per_category, missing)[codes]


def spread(per_category: pd.Series, codes: np.ndarray) -> pd.Series:
    """One value per category to one per row (missing where the code is -1)."""
    return pd.Series(per_category.array.take(codes, allow_fill=True))


def empty_mask(values: pd.Series) -> np.ndarray:
    """Boolean mask of the empty cells of a column, vectorised for every dtype."""
    if (categorical := by_category(values)) is not None:
        categories, codes = categorical
        return _by_code(empty_mask(categories), codes, missing=True)
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.isna().to_numpy(dtype=bool)
    if isinstance(values.dtype, pd.StringDtype):
        return clean_text(values).empty
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        return clean_text(values.astype("str")).empty
    return np.fromiter((is_empty_cell(v) for v in values), dtype=bool, count=len(values))


@dataclass
class Text:
    """A text column cleaned: stripped values (``str`` dtype), the mask of empty cells, and
    integer codes: two non-empty cells have the same code if and only if their text is equal,
    and ``distinct[code]`` is that text.
    """

    values: pd.Series
    empty: np.ndarray
    codes: np.ndarray
    distinct: pd.Series

    @classmethod
    def of(cls, values: pd.Series, empty: np.ndarray) -> Text:
        codes, distinct = _encode(values.astype("str"))
        return cls(values, empty, codes, distinct)

    def filled(self, default: str) -> Text:
        """Empty cells replaced by ``default``."""
        values = self.values.mask(self.empty, default)
        return Text.of(values, np.zeros(len(values), dtype=bool))


def _encode(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes (-1 for a missing cell) and distinct values of a ``str`` column, by pyarrow's
    dictionary encoding (faster than pandas.factorize on Arrow-backed text)."""
    text = pa.array(values, from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    distinct = pc.unique(text)  # cheaper than encoding, and enough for a column of one value
    if len(distinct) == 1 and distinct.null_count == 0:
        return np.zeros(len(text), dtype=np.int32), pd.Series(distinct.to_pandas(), dtype="str")
    encoded = text.dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return codes, pd.Series(encoded.dictionary.to_pandas(), dtype="str")


def clean_text(values: pd.Series) -> Text:
    """A column as stripped text, with its empty cells and codes (see :class:`Text`).

    Text columns repeat a few values (families, metrics, a run id per checkpoint), so the
    distinct values are cleaned once and mapped back; a column with nothing to strip is
    returned as it is, without a copy.
    """
    values = values.reset_index(drop=True)
    if (categorical := by_category(values)) is not None:
        categories, codes = categorical
        each = clean_text(categories)  # the codes of equal texts merge if stripping made them so
        merged = each.codes if len(each.distinct) < len(categories) else None
        return Text(
            spread(each.values, codes),
            _by_code(each.empty, codes, missing=True),
            codes if merged is None else np.append(merged, -1)[codes],
            each.distinct,
        )
    if not isinstance(values.dtype, pd.StringDtype):
        return Text.of(as_text(values), empty_mask(values))
    codes, distinct = _encode(values)
    stripped = distinct.str.strip()
    is_empty = stripped.str.lower().isin(EMPTY_TEXTS).to_numpy(dtype=bool, na_value=True)
    empty = np.append(is_empty, True)[codes]
    if not (stripped != distinct).any():
        return Text(values, empty, codes, distinct)
    text = pd.Series(stripped.array.take(codes, allow_fill=True))
    return Text.of(text, empty)  # " a" and "a" are one text once stripped


def as_text(values: pd.Series) -> pd.Series:
    """A column as stripped text (``str`` dtype); run ids read as floats lose their ``.0``."""
    values = values.reset_index(drop=True)
    if isinstance(values.dtype, pd.StringDtype | pd.CategoricalDtype):
        return clean_text(values).values
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("str")
    return values.map(_one_text, na_action="ignore").astype("str")


def _one_text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # 3.0 -> "3"
    return str(v).strip()


# The human-size grammar of parse_size for pyarrow's regex engine (RE2), which reads a whole
# column at once. Cells it does not match go through parse_size itself, so the two grammars
# need not agree on exotica (Unicode digits): they are only a fast path.
_SIZE_RE2 = (
    r"(?i)^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*"
    r"(?P<suffix>[" + "".join(SIZE_SUFFIXES) + r"])?$"
)
_SUFFIXES = pa.array(list(SIZE_SUFFIXES))
_SCALES = np.array([*SIZE_SUFFIXES.values(), 1.0])  # the last: no suffix


def _arrow_text(values: pd.Series) -> pa.Array:
    """A column as stripped Arrow text, in one piece (pandas may hold it in chunks)."""
    text = pa.array(values.astype("str").str.strip(), from_pandas=True)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _numbers_of_text(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Floats of a text column (empty cells already null) and the mask of cells not read."""
    try:  # the usual case: plain numbers only
        return text.cast(pa.float64()).to_numpy(zero_copy_only=False, writable=True), np.zeros(
            len(text), bool
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    thousands = pc.match_substring_regex(text, _THOUSANDS.pattern)
    text = pc.if_else(thousands, pc.replace_substring(text, ",", ""), text)
    parts = pc.extract_regex(text, _SIZE_RE2)
    matched = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    number = pc.if_else(matched, pc.struct_field(parts, [0]), None).cast(pa.float64())
    suffix = pc.index_in(pc.utf8_upper(pc.struct_field(parts, [1])), value_set=_SUFFIXES)
    scale = _SCALES[suffix.fill_null(len(_SUFFIXES)).to_numpy(zero_copy_only=False)]
    numbers = number.to_numpy(zero_copy_only=False) * scale
    return numbers, ~matched & text.is_valid().to_numpy(zero_copy_only=False)


def number_of_cell(cell: object) -> float:
    """One cell the vectorised readers left: pandas' number parser, then parse_size.

    Raises ``ValueError`` with the message for the user: a boolean is not a number, and an
    integer beyond the float range is refused rather than overflowing.
    """
    if isinstance(cell, bool | np.bool_):
        raise ValueError(f"not a number: {bool(cell)!r} (a boolean)")
    if isinstance(cell, int | float | np.number):
        try:
            return float(cell)
        except OverflowError:
            digits = str(cell)
            raise ValueError(f"number too large: {digits[:12]}... ({len(digits)} digits)") from None
    if not isinstance(cell, str):
        raise ValueError(f"not a number: {cell!r}")
    number = pd.to_numeric(pd.Series([cell], dtype=object), errors="coerce").iloc[0]
    return float(number) if not pd.isna(number) else parse_size(cell)


def read_numbers(values: pd.Series, empty: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """A column as float64 (NaN where empty) and the position of its first unreadable cell
    (-1 when every non-empty cell is a number or a human size); booleans are not numbers."""
    if (categorical := by_category(values)) is not None:
        categories, codes = categorical
        numbers, bad = read_numbers(categories)
        if bad < 0:
            return np.append(numbers, np.nan)[codes], -1
        values = values.astype("str")  # the first bad row, not the first bad category
    if empty is None:
        empty = empty_mask(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        numbers = np.full(len(values), np.nan)
        return numbers, int(np.argmax(~empty)) if (~empty).any() else -1
    if pd.api.types.is_numeric_dtype(values.dtype):  # a view where it can be: never written
        return values.to_numpy(dtype=np.float64, na_value=np.nan), -1
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("floating", "integer", "mixed-integer-float", "empty"):
        with contextlib.suppress(OverflowError):  # an integer past the float range: below
            return values.where(~empty).to_numpy(dtype=np.float64, na_value=np.nan, copy=True), -1
    if isinstance(values.dtype, pd.StringDtype) or kind == "string":
        text = pc.if_else(pa.array(empty), None, _arrow_text(values))
        numbers, left = _numbers_of_text(text)
    else:  # numbers, or cells of mixed types (JSON records, DataFrames)
        cells = values.to_numpy(dtype=object)
        numbers, left = np.full(len(values), np.nan), ~empty
        is_text = np.fromiter((isinstance(c, str) for c in cells), dtype=bool, count=len(cells))
        if is_text.any():
            text = _arrow_text(pd.Series(cells[is_text & ~empty], dtype="str"))
            numbers[is_text & ~empty], left[is_text & ~empty] = _numbers_of_text(text)
    cells = values.to_numpy(dtype=object)
    for i in np.flatnonzero(left):
        try:
            numbers[i] = number_of_cell(cells[i])
        except ValueError:
            return numbers, int(i)
    return numbers, -1


def parse_column(
    values: pd.Series,
    *,
    column: str,
    file: str | None,
    rows: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Return a column as float64, NaN where a cell is empty.

    Numeric columns (Parquet, DataFrames, typed CSV) pass through; text cells are read as
    plain numbers or human sizes, a whole column at a time. The first unreadable cell raises
    ``InputError("not a number: 'abc'", file=..., row=..., column=...)``; a boolean is not
    a number (JSON ``true`` is not 1).
    """
    numbers, bad = read_numbers(values)
    if bad >= 0:
        try:
            number_of_cell(values.iloc[bad])
        except ValueError as exc:
            raise InputError(str(exc), file=file, row=int(rows[bad]), column=column) from None
        raise AssertionError("a cell was refused, then read")  # pragma: no cover
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
