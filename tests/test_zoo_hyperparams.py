"""Step Law and LR sweeps: optimal learning rate per size, sensitivity, trend, recommendation."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.hyperparams import step_law
from scalinglab.planning.hyperparams import LRSweep, analyze_lr_sweep, recommend_hyperparameters
from scalinglab.runs import RunTable
from scalinglab.synthetic import simulate

CURVATURE = 0.05  # nats per (ln lr)^2


def sweep_table(sizes, lrs_per_size=7, span=30.0, noise=0.0, seed=0):
    """Final losses of runs at several lrs per (N, D): a parabola in log-lr around Step Law's lr."""
    rng = np.random.default_rng(seed)
    rows = []
    for n, d in sizes:
        best = step_law(n, d)["lr"]
        base = 2.0 + 400 * n**-0.34
        for lr in best * np.geomspace(1 / math.sqrt(span), math.sqrt(span), lrs_per_size):
            value = base + CURVATURE * math.log(lr / best) ** 2 + noise * rng.standard_normal()
            rows.append({"family": "sweep", "run_id": f"n{n:g}-d{d:g}-lr{lr:.3g}", "params": n, "tokens": d,
                         "metric": "loss", "value": value, "peak_lr": lr})  # fmt: skip
    return RunTable.from_frame(pd.DataFrame(rows))


def test_step_law_at_1b_params_100b_tokens():
    # Independent computation of Li et al. 2025's eqs.: lr = 1.79 N^-0.713 D^0.307, B = 0.58 D^0.571
    lr = 10 ** (math.log10(1.79) - 0.713 * 9 + 0.307 * 11)
    batch = 10 ** (math.log10(0.58) + 0.571 * 11)
    out = step_law(1e9, 1e11)
    assert out["lr"] == pytest.approx(lr, rel=1e-12)
    assert out["lr"] == pytest.approx(1.6325e-3, rel=1e-4)
    assert out["batch_tokens"] == pytest.approx(batch, rel=1e-12)
    assert out["batch_tokens"] == pytest.approx(1.1077e6, rel=1e-4)
    law = get_law("step_law")
    assert float(law.evaluate({"params": 1e9, "tokens": 1e11}, law.published)) == pytest.approx(
        lr, rel=1e-12
    )


def test_step_law_fit_recovers_exponents_from_noisy_optima():
    design = pd.DataFrame(
        [(n, d) for n in np.geomspace(1e7, 1e9, 5) for d in np.geomspace(2e9, 2e11, 5)],
        columns=["params", "tokens"],
    )
    runs = simulate(
        "step_law", get_law("step_law").published, design, noise=0.03, seed=1, metric="lr_opt"
    )
    fit = sl.fit(runs, "step_law", bootstrap=0)
    assert fit.params["alpha"] == pytest.approx(0.713, rel=0.05)
    assert fit.params["beta"] == pytest.approx(0.307, rel=0.1)


def test_lr_sweep_finds_optimal_lr_and_sensitivity_per_size():
    sizes = [(n, 20 * n) for n in (1e7, 3e7, 1e8, 3e8)]
    sweep = analyze_lr_sweep(sweep_table(sizes))
    assert len(sweep.per_size) == 4
    for (n, d), row in zip(sizes, sweep.per_size.itertuples(), strict=True):
        assert row.lr_opt == pytest.approx(step_law(n, d)["lr"], rel=1e-6)
        assert row.curvature == pytest.approx(CURVATURE, rel=1e-6)
        # Wortsman sensitivity: mean over the swept lrs of L(lr) - L*; here c * mean(log(lr/lr*)^2)
        offsets = np.log(np.geomspace(1 / math.sqrt(30), math.sqrt(30), 7))
        assert row.sensitivity == pytest.approx(CURVATURE * np.mean(offsets**2), rel=1e-6)
    # With D = 20 N the trend is in N alone: lr ~ N^-(0.713 - 0.307)
    assert sweep.trend["beta"] is None
    assert sweep.trend["alpha"] == pytest.approx(0.713 - 0.307, rel=1e-6)


def test_lr_sweep_with_one_token_budget_fits_a_trend_in_n_alone():
    # every size at the same D (the bundled ladder's 50M-token sweep): D's exponent is not
    # identifiable, so it must not be reported; N's is then Step Law's 0.713
    sizes = [(n, 5e7) for n in (4e5, 1e6, 4e6, 1.4e7)]
    sweep = analyze_lr_sweep(sweep_table(sizes))
    assert sweep.trend["beta"] is None
    assert sweep.trend["alpha"] == pytest.approx(0.713, rel=1e-6)


def test_lr_sweep_trend_separates_n_and_d_when_both_vary():
    sizes = [(n, d) for n in (1e7, 1e8, 1e9) for d in (1e9, 1e10, 1e11)]
    sweep = analyze_lr_sweep(sweep_table(sizes, noise=0.002, seed=2))
    assert sweep.trend["alpha"] == pytest.approx(0.713, abs=0.05)
    assert sweep.trend["beta"] == pytest.approx(0.307, abs=0.05)
    assert sweep.lr_at(1e9, 1e11) == pytest.approx(step_law(1e9, 1e11)["lr"], rel=0.15)


def test_lr_sweep_warns_when_the_best_lr_is_at_the_edge():
    table = sweep_table([(1e8, 2e9)])
    table.df = table.df[table.df["peak_lr"] < step_law(1e8, 2e9)["lr"] * 0.9].reset_index(drop=True)
    sweep = analyze_lr_sweep(table)
    assert sweep.per_size["method"].iloc[0] == "edge"
    assert any("at the edge of the sweep" in w for w in sweep.warnings)
    assert sweep.trend == {}


def test_lr_sweep_needs_three_learning_rates():
    table = sweep_table([(1e8, 2e9)], lrs_per_size=2)
    with pytest.raises(InputError, match="no model size has runs at 3 or more learning rates"):
        analyze_lr_sweep(table)


def test_lr_sweep_needs_a_learning_rate_column():
    table = sweep_table([(1e8, 2e9)])
    table.df = table.df.drop(columns="peak_lr")
    with pytest.raises(InputError, match="an LR sweep needs a learning-rate column 'lr'"):
        analyze_lr_sweep(table)


def test_recommendation_uses_the_sweep_trend_and_warns_far_beyond_it(tmp_path):
    sizes = [(n, 20 * n) for n in (1e7, 3e7, 1e8)]
    sweep = analyze_lr_sweep(sweep_table(sizes))
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(sweep.to_json()))
    rec = recommend_hyperparameters(7e9, 1.4e11, sweep=path, seq_len=2048)
    assert rec["lr_source"] == "lr_sweep"
    assert rec["lr"] == pytest.approx(LRSweep.from_json(path).lr_at(7e9), rel=1e-12)
    assert rec["batch_tokens"] == pytest.approx(step_law(7e9, 1.4e11)["batch_tokens"])
    assert rec["batch_sequences"] == round(rec["batch_tokens"] / 2048)
    assert any("extrapolated 70x beyond the largest swept model" in w for w in rec["warnings"])


def test_lr_sweep_and_hparams_cli(tmp_path, write_file):
    table = sweep_table([(n, 20 * n) for n in (1e7, 3e7, 1e8)])
    runs = write_file(table.df.to_csv(index=False))
    out = tmp_path / "sweep.json"
    result = CliRunner().invoke(app, ["lr-sweep", str(runs), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["per_size"]) == 3 and doc["trend"]["alpha"] == pytest.approx(0.406, rel=1e-3)
    result = CliRunner().invoke(
        app, ["hparams", "--params", "1B", "--tokens", "20B", "--sweep-fit", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lr_source"] == "lr_sweep"
    result = CliRunner().invoke(
        app, ["hparams", "--params", "1B", "--tokens", "100B", "--seq-len", "2048"]
    )
    assert result.exit_code == 0 and "0.001632" in result.stdout
    bad = CliRunner().invoke(app, ["hparams", "--params", "-1", "--tokens", "1B"])
    assert bad.exit_code == 2 and "--params '-1': expected a positive number" in bad.stderr


def test_lr_sweep_vertex_stays_local_next_to_a_divergence_cliff():
    """The bundled ladder's 14.2M model at 50M tokens (data/ladder/lr-sweep-50m): 4x the lr
    rule nearly diverges; the vertex must come from the three runs around the best."""
    lrs = [8.165e-4, 1.633e-3, 3.266e-3, 6.532e-3]
    losses = [0.787513, 0.766426, 0.770924, 1.036942]
    table = RunTable.from_frame(pd.DataFrame({
        "family": "ladder", "run_id": [f"r{i}" for i in range(4)], "params": 14162304.0,
        "tokens": 49971200.0, "metric": "val_loss", "value": losses, "peak_lr": lrs,
    }))  # fmt: skip
    row = analyze_lr_sweep(table).per_size.iloc[0]
    assert row["method"] == "parabola"
    assert 0.765 < row["loss_opt"] <= min(losses)  # not below every measured loss by 4.6%
    assert lrs[0] < row["lr_opt"] < lrs[2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "is a directory, not a regular file"),
        (lambda d: (d / "b.json").write_bytes(b"\xff\xfe") and d / "b.json",
         "row 1: not UTF-8 text: byte 0xff cannot be decoded (save the file as UTF-8)"),
        (lambda d: (d / "l.json").write_text("[1]") and d / "l.json",
         "not an LR-sweep JSON: no 'per_size'"),
        (lambda d: d / "missing.json", "no such file or directory"),
    ],
)  # fmt: skip
def test_sweep_fit_files_are_read_through_the_guarded_open(tmp_path, make, message):
    path = make(tmp_path)
    args = ["hparams", "--params", "1e8", "--tokens", "2e9", "--sweep-fit", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {path}: {message}"
