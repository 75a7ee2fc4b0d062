"""The project store: one embedded DuckDB file holding runs, file provenance and saved fits.

A project of many runs keeps them in ``scalinglab.duckdb``: every import adds the rows of its
files to one canonical run table (extra columns become columns of that table), records where
they came from (path, SHA-256 of the content, time, row counts), and fits are saved next to
the data with the hash of the data they were fitted to. Imports are all-or-nothing: a bad file
or an exception half-way rolls the whole import back.

Opening a path is guarded like every other input: only a regular file whose header says DuckDB
is handed to DuckDB (a SQLite file would make DuckDB look for its sqlite extension), with
DuckDB's extension auto-install and auto-load and its access to other files switched off;
reading methods open the file read-only (a store on a read-only disk or with mode 444 can be
listed and fitted); a damaged, truncated, foreign or partial store is refused with one line.

Example:
    >>> store = Store.init("scalinglab.duckdb")                      # doctest: +SKIP
    >>> store.import_files(["runs_a.csv", "runs_b.parquet"])         # doctest: +SKIP
    ImportReport(rows_added=490, rows_skipped_duplicate=0, ...)
    >>> store.runs(family="chinchilla", where="params > 100M")        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from .database import (
    OPTIONAL_SIZES,
    SCHEMA,
    SCHEMA_VERSION,
    check_schema,
    one_line,
    open_duckdb,
    refuse_foreign,
    why_not_writable,
)
from .files import open_regular_file
from .readers import read_runs
from .table import RunTable

DEFAULT_PATH = "scalinglab.duckdb"
KEY = ("family", "run_id", "step", "metric")
Progress = Callable[[int, int, str], None]


@dataclass
class FileImport:
    """What one file contributed to an import."""

    path: str
    sha256: str
    n_rows: int
    rows_added: int
    rows_skipped_duplicate: int
    rows_replaced: int = 0
    already_imported: bool = False


@dataclass
class ImportReport:
    """Totals of one :meth:`Store.import_files` call, and the per-file detail."""

    rows_added: int = 0
    rows_skipped_duplicate: int = 0
    files: list[FileImport] = field(default_factory=list)
    rows_replaced: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for ``scalinglab import --json``."""
        return asdict(self)


def content_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, or of every regular file under a directory (names included, in
    order); files are opened through the guarded open (a pipe or a device is refused)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open_regular_file(f, name=f.name) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC


class Store:
    """A project store (an embedded DuckDB file). Open an existing one; create with :meth:`init`.

    Each method opens and closes its own connection, so a notebook and the CLI can take turns
    on the same file (DuckDB allows one writer at a time). Reading methods (:meth:`runs`,
    :meth:`files`, :meth:`fits`, :meth:`load_fit`) open it read-only; writing methods
    (:meth:`import_files`, :meth:`save_fit`) first check that it can be written, and a caller
    about to compute something it will save should call :meth:`check_writable` first.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(
                "no scalinglab store here (create one with `scalinglab init`)", file=str(path)
            )
        refuse_foreign(self.path)
        with self._connect() as con:
            check_schema(con, self.path)

    @classmethod
    def init(cls, path: str | os.PathLike[str] = DEFAULT_PATH) -> Store:
        """Create the store at ``path`` (an existing store is opened unchanged).

        An existing file that is not a store is refused, never written into; an empty
        DuckDB database is made a store.
        """
        path = Path(path)
        if path.exists():
            refuse_foreign(path)
            with contextlib.closing(open_duckdb(path, read_only=True)) as con:
                tables = con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
            if tables:
                return cls(path)  # an existing store, checked; anything else is refused
        why = why_not_writable(path)
        if why is not None:
            raise InputError(f"cannot create a store: {why}", file=str(path))
        with contextlib.closing(open_duckdb(path, read_only=False)) as con:
            con.execute(SCHEMA)
            con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?), ('created_at', ?) ON CONFLICT DO NOTHING",
                [SCHEMA_VERSION, _utc_now().isoformat()],
            )
        return cls(path)

    def check_writable(self, action: str = "write to it") -> None:
        """Raise a one-line InputError now if the store cannot be written: a command that will
        save into the store calls this before its work, not after (``action`` says what)."""
        why = why_not_writable(self.path)
        if why is not None:
            raise InputError(f"cannot {action}: {why}", file=str(self.path))

    @contextlib.contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection (read-only unless ``write``); DuckDB's errors become one line."""
        con = open_duckdb(self.path, read_only=not write)
        try:
            yield con
        except duckdb.Error as exc:
            raise InputError(
                f"cannot use the store: {one_line(exc)}", file=str(self.path)
            ) from None
        finally:
            con.close()

    # ------------------------------------------------------------------------------ import
    def import_files(
        self,
        paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        y: str | list[str] | None = None,
        format: str | None = None,
        on_conflict: Literal["error", "skip", "replace"] = "error",
        params: float | str | None = None,
        tokens: float | str | None = None,
        flops: float | str | None = None,
    ) -> ImportReport:
        """Add the rows of ``paths`` (any source :func:`read_runs` reads) in one transaction.

        A file whose content was imported before is skipped whole; a row whose key
        (family, run_id, step, metric) is already stored with the same sizes and value is
        skipped as a duplicate. A key stored with a *different* value is an error unless
        ``on_conflict`` is ``"skip"`` (keep the stored row) or ``"replace"``.
        ``progress(done, total, path)`` is called after each file. ``y``, ``format``,
        ``params``, ``tokens`` and ``flops`` are passed to :func:`read_runs`.

        Example:
            >>> Store("scalinglab.duckdb").import_files(["a.csv"]).rows_added   # doctest: +SKIP
            245
        """
        if on_conflict not in ("error", "skip", "replace"):
            raise InputError(
                f"on_conflict must be 'error', 'skip' or 'replace', got {on_conflict!r}"
            )
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        paths = [Path(p) for p in paths]
        self.check_writable("import into the store")  # before reading a single file
        options = {"y": y, "format": format, "params": params, "tokens": tokens, "flops": flops}
        report = ImportReport()
        with self._connect(write=True) as con:
            con.begin()
            try:
                self._allow_missing_sizes(con)
                for done, path in enumerate(paths, start=1):
                    item = self._import_one(con, path, options, on_conflict)
                    report.files.append(item)
                    report.rows_added += item.rows_added
                    report.rows_skipped_duplicate += item.rows_skipped_duplicate
                    report.rows_replaced += item.rows_replaced
                    if progress is not None:
                        progress(done, len(paths), str(path))
                con.commit()
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed statement may have ended it
                    con.rollback()
                raise
        return report

    @staticmethod
    def _allow_missing_sizes(con) -> None:
        """Stores of scalinglab 0.1 declared every size NOT NULL; L(C) tables need them empty."""
        required = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = 'runs' AND NOT is_nullable"
        ).fetchall()
        for (column,) in required:
            if column in OPTIONAL_SIZES:
                con.execute(f"ALTER TABLE runs ALTER COLUMN {column} DROP NOT NULL")

    def _import_one(self, con, path: Path, options, on_conflict) -> FileImport:
        if not path.exists():
            raise InputError("no such file or directory", file=str(path))
        sha = content_hash(path)
        resolved = str(path.resolve())
        seen = con.execute("SELECT n_rows FROM files WHERE sha256 = ?", [sha]).fetchone()
        if seen is not None:
            return FileImport(resolved, sha, seen[0], 0, seen[0], already_imported=True)
        table = read_runs(path, **options)
        file_id = con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files").fetchone()[0]
        columns = self._runs_columns(con, table.df, path.name)
        columns["_file_id"] = pa.array(np.full(len(table), file_id, dtype=np.int32))
        names = ", ".join(_quote(c) for c in columns)
        # Arrow, not the DataFrame: DuckDB scans Arrow buffers in place, without converting
        # each text cell to a Python object and back. _row: the row's place in the file.
        con.register("incoming", pa.table(columns | {"_row": pa.array(np.arange(len(table)))}))
        try:
            n_same, n_changed = self._resolve_conflicts(con, path.name, on_conflict)
            new_only = f" WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE {_same_key('r', 'i')})"
            con.execute(
                f"INSERT INTO runs ({names}) SELECT {names} FROM incoming i"
                + (new_only if n_same or n_changed else "")
            )
        finally:
            with contextlib.suppress(duckdb.Error):  # a failed statement ended the transaction
                con.unregister("incoming")
        n_rows = len(table)
        added = n_rows - n_same - n_changed  # rows under keys new to the store
        replaced = n_changed if on_conflict == "replace" else 0
        con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
            [file_id, resolved, sha, _utc_now(), n_rows, added, json.dumps(table.notes)],
        )
        return FileImport(resolved, sha, n_rows, added, n_rows - added - replaced, replaced)

    def _runs_columns(self, con, df: pd.DataFrame, name: str) -> dict[str, pa.Array]:
        """The rows as Arrow columns of ``runs``. An extra column becomes a column of ``runs``
        (DOUBLE when numeric, else VARCHAR) unless one of its name is stored, matched
        case-insensitively as DuckDB matches names."""
        stored = {
            column.lower(): (column, sql_type)
            for column, sql_type in con.execute(
                "SELECT column_name, column_type FROM (DESCRIBE runs)"
            ).fetchall()
        }
        out: dict[str, pa.Array] = {}
        for col in df.columns:  # read_runs refused names equal but for case
            if col.lower() == "_file_id":
                raise InputError(f"column {col!r} is reserved by the store: rename it", file=name)
            values = df[col]
            numeric = pd.api.types.is_numeric_dtype(
                values.dtype
            ) and not pd.api.types.is_bool_dtype(values.dtype)
            if col.lower() not in stored:
                sql_type = "DOUBLE" if numeric else "VARCHAR"
                con.execute(f"ALTER TABLE runs ADD COLUMN {_quote(col)} {sql_type}")
                stored[col.lower()] = (col, sql_type)
            sql_type = stored[col.lower()][1]
            if sql_type == "DOUBLE" and not numeric:
                raise InputError(
                    f"column {col!r} holds numbers in the store but text in this file", file=name
                )
            if sql_type == "VARCHAR" and not isinstance(values.dtype, pd.StringDtype):
                values = values.map(str, na_action="ignore").astype("str")
            out[col] = pa.array(values, from_pandas=True)
        return out

    def _resolve_conflicts(self, con, name: str, on_conflict: str) -> tuple[int, int]:
        """Find incoming rows whose key is stored; handle those stored with another value.

        Returns (rows stored identically, rows stored with another value). With "replace" the
        stored rows of the second kind are deleted here, so the caller's insert replaces them.
        """
        overlap = (
            con.execute("SELECT 1 FROM runs LIMIT 1").fetchone()
            and con.execute(
                "SELECT 1 FROM runs WHERE family IN (SELECT DISTINCT family FROM incoming) LIMIT 1"
            ).fetchone()
        )
        if overlap is None:  # no stored run of these families: no key can clash
            return 0, 0
        same = (
            "(r.value = i.value AND r.params IS NOT DISTINCT FROM i.params "
            "AND r.tokens IS NOT DISTINCT FROM i.tokens AND r.flops IS NOT DISTINCT FROM i.flops)"
        )
        counts = con.execute(
            f"SELECT count(*) FILTER (WHERE {same}), count(*) FILTER (WHERE NOT {same}) "
            f"FROM incoming i JOIN runs r ON {_same_key('r', 'i')}"
        ).fetchone()
        n_same, n_changed = int(counts[0]), int(counts[1])
        if n_changed and on_conflict == "error":
            fam, run, step, metric, old, new = con.execute(
                "SELECT i.family, i.run_id, i.step, i.metric, r.value, i.value "
                f"FROM incoming i JOIN runs r ON {_same_key('r', 'i')} WHERE NOT {same} "
                "ORDER BY i._row LIMIT 1"
            ).fetchone()
            when = "final" if step is None or np.isnan(step) else f"{step:g}"
            raise InputError(
                f"run_id {run!r}, step {when}, metric {metric!r} (family {fam!r}) is already "
                f"stored with value {old:g}, here {new:g} ({n_changed} such rows); "
                "import with on_conflict='replace' or 'skip'",
                file=name,
            )
        if n_changed and on_conflict == "replace":
            con.execute(
                "DELETE FROM runs r WHERE EXISTS (SELECT 1 FROM incoming i WHERE "
                f"{_same_key('r', 'i')} AND NOT {same})"
            )
        return n_same, n_changed

    # ------------------------------------------------------------------------------ queries
    def runs(
        self,
        family: str | list[str] | None = None,
        where: str | None = None,
        metric: str | None = None,
    ) -> RunTable:
        """The stored runs as a RunTable, optionally filtered like :meth:`RunTable.filter`.

        Example:
            >>> Store().runs(where="params >= 1B").summary()   # doctest: +SKIP
        """
        with self._connect() as con:
            rows = con.sql("SELECT * EXCLUDE (_file_id) FROM runs ORDER BY _file_id, rowid")
            # Through Arrow: text columns come back as pandas' Arrow-backed str, as read_runs
            # gives them, without a Python object per cell.
            df = rows.to_arrow_table().to_pandas()
        if df.empty:
            raise InputError(
                "the store has no runs yet (add some with `scalinglab import FILE`)",
                file=str(self.path),
            )
        table = RunTable(
            df, self.path.name, [f"{len(df)} rows read from the store {self.path.name}"]
        )
        if family is None and where is None and metric is None:
            return table
        return table.filter(family=family, where=where, metric=metric)

    def files(self) -> pd.DataFrame:
        """Imported files: file_id, path, sha256, imported_at (UTC), n_rows, rows_added, notes."""
        with self._connect() as con:
            return con.execute("SELECT * FROM files ORDER BY file_id").df()

    # ------------------------------------------------------------------------------ fits
    def save_fit(
        self,
        fit_json: dict[str, Any],
        *,
        data_hash: str,
        law: str,
        options: dict[str, Any] | None = None,
    ) -> int:
        """Save a fit's JSON with its provenance; return its id.

        Example:
            >>> fit_id = store.save_fit(fit.to_json(), data_hash=runs.data_hash(),
            ...                         law="chinchilla", options={"bootstrap": 1000})   # doctest: +SKIP
        """
        try:
            text = json.dumps(fit_json)
            opts = json.dumps(options or {}, sort_keys=True)
        except TypeError as exc:
            raise InputError(f"fit is not JSON-serialisable: {exc}") from None
        self.check_writable("save the fit in the store")
        with self._connect(write=True) as con:
            con.begin()
            fit_id = con.execute("SELECT coalesce(max(fit_id), 0) + 1 FROM fits").fetchone()[0]
            con.execute(
                "INSERT INTO fits VALUES (?, ?, ?, ?, ?, ?, ?)",
                [fit_id, _utc_now(), law, data_hash, opts, _package_version(), text],
            )
            con.commit()
        return int(fit_id)

    def load_fit(self, fit_id: int) -> dict[str, Any]:
        """The fit JSON exactly as saved."""
        with self._connect() as con:
            row = con.execute("SELECT fit FROM fits WHERE fit_id = ?", [int(fit_id)]).fetchone()
            if row is None:
                ids = [
                    r[0] for r in con.execute("SELECT fit_id FROM fits ORDER BY fit_id").fetchall()
                ]
                known = ", ".join(map(str, ids)) or "none yet"
                raise InputError(
                    f"no fit {fit_id} in the store (fits: {known})", file=str(self.path)
                )
        return json.loads(row[0])

    def fits(self) -> pd.DataFrame:
        """Saved fits: fit_id, created_at (UTC), law, data_hash, options (JSON), version."""
        with self._connect() as con:
            return con.execute(
                "SELECT fit_id, created_at, law, data_hash, options, version FROM fits ORDER BY fit_id"
            ).df()

    def __repr__(self) -> str:
        with self._connect() as con:
            n_rows = con.execute("SELECT count(*) FROM runs").fetchone()[0]
            n_files = con.execute("SELECT count(*) FROM files").fetchone()[0]
            n_fits = con.execute("SELECT count(*) FROM fits").fetchone()[0]
        return f"Store({str(self.path)!r}: {n_rows} rows from {n_files} files, {n_fits} fits)"


def _same_key(a: str, b: str) -> str:
    # step is NULL for final values, and NULL = NULL is not true in SQL
    return (
        f"{a}.family = {b}.family AND {a}.run_id = {b}.run_id AND {a}.metric = {b}.metric "
        f"AND {a}.step IS NOT DISTINCT FROM {b}.step"
    )


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scalinglab")
    except PackageNotFoundError:  # running from a source tree (PYTHONPATH=src)
        return str(getattr(sys.modules.get("scalinglab"), "__version__", "unknown"))
