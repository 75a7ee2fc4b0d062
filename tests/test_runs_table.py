"""RunTable: filtering with counted removals, observations for fitting, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import InputError
from scalinglab.runs import RunTable, read_runs


@pytest.fixture
def small(test_data) -> RunTable:
    return read_runs(test_data / "runs_small.csv")


def checkpoints(final: bool = False) -> RunTable:
    """Two runs logged at steps 0, 100, ..., 1000; run b also has a final value if asked."""
    rows = []
    for run, params in (("a", 1e6), ("b", 2e6)):
        for step in range(0, 1001, 100):
            rows.append({"run_id": run, "params": params, "tokens": 2e4 * (step + 1), "step": step,
                         "metric": "loss", "value": 10.0 / (step + 1) + 2})  # fmt: skip
    if final:
        rows.append(
            {
                "run_id": "b",
                "params": 2e6,
                "tokens": 2e7,
                "step": None,
                "metric": "loss",
                "value": 2.01,
            }
        )
    return read_runs(pd.DataFrame(rows))


# ----------------------------------------------------------------------------- filter
def test_where_filter_counts_removed_rows_in_notes(small):
    t = small.filter(where="value < 3.9")
    assert len(t) == 4
    assert t.notes[-1] == "where 'value < 3.9' removed 1 of 5 rows"
    assert len(small) == 5  # the original table is unchanged


def test_where_reads_human_sizes_and_extra_columns(small):
    assert len(small.filter(where="params >= 40M and lr < 2e-3")) == 3


def test_where_on_text_columns(small):
    assert small.filter(where="run_id in ['a', 'b']").df["run_id"].tolist() == ["a", "b"]


def test_where_with_unknown_column_lists_columns(small):
    with pytest.raises(InputError) as info:
        small.filter(where="size > 1")
    assert str(info.value) == (
        "where 'size > 1' refers to unknown column(s) size; columns: "
        "family, run_id, params, tokens, flops, step, metric, value, lr"
    )


def test_where_that_matches_nothing_is_an_error(small):
    with pytest.raises(InputError, match="^where 'value < 0' matches none of the 5 rows$"):
        small.filter(where="value < 0")


def test_where_must_be_a_condition(small):
    with pytest.raises(InputError, match="is not a condition"):
        small.filter(where="value * 2")


def test_family_and_metric_filters_count_removed_rows(small):
    t = small.filter(family="tiny", metric="loss")
    assert t.notes[-2:] == [
        "family 'tiny' removed 0 of 5 rows",
        "metric 'loss' removed 1 of 5 rows",
    ]


def test_unknown_family_lists_families(small):
    with pytest.raises(InputError) as info:
        small.filter(family="big")
    assert str(info.value) == "unknown family 'big'; families: tiny"


def test_unknown_metric_lists_metrics(small):
    with pytest.raises(InputError) as info:
        small.filter(metric="acc")
    assert str(info.value) == "unknown metric 'acc'; metrics: loss, val_loss"


# ----------------------------------------------------------------------------- observations
def test_observations_of_final_values_have_variables_value_and_ids(small):
    obs = small.observations("loss")
    assert list(obs.columns) == [
        "params",
        "tokens",
        "flops",
        "step",
        "lr",
        "value",
        "run_id",
        "family",
    ]
    assert obs["value"].tolist() == [4.10, 3.80, 3.55, 3.35]


def test_observations_need_y_when_there_are_several_metrics(small):
    with pytest.raises(InputError) as info:
        small.observations()
    assert str(info.value) == "several metrics; choose one with y: loss, val_loss"


def test_observations_of_unknown_metric_lists_metrics(small):
    with pytest.raises(InputError, match="^unknown metric 'acc'; metrics: loss, val_loss$"):
        small.observations("acc")


def test_observations_without_y_when_one_metric(small):
    assert len(small.filter(metric="val_loss").observations()) == 1


def test_checkpoints_drop_the_first_tenth_of_training():
    t = checkpoints()
    obs = t.observations()
    # steps 0 and 100 are in the first 10% of 1000 steps: 9 of 11 steps kept per run
    assert len(obs) == 18
    assert obs["step"].min() == 200
    assert t.notes[-1] == "loss: dropped 4 per-step rows in the first 10% of training of 2 runs"


def test_skip_fraction_zero_keeps_every_checkpoint():
    assert len(checkpoints().observations(skip_fraction=0)) == 22


def test_final_value_wins_over_checkpoints_of_the_same_run():
    t = checkpoints(final=True)
    obs = t.observations()
    assert obs[obs["run_id"] == "b"]["value"].tolist() == [2.01]
    assert len(obs[obs["run_id"] == "a"]) == 9
    assert "loss: ignored 11 per-step rows of runs that have a final value" in t.notes


def test_final_only_true_keeps_only_final_rows():
    obs = checkpoints(final=True).observations(final_only=True)
    assert obs["run_id"].tolist() == ["b"]


def test_final_only_false_uses_checkpoints_even_with_a_final_value():
    obs = checkpoints(final=True).observations(final_only=False)
    assert len(obs) == 18 and obs["step"].notna().all()


def test_final_only_without_final_rows_is_an_error():
    with pytest.raises(InputError, match="^no final rows for metric 'loss'$"):
        checkpoints().observations(final_only=True)


def test_skip_fraction_must_be_a_fraction(small):
    with pytest.raises(InputError, match="skip_fraction must be in \\[0, 1\\), got 1.5"):
        small.observations("loss", skip_fraction=1.5)


# ----------------------------------------------------------------------------- summaries
def test_summary_counts_and_ranges(small):
    s = small.summary()
    assert (s["n_rows"], s["n_runs"], s["n_final_rows"]) == (5, 4, 5)
    assert s["families"] == ["tiny"] and s["metrics"] == ["loss", "val_loss"]
    assert s["params"] == {"min": 10e6, "max": 80e6}


def test_repr_and_html_show_the_summary_line(small):
    assert repr(small) == (
        "RunTable(5 rows, 4 runs, families: tiny, metrics: loss, val_loss, source: runs_small.csv)"
    )
    page = small._repr_html_()
    assert "5 rows, 4 runs" in page and "<table" in page and "params 1e+07&ndash;8e+07" in page


def test_data_hash_ignores_row_order_but_not_values(small):
    shuffled = RunTable(small.df.iloc[::-1], small.source)
    assert shuffled.data_hash() == small.data_hash()
    changed = small.df.copy()
    changed.loc[0, "value"] = np.nextafter(changed.loc[0, "value"], 10)
    assert RunTable(changed).data_hash() != small.data_hash()


def test_observation_notes_are_not_repeated_by_repeated_calls():
    t = checkpoints()
    t.observations()
    t.observations()
    assert (
        t.notes.count("loss: dropped 4 per-step rows in the first 10% of training of 2 runs") == 1
    )


def test_family_filter_note_names_numpy_strings_plainly():
    import numpy as np
    import pandas as pd

    from scalinglab.runs import RunTable

    t = RunTable.from_frame(
        pd.DataFrame(
            {
                "family": ["a", "b"],
                "params": [1e6, 2e6],
                "tokens": [1e8, 2e8],
                "metric": "loss",
                "value": [3.0, 2.9],
            }
        )
    )
    assert t.filter(family=list(np.atleast_1d("a"))).notes[-1] == "family 'a' removed 1 of 2 rows"
