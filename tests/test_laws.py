"""Laws are declarative: formula, variables, linear parameters, bounds, references."""

import math

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.laws import Law, all_laws, get_law


def test_chinchilla_linear_parameters_are_found_from_the_formula():
    law = get_law("chinchilla")
    assert [p.name for p in law.parameters if p.linear] == ["E", "A", "B"]
    assert law.variables == ("params", "tokens")


def test_linear_detection_handles_division_signs_and_shared_parameters():
    law = Law.from_formula(
        "E - A/params**a + k*x*x + a*tokens", variables=["params", "tokens", "x"]
    )
    # 'a' is an exponent elsewhere, so it cannot be linear in its own term.
    assert [p.name for p in law.parameters if p.linear] == ["E", "A", "k"]
    basis, offset = law.basis_and_offset(
        {"params": np.array([4.0]), "tokens": np.array([2.0]), "x": np.array([3.0])},
        {"a": 0.5, "E": 0.0, "A": 0.0, "k": 0.0},
        (1, 1),
    )
    assert [float(b[0, 0]) for b in basis] == [1.0, -0.5, 9.0]
    assert float(offset[0, 0]) == 1.0  # a*tokens


def test_bounded_coefficient_becomes_a_searched_parameter():
    law = Law.from_formula("E + A*x**-a", variables=["x"], bounds={"E": (1.0, 3.0)})
    assert not law.parameter("E").linear


def test_published_chinchilla_loss_at_chinchilla_scale():
    law = get_law("chinchilla")
    value = law.evaluate({"params": 70e9, "tokens": 1.4e12}, law.published)
    # E + A/N^a + B/D^b with Hoffmann et al.'s constants: 1.69 + 0.08349 + 0.16316
    assert float(value) == pytest.approx(1.93665, abs=1e-5)


def test_kaplan_nc_is_derived_from_the_fitted_coefficient():
    law = get_law("kaplan_n")
    nc = law.derive({"A": 8.8e13**0.076, "alpha_N": 0.076})["Nc"]
    assert nc == pytest.approx(8.8e13, rel=1e-9)


def test_one_variable_templates_take_their_variable():
    law = get_law("power_floor:params")
    assert law.variables == ("params",)
    assert law.formula == "c + a*params**-b"


def test_formula_string_is_matched_to_columns():
    law = get_law("L0 + k*compute**-g", columns=["compute", "params"])
    assert law.variables == ("compute",)
    assert law.parameter_names == ["L0", "k", "g"]


def test_unknown_law_name_lists_the_known_ones():
    with pytest.raises(InputError, match=r"unknown law 'chinchila' \(known: chinchilla, kaplan_n"):
        get_law("chinchila")


def test_formula_without_data_columns_is_refused():
    with pytest.raises(InputError, match="uses none of the data's columns"):
        get_law("a*b**-c", columns=["params"])


def test_every_law_round_trips_through_its_dict():
    for law in all_laws():
        again = Law.from_dict(law.to_dict())
        assert again.to_dict() == law.to_dict()
        assert all(math.isfinite(g) for p in law.parameters for g in p.grid)


def test_a_law_without_free_linear_parameters_is_bootstrapped():
    """No coefficient to check for identification (the check unpacked an empty quantile and
    raised ValueError); the exponent is recovered with its interval."""
    import pandas as pd

    import scalinglab as sl

    n = np.geomspace(1e6, 1e9, 12)
    noise = np.exp(0.01 * np.random.default_rng(0).standard_normal(12))
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(12)], "params": n, "tokens": 20 * n,
                         "metric": "loss", "value": n**-0.3 * noise})  # fmt: skip
    fit = sl.fit(runs, "params**-a", bootstrap=30)
    assert fit.params["a"] == pytest.approx(0.3, abs=0.005)
    lo, hi = fit.conf_int().loc["a"]
    assert lo < 0.3 < hi
