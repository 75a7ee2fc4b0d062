"""Emergence and monotonicity: breaks found where they were planted, predictability verdicts,
inverse and non-monotone scaling."""

import numpy as np
import pandas as pd
import pytest

from scalinglab.downstream import emergence, trend

LOSSES = np.linspace(4.0, 2.6, 8)


def runs(accuracy, items=20000, seed=0):
    """Eight model sizes, each trained on two budgets (the second 0.1 nats lower in loss)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, base in enumerate(LOSSES):
        params = 1e7 * 2.0**i
        for budget, loss in enumerate((base, base - 0.1)):
            value = rng.binomial(items, accuracy(loss, i)) / items
            for name, v in (("val_loss", loss), ("acc_task", value)):
                rows.append({"family": "f", "run_id": f"r{i}b{budget}", "params": params,
                             "tokens": 20 * (budget + 1) * params, "metric": name,
                             "value": v})  # fmt: skip
    return pd.DataFrame(rows)


def smooth(loss, i):
    return 0.25 + 0.7 / (1 + np.exp(-2.5 * (3.0 - loss)))


def jump(loss, i):
    """Smooth, then 25 points above its law from the 7th size on: an emergent ability."""
    return min(smooth(loss, i) + (0.25 if i >= 6 else 0.0), 0.99)


@pytest.mark.slow
def test_a_task_that_follows_its_link_is_predictable_from_few_sizes():
    e = emergence(runs(smooth), "acc_task", loss="val_loss", chance=0.25, bootstrap=60)
    assert e.status == "fitted" and e.trend["verdict"] == "improves"
    assert e.break_at is None
    assert e.predictable_from is not None and e.predictable_from <= 6
    assert e.verdict.startswith(f"predictable from {e.predictable_from} sizes (of 8)")


@pytest.mark.slow
def test_a_planted_jump_is_found_as_a_break_above_the_law():
    e = emergence(runs(jump), "acc_task", loss="val_loss", chance=0.25, bootstrap=60)
    assert e.break_at == 1e7 * 2.0**6
    assert e.break_direction.startswith("above its law")
    # the largest follows the jumped size: predictable only once a fit has seen the jump
    assert e.predictable_from == 7
    assert e.bnsl_break is not None


def test_monotonicity_verdicts():
    scale = np.arange(8)
    assert trend(scale, 0.9 - 0.05 * scale)["verdict"] == "inverse scaling"
    u = np.array([0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.6, 0.55])  # rises, then falls at the top
    assert trend(scale, u, margin=0.05)["verdict"] == "non-monotone"
    assert trend(scale, np.full(8, 0.3))["verdict"] == "flat"


def test_a_task_at_chance_is_not_predictable_and_says_why():
    e = emergence(runs(lambda loss, i: 0.25), "acc_task", loss="val_loss", chance=0.25)
    assert e.status == "at chance" and e.verdict.startswith("not predictable: at chance: ")
