"""Sweep specs expand into runs; bad specs are one-line input errors; `ladder plan` CLI."""

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli.ladder import app as ladder_app
from scalinglab.errors import InputError
from scalinglab.ladder.presets import PRESETS, preset
from scalinglab.ladder.sizing import non_embedding_params
from scalinglab.ladder.spec import Budget, expand_spec, parse_spec, validate_spec

runner = CliRunner()

BASE = """
name = "s"
[model]
seq_len = 64
sizes = [{d_model = 32, n_layers = 1}, {params = 2e5}]
[train]
batch_size = 4
"""


def test_tokens_per_param_budgets_scale_with_each_size():
    sweep = parse_spec(BASE + "[budget]\ntokens_per_param = [10, 20]\n")
    assert len(sweep.runs) == 4
    for run in sweep.runs:
        ratio = run.tokens / run.params
        assert ratio == pytest.approx(10, rel=0.01) or ratio == pytest.approx(20, rel=0.01)


def test_isoflop_mode_spends_the_same_flops_on_every_size():
    sweep = parse_spec(BASE + "[budget]\nflops = [1e12]\n")
    flops = [6 * r.params * r.tokens for r in sweep.runs]
    assert flops[0] == pytest.approx(1e12, rel=1e-3) and flops[1] == pytest.approx(1e12, rel=1e-3)


def test_lr_rule_and_seeds_and_schedule_variants():
    text = BASE.replace(
        "batch_size = 4", 'batch_size = 4\nlr = "1e-2 * (32 / d_model)"\nseeds = [0, 1]'
    )
    text += "[budget]\ntokens = [1e5]\n[[schedule_variants]]\nsize = {d_model = 32, n_layers = 1}\n"
    text += 'tokens = 1e5\nschedules = ["cosine", "wsd", "constant"]\n'
    sweep = parse_spec(text)
    grid = [r for r in sweep.runs if r.main_grid]
    assert len(grid) == 4  # 2 sizes x 1 budget x 2 seeds; the cosine variant is a grid run
    assert len(sweep.runs) == 8  # + wsd and constant for 2 seeds
    small = [r for r in grid if r.shape.d_model == 32][0]
    assert small.lr == pytest.approx(1e-2)
    assert {r.family for r in sweep.runs} == {"s", "s-wsd", "s-constant"}
    assert len({r.run_id for r in sweep.runs}) == len(sweep.runs)


def test_lr_multipliers_sweep_every_grid_run():
    text = BASE.replace(
        "batch_size = 4",
        'batch_size = 4\nlr = "1e-2 * (32 / d_model)"\nlr_multipliers = [0.5, 1, 4]',
    )
    sweep = parse_spec(text + "[budget]\ntokens = [1e5, 2e5]\n")
    assert len(sweep.runs) == 2 * 2 * 3  # sizes x budgets x multipliers
    small = sorted(r.lr for r in sweep.runs if r.shape.d_model == 32 and r.tokens == 1e5)
    assert small == pytest.approx([0.5e-2, 1e-2, 4e-2])
    assert len({r.run_id for r in sweep.runs}) == len(sweep.runs)


def test_min_steps_halves_the_batch():
    sweep = parse_spec(
        BASE.replace("batch_size = 4", "batch_size = 64\nmin_steps = 50")
        + "[budget]\ntokens = [1e5]\n"
    )
    assert all(r.steps >= 50 or r.batch_size == 1 for r in sweep.runs)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name = 's'\n[model\n", "not valid TOML"),
        (BASE + "[budget]\ntokens = [1e5]\nbogus = 1\n", "unknown key 'bogus'"),
        (
            BASE.replace("seq_len = 64", "seq_len = 64\ndepth = 3") + "[budget]\ntokens=[1e5]\n",
            "unknown key 'depth'",
        ),
        (
            BASE.replace("{params = 2e5}", "{params = 10}") + "[budget]\ntokens = [1e5]\n",
            "impossible",
        ),
        (
            BASE.replace("{params = 2e5}", "{d_model = 0, n_layers = 2}")
            + "[budget]\ntokens=[1e5]\n",
            "impossible",
        ),
        (BASE + "[budget]\ntokens = [10]\n", "less than one batch"),
        (BASE + "[budget]\ntokens = [1e5]\nflops = [1e12]\n", "exactly one"),
        (BASE + "[budget]\ntokens = [1e5]\n[train]\n", "not valid TOML"),
        (
            BASE.replace("batch_size = 4", 'batch_size = 4\nlr = "1e-3 * width"')
            + "[budget]\ntokens = [1e5]\n",
            "unknown name",
        ),
        (
            BASE.replace("batch_size = 4", 'batch_size = 4\nschedule = "linear"')
            + "[budget]\ntokens = [1e5]\n",
            "unknown schedule",
        ),
        (
            BASE.replace("batch_size = 4", "batch_size = 4\nlr_multipliers = [1, -2]")
            + "[budget]\ntokens = [1e5]\n",
            "lr_multipliers must be a list of positive numbers",
        ),
    ],
)
def test_bad_specs_raise_input_error(text, match):
    with pytest.raises(InputError, match=match):
        parse_spec(text, source="spec.toml")


def test_validate_types_the_document_and_expand_turns_it_into_the_runs():
    import tomllib

    text = BASE.replace("batch_size = 4", "batch_size = 4\nseeds = [0, 1]\nwarmup = 0.1")
    text += "[budget]\ntokens_per_param = [10, 20]\n"
    spec = validate_spec(tomllib.loads(text), source="s.toml")
    assert spec.budget == Budget("tokens_per_param", (10, 20))
    assert spec.shapes[0].d_model == 32 and len(spec.shapes) == 2
    assert spec.seeds == (0, 1) and spec.run_knobs == {"warmup": 0.1}
    runs = expand_spec(spec)
    assert len(runs) == 2 * 2 * 2  # sizes x budgets x seeds
    assert runs == parse_spec(text, source="s.toml").runs


@pytest.mark.parametrize(
    ("train", "column", "match"),
    [
        ('schedule = "linear"', "schedule", "unknown schedule 'linear'"),
        ('lr = "1e-3 *"', "lr", "cannot parse lr rule"),
        ("lr = -1", None, "lr must be positive"),
        ("seeds = 3", "seeds", "seeds must be a list of integers"),
    ],
)
def test_bad_train_values_name_the_file_and_the_key(train, column, match):
    text = BASE.replace("batch_size = 4", f"batch_size = 4\n{train}") + "[budget]\ntokens = [1e5]\n"
    with pytest.raises(InputError, match=match) as info:
        parse_spec(text, source="spec.toml")
    assert info.value.file == "spec.toml" and info.value.column == column


def test_a_schedule_variant_without_a_budget_says_which_budgets_it_takes():
    text = BASE + "[budget]\ntokens = [1e5]\n[[schedule_variants]]\nsize = {params = 2e5}\n"
    with pytest.raises(InputError, match=r"\[schedule_variants\] needs exactly one of "):
        parse_spec(text, source="spec.toml")


def test_toml_syntax_error_names_file_and_line():
    with pytest.raises(InputError) as info:
        parse_spec('name = "s"\n\n[model\n', source="spec.toml")
    assert str(info.value).startswith("spec.toml: row 3")


def test_presets_parse_and_cpu_tiny_spans_30x():
    for name in PRESETS:
        assert preset(name).runs
    sizes = {r.params for r in preset("cpu-tiny").runs}
    assert max(sizes) / min(sizes) >= 30
    gpu = preset("gpu-ladder")
    sizes = {r.params for r in gpu.runs}
    assert len(sizes) >= 5 and max(sizes) / min(sizes) >= 30
    assert len({r.tokens_trained / r.params for r in gpu.runs if r.main_grid}) >= 3
    variants = [r for r in gpu.runs if not r.main_grid or r.family != gpu.name]
    assert {
        r.schedule
        for r in gpu.runs
        if r.shape.d_model == variants[0].shape.d_model and r.tokens == variants[0].tokens
    } == {"cosine", "wsd", "constant"}


@pytest.mark.parametrize("name", ["gpu-ladder", "gpu-ladder-replicates"])
def test_bundled_spec_file_equals_the_gpu_preset(name):
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "data" / "ladder" / f"{name}.toml"
    if not spec.exists():
        pytest.skip("no bundled spec in this checkout")
    assert spec.read_text() == PRESETS[name]
    assert len(preset(name).runs) == 20


def test_plan_json_lists_every_run_with_flops_and_time(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(BASE + "[budget]\ntokens_per_param = [10, 20]\n")
    result = runner.invoke(ladder_app, ["plan", str(spec), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["runs"]) == 4
    run = out["runs"][0]
    assert run["flops"] == pytest.approx(6 * run["params"] * run["tokens"])
    assert run["est_seconds"] > 0 and out["total"]["est_seconds"] > 0
    assert run["params"] == non_embedding_params(parse_spec(spec.read_text()).runs[0].shape)


def test_plan_preset_prints_a_table():
    result = runner.invoke(ladder_app, ["plan", "--preset", "cpu-tiny", "--device", "cpu"])
    assert result.exit_code == 0 and "cpu-tiny" in result.output


@pytest.mark.parametrize("content", ["name = 's'\n[model\n", BASE + "[budget]\nzzz = 1\n"])
def test_cli_bad_spec_exits_2_with_one_line(tmp_path, content):
    spec = tmp_path / "bad.toml"
    spec.write_text(content)
    result = runner.invoke(ladder_app, ["plan", str(spec), "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "bad.toml" in result.stderr


def test_cli_unknown_preset_exits_2():
    result = runner.invoke(ladder_app, ["plan", "--preset", "nope"])
    assert result.exit_code == 2 and "unknown preset" in result.stderr


def test_importing_the_ladder_and_its_cli_does_not_import_torch():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, scalinglab, scalinglab.ladder, scalinglab.cli.ladder; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}  # the checkout, not whatever is installed
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_run_without_torch_is_a_one_line_input_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("no torch here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    result = runner.invoke(ladder_app, ["run", "--preset", "cpu-tiny", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'scalinglab[torch]'" in result.stderr


# Seconds per step measured on an H100 80GB (torch 2.11, bf16, compiled): the bundled ladder's
# shapes alone (context 512, batch 64; bench_ladder_gpu.py --spec) and the benchmark's sizes
# (context 1024), from data/ladder/bench_h100.json.
H100_STEPS = [
    # d_model, n_layers, n_heads, seq_len, batch, ms per step
    (96, 4, 3, 512, 64, 7.19),
    (192, 4, 3, 512, 64, 8.04),
    (256, 5, 4, 512, 64, 9.53),
    (384, 8, 6, 512, 64, 13.36),
    (256, 4, 4, 1024, 128, 16.2),
    (512, 8, 8, 1024, 64, 37.3),
    (768, 12, 12, 1024, 32, 51.2),
    (1024, 16, 16, 1024, 16, 54.2),
]


@pytest.mark.parametrize(("d", "n_layers", "heads", "seq", "batch", "ms"), H100_STEPS)
def test_gpu_step_time_model_matches_the_h100_measurements(d, n_layers, heads, seq, batch, ms):
    from scalinglab.ladder.config import RunConfig
    from scalinglab.ladder.sizing import ModelShape
    from scalinglab.ladder.sweep import step_seconds

    shape = ModelShape(d_model=d, n_layers=n_layers, n_heads=heads, seq_len=seq)
    cfg = RunConfig(family="f", shape=shape, tokens=1000 * batch * seq, batch_size=batch)
    assert step_seconds(cfg, "cuda") * 1e3 == pytest.approx(ms, rel=0.1)
