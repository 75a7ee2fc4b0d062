"""Replicates (init and data-order seeds) and measurements taken during training."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from ladder_helpers import TINY_SPEC
from scalinglab.errors import InputError
from scalinglab.ladder.corpus import load_corpus
from scalinglab.ladder.spec import parse_spec
from scalinglab.ladder.train import Batches, train_run

pytestmark = pytest.mark.torch

REPLICATES = (
    TINY_SPEC
    + """
[[replicates]]
sizes = [{d_model = 16, n_layers = 1}, {d_model = 48, n_layers = 2}]
tokens = [3e4]
seeds = [1, 2]
[[replicates]]
sizes = [{d_model = 16, n_layers = 1}]
tokens = [3e4]
seeds = [3]
data_seed = 0
"""
)


def test_replicates_add_seeds_of_grid_points_with_their_data_order():
    runs = parse_spec(REPLICATES).runs
    extra = [r for r in runs if r.seed > 0]
    assert [(r.shape.d_model, r.tokens, r.seed, r.data_seed) for r in extra] == [
        (16, 30000, 1, None), (16, 30000, 2, None), (48, 30000, 1, None), (48, 30000, 2, None),
        (16, 30000, 3, 0),
    ]  # fmt: skip
    assert all(r.family == "tiny" for r in extra)  # replicates of the grid's points
    assert extra[-1].run_id.startswith("tiny-d16L1-30Ktok-cosine-s3-data0-")
    # the grid's runs keep the ids they had before replicates existed
    grid = parse_spec(TINY_SPEC).runs
    assert {r.run_id for r in grid} <= {r.run_id for r in runs}


def test_the_data_seed_orders_batches_apart_from_the_initialisation():
    runs = parse_spec(REPLICATES).runs
    base = next(r for r in runs if r.shape.d_model == 16 and r.seed == 0 and r.tokens == 30000)
    same_data = next(r for r in runs if r.seed == 3)  # data_seed 0, init seed 3
    other_data = next(r for r in runs if r.seed == 1 and r.shape.d_model == 16)
    corpus = load_corpus(base.corpus, val_fraction=base.val_fraction)
    first = {r.run_id: Batches(corpus, r, torch.device("cpu")).train_batch(1)[0]
             for r in (base, same_data, other_data)}  # fmt: skip
    assert torch.equal(first[base.run_id], first[same_data.run_id])
    assert not torch.equal(first[base.run_id], first[other_data.run_id])


def test_bad_replicates_and_evaluations_are_one_line_errors():
    with pytest.raises(InputError, match="data_seed must be"):
        parse_spec(REPLICATES.replace("data_seed = 0", 'data_seed = "fixed"'))
    with pytest.raises(InputError, match="metrics must be a list of probes, quant, tasks"):
        parse_spec(TINY_SPEC + '[evaluate]\nmetrics = ["speed"]\n')
    with pytest.raises(InputError, match=r"at must be fractions in \(0, 1\]"):
        parse_spec(TINY_SPEC + '[evaluate]\nmetrics = ["probes"]\nat = [0, 1]\n')


def test_a_run_measures_itself_and_keeps_its_weights(tmp_path):
    spec = TINY_SPEC + '[evaluate]\nmetrics = ["probes"]\nat = [0.5, 1.0]\nkeep_weights = true\n'
    cfg = parse_spec(spec).runs[0]
    assert cfg.evaluation_steps == [58, cfg.steps]
    result = train_run(cfg, tmp_path, device="cpu")
    rows = pd.read_csv(tmp_path / "rows.csv")
    probes = rows[rows["metric"] == "max_attn_logit"]
    assert probes["step"].tolist()[:2] == [58, cfg.steps]
    assert probes["step"].isna().sum() == 1  # the final model's value is a final row too
    assert (rows.loc[rows["metric"] == "max_output_logit", "value"] > 0).all()
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        f"step{cfg.steps}.pt", "step58.pt"
    ]  # fmt: skip
    saved = torch.load(tmp_path / "weights" / "step58.pt", weights_only=False)
    assert saved["config"]["run_id"] == cfg.run_id and saved["step"] == 58
    # measuring does not change training: the same run without it ends at the same loss
    plain = parse_spec(TINY_SPEC).runs[0]
    again = train_run(plain, tmp_path / "plain", device="cpu")
    assert again["final_val_loss"] == result["final_val_loss"]
