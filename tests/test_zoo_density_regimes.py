"""Capacity density (inverting a reference law) and regime diagnostics (local exponents)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.density import capacity_density, density_doubling_time, effective_params
from scalinglab.planning.regimes import (
    find_breaks,
    learning_curve_regions,
    local_exponents,
    loss_decomposition,
    regime_name,
    regimes,
)
from scalinglab.runs import RunTable
from scalinglab.synthetic import chinchilla_grid, simulate

CHIN = get_law("chinchilla")
P = dict(CHIN.published)


# -- density ----------------------------------------------------------------------------------


def test_effective_params_matches_chinchilla_closed_form():
    # Independent computation: N = (A / (L - E - B/D^b))^(1/a) for Hoffmann et al.'s constants.
    loss, tokens = 2.05, 1e12
    closed = (P["A"] / (loss - P["E"] - P["B"] * tokens ** -P["beta"])) ** (1 / P["alpha"])
    assert effective_params(CHIN, P, loss, tokens=tokens) == pytest.approx(closed, rel=1e-9)


def test_density_of_a_model_twice_as_good_as_its_size():
    loss = float(CHIN.evaluate({"params": 14e9, "tokens": 2e12}, P))
    out = capacity_density(CHIN, 7e9, loss, params=P, tokens=2e12)
    assert out["effective_params"] == pytest.approx(14e9, rel=1e-9)
    assert out["density"] == pytest.approx(2.0, rel=1e-9)


def test_density_refuses_a_loss_beyond_the_reference_family():
    with pytest.raises(
        InputError, match=r"loss 1.7 is below what the reference law reaches with 1e\+18 parameters"
    ):
        effective_params(CHIN, P, 1.7, tokens=1e12)
    with pytest.raises(
        InputError, match="density: the reference law 'chinchilla' also needs tokens"
    ):
        effective_params(CHIN, P, 2.0)


def test_density_doubling_time():
    months = np.array([0.0, 6.0, 12.0, 18.0])
    assert density_doubling_time(months, 2 ** (months / 3.3))["doubling_time"] == pytest.approx(3.3)


def test_density_cli(tmp_path):
    runs = simulate("chinchilla", P, chinchilla_grid(), noise=0.0)
    path = sl.fit(runs, "chinchilla", bootstrap=0).save(tmp_path / "ref.json")
    loss = float(CHIN.evaluate({"params": 2e9, "tokens": 1e11}, P))
    result = CliRunner().invoke(
        app,
        ["density", str(path), "--params", "1B", "--tokens", "100B", "--loss", str(loss), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["density"] == pytest.approx(2.0, rel=1e-3)


# -- regimes ----------------------------------------------------------------------------------


def test_local_exponent_of_a_power_law_plus_floor_is_constant():
    x = np.geomspace(1e6, 1e10, 9)
    table = local_exponents(x, 1.7 + 30 * x**-0.25, floor=1.7)
    np.testing.assert_allclose(table["exponent"], 0.25, rtol=1e-9)
    assert set(table["regime"]) == {"resolution-limited"}


def test_regime_names_follow_bahri():
    assert regime_name(1.0) == "variance-limited"
    assert regime_name(0.3) == "resolution-limited"
    assert regime_name(0.0) == "plateau"
    assert regime_name(-0.2) == "inverse scaling"


def test_break_between_variance_and_resolution_limited_regimes():
    # Reducible loss ~ x^-1 below x=1e8 (variance-limited), ~ x^-0.3 above.
    x = np.geomspace(1e6, 1e10, 17)
    reducible = np.where(x < 1e8, (x / 1e8) ** -1.0, (x / 1e8) ** -0.3)
    table = local_exponents(x, 2.0 + reducible, floor=2.0)
    assert table["regime"].iloc[0] == "variance-limited"
    assert table["regime"].iloc[-1] == "resolution-limited"
    breaks = find_breaks(table)
    assert len(breaks) == 1 and 3e7 < breaks[0]["x"] < 3e8


def test_hestness_regions_small_data_power_law_irreducible():
    # A learning curve that saturates at the best-guess error (5.0) for small D, follows
    # E + a D^-b in the middle and flattens onto E = 2 at large D (Hestness et al. 2017, fig. 1).
    d = np.geomspace(1e3, 1e13, 21)
    power = 2.0 + 1e3 * d**-0.5
    curve = 2.0 + 1.0 / (1.0 / (power - 2.0) + 1.0 / 3.0)
    regions = learning_curve_regions(d, curve, floor=2.0, exponent=0.5)
    assert regions[0] == "small-data"
    assert "power-law" in regions
    assert regions[-1] == "irreducible"
    order = {"small-data": 0, "power-law": 1, "irreducible": 2}
    assert [order[r] for r in regions] == sorted(order[r] for r in regions)


def test_regimes_on_runs_and_loss_decomposition():
    truth = {"L_inf": 1.8, "A": 1e8**0.3, "alpha": 0.3}
    design = pd.DataFrame({"params": np.geomspace(1e6, 1e10, 12), "tokens": 1e10})
    runs = simulate("henighan:params", truth, design, noise=0.001, seed=3)
    report = regimes(runs, x="params")
    assert report.floor == pytest.approx(1.8, rel=0.02)
    assert report.exponent == pytest.approx(0.3, rel=0.05)
    fit = sl.fit(runs, "henighan:params", bootstrap=0)
    parts = loss_decomposition(fit, {"params": [1e8]})
    assert parts["irreducible"].iloc[0] == pytest.approx(fit.params["L_inf"])
    assert parts["reducible"].iloc[0] == pytest.approx(
        fit.params["A"] * 1e8 ** -fit.params["alpha"], rel=1e-9
    )


def test_regimes_cli_on_real_data(shared_data):
    args = ["regimes", str(shared_data / "overtrain_gadre.csv"), "--x", "params", "--y", "loss_c4_val",
            "--family", "c4_original", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["points"]) == 6
    assert 0.1 < doc["exponent"] < 1.0
    assert doc["points"][0]["regime"] == "resolution-limited"


def test_regimes_needs_four_scales():
    runs = RunTable.from_frame(
        pd.DataFrame(
            {"params": [1e6, 1e7, 1e8], "tokens": 1e9, "metric": "loss", "value": [4.0, 3.0, 2.5]}
        )
    )
    with pytest.raises(InputError, match="regimes need 4 or more distinct values of params"):
        regimes(runs, x="params")
