"""Hostile run tables: every one is read or refused in one line, never hangs, never lies.

Each test is a reproducer from issue 16 (or a close relative), built in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import signal
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalinglab.errors import InputError
from scalinglab.runs import files, read_runs

RECORD = {"family": "f", "params": 1e6, "tokens": 2e7, "metric": "loss", "value": 5.0}


@pytest.fixture(autouse=True)
def no_hang():
    """Fail a test that blocks (on a pipe, a device) instead of hanging the suite."""

    def hung(signum, frame):
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def error_of(*args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_runs(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# --------------------------------------------------------------------- what is opened at all
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "p.csv")  # nobody writes: opening it for reading would wait forever
    assert error_of(tmp_path / "p.csv") == "p.csv: is a named pipe, not a regular file"


def test_dev_zero_behind_a_symlink_is_refused(tmp_path):
    (tmp_path / "z.csv").symlink_to("/dev/zero")
    assert error_of(tmp_path / "z.csv") == "z.csv: is a character device, not a regular file"
    (tmp_path / "z.jsonl").symlink_to("/dev/zero")
    assert error_of(tmp_path / "z.jsonl") == "z.jsonl: is a character device, not a regular file"
    (tmp_path / "events.out.tfevents.1").symlink_to("/dev/zero")
    assert error_of(tmp_path / "events.out.tfevents.1") == (
        "events.out.tfevents.1: is a character device, not a regular file"
    )


@pytest.mark.parametrize("format", ["csv", "parquet", "jsonl"])
def test_a_directory_where_a_file_is_expected_is_one_line(tmp_path, format):
    (tmp_path / "d.csv").mkdir()
    assert (
        error_of(tmp_path / "d.csv", format=format) == "d.csv: is a directory, not a regular file"
    )


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 9 + "1]")
    with pytest.raises(InputError) as info:
        files.load_json(path, name="big.json", max_bytes=10)
    assert str(info.value) == "big.json: file too large: 21 bytes (the limit is 10)"


# ---------------------------------------------------------------------------- text and JSON
@pytest.mark.parametrize("name", ["r.jsonl", "r.json", "r.csv"])
def test_a_byte_that_is_not_utf8_is_named_with_its_line(tmp_path, name):
    first = "params,tokens,metric,value\n" if name.endswith(".csv") else ""
    if name.endswith(".csv"):
        body = "1M,20M,loss,5\n2M,40M,l\xe9oss,4\n"
    elif name.endswith(".json"):
        body = (
            '[{"params": 1e6, "tokens": 2e7, "metric": "loss", "value": 5},\n{"metric": "l\xe9"}]'
        )
    else:
        body = jsonl(RECORD) + '{"metric": "l\xe9oss"}\n'
    (tmp_path / name).write_bytes((first + body).encode("latin-1"))
    line = 3 if name.endswith(".csv") else 2
    assert error_of(tmp_path / name) == (
        f"{name}: row {line}: not UTF-8 text: byte 0xe9 cannot be decoded (save the file as UTF-8)"
    )


def test_an_integer_of_401_digits_is_one_line_not_an_overflow(write_file):
    text = (
        jsonl(RECORD)
        + '{"params": '
        + "9" * 401
        + ', "tokens": 2e7, "metric": "loss", "value": 4}\n'
    )
    assert error_of(write_file(text, "r.jsonl")) == (
        "r.jsonl: row 2: number too large: 999999999999...999999 (401 digits)"
    )


def test_json_nested_100000_deep_is_one_line_not_a_recursion_error(write_file):
    path = write_file("[" * 100_000 + "]" * 100_000, "deep.json")
    assert error_of(path) == "deep.json: JSON nested too deeply (more than 64 levels)"


def test_json_nested_past_the_limit_but_parseable_is_refused_too(write_file):
    path = write_file("[" * 100 + "]" * 100, "deep.json")
    assert error_of(path) == "deep.json: JSON nested too deeply (more than 64 levels)"


def test_a_json_boolean_is_not_a_number(write_file):
    text = jsonl(RECORD, {**RECORD, "params": True, "value": 4.0})
    assert error_of(write_file(text, "r.jsonl")) == (
        "r.jsonl: row 2: column 'params': not a number: True (a boolean)"
    )


def test_a_column_of_json_booleans_is_not_a_number(write_file):
    text = jsonl({**RECORD, "params": True}, {**RECORD, "params": False, "value": 4.0})
    assert error_of(write_file(text, "r.jsonl")) == (
        "r.jsonl: row 1: column 'params': not a number: True (a boolean)"
    )


def test_nested_json_values_of_an_extra_column_are_kept_as_json_text(write_file):
    text = jsonl({**RECORD, "config": {"lr": 0.001, "layers": [1, 2]}}, {**RECORD, "family": "g"})
    t = read_runs(write_file(text, "r.jsonl"))
    assert t.df["config"].iloc[0] == '{"lr": 0.001, "layers": [1, 2]}'
    assert pd.isna(t.df["config"].iloc[1])


def test_parquet_list_and_struct_columns_are_kept_as_json_text(tmp_path):
    table = pa.table(
        {
            "params": [1e6, 2e6],
            "tokens": [2e7, 4e7],
            "metric": ["loss", "loss"],
            "value": [5.0, 4.5],
            "layers": pa.array([[1, 2], [3]], type=pa.list_(pa.int64())),
            "opt": pa.array([{"name": "adam", "beta": 0.9}, None]),
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")
    t = read_runs(tmp_path / "r.parquet")
    assert t.df["layers"].tolist() == ["[1, 2]", "[3]"]
    assert t.df["opt"].iloc[0] == '{"name": "adam", "beta": 0.9}' and pd.isna(t.df["opt"].iloc[1])


def test_columns_differing_only_in_case_are_refused(write_file):
    path = write_file("params,Params,tokens,metric,value\n1M,2M,20M,loss,5\n")
    assert error_of(path) == (
        "runs.csv: columns 'params' and 'Params' differ only in case; keep one"
    )


# ------------------------------------------------------------------------------------ numbers
def test_a_derived_size_that_overflows_is_refused_with_its_row(write_file):
    path = write_file("params,tokens,metric,value\n1M,20M,loss,5\n1e200,1e200,loss,4\n")
    assert error_of(path) == (
        "runs.csv: row 3: column 'flops': 6*params*tokens is inf, not a positive finite number "
        "(params 1e+200, tokens 1e+200)"
    )


def test_a_derived_size_that_underflows_is_refused_with_its_row(write_file):
    path = write_file("params,flops,metric,value\n1e300,1e-300,loss,5\n")
    assert error_of(path) == (
        "runs.csv: row 2: column 'tokens': flops/(6*params) is 0, not a positive finite number "
        "(params 1e+300, flops 1e-300)"
    )


def chinchilla_like(n: int) -> pd.DataFrame:
    params = np.geomspace(1e7, 1e10, n)
    tokens = 20 * params
    loss = 1.7 + 400 * params**-0.34 + 400 * tokens**-0.28
    return pd.DataFrame({"params": params, "tokens": tokens, "metric": "loss", "value": loss})


def test_a_loss_of_1e_300_among_56_is_refused_with_its_row(tmp_path):
    frame = chinchilla_like(56)
    frame.loc[30, "value"] = 1e-300
    frame.to_csv(tmp_path / "runs.csv", index=False)
    assert error_of(tmp_path / "runs.csv") == (
        "runs.csv: row 32: column 'value': implausible 'loss' value '1e-300' (below 1e-30)"
    )


def test_a_loss_a_million_times_its_median_is_refused_with_its_row(tmp_path):
    frame = chinchilla_like(20)
    frame.loc[5, "value"] = 5e9
    frame.to_csv(tmp_path / "runs.csv", index=False)
    assert error_of(tmp_path / "runs.csv") == (
        "runs.csv: row 7: column 'value': implausible 'loss' value '5000000000.0' "
        "(1.7e+09 times from the median 2.938 of the metric; the limit is 1e+06)"
    )


def test_other_metrics_may_span_many_decades(tmp_path):
    """An lr warmup or fp16's loss_scale is not a loss: no plausibility limit."""
    frame = chinchilla_like(10)
    lr = frame.assign(metric="lr", value=np.geomspace(1e-12, 3e-4, 10))
    scale = frame.assign(metric="loss_scale", value=np.geomspace(1.0, 2.0**24, 10))
    pd.concat([frame, lr, scale]).to_csv(tmp_path / "runs.csv", index=False)
    assert len(read_runs(tmp_path / "runs.csv")) == 30


def test_a_negative_step_is_refused_not_dropped(write_file):
    path = write_file(
        "run_id,params,tokens,step,metric,value\na,1M,20M,100,loss,5\na,1M,20M,-5,loss,6\n"
    )
    assert error_of(path) == "runs.csv: row 3: column 'step': must not be negative: '-5'"


def test_typed_reading_quotes_cells_as_written(write_file):
    """The fast typed read falls back to text for its messages: '-5.0', not '-5'."""
    path = write_file("params,tokens,metric,value\n1M,20M,loss,5\n-5.0,20M,loss,4\n")
    assert error_of(path) == "runs.csv: row 3: column 'params': must be positive: '-5.0'"


# ----------------------------------------------------------------------------------- warnings
@pytest.mark.parametrize("n_extra", [100, 2000])
def test_wide_extra_columns_read_without_library_warnings(tmp_path, n_extra):
    frame = chinchilla_like(5)
    extras = pd.DataFrame(
        np.arange(5 * n_extra, dtype=float).reshape(5, n_extra),
        columns=[f"x{i}" for i in range(n_extra)],
    )
    pd.concat([frame, extras], axis=1).to_csv(tmp_path / "runs.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = read_runs(tmp_path / "runs.csv")
    assert [str(w.message) for w in caught] == []
    assert t.df.shape == (5, 8 + n_extra)


def test_a_json_column_mixing_numbers_and_text_is_read(write_file):
    """JSON writers mix "71400" and 500 in one field: both are numbers."""
    text = jsonl({**RECORD, "step": "71400", "lr": "1e-3"}, {**RECORD, "step": 500, "lr": 0.002})
    t = read_runs(write_file(text, "r.jsonl"))
    assert t.df["step"].tolist() == [71400.0, 500.0] and t.df["lr"].tolist() == [1e-3, 2e-3]


def test_refusals_print_no_library_warnings(tmp_path):
    cases = {
        "pipe.csv": None,
        "big.jsonl": '{"params": ' + "9" * 401 + "}\n",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "bool.jsonl": jsonl({**RECORD, "params": True}),
        "inf.csv": "params,tokens,metric,value\n1e200,1e200,loss,4\n",
        "tiny.csv": "params,tokens,metric,value\n1M,20M,loss,1e-300\n2M,20M,loss,3\n",
        "mixed.csv": "params,tokens,metric,value,x\n1M,20M,loss,4,1\n" + "2M,20M,loss,3,a\n" * 3,
    }
    os.mkfifo(tmp_path / "pipe.csv")
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in cases:
            try:
                read_runs(tmp_path / name)
            except InputError:
                pass
    assert [str(w.message) for w in caught] == []
