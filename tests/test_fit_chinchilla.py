"""The estimator on Epoch AI's extraction of Chinchilla's runs (Besiroglu et al. 2024)."""

import pytest

import scalinglab as sl

EPOCH = {"E": 1.82, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
# Epoch excluded the five runs with the highest loss; the sixth-highest loss is 3.406.
EPOCH_WHERE = "value < 3.42"


@pytest.fixture(scope="module")
def epoch_fit(shared_data):
    return sl.fit(
        shared_data / "chinchilla_epoch.csv", "chinchilla", where=EPOCH_WHERE, bootstrap=200
    )


def test_where_removes_exactly_the_five_highest_loss_runs(epoch_fit):
    assert epoch_fit.n_points == 240
    assert "where 'value < 3.42' removed 5 of 245 rows" in epoch_fit.notes


def test_refit_matches_epoch_published_parameters(epoch_fit):
    p = epoch_fit.params
    for name in ("E", "alpha", "beta"):
        assert p[name] == pytest.approx(EPOCH[name], rel=0.01), name
    for name in ("A", "B"):  # weakly identified: 3%
        assert p[name] == pytest.approx(EPOCH[name], rel=0.03), name
    assert epoch_fit.converged


def test_refit_reaches_the_epoch_style_reference_objective(epoch_fit):
    # Plain scipy, Epoch style (Huber 1e-3 on log loss, 4,500 L-BFGS starts) on these 240 runs:
    # E=1.817, A=477.8, B=2143, alpha=0.3473, beta=0.3672 (benchmarks/ re-measures it).
    assert epoch_fit.params["alpha"] == pytest.approx(0.3473, abs=2e-4)
    assert epoch_fit.params["beta"] == pytest.approx(0.3672, abs=2e-4)
    assert epoch_fit.objective == pytest.approx(0.0010183, rel=1e-3)


def test_bootstrap_intervals_cover_epoch_values_and_flag_weak_b(epoch_fit):
    ci = epoch_fit.conf_int()
    for name, value in EPOCH.items():
        assert ci.loc[name, "lo"] < value < ci.loc[name, "hi"], name
    assert any("parameter 'B' is weakly identified" in w for w in epoch_fit.warnings)


def test_all_245_runs_move_beta_and_the_outliers_are_flagged(shared_data):
    fit = sl.fit(shared_data / "chinchilla_epoch.csv", "chinchilla", bootstrap=100)
    assert fit.params["beta"] == pytest.approx(0.453, abs=0.01)
    assert fit.params["B"] == pytest.approx(12800, rel=0.05)
    flagged = [w for w in fit.warnings if "outlying run(s)" in w]
    assert flagged and "the fit depends on them" in flagged[0]
    for run in ("r000", "r001"):  # the two highest losses, 5.01 and 4.67
        assert run in flagged[0]


def test_prediction_at_chinchilla_scale_has_an_interval(epoch_fit):
    pred = epoch_fit.predict({"params": "70B", "tokens": "1.4T"}, interval=0.9)
    row = pred.iloc[0]
    assert row["lo"] < row["value"] < row["hi"]
    assert row["value"] == pytest.approx(1.97, abs=0.02)
    assert pred.attrs["warnings"] == []  # 70B is 4.3x the largest model: no warning yet
    far = epoch_fit.predict({"params": "1T", "tokens": "20T"})
    assert (
        "extrapolating 62x beyond the largest params in the data (1.62e+10)"
        in far.attrs["warnings"][0]
    )


def test_fit_round_trips_through_json(epoch_fit, tmp_path):
    path = epoch_fit.save(tmp_path / "fit.json")
    again = sl.FitResult.from_json(path)
    assert again.params == epoch_fit.params
    assert again.conf_int().equals(epoch_fit.conf_int())
    same = again.predict({"params": 1e10, "tokens": 2e11})
    assert same["value"].iloc[0] == pytest.approx(
        epoch_fit.predict({"params": 1e10, "tokens": 2e11})["value"].iloc[0]
    )
