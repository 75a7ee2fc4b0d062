"""The downstream commands: --json answers, exact numbers, and bad input as one line, exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app

runner = CliRunner()
LADDER_EVAL = Path(__file__).resolve().parents[1] / "data" / "ladder" / "eval" / "runs.csv"


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def error_line(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def task_csv(tmp_path: Path, acc=None, name: str = "runs.csv") -> Path:
    losses = np.linspace(4.0, 2.8, 10)
    acc = 0.25 + 0.6 / (1 + np.exp(-3 * (3.2 - losses))) if acc is None else acc
    lines = ["family,run_id,params,tokens,metric,value"]
    for i, (loss, a) in enumerate(zip(losses, acc, strict=True)):
        n = 1e7 * 2**i
        lines += [f"f,r{i},{n},{20 * n},val_loss,{loss}", f"f,r{i},{n},{20 * n},acc_syn,{a}"]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_passk_prints_the_unbiased_estimate():
    doc = run_json("passk", "--n", "100", "--c", "3", "--k", "1", "--k", "10")
    assert doc["pass_at_k"] == {"1": pytest.approx(0.03), "10": pytest.approx(0.2734693877551)}
    both = run_json("passk", "--n", "10", "--c", "0", "--c", "10", "--k", "1")
    assert both["pass_at_k"]["1"] == 0.5  # the mean over problems


def test_passk_refuses_impossible_counts_in_one_line():
    assert error_line("passk", "--n", "3", "--c", "5", "--k", "1") == (
        "error: --c must be at most n (correct samples cannot outnumber samples): c=5, n=3"
    )
    assert error_line("passk", "--n", "10", "--c", "2", "--k", "11") == (
        "error: --k must be at most n (pass@k needs k of the n samples): k=11, n=10"
    )


def test_verifier_ceiling():
    doc = run_json("verifier", "--pass-rate", "0.1", "--fpr", "0.05", "--k", "1")
    assert doc["ceiling"] == pytest.approx(0.1 / (0.1 + 0.9 * 0.05))
    assert doc["accuracy"]["1"] == pytest.approx(0.1)
    assert error_line("verifier", "--pass-rate", "0.1", "--fpr", "2") == (
        "error: --fpr must lie in [0, 1], got 2"
    )


def test_inference_cost_reproduces_the_hand_calculation():
    doc = run_json("inference-cost", "--params", "1e9", "--layers", "16", "--d-model", "2048",
                   "--prompt", "1024", "--generated", "1", "--accelerator", "h100")  # fmt: skip
    token = doc["per_sample"]
    assert token["flops"] == 2 * 1e9 + 4 * 16 * 2048 * 1024
    assert token["bytes"] == 2 * 1e9 + 2 * 16 * 2048 * 2 * 1025
    assert token["seconds"] == pytest.approx(token["bytes"] / 3.35e12)
    assert doc["memory_bound_share"] == 1.0


def test_downstream_fits_a_link_and_refuses_bad_metrics(tmp_path):
    path = task_csv(tmp_path)
    figure = tmp_path / "acc_vs_loss.png"
    doc = run_json("downstream", str(path), "--metric", "acc_*", "--loss", "val_loss",
                   "--chance", "0.25", "--bootstrap", "50", "--at", "loss=2.6",
                   "--figure", str(figure))  # fmt: skip
    assert figure.stat().st_size > 10_000
    task = doc["tasks"][0]
    assert task["status"] == "fitted" and task["chance"] == 0.25
    assert 0.25 < task["predictions"][0]["value"] < 1.0
    bad = task_csv(tmp_path, acc=np.full(10, 1.3), name="bad.csv")
    assert error_line("downstream", str(bad), "--metric", "acc_syn", "--loss", "val_loss") == (
        "error: --metric 'acc_syn' is an accuracy and must lie in [0, 1]; got 1.3 (run 'r0')"
    )
    assert error_line("downstream", str(path), "--metric", "acc_syn", "--loss", "val_loss",
                      "--chance", "0.5", "--ceiling", "0.4") == (
        "error: --chance 0.5 is not below the ceiling 0.4: a task whose best score is at or "
        "below chance cannot be fitted")  # fmt: skip
    assert error_line("downstream", str(path), "--metric", "pass@*", "--loss", "val_loss") == (
        "error: --metric 'pass@*' matches no metric of the runs (metrics: acc_syn, val_loss)"
    )


@pytest.mark.slow
def test_coverage_law_fitted_to_k_16_covers_k_100_for_every_model_size(tmp_path):
    # the bundled ladder measuring itself (data/ladder/eval): the six sizes at 200M tokens
    doc = run_json("coverage", str(LADDER_EVAL), "--task", "next_line", "--fit-max-k", "16",
                   "--check-k", "100", "--where", "tokens > 1.5e8", "--bootstrap", "300",
                   "--figure", str(tmp_path / "coverage.svg"))  # fmt: skip
    assert (tmp_path / "coverage.svg").read_text().startswith("<?xml")
    assert len(doc["runs"]) == 6 and doc["inside"] == 6
    assert all(r["b"] < 0 and r["a"] < 0 for r in doc["runs"])


@pytest.mark.slow
def test_inference_budget_names_the_best_model(tmp_path):
    doc = run_json("inference-budget", str(LADDER_EVAL), "--task", "next_line", "--budget",
                   "0.01", "--accelerator", "h200", "--where", "tokens > 1.5e8",
                   "--bootstrap", "100", "--figure", str(tmp_path / "frontier.png"))  # fmt: skip
    best = doc["best"][0]
    assert best["model"].startswith("N=") and best["k"] > 1 and 0 < best["coverage"] < 1
    assert (tmp_path / "frontier.png").stat().st_size > 10_000
    assert error_line("inference-budget", str(LADDER_EVAL), "--task", "next_line", "--budget",
                      "1", "--unit", "watts") == (
        "error: --unit must be one of seconds, flops, equivalent_flops, bytes, got 'watts'")  # fmt: skip
