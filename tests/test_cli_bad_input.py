"""Every bad input of the core issue, through the CLI: exit code 2 and one exact line."""

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app

runner = CliRunner()
HEADER = "family,run_id,params,tokens,flops,step,metric,value\n"
GOOD = "".join(
    f"f,r{i},{n},{20 * n},,,loss,{2 + 100 * n**-0.3:.4f}\n"
    for i, n in enumerate([1e6, 2e6, 4e6, 8e6, 16e6, 32e6, 64e6])
)

CASES = {
    "missing column": (
        "family,run_id,metric,value\nf,a,loss,3\n",
        [],
        "missing size columns: need at least one of params, tokens, flops (a law in another "
        "column, such as scalerl:gpu_hours, still needs one: add a constant params column); "
        "columns found: family, run_id, metric, value",
    ),
    "non-numeric size": (
        HEADER + "f,a,abc,1e9,,,loss,3\n",
        [],
        "row 2: column 'params': not a number: 'abc'",
    ),
    "NaN value": (HEADER + "f,a,1e6,1e9,,,loss,nan\n", [], "row 2: column 'value': empty value"),
    "non-positive size": (
        HEADER + "f,a,1e6,-5,,,loss,3\n",
        [],
        "row 2: column 'tokens': must be positive: '-5'",
    ),
    "empty file": ("", [], "no rows"),
    "header only": (HEADER, [], "no rows"),
    "duplicate key": (
        HEADER + "f,a,1e6,1e9,,,loss,3\nf,a,1e6,1e9,,,loss,3\n",
        [],
        "row 3: duplicate run_id 'a', step final, metric 'loss' (family 'f'; first at row 2)",
    ),
    "too few points": (
        HEADER + GOOD.split("\n", 3)[0] + "\n",
        [],
        "too few points for law 'chinchilla': 1 point(s) for 5 free parameters (need at least 6)",
    ),
    "unknown metric": (
        HEADER + GOOD,
        ["--y", "val_loss"],
        "unknown metric 'val_loss'; metrics: loss",
    ),
    "unknown family": (HEADER + GOOD, ["--family", "g"], "unknown family 'g'; families: f"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_exit_2_and_one_line_naming_file_row_column(case, tmp_path):
    text, extra, message = CASES[case]
    path = tmp_path / "runs.csv"
    path.write_text(text)
    result = runner.invoke(app, ["fit", str(path), *extra, "--bootstrap", "0"])
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line
    assert message in line
    if case not in ("too few points", "unknown metric", "unknown family"):
        assert line.startswith("error: runs.csv: ")


def test_missing_file_is_exit_2(tmp_path):
    result = runner.invoke(app, ["fit", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.csv'}: no such file or directory"


def test_filters_count_what_they_remove(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(HEADER + GOOD)
    result = runner.invoke(
        app,
        [
            "fit",
            str(path),
            "--law",
            "power_floor:params",
            "--where",
            "params > 1e6",
            "--bootstrap",
            "0",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "where 'params > 1e6' removed 1 of 7 rows" in result.stdout
