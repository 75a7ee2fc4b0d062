"""The qid law (Ouyang et al. 2024): its formula, recovery of planted exponents with honest
intervals, and the run-table rows it is fitted to (quant.qid_runs)."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.quant.table import qid_runs
from scalinglab.synthetic import simulate

#: A planted truth with the published exponents, k giving QiD ~ 0.01-1 nats on ladder scales.
TRUTH = {"k": 0.25, "alpha": 0.2261, "beta": 0.5251, "gamma": 5.4967}


def ladder_design() -> pd.DataFrame:
    """The bundled GPU ladder's 6 sizes x 3 budgets, each quantized to 2, 3 and 4 bits."""
    n = np.array([0.44e6, 0.80e6, 1.78e6, 3.93e6, 7.38e6, 14.2e6])
    mesh = np.meshgrid(n, [5e7, 1e8, 2e8], [2.0, 3.0, 4.0], indexing="ij")
    return pd.DataFrame(
        {k: m.ravel() for k, m in zip(("params", "tokens", "bits"), mesh, strict=True)}
    )


def test_qid_is_a_law_of_params_tokens_and_bits_with_its_reference():
    law = get_law("qid")
    assert law.variables == ("params", "tokens", "bits")
    assert [p.name for p in law.parameters if p.linear] == ["k"]
    assert law.published == {"alpha": 0.2261, "beta": 0.5251, "gamma": 5.4967}
    assert "Ouyang et al. 2024" in law.reference and "2411.17691" in law.reference


def test_qid_formula_is_k_d_to_the_beta_over_n_to_the_alpha_p_to_the_gamma():
    law = get_law("qid")
    n, d, p = 3e8, 2e11, 3.0
    expected = 0.25 * d**0.5251 / (n**0.2261 * p**5.4967)
    assert float(law.evaluate({"params": n, "tokens": d, "bits": p}, TRUTH)) == pytest.approx(
        expected, rel=1e-12
    )


def test_qid_grows_with_tokens_and_shrinks_with_size_and_bits():
    law = get_law("qid")

    def qid(n, d, p):
        return float(law.evaluate({"params": n, "tokens": d, "bits": p}, TRUTH))

    assert qid(1e8, 1e10, 4) < qid(1e8, 1e11, 4)
    assert qid(1e9, 1e10, 4) < qid(1e8, 1e10, 4)
    assert qid(1e8, 1e10, 4) < qid(1e8, 1e10, 3) < qid(1e8, 1e10, 2)


def covered(seed: int, bootstrap: int) -> dict[str, bool]:
    """Whether each exponent's 95% bootstrap interval holds the planted value (10% noise)."""
    runs = simulate("qid", TRUTH, ladder_design(), noise=0.1, seed=seed, metric="qid")
    fit = sl.fit(runs, "qid", bootstrap=bootstrap, seed=seed)
    ci = fit.conf_int()
    return {
        p: bool(ci.loc[p, "lo"] <= TRUTH[p] <= ci.loc[p, "hi"]) for p in ("alpha", "beta", "gamma")
    }


def test_fit_recovers_planted_exponents_within_bootstrap_intervals():
    results = [covered(seed, bootstrap=100) for seed in range(5)]
    for p in ("alpha", "beta", "gamma"):
        assert np.mean([r[p] for r in results]) >= 0.9, p


@pytest.mark.slow
def test_interval_coverage_of_planted_exponents_over_many_seeds():
    results = [covered(seed, bootstrap=200) for seed in range(100, 140)]
    for p in ("alpha", "beta", "gamma"):
        assert np.mean([r[p] for r in results]) >= 0.9, p


# -- from the ladder's metrics to the law's rows ---------------------------------------------


def ladder_table() -> pd.DataFrame:
    """A ladder-shaped long table: one row per run and metric, QiD drawn from the law, the 8-bit
    QiD a little negative as measured QiD at 8 bits is (noise around zero)."""
    law = get_law("qid")
    rows = []
    for i, (n, d) in enumerate(ladder_design()[["params", "tokens"]].drop_duplicates().to_numpy()):
        run = {"family": "gpu-ladder", "run_id": f"r{i}", "params": n, "tokens": d}
        rows.append({**run, "metric": "val_loss", "value": 3.0})
        for bits in (2, 3, 4):
            q = float(law.evaluate({"params": n, "tokens": d, "bits": bits}, TRUTH))
            rows.append({**run, "metric": f"qid_w{bits}g32_awq", "value": q})
            rows.append({**run, "metric": f"qid_w{bits}g32_rtn", "value": 2 * q})
        rows.append({**run, "metric": "qid_w8g32_awq", "value": -1e-4})
    return pd.DataFrame(rows)


def test_qid_runs_turns_one_quantizer_family_into_rows_with_a_bits_column():
    table = qid_runs(ladder_table(), method="awq", group_size=32)
    df = table.df
    assert set(df["metric"]) == {"qid"}
    assert sorted(df["bits"].unique()) == [2.0, 3.0, 4.0]
    assert len(df) == 18 * 3 and df["run_id"].str.endswith((":w2", ":w3", ":w4")).all()
    assert "bits" in table.variables()
    fit = sl.fit(table, "qid", y="qid", bootstrap=0)
    for p, v in TRUTH.items():
        assert fit.params[p] == pytest.approx(v, rel=1e-3)


def test_qid_runs_leaves_8_bits_out_unless_asked_and_drops_qid_at_or_below_zero():
    # 8 bits is the control (QiD at the noise floor): kept only when asked, and its rows
    # without a measurable degradation are dropped, counted in the notes.
    table = qid_runs(ladder_table(), bits=(2, 3, 4, 8))
    assert sorted(table.df["bits"].unique()) == [2.0, 3.0, 4.0]
    assert any("18 rows with QiD <= 0 dropped" in note for note in table.notes)


def test_qid_runs_names_the_qid_metrics_there_are_when_none_match():
    with pytest.raises(InputError) as err:
        qid_runs(ladder_table(), method="awq", group_size=128)
    message = str(err.value)
    assert "no metric qid_w2g128_awq" in message and "qid_w4g32_rtn" in message
    assert "\n" not in message
