"""The moe_leverage law (Tian et al. 2025, *Towards Greater Leverage: Scaling Laws for Efficient
Mixture-of-Experts Language Models*, arXiv:2507.17702): eq. 13 with Table 2's coefficients, the
paper's stated numbers, recovery of planted parameters, the moe-leverage question and its CLI."""

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
from scalinglab.laws.architecture import (
    MOE_LEVERAGE_PUBLISHED,
    activation_ratio,
    check_activation_ratio,
    granularity,
)
from scalinglab.planning.architecture import moe_leverage
from scalinglab.synthetic import simulate

TABLE2 = MOE_LEVERAGE_PUBLISHED


def el(a, g, c, values=TABLE2):
    point = {"activation_ratio": a, "granularity": g, "flops": c}
    return float(get_law("moe_leverage").evaluate(point, values))


def test_moe_leverage_is_eq_13_with_table_2_and_its_reference():
    law = get_law("moe_leverage")
    assert law.variables == ("activation_ratio", "granularity", "flops")
    # Table 2: a, d, gamma, beta, A_start, A_max
    assert law.published == {
        "a": 1.23, "d": -7.61e-2, "gamma": 1.67e-2, "beta": -1.17e-1, "A_start": 1.63e-2,
        "A_max": 5.28e16,
    }  # fmt: skip
    assert "Tian et al. 2025" in law.reference and "2507.17702" in law.reference
    # eq. 10's saturating A_hat and eq. 13's exponent, by hand
    a, g, c = 0.05, 8.0, 3e20
    a_hat = 1 / (1 / (a + 1 / (1 / TABLE2["A_start"] - 1 / TABLE2["A_max"])) + 1 / TABLE2["A_max"])
    exponent = (
        TABLE2["a"] + TABLE2["d"] * math.log10(c) + TABLE2["gamma"] * math.log2(g) ** 2
        + TABLE2["beta"] * math.log2(g)
    )  # fmt: skip
    assert el(a, g, c) == pytest.approx(a_hat**exponent, rel=1e-12)


def test_table_2_predicts_the_papers_leverage_above_7_at_1e22_flops():
    # Section 4.2.2 (and the introduction): "an efficiency leverage (EL) exceeding 7x can be
    # achieved at a budget of 1e22 FLOPs with an activation ratio of 3.1% and a granularity of 12".
    assert el(0.031, 12, 1e22) == pytest.approx(7.245, abs=0.001)
    assert el(0.031, 12, 1e22) > 7


def test_table_2_puts_the_optimal_granularity_in_the_papers_8_to_12():
    # Key insight 2: the optimum granularity "to be between 8 and 12".
    g_opt = get_law("moe_leverage").derive(TABLE2)["optimal_granularity"]
    assert 8 <= g_opt <= 12
    assert g_opt == pytest.approx(11.34, abs=0.01)
    # the same at every budget and activation ratio: the granularity term is budget-independent
    for a, c in ((0.01, 1e19), (0.1, 1e21), (0.031, 1e22)):
        grid = np.linspace(2, 24, 221)
        best = grid[np.argmax([el(a, g, c) for g in grid])]
        assert best == pytest.approx(g_opt, abs=0.1)


def test_leverage_grows_with_sparsity_and_compute():
    # Key insights 1 and 3: EL rises as the activation ratio falls and as the budget grows.
    assert el(1 / 64, 8, 1e20) > el(1 / 16, 8, 1e20) > el(1 / 4, 8, 1e20) > 1
    assert el(1 / 16, 8, 1e22) > el(1 / 16, 8, 1e20) > el(1 / 16, 8, 1e18)


def test_ling_mini_beta_activation_ratio_is_the_papers_3_4_percent():
    # Table 3: 384 routed experts, 12 activated, 1 shared; section 5: "an activation ratio A of
    # just 3.4%".
    assert activation_ratio(12, 384, 1) == pytest.approx(0.034, abs=0.0005)
    assert granularity(2048, 384) == pytest.approx(10.667, abs=0.001)  # 2*d_model/d_expert


# -- recovery of planted parameters ------------------------------------------------------------


def design(size: int = 80) -> pd.DataFrame:
    """The paper's axes (section 4.1): activation ratios 1/128-1/2, granularities 1-16,
    budgets 1e18-3e20 FLOPs; a random 80 of their 252 combinations."""
    axes = (
        [1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2], [1, 2, 4, 8, 12, 16],
        [1e18, 3e18, 1e19, 3e19, 1e20, 3e20],
    )  # fmt: skip
    mesh = np.meshgrid(*axes, indexing="ij")
    names = ("activation_ratio", "granularity", "flops")
    frame = pd.DataFrame({k: m.ravel() for k, m in zip(names, mesh, strict=True)})
    return frame.sample(size, random_state=0).reset_index(drop=True)


FREE = ("a", "d", "gamma", "beta", "A_start")


def covered(seed: int, bootstrap: int) -> dict[str, bool]:
    """Whether each parameter's 95% bootstrap interval holds its planted value (Table 2, EL
    measured with 3% noise). A_max is fixed at its published value: activation ratios <= 1 do
    not identify it (it enters as 1/A_max = 2e-17)."""
    runs = simulate("moe_leverage", TABLE2, design(), noise=0.03, seed=seed, metric="el")
    fit = sl.fit(runs, "moe_leverage", bootstrap=bootstrap, seed=seed, fix={"A_max": "published"})
    ci = fit.conf_int()
    return {p: bool(ci.loc[p, "lo"] <= TABLE2[p] <= ci.loc[p, "hi"]) for p in FREE}


def test_fit_recovers_planted_parameters_within_bootstrap_intervals():
    results = [covered(seed, bootstrap=100) for seed in range(10)]
    for p in FREE:
        assert np.mean([r[p] for r in results]) >= 0.9, p


@pytest.mark.slow
def test_interval_coverage_of_planted_parameters_over_many_seeds():
    results = [covered(seed, bootstrap=200) for seed in range(100, 140)]
    for p in FREE:
        assert np.mean([r[p] for r in results]) >= 0.9, p


# -- the question ------------------------------------------------------------------------------


def test_question_from_table_2_gives_leverage_dense_equivalent_compute_and_best_granularity():
    answer = moe_leverage(None, 0.031, 12, 1e22)
    assert answer.efficiency_leverage.value == pytest.approx(el(0.031, 12, 1e22))
    assert answer.dense_equivalent_flops.value == pytest.approx(1e22 * el(0.031, 12, 1e22))
    assert answer.optimal_granularity.value == pytest.approx(11.34, abs=0.01)
    assert answer.leverage_at_optimal_granularity.value >= answer.efficiency_leverage.value
    doc = answer.to_json()
    assert doc["source"] == "published" and math.isnan(doc["ci"]["efficiency_leverage"][0])
    assert "efficiency_leverage" in answer.summary()


def test_question_from_a_fit_has_intervals_that_hold_the_truth():
    runs = simulate("moe_leverage", TABLE2, design(), noise=0.03, seed=3, metric="el")
    fit = sl.fit(runs, "moe_leverage", bootstrap=100, seed=3, fix={"A_max": "published"})
    answer = moe_leverage(fit, 0.05, 8, 1e20)
    lo, hi = answer.efficiency_leverage.ci()
    assert lo <= el(0.05, 8, 1e20) <= hi
    assert answer.source == "fit of moe_leverage" and not answer.warnings
    far = moe_leverage(fit, 0.05, 8, 1e23)
    assert any("beyond the largest flops" in w for w in far.warnings)


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5, math.nan])
def test_an_activation_ratio_outside_0_1_is_refused(ratio):
    with pytest.raises(InputError) as err:
        moe_leverage(None, ratio, 12, 1e22)
    assert (
        str(err.value)
        == f"activation_ratio must be in (0, 1] (a share of the experts), got {ratio:g}"
    )
    with pytest.raises(InputError):
        check_activation_ratio([0.5, ratio])


def test_a_fit_of_another_law_is_refused():
    runs = simulate("power_floor:flops", {"c": 1.0, "a": 1e3, "b": 0.2},
                    pd.DataFrame({"flops": np.geomspace(1e18, 1e21, 8)}))  # fmt: skip
    fit = sl.fit(runs, "power_floor:flops", bootstrap=0)
    with pytest.raises(InputError, match="activation_ratio, granularity and flops"):
        moe_leverage(fit, 0.05, 8, 1e20)


# -- CLI -----------------------------------------------------------------------------------------

ARGS = ["moe-leverage", "--granularity", "12", "--flops", "1e22"]


def test_cli_answers_from_the_published_table_as_one_json_object():
    result = CliRunner().invoke(app, [*ARGS, "--activation-ratio", "0.031", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["efficiency_leverage"] == pytest.approx(7.245, abs=0.001)
    assert doc["dense_equivalent_flops"] == pytest.approx(7.245e22, rel=1e-3)


@pytest.mark.parametrize("ratio", ["1.5", "0", "-0.25"])
def test_cli_refuses_an_activation_ratio_outside_0_1_with_one_line(ratio):
    result = CliRunner().invoke(app, [*ARGS, "--activation-ratio", ratio])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --activation-ratio must be in (0, 1] (a share of the experts), "
        f"got {float(ratio):g}\n"
    )


def test_cli_reads_a_saved_fit(tmp_path):
    runs = simulate("moe_leverage", TABLE2, design(), noise=0.03, seed=5, metric="el")
    path = tmp_path / "fit.json"
    sl.fit(runs, "moe_leverage", bootstrap=20, fix={"A_max": "published"}).save(path)
    result = CliRunner().invoke(app, [*ARGS, str(path), "--activation-ratio", "0.031", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "fit of moe_leverage"
    assert doc["ci"]["efficiency_leverage"][0] < doc["efficiency_leverage"]
