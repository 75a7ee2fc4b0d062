"""``read_runs``: any run source (files, directories, DataFrames, lists of them) to a RunTable.

Example:
    >>> t = read_runs("../shared/data/chinchilla_epoch.csv")   # doctest: +SKIP
    >>> len(t), t.metrics()                                    # doctest: +SKIP
    (245, ['loss'])
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import mmap
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from . import lm_eval, tensorboard, wandb
from .checks import check_unique
from .files import (
    check_regular_file,
    decode_utf8,
    open_regular_file,
    parse_json,
    read_bytes,
    read_text,
)
from .schema import RawTable, to_canonical
from .sizes import EMPTY_TEXTS
from .table import DATAFRAME_SOURCE, RunTable

FORMATS = ("csv", "tsv", "parquet", "jsonl", "wandb", "tensorboard")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
Source = str | os.PathLike[str] | pd.DataFrame | RunTable


def read_runs(
    source: Source | Sequence[str | os.PathLike[str] | pd.DataFrame],
    *,
    y: str | list[str] | None = None,
    format: str | None = None,
    params: float | str | None = None,
    tokens: float | str | None = None,
    flops: float | str | None = None,
) -> RunTable:
    """Read runs from a file, a directory of TensorBoard logs, a DataFrame, or a list of them.

    Args:
        source: ``.csv``/``.tsv``, ``.parquet``, ``.jsonl``/``.ndjson``, a W&B CSV export, a
            TensorBoard event file or directory, a DataFrame, or a list of these (concatenated).
        y: for a wide table (one column per metric) the metric column(s) to melt; for a long
            table the metric(s) to keep.
        format: one of ``csv, tsv, parquet, jsonl, wandb, tensorboard``; guessed when None (a
            ``.json`` file of lm-evaluation-harness results is told by its content).
        params, tokens, flops: a size given for every row (e.g. TensorBoard logs of one run).

    Raises:
        InputError: naming the file, row and column at fault.

    Example:
        >>> t = read_runs("runs.csv", y="val_loss")              # doctest: +SKIP
        >>> t = read_runs(["a.csv", "b.parquet"])                 # doctest: +SKIP
    """
    if format is not None and format not in FORMATS:
        raise InputError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    overrides = {"params": params, "tokens": tokens, "flops": flops}
    if isinstance(source, RunTable):
        return source
    sources = list(source) if isinstance(source, list | tuple) else [source]
    if not sources:
        raise InputError("no sources given")
    parts = [_read_one(s, y=y, format=format, overrides=overrides) for s in sources]
    names = [p.name for p in parts]
    if len(parts) == 1:
        df, rows, notes = parts[0].df, parts[0].rows, parts[0].notes
    else:
        df = pd.concat([p.df for p in parts], ignore_index=True)
        rows = np.concatenate([p.rows for p in parts])
        notes = [f"{p.name}: {n}" for p in parts for n in p.notes]
    if len(parts) > 1:  # each source was checked on its own; now across sources
        source = np.repeat(np.arange(len(parts)), [len(p.df) for p in parts])
        check_unique(df, rows, names, source)
    return RunTable(df, ", ".join(dict.fromkeys(names)), notes)


@dataclass
class _Part:
    """One source read: its canonical rows, their row numbers in the source, its notes."""

    df: pd.DataFrame
    rows: np.ndarray
    name: str
    notes: list[str]


def _read_one(source, *, y, format, overrides):
    if isinstance(source, RunTable):
        return _Part(source.df, np.arange(1, len(source) + 1), source.source, [])
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index() if any(n is not None for n in source.index.names) else source
        raw = RawTable(frame, np.arange(1, len(frame) + 1), DATAFRAME_SOURCE, "runs")
        df, rows, notes = to_canonical(raw, y=y, overrides=overrides)
        return _Part(df, rows, DATAFRAME_SOURCE, notes)
    path = Path(source)
    if not path.exists():
        raise InputError("no such file or directory", file=str(source))
    kind = format or _guess_format(path)
    if kind == "tensorboard":
        raw, log_notes = tensorboard.read_raw(path, overrides)
        df, rows, notes = to_canonical(raw, y=y, overrides=overrides)
        notes = log_notes + notes
    elif kind in ("csv", "tsv", "wandb"):
        read = functools.partial(_read_csv, path, sep="\t" if kind == "tsv" else ",")
        typed = read(typed=True)  # a file pandas cannot read at all is refused here, once
        try:
            df, rows, notes = _canonical_table(typed, kind, format, y, overrides)
        except InputError:
            # The typed read is a fast path; cells as text are the reference, and their
            # messages quote each cell exactly as written ('-5.0', not -5).
            df, rows, notes = _canonical_table(read(typed=False), kind, format, y, overrides)
    elif kind == "jsonl" and not format and lm_eval.looks_like_lm_eval(path):
        raw, eval_notes = lm_eval.read_raw(path, overrides)
        df, rows, notes = to_canonical(raw, y=y, overrides=overrides)
        notes = eval_notes + notes
    else:
        raw = _read_parquet(path) if kind == "parquet" else _read_jsonl(path)
        df, rows, notes = _canonical_table(raw, kind, format, y, overrides)
    return _Part(df, rows, path.name, notes)


def _canonical_table(raw: RawTable, kind, format, y, overrides):
    """A table read from a file to canonical form, through the W&B mapping when it is one."""
    extra_notes: list[str] = []
    if kind == "wandb" or (kind == "csv" and format is None and wandb.looks_like_wandb(raw.frame)):
        raw, y, extra_notes = wandb.to_raw(raw, y, overrides)
    df, rows, notes = to_canonical(raw, y=y, overrides=overrides)
    return df, rows, extra_notes + notes


def _guess_format(path: Path) -> str:
    if path.is_dir() or "tfevents" in path.name:
        return "tensorboard"
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            "unknown file type (expected .csv, .tsv, .parquet, .jsonl, .ndjson, a TensorBoard "
            "event file or directory); pass format=...",
            file=path.name,
        )
    return kind


def _read_parquet(path: Path) -> RawTable:
    check_regular_file(path, name=path.name)  # pyarrow opens the path itself
    try:
        # pyarrow directly (pandas.read_parquet converts Arrow's text again on the way), and
        # text as categories: Parquet stores it dictionary-encoded, and the checks then read
        # each distinct value once
        text = [
            f.name
            for f in pq.read_schema(path)
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ]
        frame = pq.read_table(path, read_dictionary=text).to_pandas()
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"cannot read Parquet: {exc}", file=path.name) from None
    return RawTable(frame, np.arange(1, len(frame) + 1), path.name, path.stem)


#: Columns that are text even when they hold numbers: run "007" is not run 7. W&B names its
#: run column Name and its family Group.
_TEXT_COLUMNS = frozenset({"family", "run_id", "metric", "name", "group"})
#: Cells pandas may read as "no value" in a typed read: the usual spellings of EMPTY_TEXTS
#: (any other spelling keeps its column as text, which is read the same way as before).
_NA_SPELLINGS = sorted({t for e in EMPTY_TEXTS for t in (e, e.upper(), e.capitalize())} | {"NaN"})
_CSV_OPTIONS = dict(
    encoding="utf-8-sig",  # Excel writes a byte-order mark
    index_col=False,  # never take extra leading cells as an index
    skip_blank_lines=False,  # keep blank lines so row i is line i + 2
    keep_default_na=False,  # "#N/A" or "-nan" are not numbers, nor missing
)


def _read_csv(path: Path, *, sep: str, typed: bool) -> RawTable:
    """A CSV or TSV file; rows are line numbers (where each record starts, also when a quoted
    cell spans lines).

    ``typed=True`` lets pandas read numbers as numbers (the fast path). A column it does not
    read as plain numbers or text (``true``/``false``, types mixed across its chunks), and a
    text column of the schema it read as numbers, is read again as text. ``typed=False``
    reads every cell as text, as written: the reference, whose messages quote cells exactly.
    """
    with open_regular_file(path, name=path.name) as fh:
        with _csv_errors(path):
            frame = pd.read_csv(fh, sep=sep, **_CSV_OPTIONS, **({} if typed else {"dtype": str}))
        _refuse_repeated_names(fh, sep, path)
        if typed:
            frame = _reread_as_text(frame, fh, sep)
        rows = _record_lines(path, fh, sep, len(frame))
    blank = _blank_rows(frame)
    if blank.any():
        frame, rows = frame[~blank].reset_index(drop=True), rows[~blank]
    return RawTable(frame, rows, path.name, path.stem)


def _refuse_repeated_names(fh, sep: str, path: Path) -> None:
    """A header naming a column twice: pandas would read the second as ``value.1``, silently."""
    fh.seek(0)
    names = pd.read_csv(fh, sep=sep, **_CSV_OPTIONS, header=None, nrows=1, dtype=str).iloc[0]
    stripped = pd.Index([str(n).strip() for n in names])
    twice = stripped[stripped.duplicated() & (stripped != "")]  # unnamed ones stay extras
    if len(twice):
        raise InputError(f"column {twice[0]!r} appears twice; keep one", file=path.name)


def _reread_as_text(frame: pd.DataFrame, fh, sep: str) -> pd.DataFrame:
    """Columns a typed read cannot be trusted with, read again as text."""
    redo = [
        c
        for c in frame.columns
        if not _is_plain(frame[c].dtype)
        or (
            str(c).strip().lower() in _TEXT_COLUMNS
            and not isinstance(frame[c].dtype, pd.StringDtype)
        )
    ]
    if not redo:
        return frame
    fh.seek(0)
    positions = [frame.columns.get_loc(c) for c in redo]  # names may repeat: go by position
    text = pd.read_csv(fh, sep=sep, **_CSV_OPTIONS, dtype=str, usecols=positions)
    frame = frame.copy()
    for position, values in zip(sorted(positions), text.items(), strict=True):
        frame.isetitem(position, values[1])
    return frame


@contextlib.contextmanager
def _csv_errors(path: Path):
    """pandas' parser errors as one line naming the file (and the line, where pandas says)."""
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops cells) when line 2 has more fields than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # types mixed across pandas' chunks: such a column is read again as text
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            yield
    except pd.errors.EmptyDataError:
        raise InputError("no rows", file=path.name) from None
    except pd.errors.ParserWarning:
        raise InputError(
            "malformed CSV: line 2 has more fields than the header", file=path.name
        ) from None
    except UnicodeDecodeError:
        decode_utf8(read_bytes(path, name=path.name), name=path.name)  # raises, with the line
        raise
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        why = f"line {m[2]} has {m[3]} fields, the header has {m[1]}" if m else str(exc).strip()
        raise InputError(f"malformed CSV: {why}", file=path.name) from None


def _is_plain(dtype) -> bool:
    return isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    )


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows with every cell empty (blank lines, kept above so that rows are line numbers)."""
    blank = np.ones(len(frame), dtype=bool)
    for col in range(frame.shape[1]):  # usually the first column already rules out every row
        values = frame.iloc[:, col]
        empty = values.isna().to_numpy(dtype=bool)
        if isinstance(values.dtype, pd.StringDtype):
            empty = empty | (values == "").to_numpy(dtype=bool, na_value=True)
        blank &= empty
        if not blank.any():
            break
    return blank if frame.shape[1] else np.zeros(len(frame), dtype=bool)


def _record_lines(path: Path, fh, sep: str, n_rows: int) -> np.ndarray:
    """The line each data record starts on: line i + 2 for row i (blank lines are rows too),
    unless quoted cells span several lines, in which case the records are counted again with
    the csv module. A file without a quote character has no such cell: one scan for it, in
    place, and the lines need no counting."""
    plain = np.arange(2, n_rows + 2)
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find(b'"') < 0:
            return plain
        n_lines = sum(data[i : i + (1 << 22)].count(b"\n") for i in range(0, len(data), 1 << 22))
        n_lines += data[-1:] != b"\n"  # a last line without its newline
    if n_lines == n_rows + 1:  # one line per record: nothing spans lines
        return plain
    text = read_text(path, name=path.name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    starts, end = [], 0
    for _ in reader:
        starts.append(end + 1)
        end = reader.line_num
    starts = starts[1:]  # the header's record
    return np.asarray(starts, dtype=np.int64) if len(starts) == n_rows else plain


def _read_jsonl(path: Path) -> RawTable:
    """JSON lines (or one JSON array of records); rows are line numbers."""
    text = read_text(path, name=path.name)
    if text.lstrip().startswith("["):  # a JSON array of records, as pandas' to_json writes
        records = parse_json(text, name=path.name)
        if not isinstance(records, list):
            raise InputError("not a JSON array of records", file=path.name)
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise InputError("not a JSON object", file=path.name, row=i + 1)
        return RawTable(pd.DataFrame(records), np.arange(1, len(records) + 1), path.name, path.stem)
    records, rows = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rec = parse_json(line, name=path.name, line=lineno)
        if not isinstance(rec, dict):
            raise InputError("not a JSON object", file=path.name, row=lineno)
        records.append(rec)
        rows.append(lineno)
    return RawTable(pd.DataFrame(records), np.array(rows, dtype=np.int64), path.name, path.stem)
