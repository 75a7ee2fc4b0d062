"""Instability (issue 17, item 4, the analysis): which sizes and learning rates of an LR sweep
sit near the divergence cliff (Wortsman et al. 2023), with the attention- and output-logit
probes read when the run table has them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.planning.hyperparams import lr_cliff

SWEEP = Path(__file__).resolve().parents[1] / "data" / "ladder" / "lr-sweep-50m"
FILES = [str(SWEEP / "lr-x1.csv"), str(SWEEP / "runs.csv")]


def test_bundled_sweep_the_three_largest_sizes_fall_off_the_cliff_at_4x():
    c = lr_cliff(FILES, y="val_loss")
    by_state = c.runs.groupby("state")["params"].apply(sorted).to_dict()
    large = [3934976.0, 7376960.0, 14162304.0]
    assert by_state["past cliff"] == large and by_state["near cliff"] == large
    past = c.runs[c.runs["state"] == "past cliff"]
    # each at 4x the first learning-rate rule, 5.8% to 35% above the size's best
    assert past["excess"].round(3).tolist() == [0.058, 0.116, 0.353]
    near = c.runs[c.runs["state"] == "near cliff"]
    assert (near["lr"] * 2 == past["lr"].to_numpy()).all()  # the 2x runs, one step below
    sizes = c.sizes.set_index("params")
    assert sizes.loc[[443232.0, 787584.0, 1771200.0], "lr_cliff"].isna().all()
    assert sizes.loc[large, "headroom"].tolist() == pytest.approx([2.27, 2.72, 3.19], abs=0.01)
    assert c.trend["alpha"] == pytest.approx(0.16, abs=0.02)  # the cliff falls with size
    assert any("no cliff within the sweep" in w for w in c.warnings)


def _sweep_with_probes() -> pd.DataFrame:
    rows = []
    for lr, final, attn_end in ((1e-3, 3.0, 40.0), (2e-3, 2.9, 45.0), (4e-3, 2.95, 60.0),
                                (8e-3, 3.6, 2000.0)):  # fmt: skip
        rid = f"lr{lr:g}"
        base = {"family": "s", "run_id": rid, "params": 1e6, "tokens": 1e8, "peak_lr": lr}
        curve = [5.0, 4.0, 3.5, final + 0.1] if lr < 8e-3 else [5.0, 3.2, 4.5, 3.7]
        for step, v in zip((250, 500, 750, 1000), curve, strict=True):
            rows.append({**base, "step": step, "metric": "loss", "value": v})
        rows.append({**base, "step": np.nan, "metric": "loss", "value": final})
        for step, frac in ((250, 0.25), (500, 0.5), (750, 0.75), (1000, 1.0)):
            rows.append({**base, "step": step, "metric": "max_attn_logit",
                         "value": 20 + (attn_end - 20) * (frac - 0.25) / 0.75})  # fmt: skip
            rows.append({**base, "step": step, "metric": "max_output_logit", "value": 15.0})
    return pd.DataFrame(rows)


def test_logit_probes_and_loss_spikes_are_flagged_when_present():
    c = lr_cliff(_sweep_with_probes(), y="loss")
    runs = c.runs.set_index("lr")
    assert runs.loc[8e-3, "state"] == "past cliff"
    flags = runs.loc[8e-3, "flags"]
    assert "loss spike at step 750" in flags
    assert "attention logits grew" in flags and "peaked at 44x those at the best lr" in flags
    assert runs.loc[4e-3, "state"] == "near cliff" and runs.loc[4e-3, "flags"] == ""
    assert runs.loc[8e-3, "max_attn_logit"] == 2000.0
    assert runs.loc[2e-3, "max_output_logit_growth"] == 1.0


PROBES = Path(__file__).resolve().parents[1] / "data" / "ladder" / "lr-probes" / "runs.csv"


def test_bundled_probes_sweep_attention_logits_peak_early_past_the_cliff():
    """The GPU sweep of 1x-8x the ladder's rule with logit probes along training, joined to the
    first sweep (0.5x-4x the old rule) so every size's optimum lies inside the sweep."""
    c = lr_cliff([*FILES, str(PROBES)], y="val_loss")
    runs = c.runs.assign(ratio=(c.runs["lr"] / (24.4 * c.runs["params"] ** -0.575)).round(2))
    probed = runs[runs["ratio"].isin([1.0, 2.0, 4.0, 8.0]) & runs["max_attn_logit"].notna()]
    assert len(probed) == 24
    # every 4x and 8x run is past the cliff with attention logits peaking >= 50x the best run's
    wild = probed[probed["ratio"] >= 4]
    assert (wild["state"] == "past cliff").all()
    assert wild["flags"].str.contains("attention logits peaked at").all()
    assert (wild["max_attn_logit_peak"] > 2000).all()
    # ... though they end far lower than their peak: the last value alone would hide 2x runs
    assert (wild["max_attn_logit"] < wild["max_attn_logit_peak"]).sum() >= 8
    # the 2x runs of the 0.79M and 3.9M models: attention logits 11x and 21x the best run's
    # peak in the first quarter of training, their loss 20% and 10% above the best
    two = probed[probed["ratio"] == 2.0].set_index("params")
    for n in (787584.0, 3934976.0):
        assert "attention logits peaked at" in two.loc[n, "flags"]
        assert two.loc[n, "state"] == "past cliff"
    assert two.loc[14162304.0, "state"] == "near cliff"
    assert not c.warnings  # every optimum inside the sweep
    assert c.trend["n_sizes"] == 6 and c.trend["alpha"] == pytest.approx(0.435, abs=0.01)


def test_cliff_refuses_bad_thresholds():
    with pytest.raises(InputError, match="margin"):
        lr_cliff(FILES, y="val_loss", margin=0.5)


def test_cli_cliff_json():
    out = CliRunner().invoke(app, ["cliff", *FILES, "--y", "val_loss", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert sum(r["state"] == "past cliff" for r in doc["runs"]) == 3
