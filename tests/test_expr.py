"""The safe expression language shared by formulas and filters."""

import re

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.expr import Expression, expand_human_numbers


def test_formula_names_exclude_function_names():
    assert Expression("E + A*exp(-alpha*log(params))").names == {"E", "A", "alpha", "params"}


def test_human_sizes_are_numbers():
    assert expand_human_numbers("params >= 1.5B and tokens < 2T") == (
        "params >= 1500000000.0 and tokens < 2000000000000.0"
    )
    mask = Expression("params > 1B")({"params": np.array([5e8, 2e9])})
    assert mask.tolist() == [False, True]


def test_comparisons_chain_and_combine():
    e = Expression("1 < x <= 3 and family in ['a', 'b']")
    out = e({"x": np.array([1, 2, 3, 4]), "family": np.array(["a", "b", "c", "a"])})
    assert out.tolist() == [False, True, False, False]


def test_caret_means_power():
    assert Expression("x^2")({"x": 3.0}) == 9.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "calls unknown function '__import__'"),
        ("x.real", "unsupported syntax: Attribute"),
        ("[i for i in x]", "unsupported syntax: ListComp"),
        ("x // 2", "unsupported operator FloorDiv"),
        ("", "empty expression"),
        ("x +", "cannot parse expression 'x +'"),
    ],
)
def test_unsafe_or_broken_expressions_are_refused(text, message):
    with pytest.raises(InputError, match=re.escape(message)):
        Expression(text)


def test_unknown_name_is_reported():
    with pytest.raises(InputError, match=r"refers to unknown name\(s\): y"):
        Expression("x + y")({"x": 1.0})
