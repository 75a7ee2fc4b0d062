"""The precision commands: quantize a ladder checkpoint, make the qid rows, plan for a served
precision; bad input exits 2 with one line."""

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from scalinglab.cli import app  # noqa: E402
from scalinglab.ladder.config import RunConfig  # noqa: E402
from scalinglab.ladder.train import save_checkpoint  # noqa: E402
from scalinglab.synthetic import chinchilla_grid, simulate  # noqa: E402
from test_precision_law import ladder_table  # noqa: E402
from test_quant_model import SHAPE, train_tiny_gpt  # noqa: E402

pytestmark = pytest.mark.torch
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A final-weights file ``{model, config}`` and a run folder's ``ckpt.pt`` + config.json."""
    root = tmp_path_factory.mktemp("ckpt")
    corpus = root / "corpus"  # the Python files the model was trained on (not their .pyc)
    corpus.mkdir()
    for path in Path(asyncio.__file__).parent.glob("*.py"):
        shutil.copy(path, corpus)
    model = train_tiny_gpt()
    cfg = RunConfig(
        family="t", shape=SHAPE, tokens=32 * 32 * 40, batch_size=32, corpus=str(corpus),
        val_fraction=0.05, eval_tokens=2048,
    )  # fmt: skip
    final = root / "final.pt"
    torch.save({"model": model.state_dict(), "config": cfg.to_dict()}, final)
    run = root / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    save_checkpoint(run / "ckpt.pt", model, torch.optim.AdamW(model.parameters()), 30, [], 1.0)
    return final, run / "ckpt.pt"


def test_quantize_reports_the_qid_of_each_quantizer(checkpoints):
    final, _ = checkpoints
    result = invoke(
        "quantize", final, "--config", "w8_rtn", "--config", "w2s_rtn", "--config", "kv2", "--json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["params"] == RunConfig(family="t", shape=SHAPE, tokens=40960).params
    assert doc["eval_tokens"] == 2048 and doc["device"] == "cpu" and doc["step"] is None
    metrics = doc["metrics"]
    assert set(metrics) == {"val_loss_bf16"} | {
        f"{p}_{c}" for c in ("w8_rtn", "w2s_rtn", "kv2") for p in ("val_loss", "qid")
    }
    assert abs(metrics["qid_w8_rtn"]) < 0.01 < metrics["qid_w2s_rtn"]


def test_quantize_reads_a_training_checkpoint_beside_its_config(checkpoints):
    _, ckpt = checkpoints
    result = invoke(
        "quantize", ckpt, "--bits", "3", "--group", "32", "--method", "awq", "--eval-tokens",
        1024, "--calibration", 4, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["step"] == 30 and doc["tokens"] == 30 * 32 * 32
    assert doc["eval_tokens"] == 1024 and doc["calibration_tokens"] == 4 * 32
    assert set(doc["metrics"]) == {"val_loss_bf16", "val_loss_w3g32_awq", "qid_w3g32_awq"}


def test_quantize_prints_a_table_without_json(checkpoints):
    result = invoke("quantize", checkpoints[0], "--bits", "8", "--eval-tokens", 512)
    assert result.exit_code == 0, result.stderr
    assert "w8g32_rtn" in result.stdout and "as trained" in result.stdout


def test_quantize_refuses_bad_input_in_one_line(checkpoints, tmp_path):
    final, _ = checkpoints
    csv = tmp_path / "runs.csv"
    csv.write_text("family,params\nx,1\n")
    wrong = tmp_path / "wrong.pt"
    state = torch.load(final, weights_only=True)
    state["config"]["shape"]["d_model"] = 32
    torch.save(state, wrong)
    cases = [
        ((csv,), "not a ladder checkpoint"),
        ((tmp_path / "missing.pt",), "no such checkpoint file"),
        ((final, "--bits", "9"), "--bits 9 is not a supported bit width: use 2 to 8"),
        ((final, "--group", "48"), "48 does not divide the layer width 64"),
        ((final, "--method", "gptq"), "--method must be rtn or awq"),
        ((final, "--config", "w4g128"), "unknown quantizer 'w4g128'"),
        ((wrong,), "not a checkpoint of the model its config describes"),
    ]
    for args, message in cases:
        result = invoke("quantize", *args)
        assert result.exit_code == 2, (args, result.stdout)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- qid rows, the qid fit and precision planning ---------------------------------------------


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    root = tmp_path_factory.mktemp("fits")
    ladder = root / "ladder.csv"
    ladder_table().to_csv(ladder, index=False)
    loss = root / "loss.csv"
    truth = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
    simulate("chinchilla", truth, chinchilla_grid(), noise=0.003).df.to_csv(loss, index=False)
    qid_csv = root / "qid.csv"
    result = invoke("qid-table", ladder, "-o", qid_csv, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["rows"] == 54 and doc["bits"] == [2, 3, 4] and doc["runs"] == 54
    out = {}
    for name, runs, law, y in (
        ("loss", loss, "chinchilla", "loss"),
        ("qid", qid_csv, "qid", "qid"),
    ):
        out[name] = root / f"{name}.json"
        result = invoke("fit", runs, "--law", law, "--y", y, "-b", 30, "-o", out[name], "--json")
        assert result.exit_code == 0, result.stderr
    return out


def test_plan_precision_answers_both_questions(fits):
    result = invoke("plan-precision", fits["loss"], fits["qid"], "--bits", 4, "--params", "1e7",
                    "--target-loss", 4.8, "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bits"] == 4 and doc["params"] == 1e7
    assert doc["tokens_to_target"] < doc["tokens"] < doc["tokens_past_target"]
    assert doc["ci"]["tokens"][0] <= doc["tokens"] <= doc["ci"]["tokens"][1]
    result = invoke("plan-precision", fits["loss"], fits["qid"], "--bits", 3, "--flops", "1e21",
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["params"] > doc["full_precision_params"]  # low precision favours larger models
    assert doc["loss"] <= doc["full_precision_served_loss"]


def test_plan_precision_refuses_bad_questions_in_one_line(fits):
    cases = [
        (("--bits", 4), "give --flops (choose N and D) or --params"),
        (("--bits", 4, "--flops", "1e21", "--params", "1e7"), "give --flops"),
        (("--bits", 4, "--flops", "1e21", "--target-loss", 3), "--target-loss goes with --params"),
        (("--bits", 0, "--params", "1e7"), "--bits must be a positive number"),
    ]
    for args, message in cases:
        result = invoke("plan-precision", fits["loss"], fits["qid"], *args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
    swapped = invoke("plan-precision", fits["qid"], fits["loss"], "--bits", 4, "--params", "1e7")
    assert swapped.exit_code == 2 and "needs a law of params and tokens" in swapped.stderr
