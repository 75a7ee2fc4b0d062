"""Quantizing a whole ladder GPT: which layers change, KV hooks, QiD metrics, checkpoints."""

import asyncio
import copy
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only add contention (xdist)

from scalinglab.errors import InputError  # noqa: E402
from scalinglab.ladder.model import GPT  # noqa: E402
from scalinglab.ladder.sizing import ModelShape  # noqa: E402
from scalinglab.quant import (  # noqa: E402
    kv_quantization,
    quantizable_linears,
    quantization_metrics,
    quantize_weights_,
    read_checkpoint,
)

pytestmark = pytest.mark.torch

#: Real text every Python has (the stdlib's asyncio package), as bytes.
TEXT = b"\x00".join(p.read_bytes() for p in sorted(Path(asyncio.__file__).parent.glob("*.py")))
SHAPE = ModelShape(d_model=64, n_layers=2, n_heads=2, seq_len=32)


def windows(n: int, seed: int, shape: ModelShape = SHAPE) -> torch.Tensor:
    """``n`` random windows of ``seq_len + 1`` bytes of TEXT."""
    data = np.frombuffer(TEXT, dtype=np.uint8)
    offsets = np.random.default_rng(seed).integers(0, len(data) - shape.seq_len - 1, n)
    return torch.from_numpy(data[offsets[:, None] + np.arange(shape.seq_len + 1)].astype(np.int64))


def train_tiny_gpt(shape: ModelShape = SHAPE, steps: int = 300) -> GPT:
    """A GPT trained for a few seconds on real text: structured enough that 2 bits hurt."""
    torch.manual_seed(0)
    model = GPT(shape)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for step in range(steps):
        batch = windows(16, seed=step, shape=shape)
        loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval()


@pytest.fixture(scope="module")
def trained():
    return train_tiny_gpt()


@pytest.fixture(scope="module")
def val_loss():
    held_out = windows(32, seed=10_000)

    @torch.no_grad()
    def loss(model):
        return float(model(held_out[:, :-1], held_out[:, 1:]))

    return loss


def test_every_block_linear_is_quantized_and_the_tied_head_is_not(trained):
    assert sorted(quantizable_linears(trained)) == [
        f"blocks.{i}.{name}" for i in range(2) for name in ("attn.proj", "attn.qkv", "fc", "out")
    ]
    model = copy.deepcopy(trained)
    quantize_weights_(model, "w2g32_rtn")
    before, after = trained.state_dict(), model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {f"{name}.weight" for name in quantizable_linears(trained)}


def test_awq_weights_differ_from_rtn_and_report_an_exponent_per_layer(trained):
    calibration = windows(8, seed=5)[:, :-1]
    rtn, awq = copy.deepcopy(trained), copy.deepcopy(trained)
    quantize_weights_(rtn, "w3g32_rtn")
    alphas = quantize_weights_(awq, "w3g32_awq", calibration=calibration)
    assert set(alphas) == set(quantizable_linears(trained))
    assert all(0.0 <= a <= 1.0 for a in alphas.values())
    scaled = [name for name, a in alphas.items() if a > 0]
    assert scaled
    layers = dict(rtn.named_modules()), dict(awq.named_modules())
    for name in alphas:
        same = torch.equal(layers[0][name].weight, layers[1][name].weight)
        assert same == (name not in scaled)  # alpha = 0 is plain rounding


def test_kv_quantization_hooks_every_attention_and_removes_its_hooks(trained, val_loss):
    base = val_loss(trained)
    with kv_quantization(trained, bits=2) as hooked:
        assert hooked == 2
        inside = val_loss(trained)
    assert inside != base
    assert val_loss(trained) == base
    assert all(not m.qkv._forward_hooks for m in (b.attn for b in trained.blocks))


def test_kv_quantization_only_touches_keys_and_values(trained):
    qkv = trained.blocks[0].attn.qkv
    h = trained.blocks[0].norm1(trained.embed(windows(2, seed=7)[:, :-1]))
    q_plain, k_plain, v_plain = qkv(h).chunk(3, -1)
    with kv_quantization(trained, bits=2):
        q, k, v = qkv(h).chunk(3, -1)
    assert torch.equal(q, q_plain)
    assert not torch.equal(k, k_plain) and not torch.equal(v, v_plain)


def test_quantization_metrics_on_a_tiny_gpt(trained, val_loss):
    state = copy.deepcopy(trained.state_dict())
    configs = ("w8_rtn", "w4g32_rtn", "w4g32_awq", "w2_rtn", "w2s_rtn", "kv4", "kv2")
    metrics = quantization_metrics(trained, val_loss, windows(8, seed=3)[:, :-1], configs)
    assert set(metrics) == {"val_loss_bf16"} | {
        f"{p}_{c}" for c in configs for p in ("val_loss", "qid")
    }
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["val_loss_bf16"] == pytest.approx(val_loss(trained))
    for c in configs:
        assert metrics[f"qid_{c}"] == pytest.approx(
            metrics[f"val_loss_{c}"] - metrics["val_loss_bf16"]
        )
    # 8 bits cost nothing measurable; 2 bits do, ternary (symmetric 2-bit) most.
    assert abs(metrics["qid_w8_rtn"]) < 0.005 < metrics["qid_w2_rtn"] < metrics["qid_w2s_rtn"]
    assert abs(metrics["qid_kv4"]) < metrics["qid_kv2"]
    after = trained.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)  # the model is left as it was


def test_bad_configs_are_refused_before_any_evaluation(trained):
    calls = []

    def val_loss(model):
        calls.append(1)
        return 1.0

    for configs, message in (
        (["w4g48_rtn"], "48 does not divide the layer width 64"),
        (["w9_rtn"], "9 is not a supported bit width"),
        (["w4_rtn", "w4_rtn"], "named twice"),
        (["w4_awq"], "AWQ configs need calibration"),
    ):
        with pytest.raises(InputError, match=message):
            quantization_metrics(trained, val_loss, None, configs)
    assert calls == []


# -- checkpoints --------------------------------------------------------------------------------


def test_both_checkpoint_layouts_read_back_the_weights_and_config(trained, tmp_path):
    from scalinglab.ladder.config import RunConfig
    from scalinglab.ladder.train import save_checkpoint

    cfg = RunConfig(family="t", shape=SHAPE, tokens=32 * 32 * 10, batch_size=32)
    final = tmp_path / "final.pt"
    torch.save({"model": trained.state_dict(), "config": cfg.to_dict()}, final)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(__import__("json").dumps(cfg.to_dict()))
    opt = torch.optim.AdamW(trained.parameters())
    save_checkpoint(run / "ckpt.pt", trained, opt, 7, [], 1.5)
    for path, step in ((final, None), (run / "ckpt.pt", 7)):
        ckpt = read_checkpoint(path)
        assert ckpt.step == step
        assert RunConfig.from_dict(ckpt.config) == cfg
        assert all(torch.equal(ckpt.state_dict[k], v) for k, v in trained.state_dict().items())


def test_compiled_parameter_names_are_read_as_the_plain_model(trained, tmp_path):
    path = tmp_path / "compiled.pt"
    state = {f"_orig_mod.{k}": v for k, v in trained.state_dict().items()}
    torch.save({"model": state, "config": {"shape": SHAPE.to_dict()}}, path)
    assert set(read_checkpoint(path).state_dict) == set(trained.state_dict())


@pytest.mark.parametrize(
    "content, message",
    [
        (b"family,params\nx,1\n", "not a ladder checkpoint (torch cannot load it"),
        ({"weights": {}}, "expected a dict with a 'model' state dict"),
        ({"model": {"w": torch.zeros(1)}}, "no config.json beside it"),
        ({"model": {"w": torch.zeros(1)}, "config": {"family": "x"}}, "no model 'shape'"),
    ],
)
def test_files_that_are_not_ladder_checkpoints_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "thing.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(InputError) as err:
        read_checkpoint(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(str(path))
