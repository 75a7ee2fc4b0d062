"""Loss -> error link Err(L) = eps - k*exp(-gamma*L) and the chained (N, D) -> loss -> error."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.downstream import GADRE_17_TASKS, average_error, chain, fit_error_link
from scalinglab.errors import InputError
from scalinglab.laws.overtrain import OVERTRAIN

LINK = {"eps": 0.85, "k": 2.5, "gamma": 0.8}


def pairs(noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    loss = np.linspace(2.6, 5.5, 30)
    error = (LINK["eps"] - LINK["k"] * np.exp(-LINK["gamma"] * loss)) * np.exp(
        noise * rng.standard_normal(30)
    )
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(30)], "loss": loss, "error": error})


def test_link_recovers_known_parameters():
    fit = fit_error_link(pairs(), bootstrap=0)
    for name, value in LINK.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-4), name


def test_chained_interval_carries_both_fits_uncertainty():
    link = fit_error_link(pairs(noise=0.01, seed=1), bootstrap=100)
    runs = sl.synthetic.simulate(OVERTRAIN, {"E": 1.8, "a": 150.0, "eta": 0.15, "b": 300.0},
                                 sl.synthetic.chinchilla_grid(), noise=0.01, seed=2)  # fmt: skip
    loss_fit = sl.fit(runs, OVERTRAIN, bootstrap=100)
    out = chain(loss_fit, link, {"params": [1e9, 2e11], "tokens": [2e10, 4e12]})
    assert list(out.columns) == [
        "params",
        "tokens",
        "loss",
        "loss_lo",
        "loss_hi",
        "error",
        "error_lo",
        "error_hi",
    ]
    assert np.all(out["error_lo"] <= out["error"]) and np.all(out["error"] <= out["error_hi"])
    # With the loss held at its estimate, only the link's spread is left: narrower.
    only_link = link.predict({"loss": out["loss"].to_numpy()})
    assert np.all(
        (out["error_hi"] - out["error_lo"]).to_numpy()
        > (only_link["hi"] - only_link["lo"]).to_numpy()
    )
    assert out.attrs["warnings"]  # 2e11 params is far beyond the data


def test_average_error_is_one_minus_mean_accuracy(shared_data):
    table = average_error(
        shared_data / "overtrain_gadre.csv", loss="loss_c4_val", tasks=GADRE_17_TASKS
    )
    assert len(table) == 104 and table.attrs["tasks"] == list(GADRE_17_TASKS)
    assert table["error"].between(0.3, 0.9).all()
    with pytest.raises(InputError, match="no accuracy metric"):
        average_error(shared_data / "overtrain_gadre.csv", loss="loss_c4_val", tasks=["nope"])


def test_too_few_runs_for_the_link():
    with pytest.raises(
        InputError, match="the loss-to-error link has 3 parameters: need at least 4 runs, got 3"
    ):
        fit_error_link(pairs().iloc[:3])


def test_gadre_chained_error_for_the_held_out_runs(shared_data):
    # Gadre et al.'s protocol: the loss law from small runs, the link from runs up to the
    # 1.4B/M=20 one (20x less compute than the targets); their notebook: 3.6% and 0.05%.
    runs = sl.read_runs(shared_data / "overtrain_gadre.csv")
    loss_fit = sl.fit(
        runs, OVERTRAIN, y="loss_c4_val", family="rpj", where="flops < 1e20", bootstrap=100
    )
    table = average_error(runs, loss="loss_c4_val", tasks=GADRE_17_TASKS)
    table = table[table["family"] == "rpj"]
    link = fit_error_link(
        table.query("flops < 1e20 or (token_multiplier == 1 and params < 2e9)"), bootstrap=100
    )
    held = table[
        (table["params"] > 1e9) & ((table["token_multiplier"] == 32) | (table["params"] > 6e9))
    ]
    out = chain(loss_fit, link, held[["params", "tokens"]])
    rel = out["error"].to_numpy() / held["error"].to_numpy() - 1
    assert np.all(np.abs(rel) < 0.05)
