"""`compare`: winner at a budget with its probability, crossover with an interval, hours."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.compare import compare, comparison_table, fit_families, joint_law
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.runs import RunTable
from scalinglab.synthetic import chinchilla_grid, simulate

FIRST = {"E": 1.9, "A": 400.0, "alpha": 0.34, "B": 400.0, "beta": 0.28}
SECOND = {"E": 1.75, "A": 480.0, "alpha": 0.34, "B": 480.0, "beta": 0.28}
DESIGN = chinchilla_grid(flops=tuple(np.geomspace(1e18, 1e21, 7)), sizes_per_budget=8)


def optimal_loss(t, c):
    a, b = t["alpha"], t["beta"]
    n = (a * t["A"] / (b * t["B"])) ** (1 / (a + b)) * (c / 6) ** (b / (a + b))
    return t["E"] + t["A"] * n**-a + t["B"] * (c / 6 / n) ** -b


TRUE_CROSSOVER = 10 ** brentq(
    lambda x: optimal_loss(FIRST, 10**x) - optimal_loss(SECOND, 10**x), 18, 24
)


def two_families(second=SECOND, noise=0.004):
    a = simulate("chinchilla", FIRST, DESIGN, noise=noise, seed=1, family="first").df
    b = simulate("chinchilla", second, DESIGN, noise=noise, seed=2, family="second").df
    return RunTable(pd.concat([a, b], ignore_index=True))


@pytest.fixture(scope="module")
def runs():
    return two_families()


def test_known_crossover_is_recovered_within_its_interval(runs):
    result = compare(runs, ["first", "second"], flops=1e22, bootstrap=100)
    cross = result.crossovers[0]
    assert 2e20 < TRUE_CROSSOVER < 4e20
    assert cross.ci[0] < TRUE_CROSSOVER < cross.ci[1]
    assert cross.scale == pytest.approx(TRUE_CROSSOVER, rel=0.5)
    assert (cross.below, cross.above) == ("first", "second")
    assert result.winner == "second" and result.p_best["second"] > 0.9


def test_shared_exponents_joint_fit_recovers_the_crossover(runs):
    result = compare(runs, ["first", "second"], flops=1e22, shared_exponents=True, bootstrap=60)
    cross = result.crossovers[0]
    assert cross.ci[0] < TRUE_CROSSOVER < cross.ci[1]
    assert result.shared_exponents and result.winner == "second"


def test_joint_law_gives_each_family_its_own_coefficients():
    law = joint_law(get_law("chinchilla"), 2)
    linear = sorted(p.name for p in law.parameters if p.linear)
    assert linear == ["A_0", "A_1", "B_0", "B_1", "E_0", "E_1"]
    assert sorted(p.name for p in law.parameters if not p.linear) == ["alpha", "beta"]


def test_no_crossover_in_range_is_said_so():
    better = dict(FIRST, E=1.8)
    result = compare(two_families(better), ["first", "second"], flops=1e22, bootstrap=40)
    doc = result.to_json()["crossovers"][0]
    assert doc["flops"] is None
    assert doc["message"].startswith("no crossover in range")


def test_accelerator_hours_change_the_winner_when_one_family_is_slower(runs):
    # Equal FLOPs: "second" wins at 1e22. If it runs 20x slower, at equal hours it loses.
    result = compare(
        runs,
        ["first", "second"],
        flops=1e22,
        hours=1e4,
        throughput={"first": 4e14, "second": 2e13},
        bootstrap=40,
    )
    assert result.winner == "second"
    assert result.hours.winner == "first"
    doc = result.to_json()
    assert doc["accelerator_hours"]["families"]["first"]["flops"] == pytest.approx(
        1e4 * 3600 * 4e14
    )


def test_comparison_table_rows(runs):
    table = comparison_table(compare(runs, ["first", "second"], flops=1e21, bootstrap=30))
    assert list(table["family"]) == ["first", "second"]
    assert table["p_best"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"families": ["first"]}, "compare needs at least two families (--family)"),
        ({"flops": None}, "compare needs --flops (or --hours with --throughput)"),
        ({"flops": 1e10}, "budget 1e+10 FLOPs is below the smallest run"),
        (
            {"hours": 10.0, "flops": None},
            "--hours needs --throughput (FLOP/s) for every family",
        ),
        ({"throughput": {"first": 1e14}}, "--throughput needs every family; missing second"),
    ],
)
def test_impossible_comparisons_are_input_errors(runs, kwargs, message):
    args = {"families": ["first", "second"], "flops": 1e22, "bootstrap": 0, **kwargs}
    families = args.pop("families")
    with pytest.raises(InputError) as caught:
        compare(runs, families, **args)
    # the CLI spells the arguments at fault as its flags; Python callers see their names
    assert caught.value.for_cli().startswith(message)
    assert str(caught.value).startswith(message.replace("--", ""))


def test_gadre_datasets_at_1e22_on_c4_eval(shared_data):
    result = compare(shared_data / "overtrain_gadre.csv", ["c4_original", "rpj", "rw_original"],
                     y="loss_c4_val", flops=1e22, bootstrap=50)  # fmt: skip
    # Training on C4 wins on C4's own validation set.
    assert result.winner == "c4_original" and result.p_best["c4_original"] > 0.5


def test_compare_cli_json(runs, tmp_path):
    path = tmp_path / "runs.csv"
    runs.df.to_csv(path, index=False)
    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(path),
            "-f",
            "first",
            "-f",
            "second",
            "--flops",
            "1e22",
            "--bootstrap",
            "30",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["winner"] == "second" and 0 <= doc["p_win"] <= 1
    assert doc["crossovers"][0]["winner_above"] == "second"
    bad = CliRunner().invoke(
        app, ["compare", str(path), "-f", "first", "-f", "third", "--flops", "1e22"]
    )
    assert bad.exit_code == 2 and bad.stderr.startswith(
        "error: unknown family 'third'; families: first, second"
    )


def test_fit_families_separate_fits_have_their_own_bootstrap(runs):
    fits = fit_families(runs, ["first", "second"], bootstrap=20)
    assert set(fits.fits) == {"first", "second"}
    assert fits.sets["first"].size == 21
