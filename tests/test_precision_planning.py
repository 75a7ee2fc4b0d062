"""Planning for a served precision, on cases solved by hand.

With ``L = E + A/N + B/D`` (chinchilla, alpha = beta = 1) and ``QiD = k*D/P**2`` (qid with
alpha = 0, beta = 1, gamma = 2) the served loss ``L + QiD`` has closed forms:

* in D at fixed N: ``B/D + c*D`` with ``c = k/P^2`` is least at ``D* = sqrt(B/c)``, and equals
  ``T' = target - E - A/N`` where ``c D^2 - T' D + B = 0``;
* along C = 6ND: ``A/N + 6BN/C + c*C/(6N)`` is least at ``N*^2 = (A + c C/6) C / (6 B)``, the
  full-precision optimum at ``N^2 = A C / (6 B)``.
"""

import math

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.fitting.result import FitResult
from scalinglab.laws import get_law
from scalinglab.planning.precision import precision_allocation, precision_tokens, served_loss

E, A, B, K, BITS = 1.8, 1e8, 1e9, 1.6e-10, 4.0
C_SLOPE = K / BITS**2  # 1e-11: QiD per token at 4 bits
LOSS = {"E": E, "A": A, "alpha": 1.0, "B": B, "beta": 1.0}
QID = {"k": K, "alpha": 0.0, "beta": 1.0, "gamma": 2.0}
RANGE = {"params": (1e7, 1e10), "tokens": (1e9, 1e11), "bits": (2.0, 4.0)}


def fit_of(law: str, params: dict, samples: np.ndarray | None = None) -> FitResult:
    """A FitResult with these parameters (and bootstrap replicates), as if fitted."""
    return FitResult(
        law=get_law(law), params=params, objective=0.0, n_points=20, n_runs=20, converged=True,
        y="loss", data_range=RANGE, samples=samples,
    )  # fmt: skip


def replicates(params: dict, law: str, n: int, seed: int, spread: float = 0.001) -> np.ndarray:
    """Replicates scattered a few percent around ``params`` (columns in the law's order)."""
    rng = np.random.default_rng(seed)
    centre = np.array([params[p] for p in get_law(law).parameter_names])
    return centre * np.exp(spread * rng.standard_normal((n, len(centre))))


def test_tokens_past_which_training_is_wasted_at_4_bits():
    answer = precision_tokens(fit_of("chinchilla", LOSS), fit_of("qid", QID), params=1e8, bits=4)
    assert answer.tokens.value == pytest.approx(math.sqrt(B / C_SLOPE), rel=1e-8)  # 1e10
    assert answer.qid.value == pytest.approx(0.1, rel=1e-8)
    assert answer.full_precision_loss.value == pytest.approx(E + 1.0 + 0.1, rel=1e-8)
    assert answer.loss.value == pytest.approx(E + 1.0 + 0.2, rel=1e-8)
    assert answer.warnings == []
    doc = answer.to_json()
    assert doc["tokens_per_param"] == pytest.approx(100.0, rel=1e-8)


def test_tokens_over_which_the_served_model_meets_a_target():
    target = E + 1.0 + 0.25  # c D^2 - 0.25 D + B = 0: D = (0.25 -+ 0.15) / 2e-11
    answer = precision_tokens(
        fit_of("chinchilla", LOSS), fit_of("qid", QID), 1e8, 4, target_loss=target
    )
    assert answer.tokens_to_target.value == pytest.approx(5e9, rel=1e-6)
    assert answer.tokens_past_target.value == pytest.approx(2e10, rel=1e-6)
    assert answer.to_json()["target_loss"] == target


def test_fewer_bits_stop_training_earlier():
    fits = fit_of("chinchilla", LOSS), fit_of("qid", QID)
    tokens = [precision_tokens(*fits, 1e8, bits).tokens.value for bits in (3, 4, 8)]
    assert tokens == pytest.approx([math.sqrt(B * b**2 / K) for b in (3, 4, 8)], rel=1e-8)
    assert tokens[0] < tokens[1] < tokens[2]


def test_budget_served_at_4_bits_buys_a_larger_model_on_fewer_tokens():
    flops = 6e19
    answer = precision_allocation(fit_of("chinchilla", LOSS), fit_of("qid", QID), flops, 4)
    n_star = math.sqrt((A + C_SLOPE * flops / 6) * flops / (6 * B))  # sqrt(2e18)
    assert answer.params.value == pytest.approx(n_star, rel=1e-6)
    assert answer.tokens.value == pytest.approx(flops / 6 / n_star, rel=1e-6)
    assert answer.full_precision_params.value == pytest.approx(1e9, rel=1e-6)
    assert answer.full_precision_tokens.value == pytest.approx(1e10, rel=1e-6)
    # Served at 4 bits, the full-precision optimum loses E + 0.1 + 0.1 + 0.1 = 2.1; ours less.
    assert answer.full_precision_served_loss.value == pytest.approx(2.1, rel=1e-6)
    assert answer.loss.value == pytest.approx(E + 2 * A / n_star + B * n_star * 6 / flops, rel=1e-6)
    assert answer.loss.value < answer.full_precision_served_loss.value


def test_intervals_pair_the_two_fits_replicates():
    loss = fit_of("chinchilla", LOSS, replicates(LOSS, "chinchilla", 60, seed=1))
    qid = fit_of("qid", QID, replicates(QID, "qid", 40, seed=2))
    assert served_loss(loss, qid).size == 41  # the estimate and 40 pairs
    assert served_loss(loss, fit_of("qid", QID)).size == 61  # the QiD estimate in every row
    answer = precision_tokens(loss, qid, 1e8, 4, target_loss=E + 1.3)
    for q in (answer.tokens, answer.loss, answer.tokens_to_target, answer.tokens_past_target):
        assert q.lo < q.value < q.hi
    assert answer.p_reachable == 1.0
    alloc = precision_allocation(loss, qid, 6e19, 4)
    assert alloc.params.lo < alloc.params.value < alloc.params.hi
    assert set(alloc.to_json()["ci"]) >= {"params", "tokens", "loss", "full_precision_params"}


def test_impossible_questions_are_one_line_input_errors():
    fits = fit_of("chinchilla", LOSS), fit_of("qid", QID)
    flat = fit_of("qid", {**QID, "beta": 0.0})  # QiD that does not grow with tokens
    cases = [
        (lambda: precision_tokens(fits[0], flat, 1e8, 4), "has no minimum in the tokens"),
        (lambda: precision_tokens(*fits, 1e8, 4, target_loss=E + 1.1), "never reaches loss"),
        (lambda: precision_tokens(fits[1], fits[1], 1e8, 4), "needs a law of params and tokens"),
        (lambda: precision_tokens(fits[0], fits[0], 1e8, 4), "params, tokens and bits"),
        (lambda: precision_tokens(*fits, 1e8, -4), "bits must be a positive number"),
        (lambda: precision_allocation(*fits, 1e10, 4), "below the smallest run"),
    ]
    for call, message in cases:
        with pytest.raises(InputError) as err:
            call()
        assert message in str(err.value) and "\n" not in str(err.value)
