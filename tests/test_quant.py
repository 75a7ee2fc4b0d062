"""Weight quantizers, AWQ scaling and KIVI KV quantization on exact small cases."""

import pytest

torch = pytest.importorskip("torch")

from scalinglab.errors import InputError  # noqa: E402
from scalinglab.quant.awq import (  # noqa: E402
    ActivationStats,
    collect_activation_stats,
    scales_for,
    search_scales,
)
from scalinglab.quant.configs import (  # noqa: E402
    DEFAULT_CONFIGS,
    parse_config,
    weight_config,
)
from scalinglab.quant.kv import quantize_keys, quantize_values  # noqa: E402
from scalinglab.quant.weights import fake_quantize, quantize  # noqa: E402

pytestmark = pytest.mark.torch


# -- round to nearest, by hand ------------------------------------------------------------------


def test_asymmetric_2_bit_per_channel_codes_and_scales_by_hand():
    # Row 0: range [-1, 2] in 3 steps of 1, zero point 1. Row 1 is one-signed: the range is
    # [0, 3] (zero kept inside it), steps of 1, zero point 0.
    w = torch.tensor([[-1.0, -0.25, 0.75, 2.0], [0.25, 1.0, 2.75, 3.0]])
    q = quantize(w, bits=2)
    assert q.codes.tolist() == [[0, 1, 2, 3], [0, 1, 3, 3]]
    assert q.scales.tolist() == [[1.0], [1.0]]
    assert q.zeros.tolist() == [[1], [0]]
    assert q.dequantized.tolist() == [[-1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 3.0, 3.0]]


def test_asymmetric_4_bit_groups_of_two_by_hand():
    # Group [-4, 3.5]: 7.5 / 15 = 0.5 per step, zero at code 8; group [0, 7.5]: 0.5, zero 0.
    w = torch.tensor([[-4.0, 3.5, 0.0, 7.5]])
    q = quantize(w, bits=4, group_size=2)
    assert q.scales.tolist() == [[0.5, 0.5]]
    assert q.zeros.tolist() == [[8, 0]]
    assert q.codes.tolist() == [[0, 15, 0, 15]]
    assert torch.equal(q.dequantized, w)


def test_symmetric_3_bit_per_channel_by_hand():
    # qmax = 2**2 - 1 = 3, scale = max|w| / 3 = 1; codes on the restricted grid -3..3.
    w = torch.tensor([[-1.25, 0.25, 0.75, 3.0]])
    q = quantize(w, bits=3, symmetric=True)
    assert q.zeros is None
    assert q.scales.tolist() == [[1.0]]
    assert q.codes.tolist() == [[-1, 0, 1, 3]]
    assert q.dequantized.tolist() == [[-1.0, 0.0, 1.0, 3.0]]


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("group", [None, 32, 64, 128])
@pytest.mark.parametrize("bits", range(2, 9))
def test_round_trip_error_is_at_most_half_a_step(bits, group, symmetric):
    gen = torch.Generator().manual_seed(bits)
    w = torch.randn(24, 256, generator=gen) * torch.rand(24, 1, generator=gen)
    q = quantize(w, bits, group, symmetric=symmetric)
    step = q.scales.repeat_interleave(q.group_size, dim=-1)
    assert ((w - q.dequantized).abs() <= step / 2 * (1 + 1e-6)).all()
    lo, hi = (-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    assert q.codes.min() >= lo and q.codes.max() <= hi
    zeros = 0 if symmetric else q.zeros.repeat_interleave(q.group_size, dim=-1)
    assert torch.equal(q.dequantized, (q.codes - zeros) * step)
    assert torch.equal(fake_quantize(w, bits, group, symmetric=symmetric), q.dequantized)


def test_more_bits_smaller_groups_smaller_error():
    w = torch.randn(64, 512, generator=torch.Generator().manual_seed(0))
    err = {
        (b, g): (fake_quantize(w, b, g) - w).abs().mean() for b in (2, 3, 4, 8) for g in (32, None)
    }
    assert err[2, None] > err[3, None] > err[4, None] > err[8, None]
    assert all(err[b, 32] < err[b, None] for b in (2, 3, 4, 8))


def test_zero_rows_stay_zero_and_bf16_weights_stay_bf16():
    w = torch.zeros(2, 64)
    assert torch.equal(fake_quantize(w, 4, 32), w)
    assert torch.equal(fake_quantize(w, 4, symmetric=True), w)
    wb = torch.randn(4, 64, generator=torch.Generator().manual_seed(1)).bfloat16()
    out = fake_quantize(wb, 8, 32)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, fake_quantize(wb.float(), 8, 32).bfloat16())


def test_group_size_that_does_not_divide_the_width_is_one_line_input_error():
    with pytest.raises(InputError) as err:
        fake_quantize(torch.randn(4, 96), 4, 128)
    assert "128 does not divide the layer width 96" in str(err.value)
    assert "\n" not in str(err.value) and str(err.value).startswith("group_size ")


@pytest.mark.parametrize("bits", [0, 1, 9, 16, 4.0, True])
def test_unsupported_bit_widths_are_input_errors(bits):
    with pytest.raises(InputError, match="is not a supported bit width: use 2 to 8"):
        fake_quantize(torch.randn(4, 32), bits)


# -- names ------------------------------------------------------------------------------------


def test_config_names_say_everything_that_changes_the_number():
    c = parse_config("w3g64s_awq")
    assert (c.kind, c.bits, c.group_size, c.symmetric, c.method) == ("weight", 3, 64, True, "awq")
    assert parse_config("w8_rtn").group_size is None
    kv = parse_config("kv2t16")
    assert (kv.kind, kv.bits, kv.token_group) == ("kv", 2, 16)
    assert weight_config(4, 128, method="awq").name == "w4g128_awq"
    assert all(parse_config(name).name == name for name in DEFAULT_CONFIGS)


@pytest.mark.parametrize("name", ["w4g128", "w1_rtn", "w4g128_gptq", "kv9", "w4g1_rtn", "int4"])
def test_unknown_or_unsupported_config_names_are_refused(name):
    with pytest.raises(InputError):
        parse_config(name)


# -- AWQ ----------------------------------------------------------------------------------------


def test_scaling_leaves_the_float_product_unchanged_before_rounding():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(16, 64, generator=gen, dtype=torch.float64)
    x = torch.randn(64, 10, generator=gen, dtype=torch.float64) * torch.rand(64, 1, generator=gen)
    s = scales_for(x.abs().mean(1), torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64))
    for row in s:
        assert torch.allclose((w * row) @ (x / row[:, None]), w @ x, rtol=1e-12, atol=1e-12)
    assert torch.allclose(s[0], torch.ones(64, dtype=torch.float64))  # alpha 0: plain RTN


def _outlier_layer(seed=3):
    """A linear layer whose inputs have a few channels 30x larger than the rest (the case AWQ
    is for), and calibration inputs drawn that way."""
    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(128, 32, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(32, 128, generator=gen) * 0.05)
    gain = torch.ones(128)
    gain[[5, 40, 77]] = 30.0
    x = torch.randn(6, 20, 128, generator=gen) * gain
    return layer, x


def test_activation_stats_are_mean_abs_and_gram_of_all_inputs():
    layer, x = _outlier_layer()
    stats = collect_activation_stats(layer, x, {"": layer}, batch_size=4)[""]
    flat = x.reshape(-1, 128).double()
    assert stats.tokens == 120
    assert torch.allclose(stats.mean_abs.double(), flat.abs().mean(0), rtol=1e-5)
    assert torch.allclose(stats.gram, flat.T @ flat, rtol=1e-5, atol=1e-3)


def test_search_error_is_the_output_error_on_calibration_tokens_and_beats_rtn():
    layer, x = _outlier_layer()
    stats = collect_activation_stats(layer, x, {"": layer})[""]
    found = search_scales(layer.weight.detach(), stats, bits=3, group_size=32)
    flat = x.reshape(-1, 128)
    w = layer.weight.detach()
    direct = ((flat @ found.weight.T - flat @ w.T) ** 2).sum()
    assert found.error == pytest.approx(float(direct), rel=1e-3)
    rtn = ((flat @ fake_quantize(w, 3, 32).T - flat @ w.T) ** 2).sum()
    assert found.rtn_error == pytest.approx(float(rtn), rel=1e-3)
    assert found.alpha > 0 and found.error < 0.8 * found.rtn_error


def test_search_keeps_rtn_when_activations_are_flat():
    # Every channel alike: mean|x| is constant, every exponent gives the same scales, and the
    # tie goes to alpha = 0 (plain rounding).
    w = torch.randn(8, 64, generator=torch.Generator().manual_seed(4))
    stats = ActivationStats(torch.ones(64), torch.eye(64, dtype=torch.float64), 64)
    found = search_scales(w, stats, bits=4)
    assert found.alpha == 0.0 and torch.equal(found.weight, fake_quantize(w, 4))


# -- KIVI ---------------------------------------------------------------------------------------


def test_keys_are_quantized_per_channel_and_values_per_token():
    t = torch.arange(8.0)
    # Keys constant along tokens within each channel (channels hold 1, 2, 5, 10): per-channel
    # groups are constant, so exact; a per-token group mixes the four, not on a 2-bit grid.
    keys = torch.tensor([1.0, 2.0, 5.0, 10.0]).expand(1, 8, 4).clone()
    assert torch.equal(quantize_keys(keys, bits=2, token_group=4), keys)
    assert not torch.equal(quantize_values(keys, bits=2), keys)
    # Values constant along channels within each token: exact per token, not per channel.
    values = (3 * t + 1)[None, :, None].expand(1, 8, 4).clone()
    assert torch.equal(quantize_values(values, bits=2), values)
    assert not torch.equal(quantize_keys(values, bits=2, token_group=8), values)


def test_a_last_short_group_of_keys_is_quantized_on_its_own_tokens():
    keys = torch.tensor([[[0.0], [3.0], [100.0]]])  # 3 tokens, groups of 2: [0, 3] then [100]
    out = quantize_keys(keys, bits=2, token_group=2)
    assert out[0, :, 0].tolist() == [0.0, 3.0, 100.0]


def test_kivi_min_max_error_is_at_most_half_a_step():
    x = torch.randn(2, 64, 16, generator=torch.Generator().manual_seed(5))
    for bits in (2, 3, 4):
        per_token = quantize_values(x, bits, 8)
        step = (x.unflatten(-1, (2, 8)).amax(-1) - x.unflatten(-1, (2, 8)).amin(-1)) / (2**bits - 1)
        bound = step.repeat_interleave(8, dim=-1) / 2 * (1 + 1e-5) + 1e-7
        assert ((per_token - x).abs() <= bound).all()
