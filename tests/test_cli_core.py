"""The CLI contract: one JSON object with --json; exit 2 and one line on bad input."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.synthetic import chinchilla_grid, simulate

runner = CliRunner()
TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "runs.csv"
    simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0).df.to_csv(
        path, index=False
    )
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_fit_json_is_one_object_with_the_design_fields(runs_csv, tmp_path):
    out = tmp_path / "fit.json"
    result = invoke("fit", runs_csv, "--law", "chinchilla", "--bootstrap", 50, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    for key in ("law", "params", "ci", "n_points", "loss", "converged", "warnings"):
        assert key in doc
    assert doc["law"] == "chinchilla" and doc["n_points"] == 72
    assert doc["params"]["alpha"] == pytest.approx(0.34, rel=0.05)
    assert set(doc["ci"]) >= {"E", "A", "alpha", "B", "beta"}
    assert json.loads(out.read_text())["params"] == doc["params"]


def test_predict_from_a_saved_fit(runs_csv, tmp_path):
    out = tmp_path / "fit.json"
    assert invoke("fit", runs_csv, "--bootstrap", 30, "-o", out, "--json").exit_code == 0
    result = invoke(
        "predict", out, "--at", "params=70B,tokens=1.4T", "--at", "params=1e9,tokens=2e10", "--json"
    )
    assert result.exit_code == 0, result.stderr
    preds = json.loads(result.stdout)["predictions"]
    assert [p["params"] for p in preds] == [7e10, 1e9]
    assert all(p["lo"] <= p["value"] <= p["hi"] for p in preds)


def test_fit_and_backtest_read_the_column_of_a_wide_table_named_by_y(runs_csv, tmp_path):
    # One column per metric (a W&B-style export): --y names the column to fit.
    long = pd.read_csv(runs_csv)
    wide = tmp_path / "wide.csv"
    long.drop(columns=["metric", "value"]).assign(val_loss=long["value"]).to_csv(wide, index=False)
    fitted = invoke("fit", wide, "--y", "val_loss", "--bootstrap", 0, "--json")
    assert fitted.exit_code == 0, fitted.stderr
    doc = json.loads(fitted.stdout)
    assert doc["n_points"] == 72 and doc["params"]["alpha"] == pytest.approx(0.34, rel=0.05)
    held = invoke(
        "backtest", wide, "--y", "val_loss", "--holdout", "flops > 1e20", "-b", 0, "--json"
    )
    assert held.exit_code == 0 and json.loads(held.stdout)["n_holdout"] == 12
    missing = invoke("fit", wide, "--bootstrap", 0)
    assert missing.exit_code == 2 and missing.stderr == (
        "error: wide.csv: missing column 'value' (a wide table with one column per metric needs "
        "--y naming its column); columns found: family, run_id, params, tokens, flops, step, val_loss\n"
    )


def test_backtest_json_reports_error_and_verdict(runs_csv):
    result = invoke("backtest", runs_csv, "--holdout", "flops > 1e20", "--bootstrap", 30, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["n_holdout"] == 12 and doc["mean_abs_rel_error"] < 0.02
    assert doc["verdict"].startswith("good: mean |relative error|")


def test_laws_json_lists_every_law_with_formula_and_reference():
    doc = json.loads(invoke("laws", "--json").stdout)
    names = [law["name"] for law in doc["laws"]]
    assert {
        "chinchilla",
        "kaplan_n",
        "kaplan_d",
        "kaplan_nd",
        "power:flops",
        "power_floor:flops",
    } <= set(names)
    assert all(law["formula"] and law["reference"] and law["parameters"] for law in doc["laws"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "{runs}", "--fix", "alpha"], "error: --fix 'alpha': expected name=value"),
        (
            ["fit", "{runs}", "--fix", "alpha=abc"],
            "error: --fix alpha=abc: expected a number, 'published' or a fit .json file",
        ),
        (
            ["fit", "{runs}", "--bound", "alpha=2:1"],
            "error: --bound alpha=2:1: expected lo:hi with lo < hi",
        ),
        (
            ["fit", "{runs}", "--bound", "E=-10:-5", "--bootstrap", "0"],
            "error: runs.csv: law 'chinchilla' has no finite fit to these runs inside its bounds "
            "(every start predicts a value <= 0 or non-finite somewhere); check the bounds and "
            "fixed values",
        ),
        (
            ["fit", "{runs}", "--law", "chinchila"],
            "error: unknown law 'chinchila' (known: chinchilla, kaplan_n, kaplan_d, kaplan_nd, "
            "kaplan_ns, farseer, data_constrained,",
        ),
        (
            ["fit", "{runs}", "--law", "E + A*width**-a"],
            "error: law formula 'E + A*width**-a' uses none of the data's columns",
        ),
        (
            ["fit", "{runs}", "--where", "loss < 3"],
            "error: where 'loss < 3' refers to unknown column(s) loss",
        ),
        (
            ["backtest", "{runs}", "--holdout", "largest:72"],
            "error: --holdout largest:72: need 1 <= K < 72 (the number of distinct params values)",
        ),
        (
            ["backtest", "{runs}", "--holdout", "flops > 1e30"],
            "error: --holdout 'flops > 1e30' holds out no run",
        ),
        (["predict", "{runs}", "--at", "params=1"], "error: {runs}: not a scalinglab fit"),
        (
            ["predict", "missing.json", "--at", "params=1"],
            "error: missing.json: no such file or directory",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(runs_csv, args, message):
    result = invoke(*[a.replace("{runs}", str(runs_csv)) for a in args])
    assert result.exit_code == 2
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(message.replace("{runs}", str(runs_csv)))


def test_an_unknown_law_lists_every_law_by_name(runs_csv):
    from scalinglab.laws.zoo import law_names

    result = invoke("fit", str(runs_csv), "--law", "chinchila")
    known = ", ".join(law_names())
    assert (
        result.stderr.strip()
        == f"error: unknown law 'chinchila' (known: {known}; or type a formula)"
    )
    assert {"qid", "overtrain", "bnsl", "lr_annealing"} <= set(law_names())


def test_help_groups_every_command_under_a_heading_with_one_line_paragraphs():
    import typer

    from scalinglab.cli import PANELS

    root = typer.main.get_command(app)
    headings = {name: command.rich_help_panel for name, command in root.commands.items()}
    assert set(headings.values()) == {*PANELS, "Make data"}, headings
    text = invoke("--help").stdout
    assert all(f"─ {panel} ─" in text for panel in PANELS)
    for name, command in root.commands.items():
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, (name, paragraph)
