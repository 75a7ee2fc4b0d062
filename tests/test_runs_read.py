"""read_runs: the formats it reads, the canonical table it returns, and the errors it raises."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.errors import InputError
from scalinglab.runs import CANONICAL, RunTable, read_runs

HEADER = "family,run_id,params,tokens,flops,step,metric,value\n"


def error_of(*args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_runs(*args, **kwargs)
    return str(info.value)


# ----------------------------------------------------------------------------- formats
def test_csv_gives_canonical_columns_then_extras(test_data):
    t = read_runs(test_data / "runs_small.csv")
    assert list(t.df.columns) == [*CANONICAL, "lr"]
    assert len(t) == 5
    assert t.source == "runs_small.csv"
    assert t.metrics() == ["loss", "val_loss"]
    assert t.families() == ["tiny"]


def test_human_sizes_are_read_and_flops_derived_with_a_note(test_data):
    t = read_runs(test_data / "runs_small.csv")
    a = t.df.iloc[0]
    assert (a["params"], a["tokens"], a["flops"]) == (10e6, 200e6, 6 * 10e6 * 200e6)
    assert t.df["step"].isna().all()
    assert t.notes == ["flops derived as 6*params*tokens for 5 rows"]


def test_jsonl_skips_blank_lines_and_mixes_text_and_numbers(test_data):
    t = read_runs(test_data / "runs_small.jsonl")
    assert t.df["params"].tolist() == [10e6, 20e6, 40e6]
    assert t.df["tokens"].tolist() == [200e6, 400e6, 800e6]


def test_json_array_of_records_is_read(write_file):
    records = [{"params": 1e6, "tokens": 2e7, "metric": "loss", "value": 5.0}]
    t = read_runs(write_file(json.dumps(records), "r.json"))
    assert len(t) == 1 and t.df["family"].iloc[0] == "r"


def test_parquet_round_trip(tmp_path, test_data):
    path = tmp_path / "runs.parquet"
    read_runs(test_data / "runs_small.csv").df.to_parquet(path)
    t = read_runs(path)
    assert len(t) == 5
    assert t.df["flops"].iloc[3] == pytest.approx(6 * 80e6 * 1.6e9)
    assert t.notes == []  # nothing left to derive


def test_tsv_is_read(write_file):
    t = read_runs(write_file("params\ttokens\tmetric\tvalue\n1M\t20M\tloss\t5\n", "r.tsv"))
    assert t.df["params"].tolist() == [1e6]


def test_dataframe_source_and_row_positions():
    df = pd.DataFrame(
        {"params": [1e6, 2e6], "tokens": [2e7, 4e7], "metric": "loss", "value": [5.0, 4.5]}
    )
    t = read_runs(df)
    assert t.source == "<DataFrame>"
    assert t.df["family"].tolist() == ["runs", "runs"]
    df.loc[1, "value"] = np.nan
    assert error_of(df) == "<DataFrame>: row 2: column 'value': empty value"


def test_list_of_sources_is_concatenated_with_file_prefixed_notes(write_file):
    a = write_file("params,tokens,metric,value\n1M,20M,loss,5\n", "a.csv")
    b = write_file("params,tokens,metric,value,seed\n2M,40M,loss,4.5,1\n", "b.csv")
    t = read_runs([a, b])
    assert t.families() == ["a", "b"]
    assert t.source == "a.csv, b.csv"
    assert t.df["seed"].isna().tolist() == [True, False]
    assert "a.csv: flops derived as 6*params*tokens for 1 rows" in t.notes


def test_a_runtable_is_returned_as_is(test_data):
    t = read_runs(test_data / "runs_small.csv")
    assert read_runs(t) is t


# ----------------------------------------------------------------------------- defaults
def test_family_defaults_to_file_stem_and_run_id_to_sizes(write_file):
    t = read_runs(write_file("params,tokens,metric,value\n70B,1.4T,loss,1.94\n", "chin.csv"))
    assert t.df["family"].tolist() == ["chin"]
    assert t.df["run_id"].tolist() == ["chin-N70B-D1.4T"]
    assert "run_id built from family, params and tokens for all 1 rows" in t.notes


def test_tokens_derived_from_flops(write_file):
    t = read_runs(write_file("params,flops,metric,value\n1B,6e19,loss,2.5\n"))
    assert t.df["tokens"].iloc[0] == pytest.approx(1e10)
    assert "tokens derived as flops/(6*params) for 1 rows" in t.notes


def test_params_derived_from_flops_and_tokens(write_file):
    t = read_runs(write_file("tokens,flops,metric,value\n10B,6e19,loss,2.5\n"))
    assert t.df["params"].iloc[0] == pytest.approx(1e9)


def test_columns_are_matched_case_insensitively_and_aliases_read(write_file):
    t = read_runs(write_file("Params,num_tokens,Metric,Value\n1M,20M,loss,5\n"))
    assert t.df["tokens"].iloc[0] == 20e6
    assert (
        "read column 'Params' as 'params', 'num_tokens' as 'tokens', 'Metric' as 'metric', 'Value' as 'value'"
        in t.notes
    )


def test_extra_columns_are_numeric_when_every_cell_is_a_number(write_file):
    text = "params,tokens,metric,value,n_embed,note\n1M,20M,loss,5,125M,x\n2M,40M,loss,4,,\n"
    t = read_runs(write_file(text))
    assert t.df["n_embed"].tolist()[0] == 125e6 and np.isnan(t.df["n_embed"].iloc[1])
    assert t.df["note"].iloc[0] == "x" and pd.isna(t.df["note"].iloc[1])
    assert "n_embed" in t.variables() and "note" not in t.variables()


def test_steps_are_numbers_and_empty_step_is_final(write_file):
    t = read_runs(write_file(HEADER + "f,a,1M,20M,,100,loss,5\nf,a,1M,20M,,,loss,4.5\n"))
    assert t.df["step"].iloc[0] == 100 and np.isnan(t.df["step"].iloc[1])


def test_size_overrides_set_a_column_for_every_row(write_file):
    t = read_runs(write_file("step,metric,value\n100,loss,5\n"), params="125M", tokens=2e9)
    assert t.df["params"].iloc[0] == 125e6 and t.df["tokens"].iloc[0] == 2e9
    assert "params set to 1.25e+08 for all 1 rows (given as an argument)" in t.notes


# ----------------------------------------------------------------------------- wide tables
def test_wide_table_is_melted_with_metric_names_from_columns(write_file):
    path = write_file("params,tokens,loss,acc\n1M,20M,5.0,0.3\n2M,40M,4.5,\n")
    t = read_runs(path, y=["loss", "acc"])
    assert t.df[["metric", "value"]].values.tolist() == [["loss", 5.0], ["acc", 0.3], ["loss", 4.5]]
    assert "skipped 1 empty cells of 'loss', 'acc'" in t.notes


def test_wide_table_keeps_other_columns_as_extras(write_file):
    t = read_runs(write_file("params,tokens,loss,acc\n1M,20M,5.0,0.3\n"), y="loss")
    assert t.metrics() == ["loss"] and "acc" in t.df.columns


def test_y_on_a_long_table_selects_metrics(test_data):
    t = read_runs(test_data / "runs_small.csv", y="val_loss")
    assert len(t) == 1
    assert "y=['val_loss'] kept 1 of 5 rows" in t.notes


def test_unknown_y_column_lists_the_columns(write_file):
    path = write_file("params,tokens,loss\n1M,20M,5\n")
    assert error_of(path, y="los") == (
        "runs.csv: unknown column 'los' given as y; columns found: params, tokens, loss"
    )


def test_unknown_y_metric_of_a_long_table_lists_the_metrics(test_data):
    assert error_of(test_data / "runs_small.csv", y="acc") == (
        "runs_small.csv: unknown metric 'acc'; metrics: loss, val_loss"
    )


# ----------------------------------------------------------------------------- errors
def test_non_numeric_size_names_file_row_and_column(write_file):
    path = write_file(HEADER + "f,a,1M,20M,,,loss,5\nf,b,abc,20M,,,loss,5\n")
    assert error_of(path) == "runs.csv: row 3: column 'params': not a number: 'abc'"


def test_row_numbers_are_csv_line_numbers_even_after_blank_lines(write_file):
    path = write_file(HEADER + "f,a,1M,20M,,,loss,5\n\nf,b,2M,20M,,,loss,oops\n")
    assert error_of(path) == "runs.csv: row 4: column 'value': not a number: 'oops'"


def test_jsonl_row_numbers_are_line_numbers(write_file):
    text = '{"params": 1e6, "tokens": 2e7, "metric": "loss", "value": 5}\n\n{"params": -1, "tokens": 2e7, "metric": "loss", "value": 5}\n'
    assert (
        error_of(write_file(text, "r.jsonl"))
        == "r.jsonl: row 3: column 'params': must be positive: '-1'"
    )


def test_invalid_json_line_names_the_line(write_file):
    assert error_of(write_file('{"params": 1}\n{oops\n', "r.jsonl")) == (
        "r.jsonl: row 2: invalid JSON: Expecting property name enclosed in double quotes"
    )


def test_european_decimal_comma_is_not_a_number(write_file):
    path = write_file('params,tokens,metric,value\n1M,20M,loss,"3,5"\n')
    assert error_of(path) == "runs.csv: row 2: column 'value': not a number: '3,5'"


def test_thousands_separators_are_read(write_file):
    t = read_runs(write_file('params,tokens,metric,value\n"1,000,000",20M,loss,5\n'))
    assert t.df["params"].iloc[0] == 1e6


@pytest.mark.parametrize("column", ["params", "tokens", "flops"])
def test_non_positive_sizes_are_refused(write_file, column):
    cells = {"params": "1M", "tokens": "20M", "flops": "1.2e14"}
    cells[column] = "0"
    path = write_file("params,tokens,flops,metric,value\n" + ",".join(cells.values()) + ",loss,5\n")
    assert error_of(path) == f"runs.csv: row 2: column '{column}': must be positive: '0'"


def test_empty_value_is_refused(write_file):
    assert (
        error_of(write_file(HEADER + "f,a,1M,20M,,,loss,\n"))
        == "runs.csv: row 2: column 'value': empty value"
    )


def test_nan_text_is_an_empty_value(write_file):
    assert (
        error_of(write_file(HEADER + "f,a,1M,20M,,,loss,NaN\n"))
        == "runs.csv: row 2: column 'value': empty value"
    )


def test_infinite_value_is_refused(write_file):
    assert (
        error_of(write_file(HEADER + "f,a,1M,20M,,,loss,inf\n"))
        == "runs.csv: row 2: column 'value': not finite: 'inf'"
    )


def test_a_row_without_any_size_is_refused(write_file):
    path = write_file(HEADER + "f,a,,,,,loss,5\n")
    assert error_of(path) == (
        "runs.csv: row 2: column 'params': empty value (need at least one of params, tokens, flops)"
    )


def test_a_row_with_one_size_keeps_the_others_empty(write_file):
    runs = sl.read_runs(write_file(HEADER + "f,a,1M,,,,loss,5\nf,b,1M,20M,,,loss,4\n"))
    assert np.isnan(runs.df.loc[0, "tokens"]) and np.isnan(runs.df.loc[0, "flops"])
    assert runs.df.loc[1, "flops"] == pytest.approx(6 * 1e6 * 20e6)  # derived: two sizes given


def test_empty_metric_is_refused(write_file):
    assert (
        error_of(write_file(HEADER + "f,a,1M,20M,,,,5\n"))
        == "runs.csv: row 2: column 'metric': empty value"
    )


def test_a_table_without_size_columns_lists_columns_found(write_file):
    assert error_of(write_file("run,metric,value\nx,loss,5\n")) == (
        "runs.csv: missing size columns: need at least one of params, tokens, flops (a law in "
        "another column, such as scalerl:gpu_hours, still needs one: add a constant params "
        "column); columns found: run, metric, value"
    )


def test_a_compute_only_table_fits_a_law_of_compute(write_file):
    """L(C) data (Kaplan et al.'s compute frontier): flops only, nothing to derive."""
    rows = "".join(f"{c:g},loss,{1.7 + 170 * c**-0.117:.5f}\n" for c in np.geomspace(1e18, 1e23, 8))
    runs = sl.read_runs(write_file("flops,metric,value\n" + rows))
    assert runs.df["params"].isna().all() and runs.df["run_id"].iloc[0] == "runs-C1e+18"
    fit = sl.fit(runs, "power_floor:flops", bootstrap=0)
    assert fit.params["b"] == pytest.approx(0.117, rel=1e-3)
    with pytest.raises(InputError) as info:
        sl.fit(runs, "chinchilla", bootstrap=0)
    assert str(info.value) == (
        "runs.csv: column 'params': law 'chinchilla' needs column(s) params, tokens; "
        "the data has flops"
    )


def test_missing_value_column_suggests_y_for_wide_tables(write_file):
    assert error_of(write_file("params,tokens,loss\n1M,20M,5\n")) == (
        "runs.csv: missing column 'value' (a wide table with one column per metric needs "
        "y naming its column); columns found: params, tokens, loss"
    )


def test_header_only_file_has_no_rows(write_file):
    assert error_of(write_file(HEADER)) == "runs.csv: no rows"


def test_empty_file_has_no_rows(write_file):
    assert error_of(write_file("")) == "runs.csv: no rows"


def test_duplicate_key_names_the_row_and_the_first_occurrence(write_file):
    path = write_file(HEADER + "f,a,1M,20M,,,loss,5\nf,b,1M,20M,,,loss,5\nf,a,1M,20M,,,loss,4\n")
    assert error_of(path) == (
        "runs.csv: row 4: duplicate run_id 'a', step final, metric 'loss' (family 'f'; first at row 2)"
    )


def test_same_run_id_in_two_families_is_not_a_duplicate(write_file):
    t = read_runs(write_file(HEADER + "f,a,1M,20M,,,loss,5\ng,a,1M,20M,,,loss,5\n"))
    assert len(t) == 2


def test_missing_file_is_an_input_error(tmp_path):
    assert error_of(tmp_path / "nope.csv") == "nope.csv: no such file or directory".replace(
        "nope.csv", str(tmp_path / "nope.csv")
    )


def test_unknown_suffix_asks_for_format(write_file):
    assert error_of(write_file("x", "runs.txt")).startswith("runs.txt: unknown file type")


def test_unknown_format_is_refused(test_data):
    assert error_of(test_data / "runs_small.csv", format="xls") == (
        "unknown format 'xls' (known: csv, tsv, parquet, jsonl, wandb, tensorboard)"
    )


def test_csv_row_with_too_many_fields_is_malformed(write_file):
    path = write_file("params,tokens,metric,value\n1M,20M,loss,5\n1M,20M,loss,5,7\n")
    assert error_of(path) == "runs.csv: malformed CSV: line 3 has 5 fields, the header has 4"


def test_csv_first_row_with_too_many_fields_is_malformed(write_file):
    path = write_file("params,tokens,metric,value\n1M,20M,loss,5,7,8\n")
    assert error_of(path) == "runs.csv: malformed CSV: line 2 has more fields than the header"


def test_runtable_requires_canonical_columns():
    with pytest.raises(InputError, match="missing column\\(s\\) family, run_id"):
        RunTable(pd.DataFrame({"params": [1.0]}))


def test_list_of_dataframes_is_concatenated():
    a = pd.DataFrame(
        {"family": "a", "params": [1e6], "tokens": [2e7], "metric": "loss", "value": [5.0]}
    )
    b = a.assign(family="b")
    assert read_runs([a, b]).families() == ["a", "b"]


def test_dataframe_named_index_becomes_a_column():
    df = pd.DataFrame(
        {"params": [1e6], "tokens": [2e7], "metric": "loss", "value": [5.0]},
        index=pd.Index(["run-7"], name="run_id"),
    )
    assert read_runs(df).df["run_id"].tolist() == ["run-7"]


def test_parquet_rows_are_named_by_position(tmp_path):
    path = tmp_path / "runs.parquet"
    pd.DataFrame(
        {"params": [1e6, -2e6], "tokens": [2e7, 4e7], "metric": "loss", "value": [5.0, 4.0]}
    ).to_parquet(path)
    assert error_of(path) == "runs.parquet: row 2: column 'params': must be positive: '-2e+06'"


def test_row_numbers_are_file_lines_when_a_quoted_cell_spans_lines(write_file):
    text = (
        "family,run_id,params,tokens,metric,value,notes\n"
        'f,a,1M,20M,loss,5,"first line\nsecond line\nthird"\n'
        "\n"
        "f,b,2M,40M,loss,4,plain\n"
        "f,c,abc,40M,loss,4,x\n"
    )
    assert error_of(write_file(text)) == "runs.csv: row 7: column 'params': not a number: 'abc'"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_the_frame_read_can_be_edited_like_any_other(tmp_path, test_data, suffix):
    """Numbers read as views of the file's arrays are copied before they are handed out."""
    frame = pd.read_csv(test_data / "runs_small.csv")
    path = tmp_path / f"runs{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.assign(params=[1e7, 2e7, 4e7, 8e7, 1e7]).to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    t = read_runs(path)
    t.df.loc[0, "value"] = -1.0
    t.df.loc[0, "step"] = 7.0
    assert (t.df["value"].iloc[0], t.df["step"].iloc[0]) == (-1.0, 7.0)


def test_parquet_text_is_cleaned_like_csv_text(tmp_path):
    """Parquet text is read through its distinct values: stripping merges ' a' and 'a'."""
    frame = pd.DataFrame(
        {
            "family": ["", " f ", "f"],
            "run_id": [" a", "b", "NA"],
            "params": [1e6, 2e6, 4e6],
            "tokens": [2e7, 4e7, 8e7],
            "metric": ["loss", "loss ", "loss"],
            "value": [5.0, 4.5, 4.0],
        }
    )
    frame.to_parquet(tmp_path / "r.parquet")
    t = read_runs(tmp_path / "r.parquet")
    assert t.df["family"].tolist() == ["r", "f", "f"]
    assert t.df["run_id"].tolist() == ["a", "b", "f-N4M-D80M"]
    assert t.df["metric"].tolist() == ["loss"] * 3
    frame.assign(run_id=[" a", "a", "a"], family="f").iloc[:2].to_parquet(tmp_path / "d.parquet")
    assert error_of(tmp_path / "d.parquet") == (
        "d.parquet: row 2: duplicate run_id 'a', step final, metric 'loss' (family 'f'; first at row 1)"
    )
