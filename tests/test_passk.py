"""pass@k, PassUntil and verifier ceilings: exact values, stability, simulations, refusals."""

import math
from fractions import Fraction

import numpy as np
import pytest

from scalinglab.downstream.passk import (
    coverage_curve,
    pass_at_k,
    pass_until,
    verified_accuracy,
    verifier_ceiling,
)
from scalinglab.errors import InputError


def exact(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k) in exact rational arithmetic."""
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


@pytest.mark.parametrize("n", [1, 2, 5, 10, 17])
def test_pass_at_k_equals_the_combinatorial_value_on_every_small_case(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(exact(n, c, k), rel=1e-13, abs=1e-300)


@pytest.mark.parametrize("c,k", [(1, 1), (3, 100), (1, 5000), (50, 1), (9990, 3), (10, 9990)])
def test_pass_at_k_is_stable_for_ten_thousand_samples(c, k):
    # math.comb(10000, 5000) has 3,000 digits: a float ratio of binomials overflows
    got = pass_at_k(10_000, c, k)
    assert got == pytest.approx(exact(10_000, c, k), rel=1e-10)
    assert 0.0 <= got <= 1.0


def test_pass_at_k_broadcasts_and_knows_its_edges():
    np.testing.assert_allclose(pass_at_k(10, [0, 1, 10], 1), [0.0, 0.1, 1.0])
    assert pass_at_k(10, 8, 3) == 1.0  # fewer than k wrong samples: some k-subset must pass
    assert pass_at_k(4, 0, 4) == 0.0
    assert coverage_curve(4, [0, 4], [1, 4]).tolist() == [0.5, 0.5]


def test_the_ladder_and_the_downstream_layer_estimate_pass_at_k_alike():
    pytest.importorskip("torch")
    from scalinglab.ladder.tasks import _pass_at_k

    c = np.arange(0, 129)
    for k in (1, 2, 8, 100):
        np.testing.assert_allclose(_pass_at_k(128, c, k), pass_at_k(128, c, k), rtol=1e-12)


@pytest.mark.parametrize(
    "args,message",
    [
        ((3, 5, 1), "c must be at most n (correct samples cannot outnumber samples): c=5, n=3"),
        ((10, 2, 11), "k must be at most n (pass@k needs k of the n samples): k=11, n=10"),
        ((10, 2, 0), "k must be a whole number >= 1, got 0"),
        ((10, -1, 1), "c must be a whole number >= 0, got -1"),
        ((10.5, 2, 1), "n must be a whole number >= 1, got 10.5"),
    ],
)
def test_bad_counts_are_refused_in_one_line(args, message):
    with pytest.raises(InputError) as info:
        pass_at_k(*args)
    assert str(info.value) == message


def test_pass_until_recovers_a_pass_rate_no_fixed_budget_could_see():
    p, rng = 2e-4, np.random.default_rng(0)
    # sample 400 problems until their 3rd success: negative binomial attempts
    attempts = rng.negative_binomial(3, p, size=400) + 3
    estimate = pass_until(attempts, required=3, seed=1)
    assert estimate.rate == pytest.approx(p, rel=0.1)
    assert estimate.ci[0] < p < estimate.ci[1]
    # 128 samples per problem would have seen a success in about 2.5% of problems
    assert estimate.to_json()["samples"] > 1_000_000 and not estimate.warnings


def test_pass_until_counts_unsolved_problems_as_a_lower_bound():
    estimate = pass_until([1000, 1000, 10], successes=[0, 1, 1], bootstrap=0)
    assert estimate.rate == pytest.approx((0 + 1 / 1000 + 1 / 10) / 3)
    assert estimate.pooled == pytest.approx(2 / 2010)
    assert estimate.warnings == [
        "1 of 3 problem(s) were never solved within their budget and count as 0: the rate is "
        "a lower bound; sample them longer"
    ]
    with pytest.raises(InputError, match="^successes problem 0: 5 successes in 3 attempts$"):
        pass_until([3], successes=[5], required=5)


def test_verifier_accuracy_matches_a_simulation_and_saturates_at_the_ceiling():
    p, fpr, tpr, k = 0.2, 0.1, 0.9, 5
    rng = np.random.default_rng(0)
    trials = 200_000
    correct = rng.random((trials, k)) < p
    accepted = np.where(correct, rng.random((trials, k)) < tpr, rng.random((trials, k)) < fpr)
    first = np.argmax(accepted, axis=1)
    any_accepted = accepted.any(axis=1)
    simulated = np.mean(any_accepted & correct[np.arange(trials), first])
    assert float(verified_accuracy(p, k, fpr=fpr, tpr=tpr)) == pytest.approx(simulated, abs=3e-3)
    ceiling = verifier_ceiling(p, fpr=fpr, tpr=tpr)
    assert ceiling == pytest.approx(0.2 * 0.9 / (0.2 * 0.9 + 0.8 * 0.1))
    assert float(verified_accuracy(p, 10_000, fpr=fpr, tpr=tpr)) == pytest.approx(ceiling)
    with pytest.raises(InputError, match=r"^fpr must lie in \[0, 1\], got 1.5$"):
        verifier_ceiling(0.5, fpr=1.5)
