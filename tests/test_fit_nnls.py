"""Variable projection's non-negative least squares: exact enumeration for the few coefficients
of every built-in law, batched Lawson-Hanson beyond, the same answers where both apply."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.optimize

from scalinglab.fitting.engine import (
    MAX_ENUMERATED_COEFFICIENTS,
    MAX_GRID_POINTS,
    ParameterSpace,
    Problem,
    nonnegative_least_squares,
    project_linear,
    start_grid,
)
from scalinglab.laws import Law, all_laws


def random_problems(seed: int, n_problems: int, *, collinear: bool = False):
    """Least-squares problems (X, t) with k <= 8 columns, as normal equations, and which
    coefficients must be non-negative (a random 80%)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_problems):
        k = int(rng.integers(1, 9))
        m = int(rng.integers(k + 2, 40))
        X = rng.normal(size=(5, m, k)) * np.exp(rng.normal(size=(1, 1, k)))
        if collinear and k > 1:  # two columns equal up to 1e-9: many near-optimal answers
            X[..., -1] = 2 * X[..., 0] + 1e-9 * rng.normal(size=X.shape[:2])
        t = rng.normal(size=(5, m)) + X @ rng.normal(size=k)
        nonneg = rng.random(k) < 0.8
        yield X, t, normal_equations(X, t), nonneg


def normal_equations(X, t):
    return (
        np.einsum("gnk,gnl->gkl", X, X),
        np.einsum("gnk,gn->gk", X, t),
        np.einsum("gn,gn->g", t, t),
    )


def cost(coef, gram, rhs, base):
    return base - 2 * np.einsum("gk,gk->g", coef, rhs) + np.einsum("gk,gkl,gl->g", coef, gram, coef)


def test_lawson_hanson_finds_the_enumerated_optimum():
    for _, _, (gram, rhs, base), nonneg in random_problems(0, 200):
        exact = nonnegative_least_squares(gram, rhs, base, nonneg, method="enumerate")
        batched = nonnegative_least_squares(gram, rhs, base, nonneg, method="lawson-hanson")
        assert (batched[:, nonneg] >= 0).all()
        np.testing.assert_allclose(batched, exact, rtol=1e-9, atol=1e-9 * np.abs(exact).max())


def ridged_cost(coef, gram, rhs, base):
    ridge = 1e-12 * np.einsum("gkk->g", gram)
    return cost(coef, gram, rhs, base) + ridge * np.einsum("gk,gk->g", coef, coef)


def test_on_collinear_problems_lawson_hanson_finds_the_optimum_of_the_ridged_problem():
    # Both methods solve with a ridge of 1e-12 * trace(gram) (collinear bases stay solvable);
    # enumeration ranks active sets by the plain cost, Lawson-Hanson minimises the ridged
    # one, so on nearly singular problems they may differ by ~1e-8 of the plain cost.
    for _, _, (gram, rhs, base), nonneg in random_problems(1, 200, collinear=True):
        exact = nonnegative_least_squares(gram, rhs, base, nonneg, method="enumerate")
        batched = nonnegative_least_squares(gram, rhs, base, nonneg, method="lawson-hanson")
        assert (batched[:, nonneg] >= 0).all()
        ridged = ridged_cost(exact, gram, rhs, base)
        assert (ridged_cost(batched, gram, rhs, base) <= ridged + 1e-9 * np.abs(ridged)).all()
        plain = cost(exact, gram, rhs, base)
        assert (cost(batched, gram, rhs, base) <= plain + 1e-7 * np.abs(plain)).all()


def test_both_methods_agree_with_scipy_nnls():
    for X, t, (gram, rhs, base), nonneg in random_problems(2, 100):
        everything = np.ones_like(nonneg)  # scipy's nnls has no free coefficients
        reference = np.stack([scipy.optimize.nnls(x, y)[0] for x, y in zip(X, t, strict=True)])
        scale = np.abs(reference).max()
        for method in ("enumerate", "lawson-hanson"):
            coef = nonnegative_least_squares(gram, rhs, base, everything, method=method)
            # scipy solves X directly, we the normal equations: agreement to ~1e-7 of the scale
            np.testing.assert_allclose(coef, reference, rtol=0, atol=1e-6 * scale)


def test_auto_enumerates_the_few_coefficients_of_every_built_in_law():
    assert max(sum(p.linear for p in law.parameters) for law in all_laws()) <= (
        MAX_ENUMERATED_COEFFICIENTS
    )
    for _, _, (gram, rhs, base), nonneg in random_problems(3, 30):
        if nonneg.sum() > MAX_ENUMERATED_COEFFICIENTS:
            continue
        assert np.array_equal(
            nonnegative_least_squares(gram, rhs, base, nonneg),
            nonnegative_least_squares(gram, rhs, base, nonneg, method="enumerate"),
        )


def many_coefficients_problem(k: int, noise: float) -> tuple[Problem, np.ndarray]:
    """``sum_j c_j * x_j`` over k positive columns, a third of the true c_j zero, and
    multiplicative noise (which pushes the least-squares estimates of those below zero)."""
    rng = np.random.default_rng(k)
    law = Law.from_formula(
        " + ".join(f"c{j}*x{j}" for j in range(k)), variables=[f"x{j}" for j in range(k)]
    )
    data = {f"x{j}": rng.lognormal(size=200) for j in range(k)}
    truth = np.where(np.arange(k) % 3 == 1, 0.0, 1.0 + np.arange(k) / k)
    clean = sum(c * data[f"x{j}"] for j, c in enumerate(truth))
    y = clean * np.exp(noise * rng.normal(size=200))
    return Problem(law, data, y, np.arange(200), ParameterSpace(law, {})), truth


def reference_nnls(problem: Problem) -> np.ndarray:
    """scipy's NNLS of the projection's objective, sum ((f - y)/y)^2."""
    X = np.stack([problem.data[v] for v in problem.law.variables], axis=1)
    return scipy.optimize.nnls(X / problem.y[:, None], np.ones(len(problem.y)))[0]


@pytest.mark.parametrize("k", [7, 12, 40])
def test_projection_recovers_the_coefficients_with_or_without_enumeration(k):
    exact, truth = many_coefficients_problem(k, noise=0.0)
    np.testing.assert_allclose(exact.natural(project_linear(exact, np.zeros((1, 0))))[0], truth,
                               rtol=1e-8, atol=1e-8)  # fmt: skip
    noisy, _ = many_coefficients_problem(k, noise=0.05)
    coef = noisy.natural(project_linear(noisy, np.zeros((1, 0))))[0]
    reference = reference_nnls(noisy)
    assert (reference[1::3] == 0).any()  # the constraint binds
    np.testing.assert_allclose(coef, reference, rtol=1e-6, atol=1e-9)


def test_forty_linear_terms_take_well_under_a_second_not_2_to_the_40_solves():
    problem, _ = many_coefficients_problem(40, noise=0.05)
    theta = np.zeros((81, 0))  # as many rows as a 9 x 9 grid of two exponents
    start = time.perf_counter()
    u = project_linear(problem, theta)
    assert time.perf_counter() - start < 5.0  # measured ~0.05 s; the enumeration never ends
    np.testing.assert_allclose(problem.natural(u)[0], reference_nnls(problem), rtol=1e-6, atol=1e-9)


def test_twelve_exponents_with_their_own_coefficients_project_in_seconds():
    # 13 linear coefficients on the 4,096-point grid of 12 exponents: 8,192 active sets at
    # each point took ~140 s of a 146 s fit; the exponents themselves were never the cost.
    rng = np.random.default_rng(0)
    terms = [f"A{i}*{'params' if i % 2 else 'tokens'}**-a{i}" for i in range(12)]
    law = Law.from_formula("E + " + " + ".join(terms), variables=["params", "tokens"])
    data = {"params": 10 ** rng.uniform(7, 10, 60), "tokens": 10 ** rng.uniform(9, 12, 60)}
    y = 1.8 + 400 * data["params"] ** -0.34 + 2000 * data["tokens"] ** -0.37
    space = ParameterSpace(law, {})
    problem = Problem(law, data, y, np.arange(60), space)
    theta = start_grid(space, np.random.default_rng(0))
    assert theta.shape == (MAX_GRID_POINTS, 12)
    start = time.perf_counter()
    u = project_linear(problem, theta)
    assert time.perf_counter() - start < 10.0  # measured ~0.3 s
    assert np.isfinite(u).all() and (u[:, 12:] >= 0).all()
