"""InputError's rendering for Python callers and the command line, and the positive-number
check the questions share."""

import math

import pytest

from scalinglab.errors import InputError, positive


def test_an_argument_is_named_as_itself_in_python_and_as_its_flag_on_the_command_line():
    err = InputError("must be positive, got -1", option="target_loss")
    assert str(err) == "target_loss must be positive, got -1"
    assert err.for_cli() == "--target-loss must be positive, got -1"
    within = InputError("needs `target_loss` or `flops`", file="fit.json", row=3)
    assert str(within) == "fit.json: row 3: needs target_loss or flops"
    assert within.for_cli() == "fit.json: row 3: needs --target-loss or --flops"


@pytest.mark.parametrize("value", [2.5, "2.5", 7, 1e-300])
def test_positive_returns_the_float(value):
    assert positive(value, "flops") == float(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "flops must be a positive number, got 0"),
        (-1.5, "flops must be a positive number, got -1.5"),
        (math.inf, "flops must be a positive number, got inf"),
        (math.nan, "flops must be a positive number, got nan"),
        ("70B", "flops must be a positive number, got '70B'"),
        (None, "flops must be a positive number, got None"),
    ],
)
def test_positive_refuses_the_rest_in_one_line(value, message):
    with pytest.raises(InputError) as err:
        positive(value, "flops")
    assert str(err.value) == message
