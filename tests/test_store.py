"""The project store: transactional imports, no duplicated rows, provenance, saved fits."""

from __future__ import annotations

import json

import duckdb
import pytest

from scalinglab.errors import InputError
from scalinglab.runs import read_runs, write_scalars
from scalinglab.runs.store import Store

RUNS_A = "params,tokens,metric,value,lr\n1M,20M,loss,5.0,0.01\n2M,40M,loss,4.5,0.01\n"
RUNS_B = "params,tokens,metric,value\n4M,80M,loss,4.1\n"
BAD = "params,tokens,metric,value\n8M,oops,loss,3.9\n"


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.init(tmp_path / "project.duckdb")


def snapshot(store: Store) -> tuple:
    """Everything an import may change: rows, columns of runs, files."""
    with duckdb.connect(str(store.path)) as con:
        rows = con.execute("SELECT * FROM runs ORDER BY ALL").fetchall()
        columns = con.execute("SELECT column_name FROM (DESCRIBE runs)").fetchall()
        files = con.execute(
            "SELECT file_id, path, sha256, n_rows FROM files ORDER BY ALL"
        ).fetchall()
    return rows, columns, files


# ----------------------------------------------------------------------------- opening
def test_init_creates_an_empty_store_and_is_idempotent(tmp_path):
    path = tmp_path / "p.duckdb"
    Store.init(path)
    assert repr(Store.init(path)) == f"Store({str(path)!r}: 0 rows from 0 files, 0 fits)"


def test_opening_a_missing_store_says_to_init(tmp_path):
    with pytest.raises(InputError) as info:
        Store(tmp_path / "none.duckdb")
    assert str(info.value) == (
        f"{tmp_path / 'none.duckdb'}: no scalinglab store here (create one with `scalinglab init`)"
    )


def test_a_duckdb_file_that_is_not_a_store_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(InputError, match="not a scalinglab store$"):
        Store(path)


def test_runs_of_an_empty_store_is_an_error(store):
    with pytest.raises(InputError, match="the store has no runs yet"):
        store.runs()


# ----------------------------------------------------------------------------- imports
def test_import_adds_rows_and_records_provenance(store, write_file):
    a, b = write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv")
    calls = []
    report = store.import_files([a, b], progress=lambda *args: calls.append(args))
    assert (report.rows_added, report.rows_skipped_duplicate) == (3, 0)
    assert [f.rows_added for f in report.files] == [2, 1]
    assert calls == [(1, 2, str(a)), (2, 2, str(b))]
    files = store.files()
    assert files["path"].tolist() == [str(a.resolve()), str(b.resolve())]
    assert files["n_rows"].tolist() == [2, 1]
    assert len(files["sha256"].iloc[0]) == 64
    assert files["notes"].iloc[0] == (
        '["flops derived as 6*params*tokens for 2 rows", '
        "\"family set to 'a' (the file name) for all 2 rows\", "
        '"run_id built from family, params and tokens for all 2 rows"]'
    )


def test_runs_come_back_as_a_runtable_with_extra_columns(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv")])
    t = store.runs()
    assert len(t) == 3 and t.families() == ["a", "b"]
    assert t.df["lr"].tolist()[:2] == [0.01, 0.01]
    assert t.df["flops"].iloc[2] == 6 * 4e6 * 80e6
    assert (
        t.data_hash()
        == read_runs([write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv")]).data_hash()
    )


def test_runs_can_be_filtered_with_counted_notes(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv")])
    t = store.runs(family="a", where="params > 1M")
    assert len(t) == 1
    assert t.notes == [
        "3 rows read from the store project.duckdb",
        "family 'a' removed 1 of 3 rows",
        "where 'params > 1M' removed 1 of 2 rows",
    ]


def test_reimporting_the_same_file_adds_nothing(store, write_file):
    a = write_file(RUNS_A, "a.csv")
    store.import_files([a])
    report = store.import_files([a])
    assert (report.rows_added, report.rows_skipped_duplicate) == (0, 2)
    assert report.files[0].already_imported
    assert len(store.runs()) == 2 and len(store.files()) == 1


def test_a_grown_file_adds_only_its_new_rows(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv")])
    report = store.import_files([write_file(RUNS_A + "4M,80M,loss,4.1,0.01\n", "a.csv")])
    assert (report.rows_added, report.rows_skipped_duplicate) == (1, 2)
    assert len(store.runs()) == 3


def test_a_changed_value_is_an_error_naming_the_key(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv")])
    changed = write_file(RUNS_A.replace("5.0", "5.5"), "a.csv")
    before = snapshot(store)
    with pytest.raises(InputError) as info:
        store.import_files([changed])
    assert str(info.value) == (
        "a.csv: run_id 'a-N1M-D20M', step final, metric 'loss' (family 'a') is already stored "
        "with value 5, here 5.5 (1 such rows); import with on_conflict='replace' or 'skip'"
    )
    assert snapshot(store) == before


def test_on_conflict_skip_keeps_the_stored_value(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv")])
    report = store.import_files(
        [write_file(RUNS_A.replace("5.0", "5.5"), "a.csv")], on_conflict="skip"
    )
    assert (report.rows_added, report.rows_skipped_duplicate, report.rows_replaced) == (0, 2, 0)
    assert sorted(store.runs().df["value"]) == [4.5, 5.0]


def test_on_conflict_replace_overwrites_the_stored_value(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv")])
    report = store.import_files(
        [write_file(RUNS_A.replace("5.0", "5.5"), "a.csv")], on_conflict="replace"
    )
    assert (report.rows_added, report.rows_skipped_duplicate, report.rows_replaced) == (0, 1, 1)
    assert sorted(store.runs().df["value"]) == [4.5, 5.5]


def test_tensorboard_logs_import_with_sizes_given(store, tmp_path):
    write_scalars(
        tmp_path / "logs" / "r1" / "events.out.tfevents.1", [(100, "loss", 3.0), (200, "loss", 2.9)]
    )
    report = store.import_files([tmp_path / "logs"], params="10M", tokens="1B")
    assert report.rows_added == 2
    assert store.runs().df["step"].tolist() == [100, 200]


# ----------------------------------------------------------------------------- atomicity
def test_a_bad_second_file_of_three_leaves_the_store_unchanged(store, write_file):
    store.import_files([write_file(RUNS_B, "b.csv")])
    before = snapshot(store)
    files = [write_file(RUNS_A, "a.csv"), write_file(BAD, "bad.csv"), write_file(RUNS_B, "c.csv")]
    with pytest.raises(InputError, match="^bad.csv: row 2: column 'tokens': not a number: 'oops'$"):
        store.import_files(files)
    assert snapshot(store) == before  # no rows of a.csv, no 'lr' column, no file record


def test_an_exception_between_inserts_rolls_everything_back(store, write_file, monkeypatch):
    before = snapshot(store)
    real = Store._resolve_conflicts
    calls = []

    def failing(self, con, name, on_conflict):
        calls.append(name)
        if len(calls) == 2:  # after a.csv's rows and file record were written
            raise RuntimeError("simulated crash")
        return real(self, con, name, on_conflict)

    monkeypatch.setattr(Store, "_resolve_conflicts", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.import_files([write_file(RUNS_A, "a.csv"), write_file(RUNS_B, "b.csv")])
    assert calls == ["a.csv", "b.csv"]
    assert snapshot(store) == before


def test_an_interrupt_from_the_progress_callback_rolls_back(store, write_file):
    def interrupt(done, total, path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.import_files([write_file(RUNS_A, "a.csv")], progress=interrupt)
    assert snapshot(store) == ([], snapshot(store)[1], [])
    assert "lr" not in [c[0] for c in snapshot(store)[1]]


def test_text_in_a_numeric_extra_column_is_refused_and_rolled_back(store, write_file):
    store.import_files([write_file(RUNS_A, "a.csv")])
    before = snapshot(store)
    text_lr = "params,tokens,metric,value,lr\n8M,160M,loss,3.9,high\n"
    with pytest.raises(InputError) as info:
        store.import_files([write_file(RUNS_B, "b.csv"), write_file(text_lr, "c.csv")])
    assert str(info.value) == "c.csv: column 'lr' holds numbers in the store but text in this file"
    assert snapshot(store) == before


# ----------------------------------------------------------------------------- fits
def test_fits_are_saved_with_provenance_and_loaded_unchanged(store):
    fit = {"law": "chinchilla", "params": {"E": 1.82, "alpha": 0.3478}, "ci": {"E": [1.7, 1.9]}}
    first = store.save_fit(fit, data_hash="abc123", law="chinchilla", options={"bootstrap": 100})
    second = store.save_fit({"law": "kaplan"}, data_hash="abc123", law="kaplan")
    assert (first, second) == (1, 2)
    assert store.load_fit(first) == fit
    table = store.fits()
    assert table["law"].tolist() == ["chinchilla", "kaplan"]
    assert table["options"].tolist() == ['{"bootstrap": 100}', "{}"]
    assert table["data_hash"].tolist() == ["abc123", "abc123"]
    assert table["version"].iloc[0] != "" and table["created_at"].notna().all()


def test_loading_an_unknown_fit_lists_the_saved_ones(store):
    store.save_fit({}, data_hash="h", law="chinchilla")
    with pytest.raises(InputError) as info:
        store.load_fit(7)
    assert str(info.value) == f"{store.path}: no fit 7 in the store (fits: 1)"


def test_a_fit_that_is_not_json_is_refused(store):
    with pytest.raises(InputError, match="fit is not JSON-serialisable"):
        store.save_fit({"x": object()}, data_hash="h", law="chinchilla")


def test_import_report_is_json_ready(store, write_file):
    report = store.import_files([write_file(RUNS_A, "a.csv")]).to_dict()
    assert (report["rows_added"], report["files"][0]["n_rows"]) == (2, 2)
    assert json.loads(json.dumps(report)) == report
