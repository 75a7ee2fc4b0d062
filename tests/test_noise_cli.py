"""``scalinglab noise``: the replicate table of a run table and what noise weights do to a
fit; one JSON object with --json, one error line and exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from scalinglab.cli import app

LADDER = str(Path(__file__).resolve().parents[1] / "data" / "ladder" / "runs.csv")


def test_noise_table_and_backtests_with_and_without_weights(shared_data):
    rerun = str(shared_data / "ladder_rerun_h200" / "runs.csv")
    out = CliRunner().invoke(app, [
        "noise", LADDER, "-r", rerun, "--y", "val_loss", "--family", "gpu-ladder",
        "--law", "chinchilla", "--holdout", "largest:1", "--bootstrap", "30", "--json",
    ])  # fmt: skip
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["n_points"] == 18 and doc["n_replicated"] == 18
    assert set(doc["fits"]) == {"none", "noise"}
    for part in doc["fits"].values():
        assert part["n_holdout"] == 3 and part["mean_abs_rel_error"] < 0.005
    assert doc["fits"]["noise"]["fit"]["noise"]["misfit_var"] > 0


def test_noise_bad_input_is_one_line():
    runner = CliRunner()
    out = runner.invoke(app, ["noise", LADDER, "--y", "val_loss", "--holdout", "largest:1"])
    assert out.exit_code == 2 and out.stderr.strip() == "error: --holdout needs --law"
    out = runner.invoke(app, ["noise", LADDER, "--y", "val_loss", "--by", "nope"])
    assert out.exit_code == 2 and "--by" in out.stderr and out.stderr.count("\n") == 1
