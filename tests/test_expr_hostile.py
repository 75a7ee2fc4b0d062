"""Hostile formulas and filters (issue 16, item 4): a correct result or one exact line, never a
traceback, a runaway allocation or data changed behind the user's back."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.expr import FUNCTIONS, MAX_CHARACTERS, MAX_DEPTH, MAX_NODES, Expression
from scalinglab.laws import Law, get_law
from scalinglab.planning.flops_model import FlopsModel
from scalinglab.runs import read_runs

LAW = "E + A*params**-alpha"
SIZES = [1e6, 2e6, 4e6, 8e6, 16e6, 32e6, 64e6]
RUNS = pd.DataFrame(
    {
        "family": "f",
        "run_id": [f"r{i}" for i in range(len(SIZES))],
        "params": SIZES,
        "tokens": [20 * n for n in SIZES],
        "metric": "loss",
        "value": [2 + 100 * n**-0.3 for n in SIZES],
    }
)

TOO_DEEP = (
    f"is nested more than {MAX_DEPTH} levels deep (each term of a sum or product adds a level)"
)
TOO_LONG = f"is too long: at most {MAX_CHARACTERS:,} characters"
TEXT_IN_ARITHMETIC = "text 'a' can only be compared (family == 'x'), not used as a number"


def refusal(text: str, what: str = "law formula") -> str:
    with pytest.raises(InputError) as caught:
        Expression(text, what=what)
    return str(caught.value)


# -- functions: fixed arity, no output argument, data never writable ----------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "log(params, params)*0 + E + A*params**-alpha",
            "law formula 'log(params, params)*0 + E + A*params**-alpha': "
            "log() takes 1 argument, got 2",
        ),
        ("log(params, 2, 3)", "law formula 'log(params, 2, 3)': log() takes 1 argument, got 3"),
        ("minimum(params)", "law formula 'minimum(params)': minimum() takes 2 arguments, got 1"),
        ("log(x=params)", "law formula 'log(x=params)': keyword arguments are not supported"),
        ("log(*params)", "law formula 'log(*params)' uses unsupported syntax: Starred"),
    ],
)
def test_functions_take_exactly_their_arguments(text, message):
    assert refusal(text) == message


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_function_accepts_an_output_array(name):
    # numpy's functions take the output array as one more positional argument.
    arity = FUNCTIONS[name].arity
    text = f"{name}({', '.join(['x'] * (arity + 1))})"
    message = f"{name}() takes {arity} argument{'s' * (arity > 1)}, got {arity + 1}"
    assert refusal(text, "expression") == f"expression {text!r}: {message}"


def test_an_expression_reads_data_through_read_only_views():
    data = np.array([1.0, 2.0])
    seen = Expression("x")({"x": data})
    assert not seen.flags.writeable
    assert data.flags.writeable and data.tolist() == [1.0, 2.0]


def test_where_refuses_the_output_argument_instead_of_writing_into_the_table():
    with pytest.raises(InputError) as caught:
        read_runs(RUNS).filter(where="log(value, value) < 3.42")
    assert str(caught.value) == "where 'log(value, value) < 3.42': log() takes 1 argument, got 2"


# -- size limits: characters, parts, depth -------------------------------------------------


SIZE_CASES = {
    # Python's parser: RecursionError
    "3,000 '+ 0' terms": (
        LAW + " + 0" * 3000,
        "law formula 'E + A*params**-alpha + 0 + 0 +... 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0' "
        f"(12,020 characters) {TOO_LONG}",
    ),
    "5,000-deep unary minus": (
        "-" * 5000 + "params",
        "law formula '------------------------------...------------------------params' "
        f"(5,006 characters) {TOO_LONG}",
    ),
    # Python's parser: MemoryError
    "100,000-term sum": (
        " + ".join(["params"] * 100_000),
        "law formula 'params + params + params + par...ams + params + params + params' "
        f"(899,997 characters) {TOO_LONG}",
    ),
    "2,000-deep unary minus": (
        "-" * 2000 + "params",
        "law formula '------------------------------...------------------------params' "
        f"(2,006 characters) {TOO_DEEP}",
    ),
    "1,000-term sum": (
        "params" + "+0" * 1000,
        "law formula 'params+0+0+0+0+0+0+0+0+0+0+0+0...+0+0+0+0+0+0+0+0+0+0+0+0+0+0+0' "
        f"(2,006 characters) {TOO_DEEP}",
    ),
    # deep enough for the parser itself to give up, short enough to reach it
    "3,500-deep unary minus": (
        "-" * 3500 + "params",
        "law formula '------------------------------...------------------------params' "
        f"(3,506 characters) {TOO_DEEP}",
    ),
    "1,001-item list": (
        "x in [" + "1," * MAX_NODES + "]",
        "law formula 'x in [1,1,1,1,1,1,1,1,1,1,1,1,...,1,1,1,1,1,1,1,1,1,1,1,1,1,1,]' "
        f"(2,007 characters) has more than {MAX_NODES:,} parts (numbers, names, operations)",
    ),
    "250 nested parentheses": (
        "(" * 250 + "params" + ")" * 250,
        "cannot parse law formula '((((((((((((((((((((((((((((((...))))))))))))))))))))))))))))))' "
        "(506 characters): too many nested parentheses",
    ),
}


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_size_limits_refuse_with_one_line(case):
    text, message = SIZE_CASES[case]
    assert refusal(text) == message


def test_a_law_at_the_limits_still_works():
    # 63 terms: 65 levels deep, 64 parameters, far longer than any real law.
    terms = " + ".join(f"c{i}*params**-{i / 100}" for i in range(1, 64))
    law = Law.from_formula(f"E + {terms}", variables=["params"])
    assert sum(p.linear for p in law.parameters) == 64


# -- numbers: floats, finite, constants folded once -------------------------------------------


@pytest.mark.parametrize(
    ("constant", "message"),
    [
        ("9**9**9**9", "'9 ** 9 ** 9' is inf (constants must be finite)"),
        ("2**100000", "'2 ** 100000' is inf (constants must be finite)"),
        ("0*2**100000", "'2 ** 100000' is inf (constants must be finite)"),
        ("1/0", "'1 / 0' is inf (constants must be finite)"),
        ("log(0)", "'log(0)' is -inf (constants must be finite)"),
        ("(-8)**0.5", "'(-8) ** 0.5' is nan (constants must be finite)"),
        ("1e400", "the number '1e400' does not fit a float (at most 1.798e+308)"),
    ],
)
def test_constants_must_be_finite_floats(constant, message):
    assert refusal(f"{LAW} + {constant}") == f"law formula '{LAW} + {constant}': {message}"


def test_a_400_digit_literal_does_not_fit_a_float():
    assert refusal("1" * 400) == (
        "law formula '111111111111111111111111111111...111111111111111111111111111111' "
        "(400 characters): the number '111111111111...111111111111' (400 characters) does not "
        "fit a float (at most 1.798e+308)"
    )


def test_a_4001_digit_literal_is_refused_by_length():
    assert refusal("1" * 4001).endswith(f"(4,001 characters) {TOO_LONG}")


def test_constants_are_folded_in_float():
    # int64 would wrap 2**62*4 to 0; Python ints would make 2**-1 an exact 0.5 anyway.
    assert Expression("2**62*4")({}) == 2.0**64
    assert Expression("2**-100000")({}) == 0.0  # underflow is harmless


def test_integer_columns_are_computed_in_float():
    n = np.array([10**11], dtype=np.int64)  # n*n overflows int64
    assert Expression("params*tokens > 1e21")({"params": n, "tokens": n}).tolist() == [True]


def test_plain_floats_behave_like_arrays():
    # Python's own operators would raise ZeroDivisionError or return a complex number.
    assert Expression("x/0")({"x": 1.0}) == np.inf
    assert np.isnan(Expression("x**0.5")({"x": -8.0}))


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"), [("E + A*ｐａｒａｍｓ**-alpha", "ｐａｒａｍｓ"), ("E + A*params**-α", "α")]
)
def test_names_must_be_ascii(text, name):
    # Python's parser would silently read the fullwidth name as 'params'.
    message = f"law formula {text!r}: name {name!r} is not plain ASCII (letters, digits and _)"
    assert refusal(text) == message
    with pytest.raises(InputError, match=re.escape(message)):
        get_law(text)


# -- text and lists: only where text is compared ------------------------------------------


def test_text_in_arithmetic_is_refused_before_any_allocation():
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        read_runs(RUNS).filter(where="'a'*10**10 == 'b'")
    assert str(caught.value) == f"where \"'a'*10**10 == 'b'\": {TEXT_IN_ARITHMETIC}"
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{LAW} + 'a'", f"law formula \"{LAW} + 'a'\": {TEXT_IN_ARITHMETIC}"),
        ("'a' and x", f"law formula \"'a' and x\": {TEXT_IN_ARITHMETIC}"),
        ("'abc'", "law formula \"'abc'\" is text, not a number or a condition"),
        (
            "[params]*3",
            "law formula '[params]*3': a list may only follow 'in' (e.g. run_id in ['a', 'b'])",
        ),
        ("x in y", "law formula 'x in y': 'in' needs a list (e.g. run_id in ['a', 'b'])"),
        ("x in [1] < 2", "law formula 'x in [1] < 2': a list may only be the last thing compared"),
    ],
)
def test_text_and_lists_only_where_compared(text, message):
    assert refusal(text) == message


def test_text_columns_are_still_compared():
    table = read_runs(RUNS.assign(dataset=["c4", "pile"] * 3 + ["c4"]))
    assert len(table.filter(where="dataset == 'c4' and params >= 4M")) == 3
    assert len(table.filter(where="run_id in ['r0', 'r6'] or family != 'f'")) == 2


def test_sizes_and_carets_inside_text_are_left_alone():
    e = Expression("run_id == '70B' or family == 'a^b'")
    runs = {"run_id": np.array(["70B", "x"], dtype=object), "family": np.array(["x", "a^b"])}
    assert e(runs).tolist() == [True, True]


def test_arithmetic_on_a_text_column_is_one_line():
    with pytest.raises(InputError, match=r"^cannot evaluate where 'family \+ 1 > 0': ") as caught:
        read_runs(RUNS).filter(where="family + 1 > 0")
    assert "\n" not in str(caught.value)


# -- laws: a number, finite on the data ---------------------------------------------------


def test_a_comparison_is_not_a_law():
    with pytest.raises(InputError) as caught:
        get_law(f"{LAW} < 3")
    assert str(caught.value) == (
        f"law formula '{LAW} < 3' is a condition (a comparison, and, or, not), not a number"
    )


def test_a_law_has_at_most_16_searched_and_64_parameters():
    exponents = "E + " + " + ".join(f"A{i}*params**-a{i}" for i in range(17))
    with pytest.raises(InputError) as caught:
        get_law(exponents)
    assert str(caught.value) == (
        "law formula 'E + A0*params**-a0 + A1*params...arams**-a15 + A16*params**-a16' "
        "(304 characters) has 35 parameters, 17 of them searched (not entering linearly): "
        "at most 16 may be searched and 64 in all"
    )
    coefficients = "E + " + " + ".join(f"c{j}*params**-{(j + 1) / 100}" for j in range(64))
    with pytest.raises(InputError, match=r"has 65 parameters, 0 of them searched"):
        get_law(coefficients)
    assert len(get_law(exponents.rsplit(" + ", 1)[0]).parameters) == 33  # 16 searched: fine


def test_a_law_infinite_everywhere_is_refused():
    with pytest.raises(InputError) as caught:
        sl.fit(RUNS, "E + A*params**1e308", bootstrap=0)
    assert str(caught.value) == (
        "law 'E + A*params**1e308' has no finite value on these data at any starting point "
        "(1 tried): a term overflows or is undefined"
    )


def test_the_dead_out_argument_no_longer_changes_the_fit():
    # It used to overwrite params with log(params): E = 1.15, A = 2.09, alpha = 0.1.
    with pytest.raises(InputError, match=re.escape("log() takes 1 argument, got 2")):
        sl.fit(RUNS, f"log(params, params)*0 + {LAW}", bootstrap=0)
    fit = sl.fit(RUNS, LAW, bootstrap=0)
    assert fit.params["alpha"] == pytest.approx(0.3, rel=1e-3)


def test_a_saved_law_with_hostile_derived_quantities_is_refused_when_read():
    # A FIT file's law went through no check: plan took 46 s evaluating 'a'*10**9.
    doc = get_law("chinchilla").to_dict()
    doc["derived"] = {"x": "'a'*10**9"}
    with pytest.raises(InputError) as caught:
        Law.from_dict(doc)
    assert str(caught.value) == f"derived quantity 'x' \"'a'*10**9\": {TEXT_IN_ARITHMETIC}"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        (
            "6*params*tokens + log(tokens, tokens)",
            "FLOPs model '6*params*tokens + log(tokens, tokens)': log() takes 1 argument, got 2",
        ),
        (
            "6*params*tokens*2**100000",
            "FLOPs model '6*params*tokens*2**100000': '2 ** 100000' is inf "
            "(constants must be finite)",
        ),
    ],
)
def test_flops_models_are_checked_like_laws(formula, message):
    with pytest.raises(InputError) as caught:
        FlopsModel(formula)
    assert str(caught.value) == message


def test_a_long_flops_model_is_computed_in_float():
    # 6*2*80*8192*8192 is folded once; the model stays affine in tokens.
    model = FlopsModel("6*params*tokens + 6*2*80*8192*8192*tokens")
    assert float(model(1e9, 1e10)) == 6e19 + 6 * 2 * 80 * 8192 * 8192 * 1e10
    assert model.affine


# -- the same through the command line: exit 2, one line ----------------------------------

CLI_CASES = {
    "out argument in --law": (
        ["fit", "--law", f"log(params, params)*0 + {LAW}"],
        f"law formula 'log(params, params)*0 + {LAW}': log() takes 1 argument, got 2",
    ),
    "out argument in --where": (
        ["fit", "--law", LAW, "--where", "log(value, value) < 3"],
        "where 'log(value, value) < 3': log() takes 1 argument, got 2",
    ),
    "text times 10**10 in --where": (
        ["fit", "--law", LAW, "--where", "'a'*10**10 == 'b'"],
        f"where \"'a'*10**10 == 'b'\": {TEXT_IN_ARITHMETIC}",
    ),
    "params**1e308": (
        ["fit", "--law", "E + A*params**1e308"],
        "law 'E + A*params**1e308' has no finite value on these data at any starting point "
        "(1 tried): a term overflows or is undefined",
    ),
    "+ 1e400": (
        ["fit", "--law", f"{LAW} + 1e400"],
        f"law formula '{LAW} + 1e400': the number '1e400' does not fit a float "
        "(at most 1.798e+308)",
    ),
    "comparison as a law": (
        ["fit", "--law", f"{LAW} < 3"],
        f"law formula '{LAW} < 3' is a condition (a comparison, and, or, not), not a number",
    ),
    "2**100000": (
        ["fit", "--law", f"{LAW} + 2**100000"],
        f"law formula '{LAW} + 2**100000': '2 ** 100000' is inf (constants must be finite)",
    ),
    "out argument in --holdout": (
        ["backtest", "--law", LAW, "--holdout", "log(params, params) > 1e7"],
        "holdout 'log(params, params) > 1e7': log() takes 1 argument, got 2",
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_hostile_formulas_through_the_cli_exit_2_with_one_line(case, tmp_path):
    args, message = CLI_CASES[case]
    path = tmp_path / "runs.csv"
    RUNS.to_csv(path, index=False)
    result = CliRunner().invoke(app, [args[0], str(path), *args[1:], "--bootstrap", "0"])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.strip() == f"error: {message}"
