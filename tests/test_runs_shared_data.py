"""The public scaling data in ../shared/data loads cleanly (read in place, never copied)."""

from __future__ import annotations

import pandas as pd
import pytest

from scalinglab.runs import read_runs
from scalinglab.runs.readers import _read_csv
from scalinglab.runs.schema import to_canonical


def test_chinchilla_epoch_loads_245_final_losses(shared_data):
    t = read_runs(shared_data / "chinchilla_epoch.csv")
    assert len(t) == 245
    assert t.families() == ["chinchilla"] and t.metrics() == ["loss"]
    assert t.notes == []  # every size given: nothing derived
    assert t.df["step"].isna().all()
    assert "dataset" in t.df.columns


def test_epoch_refit_filter_removes_the_five_highest_losses(shared_data):
    t = read_runs(shared_data / "chinchilla_epoch.csv")
    cutoff = float(t.df["value"].nlargest(5).min())
    kept = t.filter(where=f"value < {cutoff!r}")
    assert len(kept) == 240
    assert kept.notes[-1] == f"where 'value < {cutoff!r}' removed 5 of 245 rows"


@pytest.mark.parametrize(
    ("name", "rows"), [("isoflops_epochai_chinchilla", 123), ("isoflops_ml_scalefit", 124)]
)
def test_isoflop_extractions_load(shared_data, name, rows):
    assert len(read_runs(shared_data / f"{name}.csv")) == rows


def test_gadre_overtraining_keeps_extra_columns_usable(shared_data):
    t = read_runs(shared_data / "overtrain_gadre.csv")
    assert len(t) == 5616
    assert t.families() == ["c4_original", "rpj", "rw_original"]
    assert {"params_no_embed", "token_multiplier"} <= set(t.variables())
    assert t.df["dataset"].unique().tolist() == ["overtrain_gadre"]
    obs = t.filter(family="rpj", where="token_multiplier <= 4").observations("loss_c4_val")
    assert {"params_no_embed", "token_multiplier"} <= set(obs.columns)
    assert obs["token_multiplier"].max() <= 4


@pytest.mark.parametrize(
    "name",
    [
        "chinchilla_epoch.csv",
        "isoflops_epochai_chinchilla.csv",
        "isoflops_ml_scalefit.csv",
        "overtrain_gadre.csv",
        "ladder_rerun_h200/runs.csv",
    ],
)
def test_the_typed_fast_read_gives_the_frame_of_the_text_read(shared_data, name):
    """Numbers read as numbers by pandas, or every cell read as text and parsed: one frame."""
    path = shared_data / name
    typed, text = (to_canonical(_read_csv(path, sep=",", typed=t)) for t in (True, False))
    pd.testing.assert_frame_equal(typed[0], text[0], check_exact=True)
    assert (typed[1] == text[1]).all() and typed[2] == text[2]
