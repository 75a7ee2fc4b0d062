"""The GPT itself: counts agree with sizing.py, shapes, loss at init, causality."""

import math

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only add contention (xdist, Ray workers)

from scalinglab.ladder.model import GPT  # noqa: E402
from scalinglab.ladder.sizing import ModelShape, non_embedding_params, total_params  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("positions", ["rope", "learned"])
@pytest.mark.parametrize("tied", [True, False])
def test_module_counts_equal_the_planned_counts(positions, tied):
    s = ModelShape(
        d_model=64, n_layers=3, n_heads=4, seq_len=32, positions=positions, tied_embeddings=tied
    )
    counts = GPT(s).param_counts()
    assert counts["total"] == total_params(s)
    assert counts["non_embedding"] == non_embedding_params(s)


def test_forward_gives_logits_and_a_sane_initial_loss():
    torch.manual_seed(0)
    s = ModelShape(d_model=32, n_layers=2, n_heads=2, seq_len=16)
    model = GPT(s)
    x = torch.randint(0, 256, (4, 16))
    assert model(x).shape == (4, 16, 256)
    loss = model(x, x).item()
    assert 3.0 < loss < math.log(256) + 1.0


@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_attention_is_causal(positions):
    torch.manual_seed(0)
    s = ModelShape(d_model=32, n_layers=2, n_heads=2, seq_len=16, positions=positions)
    model = GPT(s).eval()
    x = torch.randint(0, 256, (1, 16))
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 256
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_weight_decay_skips_norms_and_embeddings():
    s = ModelShape(d_model=32, n_layers=1, n_heads=1, seq_len=8)
    model = GPT(s)
    decay, no_decay = model.optimizer_groups(0.1)
    assert all(p.dim() == 2 for p in decay["params"])
    n = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n == total_params(s)


def test_rotary_scores_depend_on_the_offset_only_and_keep_norms():
    from scalinglab.ladder.model import _apply_rotary, _rotary_tables

    torch.manual_seed(0)
    s = ModelShape(d_model=32, n_layers=1, n_heads=2, seq_len=16)
    cos, sin = _rotary_tables(s)
    q, k = torch.randn(s.head_dim), torch.randn(s.head_dim)
    # the same q and k at every position, laid out as (B, T, 2, H, D) like the fused projection
    x = torch.stack((q, k)).expand(1, 16, 1, 2, s.head_dim).reshape(1, 16, 2, 1, s.head_dim)
    qr, kr = _apply_rotary(x, cos, sin).unbind(2)
    score = (qr[0, :, 0] @ kr[0, :, 0].T).numpy()  # score[m, n] = <R_m q, R_n k>
    assert score[7, 5] == pytest.approx(score[3, 1], rel=1e-5)
    assert score[9, 2] == pytest.approx(score[12, 5], rel=1e-5)
    assert score[3, 1] != pytest.approx(score[3, 2], rel=1e-3)
    torch.testing.assert_close(qr.norm(dim=-1), q.norm().expand(1, 16, 1))


def test_attention_matches_rotary_applied_per_head_after_the_transpose():
    # The straightforward formulation: split q, k, v, move heads forward, rotate q and k apart.
    import torch.nn.functional as F

    from scalinglab.ladder.model import _rotary_tables

    torch.manual_seed(0)
    s = ModelShape(d_model=32, n_layers=1, n_heads=2, seq_len=16)
    block = GPT(s).blocks[0].attn
    cos, sin = _rotary_tables(s)
    x = torch.randn(3, 16, 32)

    def rotate(z):  # (B, H, T, D)
        z1, z2 = z.chunk(2, dim=-1)
        return torch.cat((z1 * cos - z2 * sin, z1 * sin + z2 * cos), dim=-1)

    q, k, v = (z.transpose(1, 2) for z in block.qkv(x).view(3, 16, 3, 2, 16).unbind(2))
    y = F.scaled_dot_product_attention(rotate(q), rotate(k), v, is_causal=True)
    expected = block.proj(y.transpose(1, 2).reshape(3, 16, 32))
    with torch.no_grad():
        torch.testing.assert_close(block(x, (cos, sin)), expected)
