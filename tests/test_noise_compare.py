"""Signal and noise of decisions (issue 17, item 3): the SNR and decision accuracy of
Heineman et al. 2025, P(win) with seed noise, and the seeds a call needs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.compare import compare
from scalinglab.compare.noise import _agreement, decide, seeds_for, signal_to_noise
from scalinglab.errors import InputError

LADDER = str(Path(__file__).resolve().parents[1] / "data" / "ladder" / "runs.csv")
SCHEDULES = ["gpu-ladder", "gpu-ladder-wsd", "gpu-ladder-constant"]


@pytest.fixture(scope="module")
def gadre_snr(shared_data):
    return signal_to_noise(str(shared_data / "overtrain_gadre.csv"), ["acc_*"])


def test_gadre_snr_and_decision_accuracy_of_46_tasks(gadre_snr):
    tasks = gadre_snr.tasks.set_index("metric")
    assert len(tasks) == 46
    # decisions against the largest scale all three data families share: 6.9B params, 20 x N
    assert gadre_snr.target == {"params": 6889410560.0, "tokens": 137788211200.0}
    assert set(tasks["noise_source"]) == {"trend (second differences)"}
    assert (tasks["n_scales"] == 33).all()
    # Heineman et al.'s claim holds here too: higher SNR, more small-scale decisions that hold
    assert gadre_snr.correlation == pytest.approx(0.54, abs=0.02)
    assert tasks.loc["acc_lambada_openai", "snr"] > 6 > tasks.loc["acc_mmlu_zeroshot", "snr"]
    assert tasks.loc["acc_lambada_openai", "decision_accuracy"] == pytest.approx(0.81, abs=0.01)
    assert tasks.loc["acc_hellaswag", "decision_accuracy"] == pytest.approx(0.66, abs=0.01)
    # most tasks decide barely better than a coin (3 families, 3 pairs, 33 scales)
    assert tasks["decision_accuracy"].median() == pytest.approx(0.52, abs=0.03)


def test_signal_is_relative_dispersion_and_noise_the_last_checkpoints():
    """Heineman et al.: signal = max |m_j - m_k| / mean(m); noise = SD / mean of a model's
    last checkpoints (np.std, as their signal_to_noise_ratio); SNR = signal / noise."""
    rows = []
    for fam, level, wiggle in (("a", 0.50, 0.01), ("b", 0.55, 0.03)):
        for n, d in ((1e6, 1e8), (1e7, 1e9)):
            for step, w in zip(range(1, 6), (1, -1, 1, -1, 1), strict=True):
                rows.append({"family": fam, "run_id": f"{fam}{n:.0f}", "params": n, "tokens": d,
                             "step": step, "metric": "acc", "value": level + wiggle * w})  # fmt: skip
            rows.append({"family": fam, "run_id": f"{fam}{n:.0f}", "params": n, "tokens": d,
                         "step": np.nan, "metric": "acc", "value": level})  # fmt: skip
    s = signal_to_noise(pd.DataFrame(rows), last_n=5)
    small = s.scales[~s.scales["target"]].iloc[0]
    sd = math.sqrt((np.std([1, -1, 1, -1, 1]) ** 2 * (0.01**2 + 0.03**2)) / 2)
    assert small["signal"] == pytest.approx(0.05 / 0.525)
    assert small["noise"] == pytest.approx(sd / 0.525)
    assert small["snr"] == pytest.approx(0.05 / sd)
    assert s.tasks["noise_source"].tolist() == ["last 5 checkpoints"]
    assert s.tasks["decision_accuracy"].tolist() == [1.0]


def test_decision_accuracy_counts_pairs_ranked_alike():
    small = pd.Series([0.3, 0.2, 0.1], index=list("abc"))
    target = pd.Series([0.9, 0.7, 0.8], index=list("abc"))
    assert _agreement(small, target) == pytest.approx(2 / 3)  # (b, c) flips


def test_schedule_variants_at_the_largest_budget_they_share(shared_data):
    """The bundled ladder's cosine, WSD and constant schedules exist at one point (1.77M
    params, 100M tokens): P(best) from the two trainings and the four-seed replicates."""
    rerun = str(shared_data / "ladder_rerun_h200" / "runs.csv")
    seeds = str(shared_data / "ladder_rerun_h200" / "seed_replicates" / "runs.csv")
    d = decide(LADDER, SCHEDULES, y="val_loss", replicates=[rerun, seeds])
    assert d.at == {"params": 1771200.0, "tokens": 99975168.0}
    p = d.table.set_index("family")["p_best"]
    assert d.winner == "gpu-ladder-wsd" and 0.6 < d.p_win < 0.8
    assert p["gpu-ladder-constant"] < 0.001  # 8% worse: settled
    assert 10 <= d.seeds_needed <= 30  # WSD 0.48% ahead of cosine against ~0.9% seed noise
    # with the re-training alone (same seed, another GPU) the noise looks smaller
    d2 = decide(LADDER, SCHEDULES, y="val_loss", replicates=[rerun])
    assert d2.p_win > d.p_win and d2.seeds_needed < d.seeds_needed


def test_seeds_rule():
    assert seeds_for(0.01, 0.01, 0.95) == 3
    assert seeds_for(0.0, 0.01, 0.95) is None
    assert seeds_for(1e-6, 1.0, 0.95) is None


def _two_families(n_seeds: int = 3, gap: float = 0.01, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for fam, e in (("a", 1.70), ("b", 1.70 * (1 + gap))):
        for n in np.geomspace(1e6, 3e7, 5):
            for d in np.geomspace(1e8, 1e9, 3):
                loss = e + 400 * n**-0.34 + 2000 * d**-0.37
                sd = 0.02 * (6 * n * d / 6e14) ** -0.5
                for s in range(n_seeds):
                    rows.append({"family": fam, "run_id": f"{fam}-{n:.0f}-{d:.0f}-s{s}",
                                 "params": n, "tokens": d, "metric": "loss", "seed": s,
                                 "value": loss * math.exp(sd * rng.standard_normal())})  # fmt: skip
    return pd.DataFrame(rows)


def test_compare_adds_seed_noise_when_the_fits_know_it():
    runs = _two_families()
    plain = compare(runs, ["a", "b"], "chinchilla", flops=1e19, bootstrap=60)
    assert plain.noise == {} and "seed_noise" not in plain.to_json()
    noisy = compare(runs, ["a", "b"], "chinchilla", flops=1e19, bootstrap=60, weighting="noise")
    extra = noisy.to_json()["seed_noise"]
    assert set(extra) >= {"p_best_law", "seed_sd", "seeds_needed", "budget_for_confidence"}
    assert sum(noisy.p_best.values()) == pytest.approx(1.0)
    assert all(0 < v < 0.01 for v in extra["seed_sd"].values())
    assert extra["seeds_needed"] is None or extra["seeds_needed"] >= 1


def test_decide_refuses_what_it_cannot_answer(shared_data):
    with pytest.raises(InputError, match="at least two"):
        decide(LADDER, ["gpu-ladder"], y="val_loss")
    with pytest.raises(InputError, match="noise is unknown"):
        decide(LADDER, SCHEDULES, y="val_loss")
    with pytest.raises(InputError, match="confidence"):
        decide(LADDER, SCHEDULES, y="val_loss", confidence=1.5)


def test_cli_snr_and_decide(shared_data):
    runner = CliRunner()
    gadre = str(shared_data / "overtrain_gadre.csv")
    out = runner.invoke(app, ["snr", gadre, "--y", "acc_hellaswag", "--y", "acc_mmlu", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert [t["metric"] for t in doc["tasks"]] == ["acc_hellaswag", "acc_mmlu"]
    bad = runner.invoke(app, ["snr", gadre, "--y", "zzz*"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --y no metric matches")
    rerun = str(shared_data / "ladder_rerun_h200" / "runs.csv")
    out = runner.invoke(app, ["decide", LADDER, "-f", "gpu-ladder", "-f", "gpu-ladder-wsd",
                              "--y", "val_loss", "-r", rerun, "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["winner"] == "gpu-ladder-wsd"
    one = runner.invoke(app, ["decide", LADDER, "-f", "gpu-ladder", "--y", "val_loss"])
    assert one.exit_code == 2 and "--family" in one.stderr


def test_cli_compare_fit_and_backtest_read_replicates(tmp_path):
    """--replicates on the command line: the seed-0 runs are the table, seeds 1-2 another file
    (a re-training); compare then reports P(best) with seed noise and the seeds a call needs,
    fit and backtest weight by the noise."""
    runs = _two_families()
    main, reps = tmp_path / "runs.csv", tmp_path / "seeds.csv"
    runs[runs["seed"] == 0].to_csv(main, index=False)
    runs[runs["seed"] > 0].to_csv(reps, index=False)
    cli = CliRunner()
    args = ["compare", str(main), "-f", "a", "-f", "b", "--flops", "1e19", "-b", "40"]
    plain = json.loads(cli.invoke(app, [*args, "--json"]).stdout)
    assert "seed_noise" not in plain
    noisy = cli.invoke(app, [*args, "-r", str(reps), "--json"])
    assert noisy.exit_code == 0, noisy.output
    extra = json.loads(noisy.stdout)["seed_noise"]
    assert set(extra["seed_sd"]) == {"a", "b"} and extra["confidence"] == 0.95
    text = cli.invoke(app, [*args, "-r", str(reps), "--confidence", "0.9"])
    assert "with seed noise: P(best) above; from the laws alone a " in text.stdout
    assert (
        "a call at 90% needs" in text.stdout
        or "no number of seeds makes the call at 90%" in text.stdout
    )
    fit = cli.invoke(app, ["fit", str(main), "-f", "a", "-b", "20", "--weighting", "noise",
                           "-r", str(reps), "--json"])  # fmt: skip
    assert fit.exit_code == 0, fit.output
    doc = json.loads(fit.stdout)
    assert doc["options"]["weighting"] == "noise" and doc["noise"] is not None
    bad = cli.invoke(app, ["backtest", str(main), "-f", "a", "--weighting", "noise", "-b", "0"])
    assert bad.exit_code == 2 and bad.stderr.strip() == (
        "error: --weighting noise needs replicates: no point of metric 'loss' has two differing "
        "replicates (runs differing only in seed, in the table or in --replicates): the noise "
        "of these runs is unknown"
    )
