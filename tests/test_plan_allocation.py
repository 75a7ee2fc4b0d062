"""Compute-optimal allocation, tokens to a target, models within a budget, cost, and `plan`."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.planning import (
    FlopsModel,
    compute_optimal,
    hardware,
    inference_optimal,
    loss_at,
    models_for_target,
    tokens_to_target,
)
from scalinglab.synthetic import chinchilla_grid, simulate

TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
runner = CliRunner()


@pytest.fixture(scope="module")
def fit():
    design = chinchilla_grid(flops=tuple(np.geomspace(1e18, 1e21, 7)), sizes_per_budget=10)
    runs = simulate("chinchilla", TRUTH, design, noise=0.005, seed=0)
    return sl.fit(runs, "chinchilla", bootstrap=60)


@pytest.fixture(scope="module")
def fit_file(fit, tmp_path_factory):
    return fit.save(tmp_path_factory.mktemp("plan") / "fit.json")


@pytest.mark.parametrize("flops", np.geomspace(1e18, 1e26, 9))
def test_closed_form_and_numerical_solver_agree_to_1e_6(fit, flops):
    closed = compute_optimal(fit, flops, method="closed_form")
    numeric = compute_optimal(fit, flops, method="numerical")
    assert closed.method == "closed_form" and numeric.method == "numerical"
    for q in ("params", "tokens", "loss"):
        a, b = getattr(closed, q), getattr(numeric, q)
        assert b.value == pytest.approx(a.value, rel=1e-6), q
        np.testing.assert_allclose(b.replicates, a.replicates, rtol=1e-6)


def test_closed_form_matches_hoffmann_equation_4_at_the_published_parameters():
    law_fit = sl.fit(
        simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.0), "chinchilla", bootstrap=0
    )
    plan = compute_optimal(law_fit, 5.76e23)
    a, b = TRUTH["alpha"], TRUTH["beta"]
    g = (a * TRUTH["A"] / (b * TRUTH["B"])) ** (1 / (a + b))
    assert plan.params.value == pytest.approx(g * (5.76e23 / 6) ** (b / (a + b)), rel=1e-3)
    assert plan.params.value * plan.tokens.value * 6 == pytest.approx(5.76e23)
    assert np.isnan(plan.params.lo)  # no bootstrap, no interval


def test_interval_brackets_the_estimate_and_the_truth(fit):
    plan = compute_optimal(fit, 1e22)
    truth = compute_optimal(
        sl.fit(simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.0), bootstrap=0), 1e22
    )
    assert plan.params.lo < plan.params.value < plan.params.hi
    assert plan.params.lo < truth.params.value < plan.params.hi
    doc = plan.to_json()
    assert {"params", "tokens", "loss", "ci", "flops", "tokens_per_param", "warnings"} <= set(doc)


def test_a_flops_model_with_an_extra_per_token_term_buys_fewer_tokens(fit):
    base = compute_optimal(fit, 1e22)
    heavier = compute_optimal(fit, 1e22, flops_model="6*params*tokens + 6*2e8*tokens")
    assert heavier.method == "numerical"
    # Tokens got dearer: fewer of them, a little more model, and a worse loss for the budget.
    assert heavier.tokens.value < base.tokens.value and heavier.params.value > base.params.value
    assert heavier.loss.value > base.loss.value
    model = FlopsModel("6*params*tokens + 6*2e8*tokens")
    assert float(model(heavier.params.value, heavier.tokens.value)) == pytest.approx(1e22)


def test_loss_at_and_tokens_to_target_invert_each_other(fit):
    need = tokens_to_target(fit, 2.2, 1e9)
    there = loss_at(fit, 1e9, need.tokens.value)
    assert there["loss"] == pytest.approx(2.2, rel=1e-9)
    assert need.tokens.lo < need.tokens.value < need.tokens.hi
    assert need.flops.value == pytest.approx(6e9 * need.tokens.value)


def test_largest_model_within_budget_reaches_the_target_exactly(fit):
    found = models_for_target(fit, 1e22, 2.2)
    n, d = found.largest_params.value, found.largest_tokens.value
    assert loss_at(fit, n, d)["loss"] == pytest.approx(2.2, rel=1e-8)
    assert 6 * n * d == pytest.approx(1e22)
    optimum = compute_optimal(fit, 1e22).params.value
    assert found.smallest_params.value < optimum < n


@pytest.mark.slow
def test_inference_tokens_move_the_optimum_toward_smaller_longer_trained_models(fit):
    none = inference_optimal(fit, inference_tokens=0, target_loss=2.1).to_json()
    lots = inference_optimal(fit, inference_tokens=1e13, target_loss=2.1).to_json()
    assert none["vs_chinchilla"]["params_ratio"] == pytest.approx(1.0, rel=1e-4)
    assert lots["vs_chinchilla"]["params_ratio"] < 0.8
    assert lots["tokens_per_param"] > none["tokens_per_param"]
    assert lots["vs_chinchilla"]["total_flops_saving"] > 0
    assert lots["vs_chinchilla"]["train_flops_overhead"] > 0


def test_cost_from_the_accelerator_table():
    hw = hardware("h100", mfu=0.4, price=2.5)
    assert float(hw.hours(989e12 * 0.4 * 3600)) == pytest.approx(1.0)
    assert float(hw.cost(989e12 * 0.4 * 3600 * 10)) == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda f: tokens_to_target(f, 1.5, 1e9),
            "target loss 1.5 is at or below the fitted irreducible loss",
        ),
        (
            lambda f: tokens_to_target(f, 2.0, 1e6),
            "a model of 1e+06 parameters cannot reach loss 2",
        ),
        (
            lambda f: compute_optimal(f, 1e10),
            "budget 1e+10 FLOPs is below the smallest run in the fit",
        ),
        (
            lambda f: models_for_target(f, 1e19, 2.0),
            "budget 1e+19 FLOPs cannot reach loss 2: the best predicted loss",
        ),
        (
            lambda f: compute_optimal(f, 1e22, flops_model="6*params*width"),
            "FLOPs model '6*params*width' may use only params and tokens",
        ),
        (lambda f: hardware("h1000"), "unknown accelerator 'h1000'"),
    ],
)
def test_impossible_questions_are_input_errors(fit, call, message):
    with pytest.raises(InputError) as caught:
        call(fit)
    assert str(caught.value).startswith(message)


def test_a_law_without_params_and_tokens_cannot_be_planned():
    runs = simulate(
        "power_floor:flops", {"c": 1.7, "a": 1e3, "b": 0.15}, chinchilla_grid(), noise=0.0
    )
    f = sl.fit(runs, "power_floor:flops", bootstrap=0)
    with pytest.raises(
        InputError, match="compute-optimal allocation needs a law of params and tokens"
    ):
        compute_optimal(f, 1e22)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_plan_json_has_the_design_fields_and_cost(fit_file):
    result = invoke(
        "plan",
        fit_file,
        "--flops",
        "5.76e23",
        "--gpu",
        "h100",
        "--mfu",
        0.4,
        "--price",
        2.5,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"params", "tokens", "loss", "ci"} <= set(doc)
    assert doc["cost"]["gpu_hours"] == pytest.approx(5.76e23 / (989e12 * 0.4) / 3600)
    assert doc["cost"]["cost"] == pytest.approx(2.5 * doc["cost"]["gpu_hours"])


def test_plan_json_with_inference_tokens_and_target(fit_file):
    result = invoke(
        "plan",
        fit_file,
        "--flops",
        "1e22",
        "--inference-tokens",
        "2T",
        "--target-loss",
        2.2,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["inference_aware"]["params"] < doc["params"]
    assert doc["models_for_target"]["largest_model"]["params"] > doc["params"]


def test_plan_tokens_to_target_from_the_cli(fit_file):
    result = invoke("plan", fit_file, "--params", "1B", "--target-loss", 2.2, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["tokens"] > 1e9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-loss", 1.0], "error: target loss 1 is at or below the fitted irreducible loss"),
        (["--flops", "1e10"], "error: budget 1e+10 FLOPs is below the smallest run in the fit"),
        (["--flops", "lots"], "error: --flops 'lots': expected a number such as 5.76e23 or 70B"),
        (
            [],
            "error: plan needs a question: --flops, --target-loss, or --params with --tokens or --target-loss",
        ),
        (["--flops", "1e22", "--gpu", "z80"], "error: unknown accelerator 'z80'"),
    ],
)
def test_plan_bad_questions_exit_2_with_one_line(fit_file, args, message):
    result = invoke("plan", fit_file, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_plan_works_for_the_overtrain_law_through_the_numerical_solver(tmp_path):
    from scalinglab.laws.overtrain import OVERTRAIN

    truth = {"E": 1.8, "a": 150.0, "eta": 0.15, "b": 300.0}
    fit = sl.fit(
        simulate(OVERTRAIN, truth, chinchilla_grid(), noise=0.003, seed=3), OVERTRAIN, bootstrap=30
    )
    path = fit.save(tmp_path / "overtrain.json")
    result = invoke("plan", path, "--flops", "1e22", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["method"] == "numerical" and doc["law"] == "overtrain"
    assert doc["ci"]["params"][0] < doc["params"] < doc["ci"]["params"][1]


def test_a_replicate_with_a_zero_coefficient_is_left_out_with_a_warning(fit):
    import copy

    broken = copy.deepcopy(fit)
    broken.samples[0, fit.law.parameter_names.index("A")] = 0.0
    plan = compute_optimal(broken, 1e22)
    assert plan.warnings[0].startswith("1 of 60 bootstrap replicates have a zero coefficient")
    assert np.isfinite(plan.params.lo) and np.isfinite(plan.params.hi)


def test_plan_lr_recommends_step_law_hyperparameters_for_the_planned_run(fit_file):
    result = invoke("plan", fit_file, "--flops", "1e22", "--lr", "--seq-len", 2048, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    hp = doc["hyperparameters"]
    n, d = doc["params"], doc["tokens"]
    # Li et al. 2025 (Step Law): lr = 1.79 N^-0.713 D^0.307, B = 0.58 D^0.571 tokens
    assert hp["lr"] == pytest.approx(1.79 * n**-0.713 * d**0.307, rel=1e-6)
    assert hp["batch_tokens"] == pytest.approx(0.58 * d**0.571, rel=1e-6)
    assert hp["lr_source"] == "step_law" and hp["seq_len"] == 2048


def test_plan_lr_follows_the_tokens_needed_for_a_target(fit_file):
    result = invoke("plan", fit_file, "--target-loss", "2.5", "--params", "1e9", "--lr", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["hyperparameters"]["params"] == 1e9
    assert doc["hyperparameters"]["tokens"] == pytest.approx(doc["tokens"])
