"""The scalerl law (Khatri et al. 2025, arXiv:2510.13786, eq. 1) and its questions: the
asymptote of one run (planning.rl) and the comparison of recipes (compare.rl).

Published numbers tested against (read from the HF rl-llm-wiki discussion #370, whose reviewer
checked them against the arXiv PDF, and a summary of the paper; the PDF itself was not
readable here, and no published curve is stored: none could be found with its data):
A = 0.61 for ScaleRL on the 8B model (Fig. 2; 0.52 without FP32 logits, Fig. 5b), B = 2.01 for
ScaleRL against 1.77 with the DAPO loss in the leave-one-out study (Fig. 7), and the +-0.02
spread of A over three independent runs (Fig. 8a). The paper's protocol — fit on the first
half of the compute (50k of 100k GPU-hours, Fig. 1), extrapolate to the end — is the
truncation test below. R0 = 0.40 and C_mid = 1e4 GPU-hours are ours (not given in the text).
"""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.compare.rl import compare_rl_recipes
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.rl import ASYMPTOTE_MARGIN, BF16_HEAD_A, DAPO_LOSS_B, SCALERL_PUBLISHED
from scalinglab.planning.rl import rl_asymptote
from scalinglab.runs import RunTable

runner = CliRunner()
#: A planted run at ScaleRL's published A and B (R0 and C_mid ours).
TRUTH = {"R0": 0.40, "gain": SCALERL_PUBLISHED["A"] - 0.40, "C_mid": 1.0e4, "B": 2.01}
#: Pass rate on 1,000 prompts x 16 samples: a binomial SD of about 0.004.
NOISE_SD = 0.005


def curve(truth, seed, *, family="scalerl", top=1e5, n=100):
    """One RL run: pass rate at n evenly spaced checkpoints up to ``top`` GPU-hours."""
    law = get_law("scalerl:gpu_hours")
    rng = np.random.default_rng(seed)
    c = np.linspace(top / n, top, n)
    y = law.evaluate({"gpu_hours": c}, truth) + NOISE_SD * rng.standard_normal(n)
    return pd.DataFrame({
        "family": family, "run_id": family, "params": 8e9, "step": np.arange(1, n + 1) * 74,
        "gpu_hours": c, "metric": "pass_rate", "value": y,
    })  # fmt: skip


def first_half(truth, seed, **kw):
    df = curve(truth, seed, **kw)
    return RunTable.from_frame(df[df["gpu_hours"] <= df["gpu_hours"].max() / 2])


# -- the law -----------------------------------------------------------------------------------


def test_scalerl_is_khatri_eq_1_with_its_reference_and_published_values():
    law = get_law("scalerl:gpu_hours")
    assert law.variables == ("gpu_hours",)
    assert "Khatri et al. 2025" in law.reference and "2510.13786" in law.reference
    assert law.published == {"A": 0.61, "B": 2.01}
    assert [p.name for p in law.parameters if p.linear] == ["R0", "gain"]
    a, r0, c_mid, b = 0.61, 0.40, 1e4, 2.01
    for c in (1e3, 1e4, 3e4, 1e6):
        eq1 = r0 + (a - r0) / (1 + (c_mid / c) ** b)
        value = law.evaluate({"gpu_hours": c}, {"R0": r0, "gain": a - r0, "C_mid": c_mid, "B": b})
        assert float(value) == pytest.approx(eq1, rel=1e-12)
    assert law.derive({"R0": r0, "gain": a - r0})["A"] == pytest.approx(0.61)


def test_half_the_gain_at_c_mid_and_the_asymptote_at_large_compute():
    law = get_law("scalerl:flops")
    v = {"R0": 0.3, "gain": 0.4, "C_mid": 1e21, "B": 1.5}
    assert float(law.evaluate({"flops": 1e21}, v)) == pytest.approx(0.5)
    assert float(law.evaluate({"flops": 1e30}, v)) == pytest.approx(0.7, abs=1e-6)


def covered(seed, bootstrap):
    """Whether the 95% intervals of a fit on the first half of the compute hold the truth."""
    fit = sl.fit(first_half(TRUTH, seed), "scalerl:gpu_hours", bootstrap=bootstrap, seed=seed)
    ci = fit.conf_int()
    answer = rl_asymptote(fit, interval=0.95)
    truth_at_end = float(get_law("scalerl:gpu_hours").evaluate({"gpu_hours": 1e5}, TRUTH))
    end = fit.predict({"gpu_hours": 1e5}, interval=0.95)
    return {
        "A": answer.asymptote.lo <= 0.61 <= answer.asymptote.hi,
        **{p: bool(ci.loc[p, "lo"] <= TRUTH[p] <= ci.loc[p, "hi"]) for p in ("B", "C_mid")},
        "end": bool(end["pred_lo"].iloc[0] <= truth_at_end <= end["pred_hi"].iloc[0]),
    }


def test_fit_on_half_the_compute_holds_the_asymptote_in_its_interval():
    results = [covered(seed, bootstrap=100) for seed in range(5)]
    for key in ("A", "B", "C_mid", "end"):
        assert np.mean([r[key] for r in results]) >= 0.9, key


@pytest.mark.slow
def test_interval_coverage_of_the_asymptote_over_many_seeds():
    results = [covered(seed, bootstrap=200) for seed in range(100, 140)]
    for key in ("A", "B", "C_mid", "end"):
        assert np.mean([r[key] for r in results]) >= 0.9, key


# -- the asymptote question ------------------------------------------------------------------


def test_compute_to_a_share_of_the_gain_is_eq_1_solved():
    fit = sl.fit(first_half(TRUTH, 0), "scalerl:gpu_hours", bootstrap=0)
    answer = rl_asymptote(fit, fraction=0.9)
    p = fit.params
    assert answer.compute_to_fraction.value == pytest.approx(p["C_mid"] * 9 ** (1 / p["B"]))
    assert answer.asymptote.value == pytest.approx(p["R0"] + p["gain"])
    assert answer.largest == pytest.approx(5e4)
    share = 1 / (1 + (p["C_mid"] / 5e4) ** p["B"])
    assert answer.reached.value == pytest.approx(share)
    assert "no bootstrap replicates" in answer.warnings[-1]


def test_a_curve_cut_before_its_midpoint_is_flagged():
    # Cut at 6k GPU-hours, before C_mid = 10k: the fit may still put C_mid inside the data (a
    # low ceiling bending at the end), but the bootstrap finds the ceiling unbounded.
    for seed in range(3):
        early = RunTable.from_frame(curve(TRUTH, seed, top=6e3, n=60))
        fit = sl.fit(early, "scalerl:gpu_hours", bootstrap=100, seed=seed)
        warnings = rl_asymptote(fit, interval=0.95).warnings
        assert any("wider than half the gain" in w for w in warnings), seed


def test_the_asymptote_question_refuses_other_laws_and_shares_outside_0_1():
    fit = sl.fit(first_half(TRUTH, 0), "scalerl:gpu_hours", bootstrap=0)
    with pytest.raises(
        InputError, match=r"fraction must be a share of the gain in \(0, 1\), got 1$"
    ):
        rl_asymptote(fit, fraction=1.0)
    other = sl.fit(first_half(TRUTH, 0), "power_floor:gpu_hours", bootstrap=0)
    with pytest.raises(InputError, match="needs a fit of the scalerl law"):
        rl_asymptote(other)


# -- comparing recipes ----------------------------------------------------------------------


def recipes(seed, **truths):
    frames = [curve(t, seed + 100 * i, family=f, top=5e4, n=80)
              for i, (f, t) in enumerate(truths.items())]  # fmt: skip
    return RunTable.from_frame(pd.concat(frames))


def test_fp32_head_raises_the_asymptote_from_0_52_to_0_61():
    # Khatri et al. Fig. 5b: A = 0.52 without FP32 logits, 0.61 with them (same B, C_mid here).
    bf16 = {**TRUTH, "gain": BF16_HEAD_A - TRUTH["R0"]}
    for seed in range(3):
        result = compare_rl_recipes(recipes(seed, fp32=TRUTH, bf16=bf16), ["fp32", "bf16"],
                                    bootstrap=100, seed=seed)  # fmt: skip
        assert result.highest_asymptote == "fp32" and result.p_highest_asymptote >= 0.95
        assert result.asymptote_gap == pytest.approx(0.09, abs=0.02)
        assert not result.same_asymptote
        assert result.families["bf16"]["A"] == pytest.approx(0.52, abs=0.02)


def test_a_loss_that_changes_only_efficiency_keeps_the_same_ceiling():
    # Khatri et al. Fig. 7: the leave-one-out runs keep A within +-0.02; the DAPO loss has
    # B = 1.77 against ScaleRL's 2.01.
    dapo = {**TRUTH, "B": DAPO_LOSS_B}
    results = [
        compare_rl_recipes(
            recipes(seed, scalerl=TRUTH, dapo=dapo), ["scalerl", "dapo"], bootstrap=100, seed=seed
        )  # fmt: skip
        for seed in range(5)
    ]
    assert all(r.same_asymptote and r.margin == ASYMPTOTE_MARGIN for r in results)
    # B = 2.01 against 1.77 is not resolved run by run at this noise (P(most efficient) 0.5-0.9
    # when we tried): each B's interval holds its planted value, and on average they order.
    for f, b in (("scalerl", TRUTH["B"]), ("dapo", DAPO_LOSS_B)):
        held = [r.families[f]["ci"]["B"][0] <= b <= r.families[f]["ci"]["B"][1] for r in results]
        assert np.mean(held) >= 0.8, f
    mean_b = {f: np.mean([r.families[f]["B"] for r in results]) for f in ("scalerl", "dapo")}
    assert mean_b["scalerl"] > mean_b["dapo"]


def test_a_faster_recipe_with_a_lower_ceiling_is_overtaken_where_their_curves_cross():
    law = get_law("scalerl:gpu_hours")
    fast = {"R0": 0.40, "gain": 0.15, "C_mid": 3e3, "B": 2.0}
    slow = {"R0": 0.40, "gain": 0.25, "C_mid": 2e4, "B": 2.0}
    result = compare_rl_recipes(recipes(0, fast=fast, slow=slow), ["fast", "slow"], bootstrap=50)
    cross = result.crossovers[0]
    grid = np.geomspace(1e3, 1e6, 20001)
    diff = law.evaluate({"gpu_hours": grid}, fast) - law.evaluate({"gpu_hours": grid}, slow)
    truth = grid[np.flatnonzero(np.diff(np.sign(diff)))[0]]
    assert cross["ahead_below"] == "fast" and cross["ahead_above"] == "slow"
    assert cross["gpu_hours"] == pytest.approx(truth, rel=0.15)
    assert result.highest_asymptote == "slow"


# -- the command line ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rl_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    runs = root / "rl.csv"
    pd.concat([curve(TRUTH, 0, top=5e4, n=80),
               curve({**TRUTH, "gain": 0.12}, 1, family="bf16", top=5e4, n=80)]).to_csv(
        runs, index=False
    )  # fmt: skip
    fit = root / "fit.json"
    done = runner.invoke(app, ["fit", str(runs), "--law", "scalerl:gpu_hours", "--family",
                               "scalerl", "--bootstrap", "50", "-o", str(fit)])  # fmt: skip
    assert done.exit_code == 0, done.stderr
    return runs, fit


def test_rl_asymptote_and_rl_compare_print_one_json_object(rl_files):
    runs, fit = rl_files
    doc = json.loads(runner.invoke(app, ["rl-asymptote", str(fit), "--json"]).stdout)
    assert doc["asymptote"] == pytest.approx(0.61, abs=0.03) and len(doc["ci"]["asymptote"]) == 2
    result = runner.invoke(app, ["rl-compare", str(runs), "-f", "scalerl", "-f", "bf16",
                                 "--bootstrap", "30", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["highest_asymptote"] == "scalerl" and set(doc["families"]) == {"scalerl", "bf16"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rl-asymptote", "{fit}", "--fraction", "1.5"],
         "error: --fraction must be a share of the gain in (0, 1), got 1.5"),
        (["rl-compare", "{runs}", "-f", "scalerl"],
         "error: comparing RL recipes needs at least two families (--family)"),
        (["rl-compare", "{runs}", "-f", "scalerl", "-f", "bf16", "--margin", "-1"],
         "error: --margin must be a number >= 0, got -1"),
        (["rl-asymptote", "{runs}"], "error: {runs}: not a scalinglab fit: invalid JSON"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(rl_files, args, message):
    runs, fit = rl_files
    args = [a.replace("{runs}", str(runs)).replace("{fit}", str(fit)) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(message.replace("{runs}", str(runs)))


def test_rl_asymptote_refuses_a_fit_of_another_law_in_one_line(rl_files, tmp_path):
    runs, _ = rl_files
    other = tmp_path / "power.json"
    runner.invoke(app, ["fit", str(runs), "--law", "power_floor:gpu_hours", "--family",
                        "scalerl", "--bootstrap", "0", "-o", str(other)])  # fmt: skip
    result = runner.invoke(app, ["rl-asymptote", str(other)])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(
        "error: the RL asymptote needs a fit of the scalerl law (R0 + gain/(1 + (C_mid/C)**B), "
        "e.g. --law scalerl:gpu_hours); law 'power_floor:gpu_hours' has parameters c, a, b"
    )
