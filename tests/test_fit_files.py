"""FIT files (issue 16, item 2): the guarded open, the versioned schema, the checks beside it.

Every reproducer of the issue ends as one exact ``error:`` line with exit code 2, through
``predict`` and ``plan``; a fit saved by this version or by 0.1 reads back unchanged.
"""

import copy
import json
import math
import os
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.fitting import saved
from scalinglab.fitting.api import fit as fit_law
from scalinglab.fitting.options import FitOptions
from scalinglab.fitting.result import FitResult
from scalinglab.synthetic import chinchilla_grid, simulate

runner = CliRunner()
TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


@pytest.fixture(scope="module")
def fitted():
    runs = simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0)
    return fit_law(runs, "chinchilla", FitOptions(bootstrap=20, influence=False))


@pytest.fixture
def saved_doc(fitted):
    return json.loads(json.dumps(fitted.to_json()))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(doc, name="bad.json"):
    with open(name, "w") as fh:
        fh.write(doc if isinstance(doc, str) else json.dumps(doc))
    return name


def refusal(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def edited(doc, change):
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


# -- the reproducers of issue 16 ------------------------------------------------------------
def _short_bootstrap(doc):
    doc["bootstrap"] = [row[:3] for row in doc["bootstrap"]]


REPRODUCERS = {
    "params null": (
        lambda d: d.update(params=None),
        "params: expected an object, got null",
    ),
    "a parameter missing": (
        lambda d: d["params"].pop("E"),
        "params: missing 'E', a parameter of law 'chinchilla'",
    ),
    "bootstrap of the wrong shape": (
        _short_bootstrap,
        "bootstrap: replicates of 3 values; the law has 5 parameters (one column each)",
    ),
    "a huge robust_sd": (
        lambda d: d["residuals"].update(robust_sd=1e300),
        "residuals.robust_sd: must be <= 10, got 1e+300",
    ),
    "a short data_range": (
        lambda d: d["data_range"].update(params=[1e7]),
        "data_range.params: expected 2 items, got 1",
    ),
    "E = -1": (
        lambda d: d["params"].update(E=-1.0),
        "params.E: -1.0 is outside its bounds [0, inf]",
    ),
    "a formula 'a'*10**9": (
        lambda d: d["law_spec"].update(formula="'a'*10**9"),
        "law_spec: law formula \"'a'*10**9\": text 'a' can only be compared "
        "(family == 'x'), not used as a number",
    ),
}


@pytest.mark.parametrize("command", ["predict", "plan"])
@pytest.mark.parametrize("case", list(REPRODUCERS))
def test_each_reproducer_is_one_exact_line(case, command, saved_doc, in_tmp):
    change, message = REPRODUCERS[case]
    path = write(edited(saved_doc, change))
    question = ["--at", "params=70B,tokens=1.4T"] if command == "predict" else ["--flops", "1e23"]
    assert refusal(command, path, *question) == f"error: bad.json: not a scalinglab fit: {message}"


@pytest.mark.parametrize("command", ["predict", "plan"])
def test_n_points_infinity_is_one_line(command, saved_doc, in_tmp):
    text = json.dumps(saved_doc).replace('"n_points": 72', '"n_points": Infinity')
    question = ["--at", "params=70B,tokens=1.4T"] if command == "predict" else ["--flops", "1e23"]
    assert refusal(command, write(text), *question) == (
        "error: bad.json: not a scalinglab fit: n_points: expected a whole number, got Infinity"
    )


def test_an_estimate_outside_its_own_replicates_is_refused(saved_doc, in_tmp):
    # inside alpha's bounds [0, 3], far from its 20 replicates (0.33..0.35)
    path = write(edited(saved_doc, lambda d: d["params"].update(alpha=2.0)))
    line = refusal("predict", path, "--at", "params=70B,tokens=1.4T")
    assert line.startswith("error: bad.json: not a scalinglab fit: params.alpha: 2.0 lies outside")
    assert "its own 20 bootstrap replicates [0.33" in line


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("family,run_id,params\n", "not a scalinglab fit: invalid JSON: Expecting value (line 1)"),
        ("[1, 2]", "not a scalinglab fit: expected an object, got a list"),
        ("[" * 100_000, "not a scalinglab fit: JSON nested too deeply (more than 64 levels)"),
        (
            '{"n_points": 1' + "0" * 400 + "}",
            "not a scalinglab fit: number too large: 100000000000...000000 (401 digits) (line 1)",
        ),  # fmt: skip
    ],
)
def test_foreign_files_are_one_line(content, message, in_tmp):
    assert refusal("predict", write(content), "--at", "params=1") == f"error: bad.json: {message}"


def test_a_parquet_file_a_directory_and_a_fifo_are_one_line(in_tmp):
    (in_tmp / "runs.parquet").write_bytes(b"PAR1\x15\x04\xe9\xff" + bytes(range(256)))
    assert refusal("plan", "runs.parquet", "--flops", "1e23") == (
        "error: runs.parquet: not a scalinglab fit: not UTF-8 text: byte 0xe9 cannot be decoded "
        "(save the file as UTF-8) (line 1)"
    )
    os.mkdir("a_dir")
    assert refusal("plan", "a_dir", "--flops", "1e23") == (
        "error: a_dir: is a directory, not a regular file"
    )
    os.mkfifo("pipe.json")
    assert refusal("predict", "pipe.json", "--at", "params=1") == (
        "error: pipe.json: is a named pipe, not a regular file"
    )
    os.symlink("/dev/zero", "zero.json")
    assert refusal("predict", "zero.json", "--at", "params=1") == (
        "error: zero.json: is a character device, not a regular file"
    )


def test_fix_from_a_broken_fit_file_is_one_line(saved_doc, in_tmp, tmp_path):
    runs = tmp_path / "runs.csv"
    simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0).df.to_csv(runs)
    path = write(edited(saved_doc, lambda d: d.update(params=None)))
    line = refusal("fit", str(runs), "--fix", f"alpha={path}", "--bootstrap", "0")
    assert line == "error: bad.json: not a scalinglab fit: params: expected an object, got null"


# -- what loads -----------------------------------------------------------------------------
def test_a_saved_fit_is_strict_json_with_its_schema_version_and_reads_back(fitted, tmp_path):
    path = fitted.save(tmp_path / "fit.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert doc["schema_version"] == saved.SCHEMA_VERSION == 1
    back = FitResult.from_json(path)
    assert back.params == fitted.params
    np.testing.assert_array_equal(back.samples, fitted.samples)
    assert back.to_json() == json.loads(json.dumps(fitted.to_json()))


def test_a_fit_saved_by_version_0_1_still_reads(saved_doc):
    old = edited(saved_doc, lambda d: d.pop("schema_version"))
    old["calibration"] = old.pop("extrapolation") | {"growth": 2e-4}
    del old["calibration"]["per_decade"]
    old["bootstrap"][3] = [float("nan")] * 5  # 0.1 wrote a failed replicate as NaN
    text = json.dumps(old)  # NaN tokens, as 0.1's json.dumps wrote them
    fit = FitResult.from_json(text)
    assert fit.params == saved_doc["params"]
    assert np.isnan(fit.samples[3]).all() and fit.extrapolation.per_decade > 0


def test_nan_and_infinity_count_as_null_where_null_is_allowed(saved_doc):
    text = (
        json.dumps(saved_doc)
        .replace(json.dumps(saved_doc["extrapolation"]), "Infinity")
        .replace('"loss": ', '"loss": NaN, "_loss": ')
    )
    fit = FitResult.from_json(text)
    assert fit.extrapolation is None and np.isnan(fit.objective)
    with pytest.raises(InputError, match=r"params\.E: expected a finite number, got NaN$"):
        FitResult.from_json(json.dumps(edited(saved_doc, lambda d: d["params"].update(E=math.nan))))


def test_a_newer_schema_version_is_refused(saved_doc):
    with pytest.raises(InputError) as info:
        FitResult.from_json(edited(saved_doc, lambda d: d.update(schema_version=2)))
    assert str(info.value) == (
        "not a scalinglab fit: schema_version: 2 is not a version this scalinglab reads "
        "(it reads 1; a newer scalinglab wrote this file?)"
    )


def test_a_fixed_parameter_outside_its_bounds_reads_back(tmp_path):
    # --fix E=-1 is the user's choice: the fit says it was fixed, and it reloads
    runs = simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0)
    fit = fit_law(runs, "chinchilla", FitOptions(bootstrap=12, fix={"E": -1.0}, influence=False))
    assert FitResult.from_json(fit.save(tmp_path / "fit.json")).params["E"] == -1.0


def test_a_large_bootstrap_is_checked_quickly(saved_doc):
    import time

    doc = copy.deepcopy(saved_doc)
    doc["bootstrap"] = [doc["bootstrap"][i % 20] for i in range(20_000)]
    start = time.perf_counter()
    assert len(FitResult.from_json(doc).samples) == 20_000
    assert time.perf_counter() - start < 10  # the validator alone would take ~1 s per 20 k cells


def test_a_bad_cell_deep_in_the_bootstrap_is_named(saved_doc):
    doc = copy.deepcopy(saved_doc)
    doc["bootstrap"][17][2] = True
    with pytest.raises(InputError, match=r"^not a scalinglab fit: bootstrap\[17\]\[2\]: "
                       r"expected a finite number or null, got true$"):  # fmt: skip
        FitResult.from_json(doc)


# -- --at, and prediction without numpy's noise ---------------------------------------------
@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("params=-1,tokens=1T", "--at params=-1: a size must be positive"),
        ("params=0,tokens=1T", "--at params=0: a size must be positive"),
        ("params=1e400,tokens=1T", "--at params=1e400: not a finite number"),
        ("params=nan,tokens=1T", "--at params: not a number: 'nan'"),
        ("foo=1", "--at 'foo=1': 'foo' is not a variable (the law's variables: params, tokens)"),
        (
            "params=70B",
            "--at 'params=70B': 'tokens' is missing (the law's variables: params, tokens)",
        ),
        ("params=1B,params=2B,tokens=1T", "--at 'params=2B': params given twice"),
        (
            "params=1e300,tokens=1e300",
            "--at 'params=1e300,tokens=1e300': the prediction "
            "interval there is unbounded (1.8e+308 decades past the data)",
        ),  # fmt: skip
    ],
)
def test_predict_refuses_bad_points(at, message, fitted, in_tmp):
    path = str(fitted.save("fit.json"))
    assert refusal("predict", path, "--at", at) == f"error: {message}"


def test_report_refuses_a_name_no_law_has(tmp_path):
    runs = tmp_path / "runs.csv"
    simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0).df.to_csv(runs)
    line = refusal("report", str(runs), "--bootstrap", "0", "--holdout", "none", "--at",
                   "params=70B,foo=1", "-o", str(tmp_path / "r.html"))  # fmt: skip
    assert line == (
        "error: --at 'params=70B,foo=1': 'foo' is not a variable of the laws fitted "
        "(params, tokens)"
    )
    assert not (tmp_path / "r.html").exists()


def test_the_library_refuses_non_positive_sizes(fitted):
    with pytest.raises(InputError, match=r"^at params=-1.0: a size must be positive$"):
        fitted.predict({"params": -1.0, "tokens": 1e12})


def test_predictions_and_intervals_print_no_numpy_warnings(fitted):
    broken = copy.deepcopy(fitted)
    broken.samples = np.full_like(fitted.samples, np.nan)  # every replicate failed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert broken.conf_int().isna().all().all()
        frame = broken.predict({"params": [7e10, 1e300], "tokens": [1.4e12, 1e300]})
        fitted.predict({"params": 1e-300, "tokens": 1e-300})
    assert np.isnan(frame["lo"]).all() and np.isfinite(frame["value"]).all()
