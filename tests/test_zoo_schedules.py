"""lr_annealing (Tissue et al. 2024): schedules, annealing areas, cross-schedule prediction."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.schedules import annealing_areas, law_curve
from scalinglab.planning.schedules import fit_lr_annealing, predict_schedule
from scalinglab.runs import RunTable
from scalinglab.runs.schedules import schedule_lr

TRUTH = {"L0": 2.5, "A": 1.2, "alpha": 0.5, "C": 1.0}
STEPS, PEAK, WARMUP = 10_000, 3e-4, 200


def curve_rows(schedule, truth=TRUTH, noise=0.003, seed=0, every=50, lr_column=True, lam=0.999):
    lr = schedule_lr(schedule, STEPS, PEAK, warmup_steps=WARMUP)
    loss = law_curve(truth, lr, lam) * np.exp(
        noise * np.random.default_rng(seed).standard_normal(STEPS)
    )
    steps = np.arange(every, STEPS + 1, every)
    frame = pd.DataFrame({
        "family": "syn", "run_id": schedule, "params": 1e8, "tokens": steps * 5e5, "step": steps,
        "metric": "loss", "value": loss[steps - 1],
    })  # fmt: skip
    if lr_column:
        frame["lr"] = lr[steps - 1]
    else:
        frame["schedule"], frame["peak_lr"], frame["warmup_steps"] = schedule, PEAK, WARMUP
    return frame


def runs(*schedules, **kw):
    return RunTable.from_frame(
        pd.concat([curve_rows(s, seed=i, **kw) for i, s in enumerate(schedules)])
    )


def test_annealing_areas_by_hand():
    # eta = 4, 4, 3, 1: S1 = 4, 8, 11, 12; m = 0, 0, 1, 0.5*1 + 2 = 2.5; S2 = 0, 0, 1, 3.5 (lam = 0.5)
    s1, s2 = annealing_areas([4.0, 4.0, 3.0, 1.0], lam=0.5)
    np.testing.assert_allclose(s1, [4, 8, 11, 12])
    np.testing.assert_allclose(s2, [0, 0, 1, 3.5])


def test_warmup_is_not_an_annealing():
    s1, s2 = annealing_areas([1.0, 2.0, 3.0, 3.0])
    assert np.all(s2 == 0)


def test_fit_on_cosine_predicts_wsd_and_constant_within_one_percent():
    fit = sl.fit(runs("cosine"), "lr_annealing", bootstrap=0)
    assert fit.params["alpha"] == pytest.approx(0.5, rel=0.1)
    for other in ("wsd", "constant"):
        lr = schedule_lr(other, STEPS, PEAK, warmup_steps=WARMUP)
        predicted = predict_schedule(fit, lr, every=500)
        truth = law_curve(TRUTH, lr)
        assert predicted["value"].iloc[-1] == pytest.approx(truth[-1], rel=0.01), other
        assert np.all(np.abs(predicted["value"] / truth[predicted["step"] - 1] - 1) < 0.01)


def test_named_schedule_columns_replace_the_lr_column():
    # Logged at every step, the lr column is the schedule itself: the same areas, the same fit.
    by_name = sl.fit(runs("cosine", lr_column=False, every=1), "lr_annealing", bootstrap=0)
    by_lr = sl.fit(runs("cosine", every=1), "lr_annealing", bootstrap=0)
    for name in ("alpha", "C"):
        assert by_name.params[name] == pytest.approx(by_lr.params[name], rel=1e-6)


def test_final_rows_are_ignored_curves_are_used():
    frame = curve_rows("cosine")
    final = frame.iloc[[-1]].assign(step=np.nan)
    fit = sl.fit(RunTable.from_frame(pd.concat([frame, final])), "lr_annealing", bootstrap=0)
    assert fit.n_points > 100


def test_lr_annealing_needs_learning_rates():
    frame = curve_rows("cosine").drop(columns="lr")
    with pytest.raises(
        InputError, match="law 'lr_annealing' needs the learning rate of each step: an 'lr' column"
    ):
        sl.fit(RunTable.from_frame(frame), "lr_annealing")


def test_unknown_schedule():
    with pytest.raises(
        InputError, match=r"unknown schedule 'linear' \(known: cosine, wsd, constant\)"
    ):
        schedule_lr("linear", 10, 1e-3)


def test_schedule_cli_predicts_final_losses(tmp_path):
    fit = sl.fit(runs("cosine", "constant"), "lr_annealing", bootstrap=20)
    path = fit.save(tmp_path / "fit.json")
    args = ["schedule", str(path), "--schedule", "wsd", "--schedule", "cosine", "--steps", str(STEPS),
            "--peak-lr", str(PEAK), "--warmup", str(WARMUP), "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    wsd = law_curve(TRUTH, schedule_lr("wsd", STEPS, PEAK, warmup_steps=WARMUP))[-1]
    assert doc["schedules"]["wsd"]["final"]["value"] == pytest.approx(wsd, rel=0.01)
    assert doc["schedules"]["wsd"]["final"]["step"] == STEPS


def test_schedule_cli_refuses_other_laws(tmp_path):
    from scalinglab.synthetic import chinchilla_grid, simulate

    other = sl.fit(
        simulate(
            "chinchilla",
            {"E": 1.7, "A": 400, "alpha": 0.34, "B": 410, "beta": 0.28},
            chinchilla_grid(),
        ),
        bootstrap=0,
    )
    path = other.save(tmp_path / "chin.json")
    result = CliRunner().invoke(
        app, ["schedule", str(path), "--schedule", "wsd", "--steps", "100", "--peak-lr", "1e-3"]
    )
    assert result.exit_code == 2
    assert (
        "a schedule prediction needs a fit of law 'lr_annealing', not 'chinchilla'" in result.stderr
    )


def test_momentum_is_chosen_by_objective_and_travels_with_the_saved_fit(tmp_path):
    # One curve barely tells 0.99 from 0.995; two schedules do.
    frames = [
        curve_rows(name, lam=0.995, noise=0.001, seed=i) for i, name in enumerate(("cosine", "wsd"))
    ]
    fit = fit_lr_annealing(RunTable.from_frame(pd.concat(frames)), bootstrap=0)
    assert fit.law.name == "lr_annealing:0.995"
    assert fit.derived["lam"] == 0.995
    assert any("annealing momentum chosen by objective" in n for n in fit.notes)
    again = sl.FitResult.from_json(fit.save(tmp_path / "fit.json"))
    lr = schedule_lr("constant", STEPS, PEAK, warmup_steps=WARMUP)
    final = predict_schedule(again, lr, every=STEPS)["value"].iloc[-1]
    assert final == pytest.approx(law_curve(TRUTH, lr, 0.995)[-1], rel=0.005)


def test_momentum_must_be_between_zero_and_one():
    with pytest.raises(
        InputError, match=r"lr_annealing: the annealing momentum must be in \(0, 1\)"
    ):
        get_law("lr_annealing:1.5")


def ladder_like_csv(write_file):
    """Rows as the ladder writes them: train_loss every step with its lr, val_loss every 100
    steps, one final row per metric with an empty step, text columns beside."""
    frames = []
    for i, name in enumerate(("cosine", "wsd")):
        lr = schedule_lr(name, 3000, PEAK, warmup_steps=100)
        loss = law_curve(TRUTH, lr, 0.995) * np.exp(
            0.002 * np.random.default_rng(i).standard_normal(3000)
        )
        steps = np.arange(1, 3001)
        train = pd.DataFrame({"step": steps, "metric": "train_loss", "value": loss, "lr": lr})
        val = train[train["step"] % 100 == 0].assign(metric="val_loss")
        final = pd.DataFrame(
            {
                "step": [np.nan] * 2,
                "metric": ["val_loss", "train_loss"],
                "value": [loss[-1]] * 2,
                "lr": lr[-1],
            }
        )
        run = pd.concat([train, val, final], ignore_index=True)
        run["family"], run["run_id"], run["schedule"], run["peak_lr"] = (
            f"lad-{name}",
            f"run-{name}",
            name,
            PEAK,
        )
        run["params"], run["tokens"] = 3e6, run["step"].fillna(3000) * 32768
        frames.append(run)
    return write_file(pd.concat(frames).to_csv(index=False))


def test_cli_fits_ladder_curves_and_predicts_another_schedule(tmp_path, write_file):
    runs = ladder_like_csv(write_file)
    fit_path = tmp_path / "anneal.json"
    args = ["fit", str(runs), "--law", "lr_annealing:0.995", "--y", "val_loss", "--family", "lad-cosine",
            "-b", "0", "-o", str(fit_path), "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["derived"]["lam"] == 0.995
    args = ["schedule", str(fit_path), "--schedule", "wsd", "--steps", "3000", "--peak-lr", str(PEAK),
            "--warmup", "100", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    predicted = json.loads(result.stdout)["schedules"]["wsd"]["final"]["value"]
    truth = law_curve(TRUTH, schedule_lr("wsd", 3000, PEAK, warmup_steps=100), 0.995)[-1]
    assert predicted == pytest.approx(truth, rel=0.01)


def _ladder_run(family):
    """Per-step rows of the bundled ladder's 1.77M model at 100M tokens under one schedule."""
    import pandas as pd

    from scalinglab.demo import REPO_ROOT

    d = pd.read_csv(REPO_ROOT / "data" / "ladder" / "runs.csv")
    ids = d[
        (d.family == family) & (d.params == 1771200) & (d.tokens == 99975168) & d.step.isna()
    ].run_id
    return d[d.run_id.isin(set(ids))]


@pytest.mark.parametrize(
    ("target", "bound"), [("gpu-ladder-wsd", 0.01), ("gpu-ladder-constant", 0.035)]
)
def test_cosine_curve_predicts_other_schedules_on_the_bundled_ladder(target, bound):
    from scalinglab.laws.schedules import _per_step_lr

    fit = fit_lr_annealing(
        sl.read_runs(_ladder_run("gpu-ladder")), y="val_loss", final_only=False, bootstrap=50
    )
    other = _ladder_run(target)
    train = other[other.step.notna() & (other.metric == "train_loss")].sort_values("step")
    lr = _per_step_lr(train.step.to_numpy(), train.lr.to_numpy())
    predicted = predict_schedule(fit, lr, every=len(lr)).iloc[-1]
    # Compare with the last per-step validation loss: the same 131k validation bytes the
    # fitted curve was measured on (the final row uses all 4.2M validation bytes).
    # Measured: WSD -0.1%, constant +3.1% (docs/laws.md).
    val = other[other.step.notna() & (other.metric == "val_loss")].sort_values("step")
    actual = val.value.iloc[-1]
    assert abs(predicted["value"] / actual - 1) < bound
    assert predicted["lo"] < predicted["value"] < predicted["hi"]


def test_cli_lr_annealing_auto_chooses_the_momentum_of_the_data(write_file):
    runs = ladder_like_csv(write_file)  # curves made with momentum 0.995
    # every step's train loss: 30 validation points a run do not tell 0.99 from 0.995
    args = ["fit", str(runs), "--law", "lr_annealing:auto", "--y", "train_loss",
            "--family", "lad-cosine", "--family", "lad-wsd", "-b", "0", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["derived"]["lam"] == 0.995
    assert any(n.startswith("annealing momentum chosen by objective: 0.99: ") for n in doc["notes"])
