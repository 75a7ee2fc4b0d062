"""The project store from the command line: init, import (all or nothing), runs, fits."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import duckdb
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.runs.store import Store

runner = CliRunner()
RUNS_A = "family,run_id,params,tokens,metric,value\nf,a1,1M,20M,loss,5.0\nf,a2,2M,40M,loss,4.5\n"
RUNS_B = "family,run_id,params,tokens,metric,value\nf,b1,4M,80M,loss,4.1\ng,b2,8M,160M,loss,3.8\n"
BAD = "params,tokens,metric,value\n8M,oops,loss,3.9\n"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def contents(path) -> tuple:
    """Every row and file record of a store, to compare before and after."""
    with duckdb.connect(str(path)) as con:
        rows = con.execute("SELECT * FROM runs ORDER BY ALL").fetchall()
        files = con.execute(
            "SELECT file_id, path, sha256, n_rows FROM files ORDER BY ALL"
        ).fetchall()
        columns = con.execute("SELECT column_name FROM (DESCRIBE runs)").fetchall()
    return rows, files, columns


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "scalinglab.duckdb"
    result = invoke("init", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"store": str(path.resolve()), "created": True}
    return path


def test_init_twice_keeps_the_store(store):
    result = invoke("init", store, "--json")
    assert json.loads(result.stdout)["created"] is False


def test_import_twice_gives_the_same_row_count(store, write_file):
    a, b = write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv")
    first = invoke("import", a, b, "--store", store, "--json")
    assert first.exit_code == 0, first.stderr
    doc = json.loads(first.stdout)
    assert (doc["rows_added"], doc["rows_skipped_duplicate"]) == (4, 0)
    again = json.loads(invoke("import", a, b, "--store", store, "--json").stdout)
    assert (again["rows_added"], again["rows_skipped_duplicate"]) == (0, 4)
    assert all(f["already_imported"] for f in again["files"])
    listed = json.loads(invoke("runs", "--store", store, "--json").stdout)
    assert listed["summary"]["n_rows"] == 4 and len(listed["runs"]) == 4


def test_import_prints_a_table_of_files(store, write_file):
    result = invoke("import", write_file(RUNS_A, "a.csv"), "--store", store)
    assert result.exit_code == 0, result.stderr
    assert "2 rows added, 0 duplicates skipped, 0 replaced" in result.stdout


def test_a_failed_import_leaves_the_store_as_it_was(store, write_file):
    invoke("import", write_file(RUNS_A, "a.csv"), "--store", store)
    before = contents(store)
    result = invoke(
        "import", write_file(RUNS_B, "b.csv"), write_file(BAD, "bad.csv"), "--store", store
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == "error: bad.csv: row 2: column 'tokens': not a number: 'oops'"
    assert contents(store) == before  # b.csv, read before bad.csv, left nothing behind


KILLED_IMPORT = """
import pathlib, sys, time
from scalinglab.runs.store import Store

store, marker, *files = sys.argv[1:]

def progress(done, total, path):
    if done == 1:  # the first file's rows are written, the transaction is open
        pathlib.Path(marker).write_text(path)
        time.sleep(120)

Store(store).import_files(files, progress=progress)
"""


def test_an_import_killed_half_way_leaves_the_store_unchanged(store, write_file, tmp_path):
    invoke("import", write_file(RUNS_A, "a.csv"), "--store", store)
    before = contents(store)
    marker = tmp_path / "half-way"
    files = [
        write_file(RUNS_B, "b.csv"),
        write_file(RUNS_A.replace("a1", "c1").replace("a2", "c2"), "c.csv"),
    ]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_IMPORT, str(store), str(marker), *map(str, files)]
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the import finished or failed before it could be killed"
            assert time.monotonic() < deadline, "the import never got half-way"
            time.sleep(0.05)
        child.kill()  # SIGKILL: no rollback, no cleanup; only the store's own durability is left
    finally:
        child.kill()
        child.wait(30)
    assert marker.read_text() == str(files[0])
    assert contents(store) == before
    assert len(Store(store).runs()) == 2
    # and the store still works: the same files import cleanly afterwards
    result = json.loads(invoke("import", *files, "--store", store, "--json").stdout)
    assert result["rows_added"] == 4


def test_runs_lists_and_filters(store, write_file):
    invoke("import", write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv"), "--store", store)
    doc = json.loads(
        invoke("runs", "--store", store, "--family", "f", "--where", "params > 1M", "--json").stdout
    )
    assert [r["run_id"] for r in doc["runs"]] == ["a2", "b1"]
    assert doc["notes"][1:] == [
        "family 'f' removed 1 of 4 rows",
        "where 'params > 1M' removed 1 of 3 rows",
    ]
    human = invoke("runs", "--store", store, "--limit", 1)
    assert human.exit_code == 0 and "first 1 of 4" in human.stdout


def test_fits_are_listed_with_provenance_and_reload(store, write_file):
    runs_csv = write_file(
        "params,tokens,metric,value\n"
        + "".join(
            f"{n},{d},loss,{1.7 + 400 * n**-0.34 + 410 * d**-0.28:.6f}\n"
            for n in (1e7, 3e7, 1e8, 3e8)
            for d in (2e8, 1e9, 5e9)
        )  # fmt: skip
    )
    invoke("import", runs_csv, "--store", store)
    table = Store(store).runs()
    fit = sl.fit(table, "chinchilla", bootstrap=10)
    fit_id = Store(store).save_fit(
        fit.to_json(), data_hash=table.data_hash(), law="chinchilla", options={"bootstrap": 10}
    )
    doc = json.loads(invoke("fits", "--store", store, "--json").stdout)
    (saved,) = doc["fits"]
    assert saved["fit_id"] == fit_id and saved["law"] == "chinchilla"
    assert saved["data_hash"] == table.data_hash() and saved["options"] == {"bootstrap": 10}
    assert saved["version"] == sl.__version__ and saved["created_at"]
    shown = json.loads(invoke("fits", "--store", store, "--show", fit_id, "--json").stdout)
    assert shown["params"] == fit.params
    assert "saved fits" in invoke("fits", "--store", store).stdout


def test_a_missing_store_is_one_line_saying_to_init(tmp_path):
    result = invoke("runs", "--store", tmp_path / "none.duckdb")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'none.duckdb'}: no scalinglab store here (create one with `scalinglab init`)"
    )


def test_report_reads_the_store_when_given_no_files(store, write_file, tmp_path, monkeypatch):
    from scalinglab.report import render

    monkeypatch.setattr(
        render, "figure_html", lambda fig, fig_id, caption, **kw: f'<figure id="{fig_id}"></figure>'
    )
    invoke(
        "import",
        write_file(RUNS_A + "f,a3,4M,80M,loss,4.2\nf,a4,8M,160M,loss,3.9\n", "a.csv"),
        "--store",
        store,
    )
    out = tmp_path / "r.html"
    result = invoke("report", "--store", store, "--law", "power_floor:flops", "--bootstrap", 0,
                    "--holdout", "none", "-o", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["fits"][0]["law"] == "power_floor:flops"
    assert "4 rows from scalinglab.duckdb" in out.read_text()


def test_fit_reads_the_store_and_saves_the_fit_with_its_provenance(store, shared_data):
    assert (
        invoke("import", str(shared_data / "chinchilla_epoch.csv"), "--store", store).exit_code == 0
    )
    result = invoke(
        "fit", "--store", store, "--where", "value < 3.42", "--bootstrap", "20", "--json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["n_points"] == 240 and doc["fit_id"] == 1
    saved = Store(store)
    fits = saved.fits()
    assert fits["law"].tolist() == ["chinchilla"]
    assert fits["data_hash"].iloc[0] == saved.runs().filter(where="value < 3.42").data_hash()
    assert json.loads(fits["options"].iloc[0])["where"] == "value < 3.42"
    again = sl.FitResult.from_json(saved.load_fit(1))
    assert again.params == pytest.approx(doc["params"])
