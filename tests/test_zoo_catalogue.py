"""The zoo as a whole: every law is listed, named, documented, and backtested on real data."""

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.fitting.backtest import backtest
from scalinglab.laws import all_laws, get_law, law_names

ZOO = {
    "chinchilla", "kaplan_n", "kaplan_d", "kaplan_nd", "kaplan_ns", "farseer", "data_constrained",
    "parscale", "nmt_bivariate", "lr_annealing", "step_law", "step_law_batch", "power",
    "power_floor", "henighan", "hestness", "bnsl",
}  # fmt: skip


def test_every_literature_law_has_a_name():
    assert ZOO <= set(law_names())


def test_laws_json_lists_formula_variables_parameters_and_reference():
    result = CliRunner().invoke(app, ["laws", "--json"])
    assert result.exit_code == 0, result.output
    laws = {law["name"]: law for law in json.loads(result.stdout)["laws"]}
    for name in ZOO:
        key = next(k for k in laws if k == name or k.startswith(name + ":"))
        law = laws[key]
        assert law["formula"] and law["variables"] and law["parameters"], name
        assert law["reference"], name
        assert any(p["linear"] for p in law["parameters"]) or name == "kaplan_nd", name


def test_every_law_evaluates_its_published_values_to_a_finite_number():
    for law in all_laws():
        if not law.published:
            continue
        values = {p: law.published[p] for p in law.parameter_names if p in law.published}
        if len(values) < len(law.parameter_names):
            continue
        point = {v: 1e9 for v in law.variables}
        assert float(law.evaluate(point, values)) > 0, law.name


def test_template_names_take_a_variable():
    assert get_law("hestness").variables == ("tokens",)
    assert get_law("henighan:params").variables == ("params",)
    assert get_law("bnsl:tokens:3").parameter_names[-3:] == ["c3", "f3", "d3"]


# Backtests on ../shared/data: fit on the smaller runs, predict the held-out largest ones.
SETUPS = {
    "chinchilla_epoch": ("chinchilla_epoch.csv", {"where": "value < 3.42"}, "flops > 1.5e21"),
    "isoflops_epochai": ("isoflops_epochai_chinchilla.csv", {}, "flops >= 1e21"),
    "isoflops_ml_scalefit": ("isoflops_ml_scalefit.csv", {}, "flops >= 1e21"),
    "gadre_c4": ("overtrain_gadre.csv", {"y": "loss_c4_val", "family": "c4_original"}, "largest:2"),
    "gadre_rpj": ("overtrain_gadre.csv", {"y": "loss_c4_val", "family": "rpj"}, "largest:2"),
    "gadre_rw": ("overtrain_gadre.csv", {"y": "loss_c4_val", "family": "rw_original"}, "largest:2"),
}


@pytest.fixture(scope="module")
def backtests(shared_data):
    out = {}
    for name, (file, options, holdout) in SETUPS.items():
        for law in ("chinchilla", "farseer", "bnsl:flops"):
            out[name, law] = backtest(
                shared_data / file, law, holdout=holdout, bootstrap=0, **options
            )
    return out


@pytest.mark.slow
def test_farseer_extrapolates_chinchilla_data_better_than_chinchilla(backtests):
    for name in ("chinchilla_epoch", "isoflops_epochai", "isoflops_ml_scalefit"):
        assert backtests[name, "farseer"].mare < backtests[name, "chinchilla"].mare, name


@pytest.mark.slow
def test_chinchilla_extrapolates_gadre_sizes_better_than_farseer_and_bnsl(backtests):
    # Four sizes in the training set are too few for Farseer's seven shape parameters.
    for name in ("gadre_c4", "gadre_rpj", "gadre_rw"):
        assert backtests[name, "chinchilla"].mare < backtests[name, "farseer"].mare, name
        assert backtests[name, "chinchilla"].mare < backtests[name, "bnsl:flops"].mare, name


@pytest.mark.slow
def test_every_backtest_stays_within_ten_percent(backtests):
    for key, bt in backtests.items():
        assert bt.mare < 0.10, key
