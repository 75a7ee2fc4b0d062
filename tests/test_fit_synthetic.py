"""The estimator on data drawn from known truths."""

import numpy as np
import pytest

import scalinglab as sl
from scalinglab.errors import InputError
from scalinglab.fitting.engine import huber
from scalinglab.synthetic import chinchilla_grid, random_chinchilla_truth, simulate

TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
DESIGN = chinchilla_grid(flops=tuple(np.geomspace(1e17, 1e21, 9)), sizes_per_budget=12)


def objective_at(fit, runs, params):
    obs = runs.observations()
    data = {v: obs[v].to_numpy() for v in fit.law.variables}
    r = np.log(fit.law.evaluate(data, params)) - np.log(obs["value"].to_numpy())
    return float(huber(r, 1e-3).sum())


def test_noise_free_data_recovers_every_parameter():
    runs = simulate("chinchilla", TRUTH, DESIGN, noise=0.0)
    fit = sl.fit(runs, "chinchilla", bootstrap=0)
    for name, value in TRUTH.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-4), name


def test_low_noise_recovers_exponents_and_intervals_cover_them():
    runs = simulate("chinchilla", TRUTH, DESIGN, noise=0.003, seed=3)
    fit = sl.fit(runs, "chinchilla", bootstrap=200)
    ci = fit.conf_int()
    for name in ("alpha", "beta", "E"):
        assert fit.params[name] == pytest.approx(TRUTH[name], rel=0.05), name
        assert ci.loc[name, "lo"] < TRUTH[name] < ci.loc[name, "hi"], name


@pytest.mark.parametrize("seed", range(6))
def test_objective_is_never_worse_than_at_the_truth(seed):
    rng = np.random.default_rng(100 + seed)
    truth = random_chinchilla_truth(rng)
    runs = simulate("chinchilla", truth, DESIGN, noise=rng.uniform(0.005, 0.02), seed=seed)
    fit = sl.fit(runs, "chinchilla", bootstrap=0)
    assert fit.objective <= objective_at(fit, runs, truth) + 1e-12


def test_fixed_and_borrowed_parameters(tmp_path):
    runs = simulate("chinchilla", TRUTH, DESIGN, noise=0.005, seed=1)
    fixed = sl.fit(runs, "chinchilla", fix={"alpha": 0.34, "beta": "published"}, bootstrap=50)
    assert fixed.params["alpha"] == 0.34 and fixed.params["beta"] == 0.28
    assert fixed.conf_int().loc["alpha"].tolist() == [0.34, 0.34]
    source = fixed.save(tmp_path / "source.json")
    borrowed = sl.fit(runs, "chinchilla", fix={"alpha": str(source)}, bootstrap=0)
    assert borrowed.params["alpha"] == 0.34


def test_user_formula_with_log_scale_free_parameters():
    runs = simulate(
        "kaplan_nd",
        {"Nc": 6.4e13, "Dc": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
        DESIGN,
        noise=0.0,
    )
    fit = sl.fit(runs, "kaplan_nd", bootstrap=0)
    assert fit.params["alpha_N"] == pytest.approx(0.076, rel=1e-3)
    assert fit.params["alpha_D"] == pytest.approx(0.103, rel=1e-3)


def test_typed_formula_is_fitted_like_a_built_in_law():
    runs = simulate("chinchilla", TRUTH, DESIGN, noise=0.0)
    fit = sl.fit(runs, "L0 + a*params**-x + b*tokens**-y", bootstrap=0)
    assert fit.params["x"] == pytest.approx(0.34, rel=1e-4)
    assert fit.params["L0"] == pytest.approx(1.69, rel=1e-4)


def test_parameter_pinned_at_a_bound_is_reported():
    runs = simulate("power_floor:flops", {"c": 0.0, "a": 50.0, "b": 0.1}, DESIGN, noise=0.0)
    fit = sl.fit(runs, "power_floor:flops", bootstrap=0)
    assert any("parameter 'c' sits at its lower bound 0" in w for w in fit.warnings)


def test_too_few_points_for_the_law():
    runs = simulate("chinchilla", TRUTH, DESIGN.iloc[:5], noise=0.0)
    with pytest.raises(
        InputError,
        match=r"too few points for law 'chinchilla': 5 point\(s\) for 5 free parameters \(need at least 6\)",
    ):
        sl.fit(runs, "chinchilla")


def test_law_needing_a_missing_column():
    runs = simulate("power:flops", {"a": 10.0, "b": 0.1}, DESIGN, noise=0.0)
    with pytest.raises(InputError, match=r"law 'power:steps' needs column\(s\) steps"):
        sl.fit(runs, "power:steps")


def test_non_positive_value_cannot_be_fitted_in_log_space():
    runs = simulate("chinchilla", TRUTH, DESIGN, noise=0.0)
    runs.df.loc[3, "value"] = -1.0
    with pytest.raises(
        InputError,
        match=r"column 'value': run 'synthetic-0003': value -1 is not positive: laws are fitted on log\(value\)",
    ):
        sl.fit(runs, "chinchilla")


def test_fix_of_an_unknown_parameter():
    runs = simulate("chinchilla", TRUTH, DESIGN, noise=0.0)
    with pytest.raises(InputError, match="law 'chinchilla' has no parameter 'gamma'"):
        sl.fit(runs, "chinchilla", fix={"gamma": 1.0})


def test_prediction_interval_contains_the_laws_own_interval():
    # One noise draw per replicate let the 5% quantile of 50 sums fall inside the law's own
    # interval (measured: pred_lo 2.2963 > lo 2.2906 at 1e23 FLOPs); 4,000 draws do not.
    import pandas as pd

    design = pd.DataFrame({"flops": np.geomspace(1e18, 1e21, 12)})
    truth = {"E": 1.7, "A": 2e3, "alpha": 0.15}
    runs = simulate("E + A*flops**-alpha", truth, design, noise=0.005, seed=0)
    for calibrate in (False, True):
        fit = sl.fit(runs, "E + A*flops**-alpha", bootstrap=50, calibrate=calibrate)
        p = fit.predict({"flops": [1e19, 1e21, 1e22, 1e23]})
        assert (p["pred_lo"] < p["lo"]).all() and (p["pred_hi"] > p["hi"]).all()
