"""One training run: schedules, rows in the run-table schema, exact resume, divergence."""

import json
import math

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only add contention (xdist, Ray workers)

from ladder_helpers import SMALL_CORPUS, CrashAfter, SimulatedKill  # noqa: E402
from scalinglab.ladder.config import RunConfig  # noqa: E402
from scalinglab.ladder.sizing import ModelShape  # noqa: E402
from scalinglab.ladder.train import train_run  # noqa: E402
from scalinglab.runs.schedules import schedule_lr  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _cfg(**kw):
    base = dict(
        family="t",
        shape=ModelShape(32, 1, 2, seq_len=32),
        tokens=8 * 32 * 120,
        batch_size=8,
        lr=3e-3,
        eval_every=40,
        eval_tokens=4096,
        final_eval_tokens=8192,
        ckpt_every=40,
        corpus=SMALL_CORPUS,
        val_fraction=0.05,
    )
    base.update(kw)
    return RunConfig(**base)


def test_schedules_share_warmup_and_peak_and_end_where_they_should():
    kw = dict(warmup_steps=10, min_lr_ratio=0.1)
    lr = {s: schedule_lr(s, 100, 1.0, **kw) for s in ("cosine", "wsd", "constant")}
    for s in lr:  # lr[s][i] is step i + 1
        assert lr[s][4] == pytest.approx(0.5)
        assert lr[s][9] == pytest.approx(1.0)
    assert lr["cosine"][99] == pytest.approx(0.1)
    assert lr["wsd"][99] == pytest.approx(0.1)
    assert lr["wsd"][79] == pytest.approx(1.0)
    assert lr["constant"][99] == 1.0


def test_a_run_learns_and_writes_run_table_rows(tmp_path):
    cfg = _cfg()
    result = train_run(cfg, tmp_path / "r")
    assert result["status"] == "done" and result["corpus_fingerprint"]
    rows = pd.read_csv(tmp_path / "r" / "rows.csv", dtype={"step": "Int64"})
    assert list(rows.columns[:8]) == [
        "family",
        "run_id",
        "params",
        "tokens",
        "flops",
        "step",
        "metric",
        "value",
    ]
    train = rows[(rows.metric == "train_loss") & rows.step.notna()]
    assert len(train) == cfg.steps and train.step.is_monotonic_increasing
    assert train.value.iloc[-10:].mean() < train.value.iloc[:5].mean() - 0.5
    val = rows[(rows.metric == "val_loss") & rows.step.notna()]
    assert list(val.step) == [40, 80, 120]
    final = rows[rows.step.isna()].set_index("metric")
    assert final.loc["val_loss", "value"] == pytest.approx(result["final_val_loss"])
    assert final.loc["val_loss", "tokens"] == cfg.tokens_trained
    assert (rows.flops == 6 * rows.params * rows.tokens).all()
    assert (rows.flops_attn > rows.flops).all()
    assert (rows.params == cfg.params).all() and (rows.params_total > rows.params).all()
    assert rows.lr.notna().all()


def test_a_crashed_run_resumes_from_its_checkpoint_exactly(tmp_path):
    cfg = _cfg()  # a checkpoint every 40 steps
    whole = train_run(cfg, tmp_path / "whole")
    with pytest.raises(SimulatedKill):
        train_run(cfg, tmp_path / "crashed", after_step=CrashAfter(80))
    ckpt = tmp_path / "crashed" / "ckpt.pt"
    assert ckpt.exists() and not (tmp_path / "crashed" / "result.json").exists()
    # Rows are kept as plain tuples, as in checkpoints written before rows had names.
    assert type(torch.load(ckpt, weights_only=False)["rows"][0]) is tuple
    resumed = train_run(cfg, tmp_path / "crashed")
    assert resumed["resumed_from_step"] == 80
    assert resumed["final_val_loss"] == whole["final_val_loss"]
    # Same batches, same optimizer state: every loss equal to the last bit, not approximately.
    a = pd.read_csv(tmp_path / "whole" / "rows.csv")
    b = pd.read_csv(tmp_path / "crashed" / "rows.csv")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not ckpt.exists()  # removed once finished
    again = train_run(cfg, tmp_path / "crashed")  # finished: returned, not retrained
    assert again == json.loads((tmp_path / "crashed" / "result.json").read_text())


def test_divergence_stops_the_run_and_says_why(tmp_path):
    cfg = _cfg(lr=50.0, grad_clip=0.0, warmup=0.0)
    result = train_run(cfg, tmp_path / "r")
    assert result["status"] == "diverged"
    assert "step" in result["reason"]
    rows = pd.read_csv(tmp_path / "r" / "rows.csv", dtype={"step": "Int64"})
    assert rows.step.notna().all()  # no final rows: a diverged run has no final loss
    assert (rows.status == "diverged").all()
    assert rows.step.max() < cfg.steps


def test_learned_positions_and_untied_embeddings_train_too(tmp_path):
    shape = ModelShape(32, 1, 2, seq_len=32, positions="learned", tied_embeddings=False)
    result = train_run(_cfg(shape=shape, tokens=8 * 32 * 40), tmp_path / "r")
    assert result["status"] == "done" and math.isfinite(result["final_val_loss"])


def test_periodic_evaluation_spreads_its_windows_over_the_final_set():
    from scalinglab.ladder.corpus import load_corpus
    from scalinglab.ladder.train import Batches

    cfg = _cfg(eval_tokens=4 * 32, final_eval_tokens=64 * 32)
    corpus = load_corpus(cfg.corpus, val_fraction=cfg.val_fraction)
    batches = Batches(corpus, cfg, torch.device("cpu"))
    n_val = batches.val_x.shape[0]
    assert n_val == 64  # the final evaluation reads all 64 windows
    # 4 windows, first to last, evenly spaced: not a prefix of 4 (which would be one file)
    assert batches.eval_index.tolist() == [0, 21, 42, 63]
