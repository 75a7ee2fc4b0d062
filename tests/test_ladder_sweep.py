"""Sweeps end to end: local and Ray executors, skip-on-rerun, crash and resume, a law fit."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only add contention (xdist, Ray workers)

import ladder_helpers  # noqa: E402
from ladder_helpers import TINY_SPEC, CrashAfter, SimulatedKill, fit_chinchilla  # noqa: E402
from scalinglab.cli.ladder import app as ladder_app  # noqa: E402
from scalinglab.ladder.config import RunConfig  # noqa: E402
from scalinglab.ladder.spec import Sweep, parse_spec  # noqa: E402
from scalinglab.ladder.sweep import run_sweep  # noqa: E402

pytestmark = pytest.mark.torch
runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _final(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.step.isna() & (table.metric == "val_loss")]


def _check_fit(final: pd.DataFrame) -> None:
    theta, rms = fit_chinchilla(final.params, final.tokens, final.value)
    assert np.all(np.isfinite(theta))
    assert rms < 0.03  # in-sample: the law describes the ladder to a few percent


@pytest.mark.slow
def test_local_sweep_writes_a_run_table_that_a_law_fits(tmp_path):
    spec, out = tmp_path / "tiny.toml", tmp_path / "out"
    spec.write_text(TINY_SPEC)
    result = runner.invoke(ladder_app, ["run", str(spec), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"]["done"] == 8 and not summary["skipped"]
    table = pd.read_csv(out / "runs.csv", dtype={"step": "Int64"})
    final = _final(table)
    assert len(final) == 8 and final.run_id.is_unique
    assert table.corpus_fingerprint.nunique() == 1
    _check_fit(final)
    # Re-running skips every finished run and rebuilds the same table.
    again = runner.invoke(ladder_app, ["run", str(spec), "-o", str(out), "--json"])
    assert len(json.loads(again.stdout)["skipped"]) == 8
    pd.testing.assert_frame_equal(pd.read_csv(out / "runs.csv", dtype={"step": "Int64"}), table)
    text = runner.invoke(ladder_app, ["run", str(spec), "-o", str(out)])  # rich output
    assert text.exit_code == 0 and "8 skipped as finished" in " ".join(text.stdout.split())


def _with_failing_copy(sweep: Sweep) -> tuple[Sweep, RunConfig, CrashAfter]:
    """The sweep plus a copy of its first run (another seed) that fails after step 4, always."""
    bad = RunConfig.from_dict({**sweep.runs[0].to_dict(), "run_id": "", "seed": 99})
    sweep.runs.append(bad)
    return sweep, bad, CrashAfter(4, run=bad.run_id, error=RuntimeError)


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_retraining_finished_runs(tmp_path):
    spec, out = tmp_path / "tiny.toml", tmp_path / "out"
    spec.write_text(TINY_SPEC.replace("tokens = [3e4, 6e4]", "tokens = [3e4]"))
    sweep = parse_spec(spec.read_text(), source=str(spec))
    first, second = sweep.runs[0], sweep.runs[1]  # d16L1 then d32L1
    with pytest.raises(SimulatedKill):  # "kill" the sweep after step 80 of run 2
        run_sweep(sweep, out, after_step=CrashAfter(80, run="d32L1"))
    run_dir = out / "runs"
    assert (run_dir / first.run_id / "result.json").exists()
    assert (run_dir / second.run_id / "ckpt.pt").exists()
    assert not (run_dir / second.run_id / "result.json").exists()
    done_at = (run_dir / first.run_id / "result.json").stat().st_mtime_ns

    result = runner.invoke(ladder_app, ["run", str(spec), "-o", str(out), "--json"])
    summary = json.loads(result.stdout)
    assert summary["skipped"] == [first.run_id]  # finished: not retrained
    assert (run_dir / first.run_id / "result.json").stat().st_mtime_ns == done_at
    assert summary["runs"][second.run_id]["resumed_from_step"] == 80  # partial: resumed
    assert summary["counts"]["done"] == len(sweep.runs)
    table = pd.read_csv(out / "runs.csv", dtype={"step": "Int64"})
    steps = table[(table.run_id == second.run_id) & (table.metric == "train_loss")].step.dropna()
    assert list(steps) == list(range(1, second.steps + 1))  # no gap, no duplicate at the seam


@pytest.mark.slow
@pytest.mark.ray
def test_ray_executor_streams_results_and_records_a_failed_run(tmp_path):
    ray = pytest.importorskip("ray")
    sweep, bad, fail = _with_failing_copy(parse_spec(TINY_SPEC))
    # Ray workers cannot import the tests' helpers: the hook travels by value.
    ray.cloudpickle.register_pickle_by_value(ladder_helpers)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_sweep(sweep, tmp_path / "out", executor="ray", after_step=fail)
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(ladder_helpers)
    assert summary["counts"] == {"done": 8, "diverged": 0, "failed": 1}
    failed = summary["runs"][bad.run_id]
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert "RuntimeError: fault injected after step 4" in failed["reason"]
    table = pd.read_csv(tmp_path / "out" / "runs.csv", dtype={"step": "Int64"})
    assert bad.run_id not in set(table.run_id)
    _check_fit(_final(table))


@pytest.mark.slow
def test_multi_device_executor_spreads_runs_over_worker_processes(tmp_path):
    # The multi-gpu executor with CPU "devices": the same code path, one spawned worker each.
    sweep = parse_spec(TINY_SPEC.replace("tokens = [3e4, 6e4]", "tokens = [3e4]"))
    sweep, bad, fail = _with_failing_copy(sweep)
    summary = run_sweep(
        sweep, tmp_path / "out", executor="multi-gpu", devices=["cpu", "cpu"], after_step=fail
    )
    assert summary["counts"] == {"done": 4, "diverged": 0, "failed": 1}
    failed = summary["runs"][bad.run_id]
    assert failed["attempts"] == 2 and "fault injected after step 4" in failed["reason"]
    table = pd.read_csv(tmp_path / "out" / "runs.csv", dtype={"step": "Int64"})
    assert set(table.run_id) == {r.run_id for r in sweep.runs} - {bad.run_id}


@pytest.mark.slow
def test_an_lr_sweep_ladder_feeds_the_lr_sweep_analysis(tmp_path):
    from ladder_helpers import SMALL_CORPUS
    from scalinglab.cli import app

    spec, out = tmp_path / "lr.toml", tmp_path / "out"
    spec.write_text(f"""
name = "lr"
[model]
seq_len = 32
sizes = [{{d_model = 16, n_layers = 1}}, {{d_model = 32, n_layers = 1}}]
[budget]
tokens = [3e4]
[train]
batch_size = 8
lr = "3e-3 * (32 / d_model)**0.5"
lr_multipliers = [0.3, 1, 3]
eval_every = 40
eval_tokens = 4096
final_eval_tokens = 8192
[corpus]
source = "{SMALL_CORPUS}"
val_fraction = 0.05
""")
    result = runner.invoke(ladder_app, ["run", str(spec), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["done"] == 6
    analysis = runner.invoke(app, ["lr-sweep", str(out / "runs.csv"), "--y", "val_loss", "--json"])
    assert analysis.exit_code == 0, analysis.output
    per_size = json.loads(analysis.stdout)["per_size"]
    assert [row["n_lrs"] for row in per_size] == [3, 3]
    for row in per_size:  # the optimum lies inside (or at the edge of) the swept range
        assert row["lr_min"] <= row["lr_opt"] <= row["lr_max"]
