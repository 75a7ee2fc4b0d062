"""The reference estimator, written as plain scipy in the Epoch AI / Chinchilla style.

Besiroglu et al. (2024), following Hoffmann et al. (2022): parameters (a, b, e, alpha, beta)
with A = exp(a), B = exp(b), E = exp(e); log-loss predicted by
LSE(a - alpha log N, b - beta log D, e); Huber(delta=1e-3) on log residuals; L-BFGS-B from
every point of the grid alpha, beta in {0, .5, ..., 2}, e in {-1, -.5, ..., 1},
a, b in {0, 5, ..., 25} (4,500 starts). The gradient is analytic, to be fair to the reference.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

GRID = list(
    itertools.product(
        np.arange(0, 2.01, 0.5),  # alpha
        np.arange(0, 2.01, 0.5),  # beta
        np.arange(-1, 1.01, 0.5),  # e
        np.arange(0, 26, 5),  # a
        np.arange(0, 26, 5),  # b
    )
)


def objective_and_grad(x, log_n, log_d, log_y, delta):
    alpha, beta, e, a, b = x
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    pred = logsumexp(terms, axis=0)
    r = pred - log_y
    psi = np.clip(r, -delta, delta)  # d huber / d r
    soft = np.exp(terms - pred)  # d pred / d term
    grad = np.array([
        np.sum(psi * soft[0] * -log_n),
        np.sum(psi * soft[1] * -log_d),
        np.sum(psi * soft[2]),
        np.sum(psi * soft[0]),
        np.sum(psi * soft[1]),
    ])  # fmt: skip
    return float(np.sum(huber(delta, r))), grad


def _run_chunk(args):
    starts, log_n, log_d, log_y, delta = args
    best = (np.inf, None)
    for x0 in starts:
        res = minimize(
            objective_and_grad, x0, args=(log_n, log_d, log_y, delta), jac=True, method="L-BFGS-B"
        )
        if res.fun < best[0]:
            best = (float(res.fun), res.x)
    return best


def fit_epoch_style(params, tokens, loss, delta=1e-3, starts=GRID, workers=None):
    """Best (objective, {E, A, alpha, B, beta}) over all starts, on all cores."""
    log_n, log_d, log_y = np.log(params), np.log(tokens), np.log(loss)
    workers = workers or os.cpu_count() or 1
    chunks = [(starts[i::workers], log_n, log_d, log_y, delta) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_run_chunk, chunks))
    fun, x = min(results, key=lambda r: r[0])
    alpha, beta, e, a, b = x
    return fun, {
        "E": float(np.exp(e)),
        "A": float(np.exp(a)),
        "alpha": float(alpha),
        "B": float(np.exp(b)),
        "beta": float(beta),
    }
