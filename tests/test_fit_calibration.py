"""Prediction intervals calibrated on nested backtests (``fit(..., calibrate=True)``)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.fitting.backtest import backtest
from scalinglab.fitting.calibration import ExtrapolationError
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


def test_calibration_comes_from_three_nested_backtests(calibrated):
    cal = calibrated.calibration
    assert cal.column == "params"
    assert len(cal.holdouts) == 3 and all(h.startswith("params > ") for h in cal.holdouts)
    assert cal.n_points == 5 * (1 + 2 + 3)  # 5 budgets at each of the 1, 2, 3 largest sizes
    assert cal.base >= 0 and cal.growth > 0
    assert "calibrated prediction intervals widened from 3 nested backtests" in calibrated.summary()


def test_calibrated_interval_widens_with_distance_and_beyond_the_bootstrap(
    drifting_runs, calibrated
):
    plain = sl.fit(drifting_runs, "chinchilla", bootstrap=100)
    at = {"params": [2e9, 1e10, 1e11], "tokens": [4e10, 2e11, 2e12]}
    wide, narrow = calibrated.predict(at), plain.predict(at)
    width = np.log(wide["pred_hi"] / wide["pred_lo"]).to_numpy()
    assert np.all(np.diff(width) > 0)
    assert np.all(width > np.log(narrow["pred_hi"] / narrow["pred_lo"]).to_numpy())
    # the law's own (bootstrap) interval is untouched
    assert np.allclose(wide["lo"], narrow["lo"]) and np.allclose(wide["hi"], narrow["hi"])


def test_extrapolating_in_tokens_alone_widens_the_interval_too(drifting_runs, calibrated):
    cal = calibrated.calibration
    assert cal.columns == ("params", "tokens")
    inside, overtrained = {"params": 5e8, "tokens": 1e10}, {"params": 5e8, "tokens": 2e11}
    assert cal.ratio(inside, calibrated.data_range) == 1.0
    assert cal.ratio(overtrained, calibrated.data_range) == pytest.approx(10.0)
    plain = sl.fit(drifting_runs, "chinchilla", bootstrap=100)

    def width(fit, at):
        p = fit.predict(at).iloc[0]
        return np.log(p["pred_hi"] / p["pred_lo"])

    expected = 2 * 1.645 * np.sqrt(cal.variance(10.0))  # the calibrated noise dominates
    assert width(calibrated, overtrained) == pytest.approx(expected, rel=0.2)
    assert width(calibrated, overtrained) > 1.5 * width(plain, overtrained)  # measured 1.97x
    assert width(calibrated, inside) < 0.5 * width(calibrated, overtrained)  # measured 0.35x


def test_calibrated_backtest_covers_what_the_bootstrap_misses(drifting_runs):
    plain = backtest(drifting_runs, "chinchilla", holdout="largest:2", bootstrap=100)
    cal = backtest(drifting_runs, "chinchilla", holdout="largest:2", bootstrap=100, calibrate=True)
    # measured over 8 seeds: 0-70% covered without calibration, 90-100% with it
    assert plain.coverage < 0.5  # the drift is invisible to the bootstrap
    assert cal.coverage >= 0.9
    assert cal.fit.calibration is not None  # calibrated on the training runs only
    assert max(cal.fit.data_range["params"]) < drifting_runs.df["params"].max()


def test_calibration_round_trips_through_json(calibrated, tmp_path):
    path = calibrated.save(tmp_path / "fit.json")
    again = sl.FitResult.from_json(path)
    assert again.calibration == calibrated.calibration
    at = {"params": 1e10, "tokens": 2e11}
    assert again.predict(at)["pred_hi"].iloc[0] == pytest.approx(
        calibrated.predict(at)["pred_hi"].iloc[0]
    )


def test_too_few_sizes_to_calibrate_is_a_warning_not_an_error():
    design = pd.DataFrame(
        [(n, d) for n in (1e7, 1e8) for d in np.geomspace(2e8, 2e10, 4)],
        columns=["params", "tokens"],
    )
    runs = simulate("chinchilla", TRUTH, design, noise=0.002, seed=1)
    result = sl.fit(runs, "chinchilla", calibrate=True, bootstrap=20)
    assert result.calibration is None
    assert (
        "cannot calibrate the prediction interval: 0 held-out prediction(s) from nested "
        "backtests on 2 distinct params values (need at least 3)"
    ) in result.warnings


def test_variance_model():
    err = ExtrapolationError("params", base=1e-4, growth=4e-3, n_points=6)
    assert err.variance(0.5) == pytest.approx(1e-4)  # inside the data: the edge's variance
    assert err.variance(np.e) == pytest.approx(1e-4 + 4e-3)
    assert ExtrapolationError.from_json(json.loads(json.dumps(err.to_json()))) == err


def test_epoch_chinchilla_backtest_calibrated(shared_data):
    """Held-out largest runs of Epoch's extraction: 0% covered before, all after, intervals
    still narrow (measured: 1.68% error, +-3.1% half-width)."""
    kw = dict(holdout="largest:2", where="value < 3.42", bootstrap=100)
    plain = backtest(shared_data / "chinchilla_epoch.csv", "chinchilla", **kw)
    cal = backtest(shared_data / "chinchilla_epoch.csv", "chinchilla", calibrate=True, **kw)
    assert plain.coverage == 0.0 and cal.coverage == 1.0
    half_width = np.log(cal.points["hi"] / cal.points["lo"]) / 2
    assert half_width.max() < 0.05


def test_cli_fit_calibrate_and_predict(drifting_runs, tmp_path):
    runs = tmp_path / "runs.csv"
    drifting_runs.df.to_csv(runs, index=False)
    fit_file = tmp_path / "fit.json"
    args = ["fit", str(runs), "--calibrate", "--bootstrap", "50", "-o", str(fit_file), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["calibration"]["column"] == "params"
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
    assert "Calibrated: prediction intervals widened from 3 nested backtests" in report.html
