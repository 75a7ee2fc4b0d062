"""kaplan_ns: L(N, S_min) with the critical batch, against Kaplan et al. 2020's constants."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.kaplan import (
    ALPHA_B,
    B_STAR,
    KAPLAN_NS_PUBLISHED,
    critical_batch,
    fit_critical_batch,
    fit_critical_batch_law,
    steps_to_loss,
)
from scalinglab.runs import RunTable

TRUTH = KAPLAN_NS_PUBLISHED  # alpha_N 0.077, Nc 6.5e13, alpha_S 0.76, Sc 2.1e3


def loss_along_run(n, steps, batch, truth=TRUTH):
    """Solve L = (Nc/N)^aN + (Sc/S_min(L))^aS, S_min = S/(1 + B_crit(L)/B), by bisection."""
    lo, hi = np.full(steps.shape, 1.0), np.full(steps.shape, 20.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        s_min = steps / (1 + B_STAR / mid ** (1 / ALPHA_B) / batch)
        rhs = (truth["Nc"] / n) ** truth["alpha_N"] + (truth["Sc"] / s_min) ** truth["alpha_S"]
        # L - rhs(L) increases with L: rhs falls as L grows (B_crit shrinks, S_min grows)
        too_high = mid - rhs > 0
        hi = np.where(too_high, mid, hi)
        lo = np.where(too_high, lo, mid)
    return (lo + hi) / 2


def curves(noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for n in (1e6, 1e7, 1e8, 1e9):
        for batch in (2**17, 2**19, 2**21):
            steps = np.unique(np.geomspace(300, 3e5, 25).round())
            loss = loss_along_run(n, steps, batch) * np.exp(noise * rng.standard_normal(steps.size))
            for s, v in zip(steps, loss, strict=True):
                rows.append({"family": "k", "run_id": f"n{n:g}-b{batch}", "params": n, "tokens": s * batch,
                             "step": s, "metric": "loss", "value": v})  # fmt: skip
    return RunTable.from_frame(pd.DataFrame(rows))


def test_kaplan_ns_recovers_exponents_from_per_step_curves():
    fit = sl.fit(curves(), "kaplan_ns", bootstrap=0, skip_fraction=0.0)
    assert fit.params["alpha_S"] == pytest.approx(0.76, rel=0.1)
    assert fit.params["alpha_N"] == pytest.approx(0.077, rel=0.15)
    assert fit.derived["Sc"] == pytest.approx(2.1e3, rel=0.5)


def test_kaplan_ns_published_constants_give_papers_loss():
    # Independent computation with Kaplan et al.'s Table 3 constants: N = 1e9, S_min = 1e5.
    law = get_law("kaplan_ns")
    expected = (6.5e13 / 1e9) ** 0.077 + (2.1e3 / 1e5) ** 0.76
    value = law.evaluate({"params": 1e9, "s_min": 1e5}, law.published)
    assert float(value) == pytest.approx(expected, rel=1e-12)
    assert law.derive(law.published)["Nc"] == pytest.approx(6.5e13, rel=1e-9)


def test_critical_batch_uses_kaplans_b_star():
    # B_crit(L) = 2e8 / L^(1/0.21) tokens (Kaplan et al. 2020, eq. 5.3).
    assert critical_batch(1.0) == pytest.approx(2e8)
    assert critical_batch(3.0) == pytest.approx(2e8 / 3.0 ** (1 / 0.21), rel=1e-12)


def test_steps_to_loss_inverts_the_law():
    out = steps_to_loss(TRUTH, 1e9, 2.8, 2**19)
    again = loss_along_run(1e9, np.array([out["steps"]]), 2**19)
    assert float(again[0]) == pytest.approx(2.8, rel=1e-6)
    assert out["tokens"] == pytest.approx(out["steps"] * 2**19)
    # At a batch of B_crit exactly, S = 2 S_min and E = 2 E_min (McCandlish et al. 2018).
    at_crit = steps_to_loss(TRUTH, 1e9, 2.8, out["critical_batch_tokens"])
    assert at_crit["steps"] == pytest.approx(2 * at_crit["min_steps"])
    assert at_crit["tokens"] == pytest.approx(2 * at_crit["min_tokens"])


def test_steps_to_loss_out_of_reach():
    with pytest.raises(
        InputError,
        match=r"loss 2 is out of reach for 1e\+09 parameters: the law's limit at unlimited steps is 2\.3",
    ):
        steps_to_loss(TRUTH, 1e9, 2.0, 2**19)


def test_critical_batch_fit_recovers_trade_off_curve():
    s_min, e_min = 1e4, 5e9
    batches = np.array([2**16, 2**18, 2**20, 2**22, 2**24])
    steps = s_min * (1 + (e_min / s_min) / batches)
    fitted = fit_critical_batch(steps, steps * batches)
    assert fitted["critical_batch_tokens"] == pytest.approx(e_min / s_min, rel=1e-9)
    law = fit_critical_batch_law([2.5, 3.0, 3.5], [critical_batch(x) for x in (2.5, 3.0, 3.5)])
    assert law["B_star"] == pytest.approx(B_STAR, rel=1e-9)
    assert law["alpha_B"] == pytest.approx(ALPHA_B, rel=1e-9)


def test_kaplan_ns_needs_per_step_rows():
    final = RunTable.from_frame(
        pd.DataFrame(
            {
                "params": [1e8, 2e8, 4e8],
                "tokens": [1e9] * 3,
                "metric": "loss",
                "value": [3.0, 2.9, 2.8],
            }
        )
    )
    with pytest.raises(
        InputError,
        match="law 'kaplan_ns' is fitted on per-step curves: the table has no rows with a step",
    ):
        sl.fit(final, "kaplan_ns")


def test_steps_to_loss_cli_with_published_constants():
    result = CliRunner().invoke(
        app, ["steps-to-loss", "--params", "1B", "--loss", "2.8", "--batch", "524288", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["steps"] == pytest.approx(steps_to_loss(TRUTH, 1e9, 2.8, 524288)["steps"])
    bad = CliRunner().invoke(app, ["steps-to-loss", "--params", "1B", "--loss", "1.0"])
    assert bad.exit_code == 2
    assert "out of reach" in bad.stderr
