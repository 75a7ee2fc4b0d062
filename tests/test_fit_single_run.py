"""A law fitted to one run's curve: the bootstrap resamples blocks of consecutive checkpoints.

Residuals along a training curve are correlated (a run drifts above or below the law for a
while), so resampling single checkpoints gives intervals far too narrow.
"""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.fitting import estimate
from scalinglab.fitting.engine import block_bootstrap_weights, bootstrap_weights

STEPS = np.arange(100, 5001, 100)


def curve(seed: int, phi: float = 0.8) -> sl.RunTable:
    """``2 + 5 step^-0.5`` with AR(1) log noise of correlation ``phi`` from one checkpoint to
    the next (0.4% innovations)."""
    rng = np.random.default_rng(seed)
    noise = np.zeros(len(STEPS))
    for i in range(1, len(STEPS)):
        noise[i] = phi * noise[i - 1] + rng.normal(0.0, 0.004)
    value = (2.0 + 5.0 * STEPS**-0.5) * np.exp(noise)
    frame = pd.DataFrame(
        {"run_id": "r", "family": "f", "step": STEPS, "tokens": STEPS * 1e3, "metric": "loss",
         "value": value}
    )  # fmt: skip
    return sl.RunTable.from_frame(frame)


def alpha_coverage(seeds: range) -> float:
    inside = []
    for seed in seeds:
        result = sl.fit(curve(seed), "E + A*step**-alpha", bootstrap=200, seed=seed,
                        skip_fraction=0.0)  # fmt: skip
        lo, hi = result.conf_int().loc["alpha", ["lo", "hi"]]
        inside.append(lo <= 0.5 <= hi)
    return float(np.mean(inside))


def test_block_weights_keep_neighbours_together_and_draw_every_checkpoint_alike():
    rng = np.random.default_rng(0)
    order = rng.permutation(60)  # observations stored out of step order
    w = block_bootstrap_weights(order, 4000, rng, block=5)
    assert np.all(w.sum(axis=1) == 60)
    in_step_order = w[:, order]
    assert np.allclose(in_step_order.mean(axis=0), 1.0, atol=0.1)  # ends included (circular)
    neighbours = np.corrcoef(in_step_order[:, 10], in_step_order[:, 11])[0, 1]
    far = np.corrcoef(in_step_order[:, 10], in_step_order[:, 40])[0, 1]
    assert neighbours > 0.5 and abs(far) < 0.1


@pytest.mark.slow
def test_single_run_intervals_cover_the_truth_under_correlated_noise(monkeypatch):
    # measured over 40 seeds: blocks 0.975 (nominal 0.95), single checkpoints 0.75
    assert alpha_coverage(range(40)) >= 0.85
    monkeypatch.setattr(  # single checkpoints resampled, as before blocks
        estimate, "block_bootstrap_weights",
        lambda order, n, rng: bootstrap_weights(np.arange(len(order)), n, rng),
    )  # fmt: skip
    assert alpha_coverage(range(40)) < 0.85


def test_single_run_fit_says_what_its_bootstrap_resampled():
    result = sl.fit(curve(0), "E + A*step**-alpha", bootstrap=20, skip_fraction=0.0)
    assert (
        "one run only: the bootstrap resamples blocks of consecutive checkpoints, not runs; "
        "the intervals say how well this run pins the law down, not how runs vary"
    ) in result.warnings
