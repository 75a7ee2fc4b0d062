"""The store's DuckDB file: opened only when it is one, with nothing loaded, and checked.

A path a user gives as a store is handed to DuckDB only if it is a regular file whose header
says DuckDB (a SQLite file would make DuckDB look for its sqlite extension), and DuckDB runs
with its extension auto-install and auto-load switched off and without access to any other
file. Whether the store can be written is tried before a command that writes starts its work,
and a database that lacks part of the schema is refused in one line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from ..errors import InputError
from .files import open_regular_file
from .schema import CANONICAL

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS files (
    file_id INTEGER PRIMARY KEY, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    imported_at TIMESTAMP NOT NULL, n_rows INTEGER NOT NULL, rows_added INTEGER NOT NULL,
    notes VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    family VARCHAR NOT NULL, run_id VARCHAR NOT NULL, params DOUBLE, tokens DOUBLE,
    flops DOUBLE, step DOUBLE, metric VARCHAR NOT NULL, value DOUBLE NOT NULL,
    _file_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fits (
    fit_id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL, law VARCHAR NOT NULL,
    data_hash VARCHAR NOT NULL, options VARCHAR NOT NULL, version VARCHAR NOT NULL,
    fit VARCHAR NOT NULL);
"""
#: Every table and column a store must have (a file with only part of it is refused).
_REQUIRED = {
    "meta": ("key", "value"),
    "files": ("file_id", "path", "sha256", "imported_at", "n_rows", "rows_added", "notes"),
    "runs": (*CANONICAL, "_file_id"),
    "fits": ("fit_id", "created_at", "law", "data_hash", "options", "version", "fit"),
}
#: Sizes a run may leave empty (an L(C) table has flops only); stores of scalinglab 0.1
#: declared them NOT NULL, which an import lifts.
OPTIONAL_SIZES = ("params", "tokens", "flops")
#: Opening a user's path must never fetch or load code: no extension auto-install or
#: auto-load (DuckDB's defaults would fetch the sqlite extension for a SQLite file), and no
#: access to files other than the store itself from SQL.
DUCKDB_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "enable_external_access": False,
}
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def one_line(exc: BaseException) -> str:
    """DuckDB's message (often several lines) as one line."""
    return " ".join(str(exc).split())


def _is_duckdb_file(path: Path) -> bool:
    """Whether a regular file starts like a DuckDB database (read through the guarded open)."""
    with open_regular_file(path, name=str(path)) as fh:
        header = fh.read(12)
    return header[8:12] == _DUCKDB_MAGIC


def open_duckdb(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection with :data:`DUCKDB_CONFIG`; a refusal (a lock, a damaged file) in one line."""
    try:
        return duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
    except duckdb.Error as exc:  # a lock held by another writer, a damaged or truncated file
        raise InputError(f"cannot open the store: {one_line(exc)}", file=str(path)) from None


def refuse_foreign(path: Path) -> None:
    """Refuse anything but a DuckDB database file before DuckDB sees it."""
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("not a scalinglab store (an empty file)", file=str(path))
    if not _is_duckdb_file(path):  # also refuses pipes, devices and directories, in one line
        raise InputError("not a scalinglab store (not a DuckDB database file)", file=str(path))


def why_not_writable(path: Path) -> str | None:
    """Why ``path`` (a store file, or where one will be created) cannot be written, or None.

    Tried, not inferred from permission bits, which do not bind root and do not show a
    read-only mount: DuckDB writes the file and a ``.wal`` file beside it.
    """
    folder = path.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".scalinglab-write-test-"):
            pass
    except OSError as exc:
        return f"its directory {str(folder)!r} is read-only ({exc.strerror or exc})"
    if path.exists():
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            return f"the file is read-only ({exc.strerror or exc})"
    return None


def check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a database that is not a complete store of this schema version."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall():
        columns.setdefault(table, set()).add(column)
    if "meta" not in columns:
        raise InputError("not a scalinglab store", file=str(path))
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise InputError("not a scalinglab store", file=str(path))
    if row[0] != SCHEMA_VERSION:
        raise InputError(
            f"store schema version {row[0]} is not supported (this scalinglab reads {SCHEMA_VERSION})",
            file=str(path),
        )
    for table, required in _REQUIRED.items():
        lacking = [c for c in required if c not in columns.get(table, ())]
        if table not in columns:
            raise InputError(f"a partial scalinglab store: no table {table!r}", file=str(path))
        if lacking:
            raise InputError(
                f"a partial scalinglab store: table {table!r} lacks column(s) {', '.join(lacking)}",
                file=str(path),
            )
