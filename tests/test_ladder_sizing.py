"""Parameter counts and FLOPs of ladder shapes (no torch needed)."""

import math

import pytest

from scalinglab.errors import InputError
from scalinglab.ladder.sizing import (
    ModelShape,
    flops_per_token,
    non_embedding_params,
    shape_for_params,
    total_params,
)


def test_non_embedding_count_is_12_L_d2_plus_norms():
    s = ModelShape(d_model=256, n_layers=4, n_heads=4)
    assert non_embedding_params(s) == 12 * 4 * 256**2 + 2 * 4 * 256 + 256


def test_total_adds_embeddings_positions_and_untied_head():
    tied = ModelShape(d_model=64, n_layers=2, n_heads=2, seq_len=32)
    untied = ModelShape(
        d_model=64, n_layers=2, n_heads=2, seq_len=32, tied_embeddings=False, positions="learned"
    )
    assert total_params(tied) - non_embedding_params(tied) == 256 * 64
    assert total_params(untied) - non_embedding_params(untied) == 2 * 256 * 64 + 32 * 64


def test_flops_per_token_matches_the_reference_mfu_convention():
    # The reference: 3.2M params (L=4, d=256), T=1024, 7.15M tok/s is 23% of 989 TFLOP/s.
    s = ModelShape(d_model=256, n_layers=4, n_heads=4, seq_len=1024)
    assert flops_per_token(s, attention=False) == 6 * non_embedding_params(s)
    mfu = flops_per_token(s) * 7.15e6 / 989e12
    assert mfu == pytest.approx(0.23, abs=0.005)


@pytest.mark.parametrize("target", [3e4, 1e6, 3.2e6, 2.5e7, 8.5e7])
def test_shape_for_params_lands_near_the_target(target):
    s = shape_for_params(target)
    assert abs(math.log(non_embedding_params(s) / target)) < 0.35
    assert s.d_model % s.n_heads == 0


@pytest.mark.parametrize("target", [1.0, -5.0, float("nan"), 1e13])
def test_impossible_target_size_is_input_error(target):
    with pytest.raises(InputError, match="impossible"):
        shape_for_params(target)


def test_impossible_shape_is_input_error():
    with pytest.raises(InputError):
        ModelShape(d_model=0, n_layers=2, n_heads=1)
    with pytest.raises(InputError):
        ModelShape(d_model=64, n_layers=2, n_heads=3)
