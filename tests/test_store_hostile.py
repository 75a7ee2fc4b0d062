"""The store against hostile tables and hostile store files: one line, nothing half-written.

Every table ``read_runs`` accepts is stored; a damaged, truncated, foreign or partial store is
refused in one line; a read-only store can be read, and writing to one is refused before any
work; DuckDB never loads code because of a user's file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalinglab.errors import InputError
from scalinglab.runs import read_runs
from scalinglab.runs.store import Store

RUNS = "family,run_id,params,tokens,metric,value\nf,a,1M,20M,loss,5.0\nf,b,2M,40M,loss,4.5\n"


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.init(tmp_path / "project.duckdb")


def message_of(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.fixture
def read_only():
    """``read_only(path)`` makes a file or directory unwritable, also for root (immutable)."""
    made = []

    def make(path):
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
        made.append(path)
        if os.geteuid() == 0:  # permission bits do not bind root: make it immutable
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
                pytest.skip("chattr +i is not available: cannot make a path read-only for root")
        probe = path / "probe" if path.is_dir() else path
        try:
            with open(probe, "ab"):
                pass
        except OSError:
            return path
        pytest.skip("could not make the path read-only here")

    yield make
    for path in reversed(made):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


# ------------------------------------------------------------------------- tables it stores
def test_a_flops_only_table_is_stored_and_reimported_as_duplicates(store, write_file):
    path = write_file(
        "family,run_id,flops,metric,value\nL,c1,1e18,loss,3.2\nL,c2,1e19,loss,2.9\n", "c.csv"
    )
    report = store.import_files([path])
    assert report.rows_added == 2
    runs = store.runs()
    assert runs.df["params"].isna().all() and runs.df["flops"].tolist() == [1e18, 1e19]
    assert runs.data_hash() == read_runs(path).data_hash()
    again = store.import_files(
        [write_file("family,run_id,flops,metric,value\nL,c1,1e18,loss,3.2\n", "d.csv")]
    )
    assert (again.rows_added, again.rows_skipped_duplicate) == (0, 1)


def test_a_store_of_version_0_1_with_required_sizes_takes_a_flops_only_table(tmp_path, write_file):
    path = tmp_path / "old.duckdb"
    Store.init(path)
    with duckdb.connect(str(path)) as con:  # the schema scalinglab 0.1 created
        for size in ("params", "tokens", "flops"):
            con.execute(f"ALTER TABLE runs ALTER COLUMN {size} SET NOT NULL")
    store = Store(path)
    store.import_files([write_file("flops,metric,value\n1e18,loss,3.2\n", "c.csv")])
    assert len(store.runs()) == 1


def test_parquet_list_and_struct_extra_columns_are_stored_as_json_text(store, tmp_path):
    table = pa.table(
        {
            "params": [1e6, 2e6],
            "tokens": [2e7, 4e7],
            "metric": ["loss", "loss"],
            "value": [5.0, 4.5],
            "layers": pa.array([[1, 2], [3]], type=pa.list_(pa.int64())),
            "opt": pa.array([{"name": "adam"}, None]),
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")
    store.import_files([tmp_path / "r.parquet"])
    df = store.runs().df
    assert df["layers"].tolist() == ["[1, 2]", "[3]"]
    assert df["opt"].iloc[0] == '{"name": "adam"}' and df["opt"].isna().iloc[1]


def test_columns_differing_only_in_case_are_one_line_and_store_nothing(store, write_file):
    path = write_file("params,Params,tokens,metric,value\n1M,2M,20M,loss,5\n", "p.csv")
    assert message_of(store.import_files, [path]) == (
        "p.csv: columns 'params' and 'Params' differ only in case; keep one"
    )
    assert store.files().empty


def test_an_extra_column_matches_a_stored_one_whatever_its_case(store, write_file):
    store.import_files([write_file("params,tokens,metric,value,lr\n1M,20M,loss,5,0.1\n", "a.csv")])
    store.import_files([write_file("params,tokens,metric,value,LR\n2M,40M,loss,4,0.2\n", "b.csv")])
    assert store.runs().df["lr"].tolist() == [0.1, 0.2]


def test_the_stores_own_column_name_is_refused_in_one_line(store, write_file):
    path = write_file("params,tokens,metric,value,_file_id\n1M,20M,loss,5,7\n", "a.csv")
    assert message_of(store.import_files, [path]) == (
        "a.csv: column '_file_id' is reserved by the store: rename it"
    )


# ------------------------------------------------------------------------ files it refuses
def test_a_sqlite_file_is_refused_before_duckdb_sees_it(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (x)")
    expected = f"{path}: not a scalinglab store (not a DuckDB database file)"
    assert message_of(Store, path) == expected
    assert message_of(Store.init, path) == expected


def test_connections_never_install_or_load_extensions(store):
    with store._connect() as con:
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('autoinstall_known_extensions', 'autoload_known_extensions', "
                "'enable_external_access')"
            ).fetchall()
        )
    assert settings == {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "enable_external_access": "false",
    }


def test_a_truncated_store_is_refused_and_init_does_not_call_it_a_store(store, write_file):
    store.import_files([write_file(RUNS, "a.csv")])
    data = store.path.read_bytes()
    cut = store.path.with_name("cut.duckdb")
    cut.write_bytes(data[: len(data) // 2])
    for call in (Store, Store.init):
        message = message_of(call, cut)
        assert message.startswith(f"{cut}: cannot ") and "Could not read enough bytes" in message


def test_an_empty_file_is_not_a_store(tmp_path):
    (tmp_path / "empty.duckdb").touch()
    assert message_of(Store, tmp_path / "empty.duckdb") == (
        f"{tmp_path / 'empty.duckdb'}: not a scalinglab store (an empty file)"
    )


def test_a_pipe_or_a_directory_is_not_a_store(tmp_path):
    os.mkfifo(tmp_path / "pipe.duckdb")
    assert message_of(Store, tmp_path / "pipe.duckdb") == (
        f"{tmp_path / 'pipe.duckdb'}: is a named pipe, not a regular file"
    )
    (tmp_path / "dir.duckdb").mkdir()
    assert message_of(Store, tmp_path / "dir.duckdb") == (
        f"{tmp_path / 'dir.duckdb'}: is a directory, not a regular file"
    )


def test_a_duckdb_file_with_part_of_the_schema_is_refused(tmp_path):
    path = tmp_path / "partial.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
        con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        con.execute("CREATE TABLE files (file_id INTEGER)")
    for call in (Store, Store.init):
        assert (
            message_of(call, path) == f"{path}: a partial scalinglab store: table 'files' lacks "
            "column(s) path, sha256, imported_at, n_rows, rows_added, notes"
        )


def test_a_foreign_duckdb_database_is_never_written_into_by_init(tmp_path):
    path = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE sales (x INTEGER)")
    assert message_of(Store.init, path) == f"{path}: not a scalinglab store"
    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("sales",)]


def test_a_second_writer_gets_one_line_about_the_lock(store, write_file):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)",
            str(store.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        message = message_of(store.import_files, [write_file(RUNS, "a.csv")])
    finally:
        holder.kill()
        holder.wait(30)
    assert message.startswith(f"{store.path}: cannot open the store: ")
    assert "lock" in message


# ------------------------------------------------------------------------- read-only stores
def test_a_read_only_store_is_read_and_refuses_writes_before_any_work(store, write_file, read_only):
    store.import_files([write_file(RUNS, "a.csv")])
    fit_id = store.save_fit({"law": "x"}, data_hash="h", law="x")
    read_only(store.path)
    again = Store(store.path)
    assert len(again.runs()) == 2 and len(again.fits()) == 1 and len(again.files()) == 1
    assert again.load_fit(fit_id) == {"law": "x"}
    # a missing file would be refused when read: the store is refused first
    assert message_of(again.import_files, [store.path.with_name("missing.csv")]).startswith(
        f"{store.path}: cannot import into the store: the file is read-only"
    )
    assert message_of(again.save_fit, {}, data_hash="h", law="x").startswith(
        f"{store.path}: cannot save the fit in the store: the file is read-only"
    )


def test_a_store_in_a_read_only_directory_is_read_and_refuses_writes(store, write_file, read_only):
    store.import_files([write_file(RUNS, "a.csv")])
    folder = store.path.parent
    csv = write_file(RUNS.replace(",a,", ",c,"), "c.csv")
    read_only(folder)
    assert len(Store(store.path).runs()) == 2
    assert message_of(Store(store.path).import_files, [csv]) == (
        f"{store.path}: cannot import into the store: its directory {str(folder)!r} is read-only "
        "(Operation not permitted)"
        if os.geteuid() == 0
        else f"{store.path}: cannot import into the store: its directory {str(folder)!r} is "
        "read-only (Permission denied)"
    )
    with pytest.raises(InputError, match="cannot create a store: its directory"):
        Store.init(folder / "new.duckdb")
    assert message_of(Store(store.path).check_writable, "save the fit").startswith(
        f"{store.path}: cannot save the fit: its directory"
    )


def test_the_cli_lists_a_read_only_store_and_refuses_an_import_in_one_line(
    store, write_file, read_only
):
    from typer.testing import CliRunner

    from scalinglab.cli import app

    store.import_files([write_file(RUNS, "a.csv")])
    read_only(store.path)
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "--store", str(store.path), "--json"])
    assert listed.exit_code == 0, listed.stderr
    imported = runner.invoke(
        app, ["import", str(write_file(RUNS, "b.csv")), "--store", str(store.path)]
    )
    assert imported.exit_code == 2 and imported.stdout == ""
    assert imported.stderr.strip().startswith(
        f"error: {store.path}: cannot import into the store: the file is read-only"
    )
    assert len(imported.stderr.strip().splitlines()) == 1
