"""Per-task links loss -> metric: metric names, chance, links chosen by cross-extrapolation,
crossed replicates, lm-evaluation-harness results as runs."""

import json

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.downstream import fit_task_link, parse_metric
from scalinglab.downstream.link import link_candidates, link_formula
from scalinglab.downstream.metrics import chance_margin, check_chance
from scalinglab.errors import InputError

#: A synthetic task: accuracy rises from chance 0.25 to 0.95 around loss 3.0.
CHANCE, TOP, MID, SLOPE = 0.25, 0.95, 3.0, 3.0


def accuracy(loss):
    return CHANCE + (TOP - CHANCE) / (1 + np.exp(-SLOPE * (MID - np.asarray(loss))))


def task_runs(losses, metric="acc_synthetic", items=4000, seed=0, value=accuracy):
    """One run per loss: its loss row and its metric row (binomial noise of ``items``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, loss in enumerate(losses):
        params = 1e7 * 2.0**i
        p = float(value(loss))
        measured = rng.binomial(items, p) / items if items else p
        for name, v in (("val_loss", loss), (metric, measured)):
            rows.append({"family": "syn", "run_id": f"r{i}", "params": params,
                         "tokens": 20 * params, "metric": name, "value": v})  # fmt: skip
    return pd.DataFrame(rows)


def test_metric_names_say_kind_task_and_range():
    assert [parse_metric(n).kind for n in ("acc_norm_x", "err_x", "exact_x", "prob_x",
                                            "logprob_x", "pass@16_x")] == [
        "accuracy", "error", "exact", "probability", "logprob", "pass@k"]  # fmt: skip
    m = parse_metric("acc_hellaswag")
    assert (m.task, m.chance(), m.items(), m.shortfall_name) == (
        "hellaswag",
        0.25,
        10042,
        "1-acc_hellaswag",
    )
    assert parse_metric("err_copa").chance() == 0.5 and parse_metric("logprob_x").chance() is None
    with pytest.raises(InputError) as info:
        parse_metric("val_loss")
    assert str(info.value).startswith("metric 'val_loss' is not a downstream metric")
    with pytest.raises(InputError) as info:
        m.check([0.3, 1.2], where=["run 'a'", "run 'b'"])
    assert str(info.value) == (
        "metric 'acc_hellaswag' is an accuracy and must lie in [0, 1]; got 1.2 (run 'b')"
    )


def test_chance_above_the_ceiling_is_refused_in_one_line():
    with pytest.raises(InputError) as info:
        check_chance(0.5, 0.4)
    assert str(info.value) == (
        "chance 0.5 is not below the ceiling 0.4: a task whose best score is at or below "
        "chance cannot be fitted"
    )
    assert chance_margin(parse_metric("acc_mmlu")) == pytest.approx(2 * np.sqrt(0.1875 / 14042))


def test_links_are_formulas_the_estimator_reads():
    assert link_candidates("accuracy") == ["exponential", "sigmoid"]
    assert link_candidates("logprob") == ["power"]
    assert link_formula("exponential") == "eps - k*exp(gamma*neg_loss)"
    with pytest.raises(InputError, match="^link unknown link 'logistic'"):
        link_candidates("accuracy", "logistic")


def test_a_sigmoid_task_is_predicted_past_its_best_run_within_its_interval():
    losses = np.linspace(4.2, 2.9, 14)
    task = fit_task_link(task_runs(losses), "acc_synthetic", loss="val_loss", chance=CHANCE,
                         bootstrap=100)  # fmt: skip
    assert task.status == "fitted" and task.fit.selection is not None
    assert task.weights["sigmoid"] > 0.5  # cross-extrapolation prefers the true shape
    out = task.predict({"loss": [2.6, 2.4]})
    truth = accuracy([2.6, 2.4])
    np.testing.assert_allclose(out["value"], truth, atol=0.03)
    assert np.all((out["pred_lo"] <= truth) & (truth <= out["pred_hi"]))
    assert np.all(out["pred_hi"] <= 1.0)  # a prediction stays in the metric's range


def test_a_task_at_chance_is_reported_not_fitted():
    flat = task_runs(np.linspace(4.2, 2.9, 10), value=lambda loss: CHANCE, items=10042)
    task = fit_task_link(flat, "acc_synthetic", loss="val_loss", chance=CHANCE)
    assert task.status == "at chance" and task.fit is None
    assert task.reason.endswith("of chance (0.25): no signal to fit")
    assert task.predict({"loss": [2.0]})["value"].isna().all()


def test_a_task_that_worsens_with_scale_is_flagged_inverse_scaling():
    worse = task_runs(np.linspace(4.2, 2.9, 10), value=lambda loss: 0.9 - 0.1 * (4.2 - loss))
    task = fit_task_link(worse, "acc_synthetic", loss="val_loss", chance=0.25)
    assert task.status == "inverse scaling" and task.trend["spearman"] < -0.5


def test_chained_intervals_cross_both_fits_replicates():
    # runs of two sizes per budget, loss from Chinchilla's law, a sigmoid task on top
    law = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 2000.0, "beta": 0.36}
    grid = sl.synthetic.chinchilla_grid()
    runs = sl.synthetic.simulate("chinchilla", law, grid, noise=0.005, seed=1)
    df = runs.df.copy()
    df["metric"] = "val_loss"
    rng = np.random.default_rng(0)
    task = df.assign(metric="acc_synthetic",
                     value=rng.binomial(4000, accuracy(df["value"] + 0.6)) / 4000)  # fmt: skip
    both = pd.concat([df, task], ignore_index=True)
    small = both[both["params"] < 5e8]
    loss_fit = sl.fit(small[small["metric"] == "val_loss"], "chinchilla", bootstrap=100)
    link = fit_task_link(small, "acc_synthetic", loss="val_loss", chance=CHANCE, bootstrap=100)
    at = pd.DataFrame({"params": [2e9], "tokens": [4e10]})
    chained = link.predict(at, loss_fit=loss_fit)
    fixed = link.predict({"loss": chained["loss"].to_numpy()})
    assert {"loss", "loss_lo", "loss_hi"} <= set(chained.columns)
    assert chained["loss_lo"][0] < chained["loss"][0] < chained["loss_hi"][0]
    # the loss law's uncertainty widens the metric's interval beyond the link's alone
    assert (chained["pred_hi"] - chained["pred_lo"])[0] > (fixed["pred_hi"] - fixed["pred_lo"])[0]
    assert (chained["hi"] - chained["lo"])[0] > (fixed["hi"] - fixed["lo"])[0]


def test_a_log_probability_follows_a_power_of_the_loss():
    losses = np.linspace(4.0, 2.5, 12)
    runs = task_runs(losses, metric="logprob_answer", items=0,
                     value=lambda loss: -0.8 * loss**1.5)  # fmt: skip
    task = fit_task_link(runs, "logprob_answer", loss="val_loss", bootstrap=50)
    assert task.link == "power"
    assert task.fit.params["alpha"] == pytest.approx(1.5, rel=1e-3)
    assert task.predict({"loss": [2.0]})["value"][0] == pytest.approx(-0.8 * 2.0**1.5, rel=1e-3)


def lm_eval_document(model: str, params: int | None, acc: float, loss_bpb: float) -> dict:
    doc = {
        "results": {
            "arc_easy": {"alias": "arc_easy", "acc,none": acc, "acc_stderr,none": 0.0099,
                         "acc_norm,none": acc - 0.03, "acc_norm_stderr,none": 0.0101},
            "wikitext": {"alias": "wikitext", "bits_per_byte,none": loss_bpb,
                         "bits_per_byte_stderr,none": "N/A", "word_perplexity,none": 30.5},
            "gsm8k": {"exact_match,strict-match": 0.01, "exact_match_stderr,strict-match": 0.003},
        },
        "n-shot": {"arc_easy": 0, "wikitext": 0, "gsm8k": 5},
        "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}},
        "config": {"model": "hf", "model_args": f"pretrained={model},dtype=float16"},
        "versions": {"arc_easy": 1.0},
        "git_hash": "abc1234",
    }  # fmt: skip
    if params is not None:
        doc["model_num_parameters"] = params
    return doc


def test_lm_eval_results_are_read_into_the_run_table(tmp_path):
    path = tmp_path / "results_2024-05-01T00-00-00.json"
    path.write_text(json.dumps(lm_eval_document("EleutherAI/pythia-160m", 162322944, 0.44, 1.1),
                               indent=2))  # fmt: skip
    runs = sl.read_runs(path, tokens=3e11)
    df = runs.df.set_index("metric")
    assert sorted(df.index) == ["acc_arc_easy", "acc_norm_arc_easy", "bits_per_byte_wikitext",
                                "exact_gsm8k_strict_match", "word_perplexity_wikitext"]  # fmt: skip
    row = df.loc["acc_arc_easy"]
    assert (row["family"], row["run_id"], row["params"], row["value"]) == (
        "EleutherAI/pythia",
        "EleutherAI/pythia-160m",
        162322944.0,
        0.44,
    )
    assert (row["stderr"], row["n_samples"], row["n_shot"]) == (0.0099, 2376.0, 0.0)
    assert np.isnan(df.loc["bits_per_byte_wikitext", "stderr"])  # "N/A" is no number
    assert df.loc["acc_arc_easy", "flops"] == pytest.approx(6 * 162322944 * 3e11)


def test_lm_eval_results_without_a_size_name_what_to_give(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(lm_eval_document("org/model-1b", None, 0.5, 1.0)))  # one line
    with pytest.raises(InputError) as info:
        sl.read_runs(path)
    assert str(info.value) == (
        "results.json: the lm-evaluation-harness results record no model_num_parameters: give "
        "the model's size (read_runs(..., params=...), or --params)"
    )
    assert sl.read_runs(path, params=1e9).df["run_id"].iloc[0] == "org/model-1b"


def test_a_family_of_lm_eval_files_gets_a_link(tmp_path):
    files = []
    for i, size in enumerate([70, 160, 410, 1000, 1400, 2800, 6900, 12000]):
        bpb = 1.3 - 0.08 * i
        acc = float(accuracy(2.0 * bpb + 0.7))
        path = tmp_path / f"results_{size}m.json"
        path.write_text(json.dumps(lm_eval_document(f"org/lm-{size}m", size * 10**6, acc, bpb)))
        files.append(path)
    runs = sl.read_runs(files)
    assert set(runs.df["family"]) == {"org/lm"} and runs.df["run_id"].nunique() == 8
    task = fit_task_link(runs, "acc_arc_easy", loss="bits_per_byte_wikitext", bootstrap=50)
    assert task.status == "fitted" and task.chance == 0.25
    assert task.to_json()["n_points"] == 8


@pytest.mark.slow
def test_gadre_tasks_of_the_largest_redpajama_model_held_out(shared_data):
    # issue 15's protocol on three of the 46 tasks (docs/downstream.md has all 46)
    bt = sl.downstream.backtest_tasks(
        shared_data / "overtrain_gadre.csv",
        ["acc_mmlu", "acc_arc_easy", "acc_piqa"],
        loss="loss_c4_val",
        loss_law="overtrain",
        family="rpj",
        bootstrap=100,
    )
    rows = bt.points.set_index("metric")
    assert rows.loc["acc_mmlu", "status"] == "at chance"  # 0.2546 at best: within noise of 0.25
    assert rows.loc["acc_arc_easy", "run_id"] == "rpj-open_lm_7b-1.0"
    assert bt.to_json()["loss_errors"]["rpj"] == pytest.approx(0.0017, abs=5e-4)
    fitted = rows[rows["status"] == "fitted"]
    assert len(fitted) == 2 and fitted["abs_error_points"].max() < 6
