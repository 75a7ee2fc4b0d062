"""Choosing the law by cross-extrapolation (``law="auto"``), and intervals from the prior."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.fitting import holdout as holdout_module
from scalinglab.fitting import selection
from scalinglab.fitting.extrapolation import PRIOR_FILE, leave_out, prior, prior_document
from scalinglab.fitting.selection import Candidate, candidates_for
from scalinglab.jsonable import to_jsonable
from scalinglab.synthetic import chinchilla_grid, simulate

TRUTH = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.36}
runner = CliRunner()


@pytest.fixture(scope="module")
def runs() -> sl.RunTable:
    return simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.005, seed=3)


def small_grid(sizes: int, budgets: int) -> sl.RunTable:
    """``sizes`` model sizes each trained at ``budgets`` token counts."""
    design = pd.DataFrame(
        [{"params": n, "tokens": n * m} for n in np.geomspace(1e7, 1e9, sizes)
         for m in np.geomspace(5, 80, budgets)]
    )  # fmt: skip
    return simulate("chinchilla", TRUTH, design, noise=0.005, seed=1)


def test_candidate_labels_parse_law_objective_and_weighting():
    c = Candidate.parse("chinchilla@asymmetric@weighted")
    assert (c.law, c.objective, c.weighting, c.label) == (
        "chinchilla", "asymmetric", "compute", "chinchilla@asymmetric@weighted"
    )  # fmt: skip
    assert [c.label for c in candidates_for("auto", ["params", "tokens", "flops"])] == [
        "chinchilla", "chinchilla@least_squares", "chinchilla@asymmetric",
        "chinchilla@weighted", "farseer", "overtrain",
    ]  # fmt: skip
    # a formula with a comma inside a call is one candidate
    listed = candidates_for("chinchilla, E + A*minimum(params, tokens)**-a", ["params", "tokens"])
    assert [c.law for c in listed] == ["chinchilla", "E + A*minimum(params, tokens)**-a"]


def test_unknown_candidates_are_one_line_errors():
    with pytest.raises(InputError, match=r"^unknown law 'nope'"):
        candidates_for("chinchilla,nope", ["params", "tokens"])
    with pytest.raises(InputError, match=r"unknown modifier 'fast'"):
        candidates_for("chinchilla@fast,farseer", ["params", "tokens"])


def test_auto_recovers_the_truth_and_says_what_it_chose(runs):
    fit = sl.fit(runs, "auto", bootstrap=50)
    sel = fit.selection
    assert sel.holdouts == ["largest:1", "largest:2", sel.holdouts[2], sel.holdouts[3]]
    assert sum(c.weight for c in sel.candidates) == pytest.approx(1.0)
    # data drawn from Chinchilla's law: the prediction at 10x the data is the truth's
    at = {"params": 1e10, "tokens": 2e11}
    truth = sl.get_law("chinchilla").evaluate(at, TRUTH)
    assert fit.predict(at)["value"].iloc[0] == pytest.approx(float(truth), rel=0.01)
    text = fit.summary()
    assert "cross-extrapolation over 4 nested holdouts" in text
    assert f"chosen     {sel.winner}" in text
    doc = fit.to_json()
    assert doc["selection"]["winner"] == sel.winner
    again = sl.FitResult.from_json(json.loads(json.dumps(to_jsonable(doc))))
    assert again.predict(at)["value"].iloc[0] == pytest.approx(fit.predict(at)["value"].iloc[0])


def test_unidentified_candidates_are_excluded_with_their_reason():
    table = small_grid(sizes=5, budgets=4)  # 20 runs: Farseer's 9 parameters need 27
    fit = sl.fit(table, "chinchilla,farseer", bootstrap=30)
    farseer = next(c for c in fit.selection.candidates if c.label == "farseer")
    assert farseer.excluded == "too few points: 20 for 9 free parameters (needs 27)"
    assert farseer.weight == 0.0
    assert fit.law.name == "chinchilla"


def one_budget(sizes: int = 18) -> sl.RunTable:
    """``sizes`` model sizes, all trained on 2e10 tokens."""
    design = pd.DataFrame({"params": np.geomspace(1e7, 1e9, sizes), "tokens": 2e10})
    return simulate("chinchilla", TRUTH, design, noise=0.003, seed=1)


def test_runs_of_one_token_budget_get_one_variable_candidates():
    variables = ["params", "tokens", "flops"]
    assert candidates_for("auto", variables, constant=["tokens"])[0].label == "power_floor:flops"
    fit = sl.fit(one_budget(), "auto", bootstrap=30)
    assert {c.label.split("@")[0] for c in fit.selection.candidates} <= {
        "power_floor:flops", "power:flops"
    }  # fmt: skip
    at = {"params": 1e10, "tokens": 2e10, "flops": 6 * 1e10 * 2e10}
    truth = float(sl.get_law("chinchilla").evaluate(at, TRUTH))
    assert fit.predict(at)["value"].iloc[0] == pytest.approx(truth, rel=0.02)


def test_a_named_candidate_the_runs_cannot_identify_is_excluded_with_its_reason():
    fit = sl.fit(one_budget(), "chinchilla,power_floor:params", bootstrap=30)
    chinchilla = next(c for c in fit.selection.candidates if c.label == "chinchilla")
    assert chinchilla.excluded == (
        "parameters beta, E, B are not identified by these runs (every point has the same tokens)"
    )
    assert chinchilla.weight == 0.0 and fit.law.name == "power_floor:params"


def test_data_too_small_for_any_candidate_is_an_input_error():
    table = small_grid(sizes=2, budgets=2)
    with pytest.raises(InputError) as caught:
        sl.fit(table, "chinchilla,farseer", bootstrap=0)
    assert str(caught.value).startswith("law no candidate law can be used on these runs (")


def test_four_sizes_rest_on_the_shipped_prior_and_say_so():
    table = small_grid(sizes=4, budgets=3)
    fit = sl.fit(table, "auto", bootstrap=30)
    assert fit.extrapolation.source == "prior"
    assert "intervals rest on the shipped prior alone" in fit.summary()
    assert "shipped prior; no nested extrapolation of these runs" in fit.summary()
    pred = fit.predict({"params": 1e10, "tokens": 2e11})
    assert pred["pred_lo"].iloc[0] < pred["value"].iloc[0] < pred["pred_hi"].iloc[0]


def test_selection_never_sees_the_held_out_runs(runs, monkeypatch):
    """A backtest hands the selection its training runs only; a planted leak is detected."""
    seen: list[set[str]] = []
    real = selection.select_law

    def spy(table, *args, **kwargs):
        seen.append(set(table.df["run_id"].astype(str)))
        return real(table, *args, **kwargs)

    monkeypatch.setattr(selection, "select_law", spy)
    monkeypatch.setattr("scalinglab.fitting.api.select_law", spy)

    def leaked() -> bool:
        seen.clear()
        bt = sl.backtest(runs, "chinchilla,overtrain", bootstrap=0, holdout="largest:1")
        return bool(seen[0] & set(bt.points["run_id"]))

    assert not leaked()
    real_split = holdout_module.split
    # the leak: the "training" runs still hold the held-out ones
    monkeypatch.setattr(
        "scalinglab.fitting.backtest.split",
        lambda table, law, opts, spec: (table, real_split(table, law, opts, spec)[1]),
    )
    assert leaked()


def test_the_shipped_prior_loads_and_says_how_it_was_made():
    doc = prior_document()
    assert doc["command"] == "python benchmarks/build_prior.py"
    groups = {s["group"] for s in doc["studies"]}
    assert {"chinchilla", "gadre", "ladder"} <= groups
    for method in ("single_law", "auto"):
        err = prior(method)
        assert err.source == "prior" and err.base > 0 and err.per_decade > 0
        # a prediction a decade out is less certain than one at the edge
        assert err.variance(1.0) > err.variance(0.0)
    with leave_out("chinchilla"):
        without = prior("single_law")
    assert without != prior("single_law")
    assert PRIOR_FILE.name in (PRIOR_FILE.parent / "extrapolation.py").read_text()


def test_intervals_widen_with_the_distance_past_the_data(runs):
    fit = sl.fit(runs, "chinchilla", bootstrap=50)
    near, far = fit.predict({"params": [3e9, 3e11], "tokens": [6e10, 6e12]}).itertuples()
    assert far.decades > near.decades
    assert math.log(far.pred_hi / far.pred_lo) > 2 * math.log(near.pred_hi / near.pred_lo)


def test_cli_fit_law_auto_json_and_bad_candidates(tmp_path, runs):
    csv = tmp_path / "runs.csv"
    runs.df.to_csv(csv, index=False)
    result = runner.invoke(
        app, ["fit", str(csv), "--law", "chinchilla,overtrain", "-b", "20", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["selection"]["winner"] in ("chinchilla", "overtrain")
    assert [c["label"] for c in doc["selection"]["candidates"]] == ["chinchilla", "overtrain"]
    bad = runner.invoke(app, ["fit", str(csv), "--law", "chinchilla,nope"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: unknown law 'nope'") and bad.stderr.count("\n") == 1


def test_a_candidate_without_a_finite_nested_error_is_excluded_and_said_why(runs, monkeypatch):
    """When every nested prediction is unusable (a link predicting a held-out run at or below
    zero gives no log error), the candidate is excluded with a reason instead of weighing NaN
    scores (which raised IndexError inside the weighing)."""
    real = selection._worst_per_decade
    calls = []

    def nan_for_the_first(nested):
        calls.append(1)
        return math.nan if len(calls) == 1 else real(nested)

    monkeypatch.setattr(selection, "_worst_per_decade", nan_for_the_first)
    fit = sl.fit(runs, "chinchilla,chinchilla@least_squares", bootstrap=0)
    records = {r.label: r for r in fit.selection.candidates}
    assert records["chinchilla"].excluded == (
        "its nested extrapolations gave no finite error (a prediction <= 0)"
    )
    assert records["chinchilla@least_squares"].weight == 1.0
    monkeypatch.setattr(selection, "_worst_per_decade", lambda nested: math.nan)
    with pytest.raises(InputError, match="no candidate law can be used.*no finite error"):
        sl.fit(runs, "chinchilla,chinchilla@least_squares", bootstrap=0)
