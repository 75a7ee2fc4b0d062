"""Test-time scaling: coverage laws, the inference cost model against a hand calculation, and
the best (model, samples) at a budget."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.downstream import (
    DecoderShape,
    best_at_budget,
    budget_frontier,
    coverage_curve,
    coverage_points,
    fit_coverage,
    fit_coverage_across_sizes,
    generation_cost,
    token_cost,
)
from scalinglab.errors import InputError

KS = np.array([1, 2, 4, 8, 16, 32, 64, 100])


def test_the_coverage_law_recovers_brown_et_al_parameters():
    cov = fit_coverage(KS, np.exp(-1.3 * KS**-0.45), bootstrap=0)
    assert (cov.a, cov.b) == (pytest.approx(-1.3), pytest.approx(-0.45))
    need = cov.samples_for(0.8)
    assert need["k"] == pytest.approx((np.log(0.8) / -1.3) ** (1 / -0.45))


def test_the_closed_form_fit_is_least_squares_on_log_as_the_estimator_does():
    rng = np.random.default_rng(0)
    coverage = np.exp(-1.3 * KS**-0.45 * np.exp(0.05 * rng.standard_normal(len(KS))))
    cov = fit_coverage(KS, coverage, bootstrap=0)
    table = pd.DataFrame({"run_id": [f"k{k}" for k in KS], "params": 1.0, "k": KS,
                          "metric": "neg_log_coverage", "value": -np.log(coverage)})  # fmt: skip
    ref = sl.fit(table, "A*k**-beta", objective="least_squares", bootstrap=0)
    assert -cov.a == pytest.approx(ref.params["A"], rel=1e-5)
    assert -cov.b == pytest.approx(ref.params["beta"], rel=1e-5)


def test_a_law_fitted_on_k_up_to_16_predicts_k_100_from_per_problem_counts():
    rng = np.random.default_rng(1)
    # pass rates of 400 problems: a Beta distribution gives coverage close to Brown's law
    correct = rng.binomial(128, rng.beta(0.25, 2.0, size=400))
    cov = fit_coverage(KS[KS <= 16], n=128, correct=correct, bootstrap=300, seed=2)
    assert cov.resampled == "problems" and len(cov.samples) == 300
    actual = coverage_curve(128, correct, [100])[0]
    pred = cov.predict(100)
    assert pred["lo"][0] < actual < pred["hi"][0]
    assert pred.attrs["warnings"] == []  # 100 is within 10x of 16


def test_coverage_needs_two_points_strictly_between_zero_and_one():
    with pytest.raises(InputError) as info:
        fit_coverage([1, 2, 4], [0.0, 0.0, 1.0])
    assert str(info.value) == (
        "coverage coverage strictly between 0 and 1 is needed at two or more k to fit the law "
        "(coverage: 0, 0, 1)"
    )
    with pytest.raises(InputError, match=r"^target must lie strictly between 0 and 1, got 1$"):
        fit_coverage(KS, np.exp(-(KS**-0.5)), bootstrap=0).samples_for(1.0)


def test_coverage_across_sizes_shares_one_exponent_in_k():
    rows = []
    for i, n in enumerate([1e6, 4e6, 1.6e7, 6.4e7]):
        for k in KS:
            rows.append({"family": "l", "run_id": f"m{i}", "params": n, "tokens": 1e9,
                         "flops": 6e9 * n, "step": np.nan, "k": k,
                         "coverage": np.exp(-30 * n**-0.2 * k**-0.4)})  # fmt: skip
    law = fit_coverage_across_sizes(pd.DataFrame(rows), bootstrap=0)
    assert law.params["beta"] == pytest.approx(0.4, rel=1e-4)
    assert law.params["g"] == pytest.approx(0.2, rel=1e-4)


def test_coverage_points_are_read_from_pass_at_k_rows():
    rows = [{"family": "l", "run_id": "m", "params": 1e6, "tokens": 1e8, "step": s,
             "metric": f"pass@{k}_next_line", "value": v}
            for s, scale in ((100, 0.5), (200, 1.0)) for k, v in ((1, 0.1 * scale), (8, 0.3 * scale))]  # fmt: skip
    points = coverage_points(pd.DataFrame(rows), "next_line")
    assert sorted(zip(points["k"], points["coverage"], strict=True)) == [(1.0, 0.1), (8.0, 0.3)]


def test_token_cost_reproduces_a_hand_calculation_on_an_h100():
    # 1B non-embedding parameters, 16 layers of width 2048, no output projection counted,
    # 1,024 tokens of context, batch 1, bf16 weights and cache, an H100 SXM at its peaks
    shape = DecoderShape(params=1e9, n_layers=16, d_model=2048)
    cost = token_cost(shape, context=1024, accelerator="h100")
    flops = 2 * 1e9 + 4 * 16 * 2048 * 1024  # weights + attention (scores and values)
    data = 2 * 1e9 + 2 * 16 * 2048 * 2 * 1024 + 2 * 16 * 2048 * 2  # weights, cache read, write
    assert cost["flops"] == flops == 2_134_217_728
    assert cost["bytes"] == data == 2_134_348_800
    assert cost["seconds"] == pytest.approx(data / 3.35e12)  # memory-bound: 0.637 ms
    assert cost["seconds"] == pytest.approx(6.3712e-4, rel=1e-4)
    assert cost["equivalent_flops"] == pytest.approx(flops + data * 989e12 / 3.35e12)
    # a batch of 256 shares the weights: per-token bytes fall to the cache's
    batched = token_cost(shape, context=1024, accelerator="h100", batch=256)
    assert batched["bytes"] == pytest.approx(2e9 / 256 + 134_348_800)


def test_generation_cost_sums_tokens_at_their_own_context():
    shape = DecoderShape(params=1e6, n_layers=2, d_model=64, vocab_size=256)
    cost = generation_cost(shape, prompt=10, generated=3, samples=4, accelerator="h200")
    per_token = [token_cost(shape, context=c, accelerator="h200") for c in (10, 11, 12)]
    assert cost.per_sample["flops"] == pytest.approx(sum(t["flops"] for t in per_token))
    assert cost.per_sample["seconds"] == pytest.approx(sum(t["seconds"] for t in per_token))
    weights = 1e6 + 256 * 64
    assert cost.prefill["flops"] == pytest.approx(2 * weights * 10 + 2 * 2 * 64 * 100)
    total = cost.total()
    assert total["flops"] == pytest.approx(cost.prefill["flops"] + 4 * cost.per_sample["flops"])
    assert cost.samples_within(total["seconds"], "seconds") == 4
    with pytest.raises(InputError, match="^accelerator unknown accelerator 'tpu-v9'"):
        token_cost(shape, context=1, accelerator="tpu-v9")


def test_a_small_model_with_more_samples_wins_at_small_budgets_only():
    small = DecoderShape(params=1e6, n_layers=4, d_model=128, name="small")
    big = DecoderShape(params=1.6e7, n_layers=8, d_model=384, name="big")
    ks = np.array([1, 2, 4, 8, 16])
    models = {
        "small": (small, fit_coverage(ks, np.exp(-(ks**-0.2)), bootstrap=0)),
        "big": (big, fit_coverage(ks, np.exp(-(ks**-0.5)), bootstrap=0)),
    }
    options = {"unit": "flops", "prompt": 448, "generated": 61, "accelerator": "h200"}
    costs = {n: generation_cost(s, prompt=448, generated=61) for n, (s, _) in models.items()}
    per_sample = {n: c.per_sample["flops"] for n, c in costs.items()}
    budgets = [float(costs["big"].total(k)["flops"]) + 0.5 * per_sample["big"] for k in (1, 1000)]
    frontier = budget_frontier(models, budgets, **options)
    best = frontier[frontier["best"]].set_index("budget")["model"].tolist()
    # one big sample's worth buys the small model ~12 samples: 1 - exp(-12^-0.2) = 0.46 beats
    # 1 - exp(-1) = 0.37 (coverage exp(-k^-b)); at 1,000 big samples the big one's steeper law wins
    assert best == ["small", "big"]
    ks_paid = frontier.set_index(["budget", "model"])["k"]
    assert ks_paid[(budgets[0], "big")] == 1
    small_k = (budgets[0] - costs["small"].prefill["flops"]) // per_sample["small"]
    assert ks_paid[(budgets[0], "small")] == small_k > 10
    choice = best_at_budget(models, costs["small"].prefill["flops"], **options)
    assert choice.best is None and (choice.table["k"] == 0).all()
