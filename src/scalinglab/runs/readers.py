"""``read_runs``: any run source (files, directories, DataFrames, lists of them) to a RunTable.

Example:
    >>> t = read_runs("../shared/data/chinchilla_epoch.csv")   # doctest: +SKIP
    >>> len(t), t.metrics()                                    # doctest: +SKIP
    (245, ['loss'])
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import tensorboard, wandb
from .schema import RawTable, to_canonical
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
        format: one of ``csv, tsv, parquet, jsonl, wandb, tensorboard``; guessed when None.
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
    if len(parts) == 1:
        df, rows, files, notes = parts[0]
    else:
        df = pd.concat([p[0] for p in parts], ignore_index=True)
        rows = np.concatenate([p[1] for p in parts])
        files = np.concatenate([p[2] for p in parts])
        notes = [f"{p[2][0]}: {n}" for p in parts for n in p[3]]
    check_unique(df, rows, files)
    names = list(dict.fromkeys(p[2][0] for p in parts))
    return RunTable(df, ", ".join(names), notes)


def _read_one(source, *, y, format, overrides):
    if isinstance(source, RunTable):
        return source.df, np.arange(1, len(source) + 1), np.full(len(source), source.source), []
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index() if any(n is not None for n in source.index.names) else source
        raw = RawTable(frame, np.arange(1, len(frame) + 1), DATAFRAME_SOURCE, "runs")
        df, rows, notes = to_canonical(raw, y=y, overrides=overrides)
        return df, rows, np.full(len(df), DATAFRAME_SOURCE, dtype=object), notes
    path = Path(source)
    if not path.exists():
        raise InputError("no such file or directory", file=str(source))
    kind = format or _guess_format(path)
    name = path.name
    extra_notes: list[str] = []
    if kind == "tensorboard":
        raw, extra_notes = tensorboard.read_raw(path, overrides)
        y_used = y
    else:
        raw = _read_table(path, kind)
        y_used = y
        if kind == "wandb" or (
            kind == "csv" and format is None and wandb.looks_like_wandb(raw.frame)
        ):
            raw, y_used, extra_notes = wandb.to_raw(raw, y, overrides)
    df, rows, notes = to_canonical(raw, y=y_used, overrides=overrides)
    return df, rows, np.full(len(df), name, dtype=object), extra_notes + notes


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


def _read_table(path: Path, kind: str) -> RawTable:
    family = path.stem
    if kind in ("csv", "tsv", "wandb"):
        return _read_csv(path, family, sep="\t" if kind == "tsv" else ",")
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InputError(f"cannot read Parquet: {exc}", file=path.name) from None
        return RawTable(frame, np.arange(1, len(frame) + 1), path.name, family)
    return _read_jsonl(path, family)


def _read_csv(path: Path, family: str, sep: str) -> RawTable:
    """Cells as text, so sizes like "70B" and our own messages survive; rows are line numbers
    (where each record starts, also when a quoted cell spans lines)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
        with warnings.catch_warnings():
            # pandas only warns (and drops cells) when line 2 has more fields than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                index_col=False,  # never take extra leading cells as an index
                skip_blank_lines=False,  # keep blank lines so row i is line i + 2
            )
    except pd.errors.EmptyDataError:
        raise InputError("no rows", file=path.name) from None
    except pd.errors.ParserWarning:
        raise InputError(
            "malformed CSV: line 2 has more fields than the header", file=path.name
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        why = f"line {m[2]} has {m[3]} fields, the header has {m[1]}" if m else str(exc).strip()
        raise InputError(f"malformed CSV: {why}", file=path.name) from None
    rows = _record_lines(text, sep, len(frame))
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(0, bool)
    return RawTable(frame[~blank].reset_index(drop=True), rows[~blank], path.name, family)


def _record_lines(text: str, sep: str, n_rows: int) -> np.ndarray:
    """The line each data record starts on: line i + 2 for row i, unless quoted cells span
    several lines, in which case the records are counted again with the csv module."""
    plain = np.arange(2, n_rows + 2)
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines == n_rows + 1:  # one line per record: nothing spans lines
        return plain
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    starts, end = [], 0
    for _ in reader:
        starts.append(end + 1)
        end = reader.line_num
    starts = starts[1:]  # the header's record
    return np.asarray(starts, dtype=np.int64) if len(starts) == n_rows else plain


def _read_jsonl(path: Path, family: str) -> RawTable:
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):  # a JSON array of records, as pandas' to_json writes
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=path.name, row=exc.lineno) from None
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise InputError("not a JSON object", file=path.name, row=i + 1)
        return RawTable(pd.DataFrame(records), np.arange(1, len(records) + 1), path.name, family)
    records, rows = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=path.name, row=lineno) from None
        if not isinstance(rec, dict):
            raise InputError("not a JSON object", file=path.name, row=lineno)
        records.append(rec)
        rows.append(lineno)
    return RawTable(pd.DataFrame(records), np.array(rows, dtype=np.int64), path.name, family)


def check_unique(df: pd.DataFrame, rows: np.ndarray, files: np.ndarray) -> None:
    """Raise on the first row whose (family, run_id, step, metric) was already seen."""
    key = ["family", "run_id", "step", "metric"]
    dup = df.duplicated(subset=key, keep="first").to_numpy()
    if not dup.any():
        return
    i = int(np.flatnonzero(dup)[0])
    k = df.iloc[i]
    same = (
        (df["family"] == k["family"])
        & (df["run_id"] == k["run_id"])
        & (df["metric"] == k["metric"])
    )
    same &= (df["step"] == k["step"]) | (df["step"].isna() & pd.isna(k["step"]))
    first = int(np.flatnonzero(same.to_numpy())[0])
    where = (
        f"row {rows[first]}" if files[first] == files[i] else f"{files[first]} row {rows[first]}"
    )
    step = "final" if pd.isna(k["step"]) else f"{k['step']:g}"
    raise InputError(
        f"duplicate run_id {k['run_id']!r}, step {step}, metric {k['metric']!r} "
        f"(family {k['family']!r}; first at {where})",
        file=str(files[i]),
        row=int(rows[i]),
    )
