"""Pooling families: shared exponents recovered from families of 2-3 models, predictions where
a family's own fit is refused, the loan of strength stated."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.downstream import pooled_fit
from scalinglab.downstream.pooled import scaling_coefficients
from scalinglab.errors import InputError
from scalinglab.laws import get_law

FLOOR, EXPONENT = 1.7, 0.3
SIZES = [1e7, 3e7, 1e8, 3e8, 1e9]


def families(n_families: int = 6, noise: float = 0.003, seed: int = 0) -> pd.DataFrame:
    """``c + a_f * N^-b``: one floor and exponent, each family its own a_f, 2-3 sizes each."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_families):
        a = 60.0 * (1 + 0.4 * f)
        for n in rng.choice(SIZES, size=2 + f % 2, replace=False):
            value = (FLOOR + a * n**-EXPONENT) * np.exp(noise * rng.standard_normal())
            rows.append({"family": f"f{f}", "run_id": f"f{f}-{n:g}", "params": n,
                         "tokens": 20 * n, "metric": "loss", "value": value})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_offset_is_the_scaling_term_coefficient():
    assert scaling_coefficients(get_law("power_floor:params")) == ["a"]
    assert scaling_coefficients(get_law("chinchilla")) == ["A", "B"]


def test_shared_exponents_are_recovered_from_families_of_two_or_three_models():
    runs = families()
    assert runs.groupby("family").size().between(2, 3).all()
    pooled = pooled_fit(runs, "power_floor:params", y="loss", bootstrap=200)
    assert pooled.fit.params["b"] == pytest.approx(EXPONENT, rel=0.05)
    assert pooled.fit.params["c"] == pytest.approx(FLOOR, rel=0.02)
    for name in ("b", "c"):
        lo, hi = pooled._ci(name)
        assert lo < {"b": EXPONENT, "c": FLOOR}[name] < hi
    assert pooled.params("f3")["a"] == pytest.approx(60.0 * 2.2, rel=0.15)


def test_a_family_refused_alone_gets_a_prediction_with_an_interval():
    runs = families()
    with pytest.raises(InputError, match=r"too few points for law 'power_floor:params': 2 point"):
        sl.fit(runs[runs["family"] == "f0"], "power_floor:params", y="loss")
    pooled = pooled_fit(runs, "power_floor:params", y="loss", bootstrap=200)
    out = pooled.predict("f0", {"params": [1e10]})
    truth = FLOOR + 60.0 * 1e10**-EXPONENT
    assert out["value"][0] == pytest.approx(truth, rel=0.01)
    assert out["lo"][0] < truth < out["hi"][0] and out["pred_lo"][0] <= out["lo"][0]
    text = out.attrs["borrowed"]
    assert text.startswith("f0 (2 runs) fits its own a; c, b come from all 6 families (13 runs")
    assert text.endswith("alone it is refused: too few points for law 'power_floor:params': "
                         "2 point(s) for 3 free parameters (need at least 4)")  # fmt: skip
    assert "shared" in pooled.summary() and pooled.to_json()["per_family"] == ["a"]


def test_pooling_refuses_one_family_and_an_unknown_offset():
    runs = families()
    with pytest.raises(InputError, match="^family pooling needs at least two families, got f0$"):
        pooled_fit(runs, "power_floor:params", y="loss", families=["f0"])
    with pytest.raises(InputError, match="^per_family b: not a linear coefficient"):
        pooled_fit(runs, "power_floor:params", y="loss", per_family=["b"])
    pooled = pooled_fit(runs, "power_floor:params", y="loss", bootstrap=0)
    with pytest.raises(InputError, match="^family unknown family 'g'"):
        pooled.predict("g", {"params": [1e9]})
