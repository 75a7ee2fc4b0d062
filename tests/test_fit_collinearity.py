"""Parameters the runs cannot tell apart are named, with or without a bootstrap: the singular
values of the column-scaled Jacobian at the optimum (fitting/diagnostics.py)."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.fitting import diagnostics
from scalinglab.synthetic import chinchilla_grid, simulate

TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def one_size(params: float = 1e8) -> sl.RunTable:
    design = pd.DataFrame({"params": params, "tokens": np.geomspace(1e9, 1e11, 12)})
    return simulate("chinchilla", TRUTH, design, noise=0.003, seed=0)


def collinear(fit) -> list[str]:
    return [w for w in fit.warnings if "not identified by these runs" in w]


@pytest.mark.parametrize("bootstrap", [0, 30])
def test_one_model_size_leaves_the_size_term_unidentified_and_says_so(bootstrap):
    found = collinear(sl.fit(one_size(), "chinchilla", bootstrap=bootstrap))
    assert found == [
        "parameters alpha, E, A are not identified by these runs (every point has the same "
        "params): the data cannot tell them apart, so their values come from the starting "
        "point; add runs that vary what they depend on, or fix some of them"
    ]


def test_fixing_the_size_term_leaves_nothing_unseen():
    fit = sl.fit(one_size(), "chinchilla", bootstrap=0, fix={"alpha": 0.34, "A": 406.4})
    assert collinear(fit) == []
    assert fit.params["beta"] == pytest.approx(0.28, abs=0.03)


def test_a_full_grid_and_real_studies_are_not_flagged(shared_data):
    grid = simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0)
    assert collinear(sl.fit(grid, "chinchilla", bootstrap=0)) == []
    # The real study with the least-seen direction of those measured (farseer on Epoch's
    # Chinchilla runs: 1.8e-4 of the largest singular value) stays well above the tolerance.
    for law in ("chinchilla", "farseer"):
        fit = sl.fit(shared_data / "chinchilla_epoch.csv", law, bootstrap=0)
        assert collinear(fit) == [], law


def test_the_unseen_directions_are_the_ones_the_data_lack(monkeypatch):
    seen = []
    measure = diagnostics.unseen_directions

    def spy(problem, u_hat):
        seen.append(([p.name for p in problem.space.free], *measure(problem, u_hat)))
        return seen[-1][1:]

    monkeypatch.setattr(diagnostics, "unseen_directions", spy)
    sl.fit(one_size(), "chinchilla", bootstrap=0)
    ((names, ratio, unseen),) = seen
    # E + A*params**-alpha is one constant at one size: two of its three directions are unseen
    assert ratio < diagnostics.RANK_TOLERANCE and len(unseen) == 2
    share = dict(zip(names, np.linalg.norm(unseen, axis=0), strict=True))
    assert share["beta"] < 1e-6 and share["B"] < 1e-6  # the token term is seen
    assert min(share["alpha"], share["E"], share["A"]) > 0.3


def test_one_free_parameter_is_seen_when_it_moves_the_predictions():
    grid = simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0)
    fixed = {k: v for k, v in TRUTH.items() if k != "E"}
    fit = sl.fit(grid, "chinchilla", bootstrap=0, fix=fixed)
    assert collinear(fit) == [] and fit.params["E"] == pytest.approx(1.69, rel=0.01)
