"""W&B CSV exports: the runs table and the run history."""

from __future__ import annotations

import pytest

from scalinglab.errors import InputError
from scalinglab.runs import read_runs


def test_runs_table_export_maps_name_group_and_config_sizes(test_data):
    t = read_runs(test_data / "wandb_runs.csv")
    assert t.families() == ["baseline"]
    assert sorted(t.df["run_id"].unique()) == ["gpt-10m", "gpt-20m"]
    assert t.metrics() == ["eval/loss", "train/loss"]
    assert t.df["params"].tolist() == [10e6, 10e6, 20e6, 20e6]
    assert "lr" in t.df.columns and "State" not in t.df.columns
    # the crashed run has no metrics: its two empty cells are counted, not silently lost
    assert "skipped 2 empty cells of 'eval/loss', 'train/loss'" in t.notes


def test_history_export_reads_steps_and_drops_min_max_bands(test_data):
    t = read_runs(test_data / "wandb_history.csv")
    assert t.metrics() == ["eval/loss"]
    assert t.df["step"].tolist() == [100, 500, 1000] * 2
    assert not any(c.endswith(("__MIN", "__MAX")) for c in t.df.columns)
    assert "W&B export: dropped columns eval/loss__MIN, eval/loss__MAX" in t.notes


def test_y_picks_the_metric_columns(test_data):
    assert read_runs(test_data / "wandb_runs.csv", y="eval/loss").metrics() == ["eval/loss"]


def test_export_without_size_config_says_which_column_to_add(write_file):
    path = write_file("Name,State,lr,loss\nrun1,finished,0.1,3.2\n", "export.csv")
    with pytest.raises(InputError) as info:
        read_runs(path)
    assert str(info.value) == (
        "export.csv: W&B export has no 'params' config column: add a column 'params' "
        "(also read: n_params, num_params, model/params); columns found: run_id, lr, loss"
    )


def test_export_without_tokens_says_which_column_to_add(write_file):
    path = write_file("Name,State,params,loss\nrun1,finished,1M,3.2\n", "export.csv")
    with pytest.raises(
        InputError, match="no 'tokens' config column: add a column 'tokens' \\(or 'flops'\\)"
    ):
        read_runs(path)


def test_sizes_can_be_given_as_arguments(write_file):
    path = write_file("Name,State,loss\nrun1,finished,3.2\n", "export.csv")
    t = read_runs(path, params="1M", tokens="20M")
    assert t.df["value"].tolist() == [3.2]


def test_metric_columns_cannot_be_guessed_without_loss_or_bands(write_file):
    path = write_file("Name,State,params,tokens,acc\nrun1,finished,1M,20M,0.5\n", "export.csv")
    with pytest.raises(InputError, match="cannot tell which columns are metrics; pass y=COLUMN"):
        read_runs(path)


def test_chart_export_is_refused_with_advice(write_file):
    path = write_file("Step,run1 - loss,run1 - loss__MIN\n1,3.0,2.9\n", "chart.csv")
    with pytest.raises(InputError, match="chart export"):
        read_runs(path)
