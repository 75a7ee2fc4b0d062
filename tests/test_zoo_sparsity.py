"""Sparsity laws: sparse_pretraining with the average parameter count of a pruning schedule
(Jin et al. 2025, *The Journey Matters*, arXiv:2501.12486) and the activation-sparsity laws
sparsing_relu / sparsing_silu (Luo et al. 2024, *Sparsing Law*, arXiv:2411.02335)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.architecture import SPARSING_TABLE2, average_param_count, sparsing_published
from scalinglab.planning.architecture import activation_sparsity
from scalinglab.synthetic import simulate

# -- average parameter count (Jin et al. 2025) ---------------------------------------------------

#: The authors' released 1B sparse models (Hugging Face model cards tjingrant/sparsellm-1b-20p and
#: tjingrant/sparsellm-1b-40p): 1.14B linear (prunable) parameters, pruning start and end step,
#: training steps, final sparsity, and the "Average Density" each card states.
MODEL_CARDS = {
    "sparsellm-1b-20p": (0.2, 2500, 8100, 11200, 0.8919),
    "sparsellm-1b-40p": (0.4, 2500, 8875, 13050, 0.7651),
}


@pytest.mark.parametrize("name", MODEL_CARDS)
def test_average_density_of_the_released_1b_models_matches_their_model_cards(name):
    sparsity, start, end, steps, published = MODEL_CARDS[name]
    density = average_param_count(
        1.14e9, sparsity, start, end, steps, schedule="linear", over="compute"
    ) / 1.14e9  # fmt: skip
    assert density == pytest.approx(published, rel=0.002)
    # The cards' step counts are those of a schedule over compute: the same schedule over
    # steps, or Zhu & Gupta's cubic one, misses the published density by 0.3-5%.
    for schedule, over in (("linear", "steps"), ("cubic", "steps"), ("cubic", "compute")):
        other = average_param_count(
            1.14e9, sparsity, start, end, steps, schedule=schedule, over=over
        )
        assert abs(other / 1.14e9 - published) > 0.002, (schedule, over)


def test_the_papers_recipe_allocates_a_quarter_of_the_compute_dense_and_half_to_pruning():
    # Jin et al.'s recipe: prune from 25% to 75% of the training compute. In the released runs
    # the dense phase is 2,500 steps of a 10,000-dense-step budget: 25% of it.
    for sparsity, start, end, steps, _ in MODEL_CARDS.values():
        avg = average_param_count(
            1.0, sparsity, start, end, steps, schedule="linear", over="compute"
        )
        compute = avg * steps  # in dense-step units
        assert start / compute == pytest.approx(0.25, abs=0.003)
        recovery = (steps - end) * (1 - sparsity)
        assert recovery / compute == pytest.approx(0.25, abs=0.003)


def test_average_param_count_by_hand():
    # dense 0-0.25, cubic pruning to 50% by 0.75, sparse after: mean density
    # 0.25*1 + 0.5*(1 - 0.5*3/4) + 0.25*0.5 = 0.6875; half the parameters are prunable.
    avg = average_param_count(100.0, 0.5, 0.25, 0.75, prunable=50.0)
    assert avg == pytest.approx(50 + 50 * 0.6875, rel=1e-6)
    assert average_param_count(100.0, 0.0, 0.25, 0.75) == pytest.approx(100.0)
    assert average_param_count(100.0, 0.6, 0.0, 0.0) == pytest.approx(40.0)  # sparse from the start


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"final_sparsity": 1.0}, "final_sparsity must be in [0, 1), got 1"),
        ({"prune_start": 0.8}, "expected 0 <= prune_start <= prune_end <= total, got 0.8, 0.75, 1"),
        ({"schedule": "quadratic"}, "unknown schedule 'quadratic' (known: cubic, linear)"),
        ({"over": "tokens"}, "over must be one of steps, compute, got 'tokens'"),
        ({"prunable": 200.0}, "prunable must be in [0, params], got 200"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(kwargs, message):
    args = {
        "params": 100.0,
        "final_sparsity": 0.5,
        "prune_start": 0.25,
        "prune_end": 0.75,
        **kwargs,
    }
    with pytest.raises(InputError) as err:
        average_param_count(**args)
    assert str(err.value) == message


# -- sparse_pretraining: Chinchilla in N_avg ---------------------------------------------------

CHINCHILLA = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def test_sparse_pretraining_is_chinchilla_in_the_average_parameter_count():
    law = get_law("sparse_pretraining")
    assert law.variables == ("avg_params", "tokens")
    assert "Jin et al. 2025" in law.reference and "2501.12486" in law.reference
    point = {"avg_params": 3e8, "tokens": 6e9}
    same = get_law("chinchilla").evaluate({"params": 3e8, "tokens": 6e9}, CHINCHILLA)
    assert float(law.evaluate(point, CHINCHILLA)) == pytest.approx(float(same), rel=1e-12)


def sparse_design() -> pd.DataFrame:
    """Jin et al.'s grid (section 5.3): 3 sizes (58M, 162M, 468M), 2 durations (20x and 40x
    tokens per parameter), 5 sparsities (dense, 20-80%) pruned from 25% to 75% of the compute."""
    rows = []
    for n in (58e6, 162e6, 468e6):
        for d in (20 * n, 40 * n):
            for s in (0.0, 0.2, 0.4, 0.6, 0.8):
                avg = average_param_count(n, s, 0.25, 0.75, schedule="linear", over="compute")
                rows.append({"params": n, "avg_params": avg, "tokens": d})
    return pd.DataFrame(rows)


def test_dense_runs_without_an_avg_params_column_use_their_parameter_count():
    frame = sparse_design()
    runs = simulate("sparse_pretraining", CHINCHILLA, frame, noise=0.0, seed=0)
    dense = runs.df[runs.df["avg_params"] == runs.df["params"]].drop(columns="avg_params")
    fit = sl.fit(sl.RunTable.from_frame(dense), "sparse_pretraining", bootstrap=0)
    for p, v in CHINCHILLA.items():
        assert fit.params[p] == pytest.approx(v, rel=1e-3), p


def covered_sparse(seed: int, bootstrap: int) -> dict[str, bool]:
    runs = simulate("sparse_pretraining", CHINCHILLA, sparse_design(), noise=0.01, seed=seed)
    ci = sl.fit(runs, "sparse_pretraining", bootstrap=bootstrap, seed=seed).conf_int()
    return {p: bool(ci.loc[p, "lo"] <= v <= ci.loc[p, "hi"]) for p, v in CHINCHILLA.items()}


def test_sparse_pretraining_recovers_planted_parameters_within_bootstrap_intervals():
    results = [covered_sparse(seed, bootstrap=100) for seed in range(10)]
    for p in CHINCHILLA:
        assert np.mean([r[p] for r in results]) >= 0.9, p


@pytest.mark.slow
def test_sparse_pretraining_interval_coverage_over_many_seeds():
    results = [covered_sparse(seed, bootstrap=200) for seed in range(100, 140)]
    for p in CHINCHILLA:
        assert np.mean([r[p] for r in results]) >= 0.9, p


# -- activation sparsity (Luo et al. 2024) -----------------------------------------------------


def test_sparsing_laws_are_eqs_4_and_5_in_billions_of_tokens():
    relu, silu = get_law("sparsing_relu"), get_law("sparsing_silu")
    row = SPARSING_TABLE2["relu"]["0.8B"]
    d = 150e9
    expected = math.exp(-row["c"] * (d / 1e9) ** row["alpha"] + row["b"]) + row["A0"]
    values = sparsing_published("relu", "0.8B")
    assert float(relu.evaluate({"tokens": d}, values)) == pytest.approx(expected, rel=1e-12)
    row = SPARSING_TABLE2["silu"]["0.8B"]
    expected = -row["c"] / (d / 1e9) ** row["alpha"] + row["A0"]
    values = sparsing_published("silu", "0.8B")
    assert float(silu.evaluate({"tokens": d}, values)) == pytest.approx(expected, rel=1e-12)
    assert "Luo et al. 2024" in relu.reference and "2411.02335" in silu.reference


def test_table_2_limits_match_the_papers_text():
    # Section 5.3: from 0.1B to 1.2B the limit activation ratio "decreases slightly by 2.7
    # points" for SiLU and "marginally increases by 1.7 points" for ReLU.
    silu, relu = SPARSING_TABLE2["silu"], SPARSING_TABLE2["relu"]
    assert 100 * (silu["0.1B"]["A0"] - silu["1.2B"]["A0"]) == pytest.approx(2.7, abs=0.05)
    assert 100 * (relu["1.2B"]["A0"] - relu["0.1B"]["A0"]) == pytest.approx(1.7, abs=0.05)
    # Section 6: the 2.4B ReLU model's "low limit activation ratio of 6.48%".
    answer = activation_sparsity("relu:2.4B", tokens=800e9)
    assert answer.limit_ratio.value == pytest.approx(0.0648)
    assert answer.to_json()["limit_sparsity"] == pytest.approx(0.9352)
    # ...reached within 0.05 points by its ~800B training tokens (Figure 11's fitted curve)
    assert answer.activation_ratio.value == pytest.approx(0.0648, abs=5e-4)


def test_relu_falls_and_silu_rises_with_data():
    for size in ("0.1B", "0.4B", "1.2B"):
        relu = sparsing_published("relu", size)
        silu = sparsing_published("silu", size)
        d = np.array([20e9, 100e9, 300e9])
        a_relu = get_law("sparsing_relu").evaluate({"tokens": d}, relu)
        a_silu = get_law("sparsing_silu").evaluate({"tokens": d}, silu)
        assert np.all(np.diff(a_relu) < 0) and np.all(np.diff(a_silu) > 0), size
        assert np.all(a_relu > relu["A0"]) and np.all(a_silu < silu["A0"]), size


def covered_sparsing(activation: str, seed: int, bootstrap: int) -> dict[str, bool]:
    """A checkpoint every 7.5B tokens from 5B to 300B (Figure 4's range), 1% noise, the 0.4B
    model's Table 2 row planted."""
    truth = sparsing_published(activation, "0.4B")
    design = pd.DataFrame({"tokens": np.linspace(5e9, 300e9, 40)})
    law = f"sparsing_{activation}"
    runs = simulate(law, truth, design, noise=0.01, seed=seed, metric="activation_ratio")
    ci = sl.fit(runs, law, bootstrap=bootstrap, seed=seed).conf_int()
    return {p: bool(ci.loc[p, "lo"] <= v <= ci.loc[p, "hi"]) for p, v in truth.items()}


@pytest.mark.parametrize("activation", ["relu", "silu"])
def test_sparsing_recovers_planted_parameters_within_bootstrap_intervals(activation):
    results = [covered_sparsing(activation, seed, bootstrap=100) for seed in range(10)]
    for p in results[0]:
        assert np.mean([r[p] for r in results]) >= 0.9, p


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "silu"])
def test_sparsing_interval_coverage_over_many_seeds(activation):
    results = [covered_sparsing(activation, seed, bootstrap=200) for seed in range(100, 140)]
    for p in results[0]:
        assert np.mean([r[p] for r in results]) >= 0.9, p


def test_tokens_to_a_target_ratio_invert_the_law():
    for source, target in (("relu:0.4B", 0.072), ("silu:0.4B", 0.37)):
        answer = activation_sparsity(source, target=target)
        d = answer.tokens_to_target.value
        back = activation_sparsity(source, tokens=d).activation_ratio.value
        assert back == pytest.approx(target, rel=1e-9), source


def test_tokens_to_target_from_a_fit_carry_an_interval():
    truth = sparsing_published("relu", "0.4B")
    design = pd.DataFrame({"tokens": np.linspace(5e9, 300e9, 40)})
    runs = simulate("sparsing_relu", truth, design, noise=0.01, seed=1)
    fit = sl.fit(runs, "sparsing_relu", bootstrap=100, seed=1)
    answer = activation_sparsity(fit, target=0.072, tokens=100e9)
    exact = activation_sparsity("relu:0.4B", target=0.072).tokens_to_target.value
    lo, hi = answer.tokens_to_target.ci()
    assert lo <= exact <= hi
    assert answer.source == "fit of sparsing_relu"


def test_a_ratio_outside_0_1_early_in_training_is_flagged():
    # Table 2's 1.2B SiLU row: 0.382 - 0.538/D^0.967 is negative below 1.42B tokens.
    early = activation_sparsity("silu:1.2B", tokens=1e9)
    assert early.activation_ratio.value == pytest.approx(-0.156, abs=1e-3)
    assert early.warnings == [
        "the law gives an activation ratio of -0.156 at 1e+09 tokens, outside [0, 1]: its form "
        "does not hold this early in training"
    ]
    assert not activation_sparsity("silu:1.2B", tokens=2e9).warnings
    args = ["sparsity-tokens", "--published", "silu:1.2B", "--tokens", "1B"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert "outside [0, 1]" in result.stderr


def test_unreachable_targets_and_unknown_rows_are_refused_in_one_line():
    with pytest.raises(InputError) as err:
        activation_sparsity("relu:2.4B", target=0.05)
    assert str(err.value) == (
        "a ReLU model's activation ratio falls to its limit 0.0648, never below: "
        "target 0.05 is out of reach"
    )
    with pytest.raises(InputError) as err:
        activation_sparsity("silu:1.2B", target=0.4)
    assert str(err.value) == (
        "a SiLU model's activation ratio rises to its limit 0.382, never above: "
        "target 0.4 is never reached"
    )
    with pytest.raises(
        InputError, match=r"no row 'gelu:1B' in Luo et al.'s Table 2 \(rows: relu:0.1B"
    ):
        activation_sparsity("gelu:1B")


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_sparsity_tokens_from_a_table_row():
    args = ["sparsity-tokens", "--published", "relu:2.4B", "--target", "0.07", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["limit_ratio"] == pytest.approx(0.0648)
    expected = activation_sparsity("relu:2.4B", target=0.07).tokens_to_target.value
    assert doc["tokens_to_target"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: give a fit file or --published (a row of Table 2, e.g. relu:2.4B)\n"),
        (
            ["--published", "relu:2.4B", "--target", "1.5"],
            "error: --target must be an activation ratio in (0, 1), got 1.5\n",
        ),
    ],
)
def test_cli_sparsity_tokens_refuses_bad_input_with_one_line(args, message):
    result = CliRunner().invoke(app, ["sparsity-tokens", *args])
    assert result.exit_code == 2
    assert result.stderr == message


def test_cli_avg_params_of_a_released_model():
    args = [
        "avg-params", "--params", "1.14B", "--final-sparsity", "0.4", "--prune-start", "2500",
        "--prune-end", "8875", "--total", "13050", "--schedule", "linear", "--over", "compute",
        "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["average_density"] == pytest.approx(0.7651, rel=0.002)
    bad = CliRunner().invoke(app, [*args[:3], "--final-sparsity", "1", *args[5:]])
    assert bad.exit_code == 2
    assert bad.stderr == "error: --final-sparsity must be in [0, 1), got 1\n"
    swapped = CliRunner().invoke(app, [*args[:6], "9000", *args[7:]])  # starts after its end
    assert swapped.exit_code == 2
    assert swapped.stderr == (
        "error: expected 0 <= --prune-start <= --prune-end <= --total, got 9000, 8875, 13050\n"
    )
