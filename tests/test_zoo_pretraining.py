"""Pre-training laws of the zoo: each recovers known parameters from noisy synthetic runs, and
each formula is checked against a published number or an independent computation."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

import scalinglab as sl
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.pretraining import (
    TOKENS_PER_PARAM,
    data_constrained_asymptote,
    effective_data,
    optimal_encoder_share,
    parscale_equivalent_params,
)
from scalinglab.synthetic import simulate


def grid(**axes):
    """Every combination of the given axes, as a design DataFrame (see :func:`sized`)."""
    names = list(axes)
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return sized(pd.DataFrame({n: m.ravel() for n, m in zip(names, mesh, strict=True)}))


def sized(design):
    """A run table needs two of params/tokens/flops: laws in other variables get placeholders."""
    have = [c for c in ("params", "tokens", "flops") if c in design.columns]
    for column, value in (("params", 1e8), ("tokens", 2e9)):
        if len(have) < 2 and column not in design.columns:
            design[column] = value
            have.append(column)
    return design


# -- henighan / hestness ----------------------------------------------------------------------


def test_henighan_recovers_floor_and_exponent_from_noisy_compute_curve():
    truth = {"L_inf": 1.8, "A": 1e17**0.15, "alpha": 0.15}
    design = sized(pd.DataFrame({"flops": np.geomspace(1e17, 1e22, 30)}))
    runs = simulate("henighan:flops", truth, design, noise=0.003, seed=1)
    fit = sl.fit(runs, "henighan:flops", bootstrap=100)
    assert fit.params["alpha"] == pytest.approx(0.15, rel=0.1)
    assert fit.params["L_inf"] == pytest.approx(1.8, rel=0.03)
    lo, hi = fit.conf_int().loc["alpha"]
    assert lo < 0.15 < hi


def test_henighan_x0_is_the_scale_where_the_reducible_loss_is_one():
    # Independent computation: L = L_inf + (x0/x)^alpha, so L(x0) = L_inf + 1.
    law = get_law("henighan:params")
    values = {"L_inf": 2.0, "A": 5e8**0.3, "alpha": 0.3}
    x0 = law.derive(values)["x0"]
    assert x0 == pytest.approx(5e8, rel=1e-9)
    assert float(law.evaluate({"params": x0}, values)) == pytest.approx(3.0, rel=1e-12)


def test_hestness_recovers_learning_curve_in_tokens():
    truth = {"E": 2.2, "a": 60.0, "b": 0.22}
    design = sized(pd.DataFrame({"tokens": np.geomspace(1e8, 1e12, 25)}))
    runs = simulate("hestness", truth, design, noise=0.002, seed=2)
    fit = sl.fit(runs, "hestness", bootstrap=0)
    assert fit.law.name == "hestness:tokens"
    assert fit.params["b"] == pytest.approx(0.22, rel=0.1)
    assert fit.params["E"] == pytest.approx(2.2, rel=0.03)


# -- bnsl -------------------------------------------------------------------------------------

BNSL_TRUTH = {"a": 1.5, "b": 40.0, "c0": 0.12, "c1": 0.25, "f1": 0.3, "d1": 1e20}


def test_bnsl_recovers_a_break_from_noisy_compute_curve():
    design = sized(pd.DataFrame({"flops": np.geomspace(1e17, 1e23, 40)}))
    runs = simulate("bnsl:flops", BNSL_TRUTH, design, noise=0.002, seed=3)
    fit = sl.fit(runs, "bnsl:flops", bootstrap=0)
    assert abs(math.log10(fit.params["d1"]) - 20) < 0.5
    assert fit.params["c1"] == pytest.approx(0.25, abs=0.08)
    assert fit.residuals["median_abs_rel_error"] < 0.004


def test_bnsl_formula_matches_caballero_equation():
    # Independent computation of eq. 1 of Caballero et al. (2022), 2 breaks.
    law = get_law("bnsl:params:2")
    v = {
        "a": 0.5,
        "b": 3.0,
        "c0": 0.1,
        "c1": 0.4,
        "f1": 0.5,
        "d1": 1e8,
        "c2": -0.3,
        "f2": 1.5,
        "d2": 1e10,
    }
    x = np.geomspace(1e6, 1e12, 13)
    expected = v["a"] + v["b"] * x ** -v["c0"] * (1 + (x / v["d1"]) ** (1 / v["f1"])) ** (
        -v["c1"] * v["f1"]
    ) * (1 + (x / v["d2"]) ** (1 / v["f2"])) ** (-v["c2"] * v["f2"])
    np.testing.assert_allclose(law.evaluate({"params": x}, v), expected, rtol=1e-12)


def test_bnsl_sharp_break_does_not_overflow():
    law = get_law("bnsl:flops")
    v = {**BNSL_TRUTH, "f1": 0.02}
    y = law.evaluate({"flops": np.array([1e17, 1e25])}, v)
    assert np.all(np.isfinite(y))


def test_bnsl_number_of_breaks_is_checked():
    with pytest.raises(InputError, match=r"bnsl:flops:4: the number of breaks must be 1, 2 or 3"):
        get_law("bnsl:flops:4")


# -- farseer ----------------------------------------------------------------------------------

FARSEER_TRUTH = {
    "E": 1.6,
    "a3": 0.15,
    "g3": -0.35,
    "B": 250.0,
    "a2": 0.2,
    "g2": -0.2,
    "b1": -1.2,
    "a1": -0.1,
    "g1": -0.3,
}


def test_farseer_recovers_the_loss_surface_and_extrapolates():
    design = grid(params=np.geomspace(5e7, 3e9, 6), tokens=np.geomspace(2e9, 5e11, 8))
    runs = simulate("farseer", FARSEER_TRUTH, design, noise=0.002, seed=4)
    fit = sl.fit(runs, "farseer", bootstrap=0)
    law = fit.law
    far = {"params": np.array([3e10, 7e10]), "tokens": np.array([2e12, 1.4e12])}
    truth = law.evaluate(far, FARSEER_TRUTH)
    np.testing.assert_allclose(law.evaluate(far, fit.params), truth, rtol=0.01)
    assert fit.residuals["median_abs_rel_error"] < 0.003


def test_farseer_matches_the_papers_parameterisation():
    # Independent computation in the paper's raw-N form: exp(a3 N^g3 + b3) + exp(a2 N^g2 + b2) D^-exp(a1 N^g1 + b1),
    # with a_i(raw) = a_i(ours) * 1e9^-g_i, b3 = log E, b2 = log B.
    v = FARSEER_TRUTH
    n, d = np.array([1e8, 7e9]), np.array([1e10, 1e12])
    raw = {k: v[f"a{k}"] * 1e9 ** -v[f"g{k}"] for k in (1, 2, 3)}
    expected = np.exp(raw[3] * n ** v["g3"] + math.log(v["E"])) + np.exp(
        raw[2] * n ** v["g2"] + math.log(v["B"])
    ) * d ** -np.exp(raw[1] * n ** v["g1"] + v["b1"])
    np.testing.assert_allclose(
        get_law("farseer").evaluate({"params": n, "tokens": d}, v), expected, rtol=1e-12
    )


# -- data_constrained -------------------------------------------------------------------------

DC_TRUTH = {
    "E": 1.87,
    "A": 406.4,
    "alpha": 0.34,
    "B": 410.7,
    "beta": 0.28,
    "RN_star": 5.3,
    "RD_star": 15.4,
}


def test_effective_data_follows_muennighoff_published_decay():
    # R_D* = 15.4 (Muennighoff et al. 2023): 4 epochs keep ~93% of fresh data's value,
    # and unlimited epochs saturate at U (1 + R_D*) = 16.4 U.
    u = 1e9
    assert effective_data(4e9, u) == pytest.approx(
        u * (1 + 15.4 * (1 - math.exp(-3 / 15.4))), rel=1e-12
    )
    assert effective_data(4e9, u) / 4e9 == pytest.approx(0.9315, abs=1e-4)
    assert effective_data(1e15, u) == pytest.approx(16.4 * u, rel=1e-6)
    assert effective_data(5e8, u) == 5e8  # less than one epoch: every token is unique


def test_data_constrained_reduces_to_chinchilla_without_repetition():
    law, chin = get_law("data_constrained"), get_law("chinchilla")
    n = np.array([1e8, 1e9])
    d = np.array([1e10, 3e10])  # N <= D/20: no excess parameters either
    point = {"params": n, "tokens": d, "unique_tokens": d * 2}
    np.testing.assert_allclose(
        law.evaluate(point, DC_TRUTH),
        chin.evaluate({"params": n, "tokens": d}, DC_TRUTH),
        rtol=1e-12,
    )


def test_data_constrained_recovers_repetition_half_life():
    design = grid(
        params=np.array([1e8, 3e8, 1e9, 3e9]),
        unique_tokens=np.array([2e9, 1e10]),
        epochs=np.array([1, 2, 4, 8, 16, 40, 100]),
    )
    design["tokens"] = design["unique_tokens"] * design["epochs"]
    design = design.drop(columns="epochs")
    runs = simulate("data_constrained", DC_TRUTH, design, noise=0.002, seed=5)
    fit = sl.fit(runs, "data_constrained", bootstrap=0, fix={"RN_star": "published"})
    assert fit.params["RD_star"] == pytest.approx(15.4, rel=0.3)
    assert fit.params["beta"] == pytest.approx(0.28, rel=0.15)


def test_data_constrained_without_unique_tokens_column_means_single_epoch():
    design = grid(params=np.geomspace(1e8, 3e9, 5), tokens=np.geomspace(2e9, 1e11, 5))
    runs = simulate("chinchilla", DC_TRUTH, design, noise=0.0)
    fit = sl.fit(
        runs, "data_constrained", fix={"RN_star": "published", "RD_star": "published"}, bootstrap=0
    )
    assert fit.params["alpha"] == pytest.approx(0.34, rel=0.02)


def test_data_constrained_asymptote():
    out = data_constrained_asymptote(DC_TRUTH, 1e10)
    n_eff = 1e10 / TOKENS_PER_PARAM * 6.3
    expected = 1.87 + 406.4 * n_eff**-0.34 + 410.7 * (1e10 * 16.4) ** -0.28
    assert out["loss"] == pytest.approx(expected, rel=1e-12)


# -- parscale ---------------------------------------------------------------------------------


def test_parscale_recovers_stream_gain():
    truth = {"E": 1.4, "A": 120.0, "k": 0.4, "alpha": 0.25}
    design = grid(params=np.geomspace(5e8, 4.4e9, 5), streams=np.array([1.0, 2.0, 4.0, 8.0]))
    runs = simulate("parscale", truth, design, noise=0.001, seed=6)
    fit = sl.fit(runs, "parscale", bootstrap=0)
    assert fit.params["k"] == pytest.approx(0.4, rel=0.25)
    assert fit.params["alpha"] == pytest.approx(0.25, rel=0.2)


def test_parscale_streams_act_as_more_parameters():
    # Independent computation: P streams of N params = one stream of N (k log P + 1) params.
    law = get_law("parscale")
    v = {"E": 1.4, "A": 120.0, "k": 0.4, "alpha": 0.25}
    n_eq = parscale_equivalent_params(1e9, 8, 0.4)
    assert n_eq == pytest.approx(1e9 * (1 + 0.4 * math.log(8)))
    p8 = law.evaluate({"params": 1e9, "streams": 8.0}, v)
    p1 = law.evaluate({"params": n_eq, "streams": 1.0}, v)
    assert float(p8) == pytest.approx(float(p1), rel=1e-12)
    assert float(p1) == pytest.approx(1.4 + 120 * n_eq**-0.25, rel=1e-12)


# -- nmt_bivariate ----------------------------------------------------------------------------


def test_nmt_bivariate_recovers_encoder_and_decoder_exponents():
    truth = {"L_inf": 0.8, "alpha": 30.0, "p_e": 0.15, "p_d": 0.3}
    design = grid(
        params_encoder=np.geomspace(2e7, 1e9, 5), params_decoder=np.geomspace(2e7, 1e9, 5)
    )
    runs = simulate("nmt_bivariate", truth, design, noise=0.002, seed=7)
    fit = sl.fit(runs, "nmt_bivariate", bootstrap=0)
    assert fit.params["p_e"] == pytest.approx(0.15, rel=0.15)
    assert fit.params["p_d"] == pytest.approx(0.3, rel=0.15)


def test_nmt_optimal_split_matches_numerical_minimum():
    law = get_law("nmt_bivariate")
    v = {"L_inf": 0.8, "alpha": 30.0, "p_e": 0.15, "p_d": 0.3}
    total = 1e9
    best = minimize_scalar(
        lambda s: float(
            law.evaluate({"params_encoder": s * total, "params_decoder": (1 - s) * total}, v)
        ),
        bounds=(0.01, 0.99),
        method="bounded",
        options={"xatol": 1e-9},
    )
    assert optimal_encoder_share(v) == pytest.approx(1 / 3)
    assert best.x == pytest.approx(optimal_encoder_share(v), abs=1e-5)
