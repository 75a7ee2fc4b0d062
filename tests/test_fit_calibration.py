"""Prediction intervals that widen with the distance past the data: the shipped prior, and
nested extrapolations of the user's runs (``fit(..., calibrate=True)``)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.fitting.backtest import backtest
from scalinglab.fitting.extrapolation import ExtrapolationError, leave_out, prior
from scalinglab.synthetic import simulate

# The data drift away from the Chinchilla form as models grow (the size exponent creeps up),
# so a Chinchilla fit is right in sample and increasingly wrong beyond it.
DRIFTING = "E + A*params**-(alpha + 0.04*log(params/1e7)) + B*tokens**-beta"
TRUTH = {"E": 1.7, "A": 400.0, "alpha": 0.32, "B": 400.0, "beta": 0.28}
DESIGN = pd.DataFrame(
    [(n, d) for n in np.geomspace(1e7, 1e9, 8) for d in np.geomspace(2e8, 2e10, 5)],
    columns=["params", "tokens"],
)


@pytest.fixture(scope="module")
def drifting_runs():
    return simulate(DRIFTING, TRUTH, DESIGN, noise=0.003, seed=0)


@pytest.fixture(scope="module")
def calibrated(drifting_runs):
    return sl.fit(drifting_runs, "chinchilla", calibrate=True, bootstrap=100)


def test_calibration_comes_from_nested_holdouts_and_the_prior(calibrated):
    err = calibrated.extrapolation
    assert err.source == "prior+nested" and err.n_cuts == 4
    assert err.holdouts[:2] == ["largest:1", "largest:2"]
    assert all(h.startswith("flops >= ") for h in err.holdouts[2:])
    assert err.n_points == 5 + 10 + 1 + 2  # 5 budgets per size; the largest 1 and 2 budgets
    assert err.base > 0 and err.per_decade > 0
    assert "from 4 nested extrapolations of these runs (18 points)" in calibrated.summary()


def test_every_interval_widens_with_distance_and_beyond_the_bootstrap(drifting_runs, calibrated):
    plain = sl.fit(drifting_runs, "chinchilla", bootstrap=100)
    assert plain.extrapolation.source == "prior"  # without calibrate: the shipped prior
    at = {"params": [2e9, 1e10, 1e11], "tokens": [4e10, 2e11, 2e12]}
    for fit in (plain, calibrated):
        pred = fit.predict(at)
        width = np.log(pred["pred_hi"] / pred["pred_lo"]).to_numpy()
        assert np.all(np.diff(width) > 0)
        assert np.all(width > np.log(pred["hi"] / pred["lo"]).to_numpy())
        assert pred["decades"].tolist() == pytest.approx([0.60206, 2.0, 4.0], rel=1e-4)
    # the law's own (bootstrap) interval is the same either way
    wide, narrow = calibrated.predict(at), plain.predict(at)
    assert np.allclose(wide["lo"], narrow["lo"]) and np.allclose(wide["hi"], narrow["hi"])


def test_extrapolating_in_tokens_alone_widens_the_interval_too(calibrated):
    inside, overtrained = {"params": 5e8, "tokens": 1e10}, {"params": 5e8, "tokens": 2e11}
    assert calibrated.decades_beyond(inside)[0] == 0.0
    # 10x the largest tokens, and 10x the largest compute
    assert calibrated.decades_beyond(overtrained)[0] == pytest.approx(1.0)

    def width(at):
        p = calibrated.predict(at).iloc[0]
        return np.log(p["pred_hi"] / p["pred_lo"])

    expected = 2 * 1.645 * np.sqrt(calibrated.extrapolation.variance(1.0))
    assert width(overtrained) == pytest.approx(expected, rel=0.2)
    assert width(inside) < 0.5 * width(overtrained)


def test_a_law_of_another_variable_widens_along_it():
    # An RL reward-compute curve (scalerl:gpu_hours): its only variable is no size, and its
    # interval a decade past the data must widen as a size's would.
    design = pd.DataFrame({"gpu_hours": np.geomspace(500, 25_000, 60), "params": 8e9})
    truth = {"R0": 0.4, "gain": 0.21, "C_mid": 1e4, "B": 2.0}
    fit = sl.fit(simulate("scalerl:gpu_hours", truth, design, noise=0.005, seed=0),
                 "scalerl:gpu_hours", bootstrap=30)  # fmt: skip
    assert fit.decades_beyond({"gpu_hours": [1e4, 2.5e5, 2.5e6]}) == pytest.approx([0, 1, 2])
    wide = fit.predict({"gpu_hours": [2.5e4, 2.5e6]})
    log_width = np.log(wide["pred_hi"] / wide["pred_lo"]).to_numpy()
    assert log_width[1] >= 2 * 1.645 * np.sqrt(fit.extrapolation.variance(2.0)) * 0.99
    assert log_width[1] > 2 * log_width[0]


def test_prediction_intervals_cover_what_the_bootstrap_misses(drifting_runs):
    bt = backtest(drifting_runs, "chinchilla", holdout="largest:2", bootstrap=100, calibrate=True)
    law_only = bt.fit.predict(bt.points[["params", "tokens"]])
    inside_law = (bt.points["actual"] >= law_only["lo"]) & (bt.points["actual"] <= law_only["hi"])
    # measured over 4 seeds: 0-30% inside the bootstrap interval, 100% inside the prediction's
    assert inside_law.mean() < 0.5  # the drift is invisible to the bootstrap
    assert bt.coverage == 1.0
    assert bt.fit.extrapolation.source == "prior+nested"  # from the training runs only
    assert max(bt.fit.data_range["params"]) < drifting_runs.df["params"].max()


def test_calibration_round_trips_through_json(calibrated, tmp_path):
    path = calibrated.save(tmp_path / "fit.json")
    again = sl.FitResult.from_json(path)
    assert again.extrapolation == calibrated.extrapolation
    at = {"params": 1e10, "tokens": 2e11}
    assert again.predict(at)["pred_hi"].iloc[0] == pytest.approx(
        calibrated.predict(at)["pred_hi"].iloc[0]
    )


def test_too_few_sizes_to_calibrate_rest_on_the_prior_and_say_so():
    design = pd.DataFrame(
        [(n, d) for n in (1e7, 1e8) for d in np.geomspace(2e8, 2e10, 4)],
        columns=["params", "tokens"],
    )
    runs = simulate("chinchilla", TRUTH, design, noise=0.002, seed=1)
    result = sl.fit(runs, "chinchilla", calibrate=True, bootstrap=20)
    assert result.extrapolation == prior("single_law")
    assert "shipped prior; no nested extrapolation of these runs" in result.summary()


def test_variance_model_and_saved_fits_of_version_0_1():
    err = ExtrapolationError(base=1e-4, per_decade=4e-3)
    assert err.variance(0.0) == pytest.approx(1e-4)  # at the edge of the data
    assert err.variance(-1.0) == pytest.approx(1e-4)  # inside it
    assert err.variance(0.5) == pytest.approx(1e-4 + 1e-3)
    assert ExtrapolationError.from_json(json.loads(json.dumps(err.to_json()))) == err
    old = {"column": "params", "base": 1e-4, "growth": 4e-3, "n_points": 6}  # scalinglab 0.1
    assert ExtrapolationError.from_json(old).variance(1.0) == pytest.approx(
        1e-4 + 4e-3 * np.log(10) ** 2
    )


def test_epoch_chinchilla_backtest_calibrated(shared_data):
    """Held-out largest runs of Epoch's extraction, the Chinchilla studies left out of the
    prior: all covered, intervals still narrow (measured: 1.68% error, +-2.5% half-width)."""
    kw = dict(holdout="largest:2", where="value < 3.42", bootstrap=100)
    with leave_out("chinchilla"):
        cal = backtest(shared_data / "chinchilla_epoch.csv", "chinchilla", calibrate=True, **kw)
    assert cal.coverage == 1.0
    half_width = np.log(cal.points["hi"] / cal.points["lo"]) / 2
    assert half_width.max() < 0.05


def test_cli_fit_calibrate_and_predict(drifting_runs, tmp_path):
    runs = tmp_path / "runs.csv"
    drifting_runs.df.to_csv(runs, index=False)
    fit_file = tmp_path / "fit.json"
    args = ["fit", str(runs), "--calibrate", "--bootstrap", "50", "-o", str(fit_file), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["extrapolation"]["source"] == "prior+nested"
    result = CliRunner().invoke(
        app, ["predict", str(fit_file), "--at", "params=1e11,tokens=2e12", "--json"]
    )
    assert result.exit_code == 0, result.output
    point = json.loads(result.stdout)["predictions"][0]
    assert point["pred_lo"] < point["lo"] <= point["hi"] < point["pred_hi"]


@pytest.mark.slow
def test_report_says_its_intervals_are_calibrated(drifting_runs):
    from scalinglab.analysis import analyse
    from scalinglab.report import render_report

    report = render_report(analyse(
        drifting_runs, "chinchilla", bootstrap=30, calibrate=True, holdout=None,
        at=[{"params": 1e10, "tokens": 2e11}],
    ))  # fmt: skip
    assert "Intervals: prediction intervals: log-error SD" in report.html
    assert "nested extrapolations of these runs" in report.html
