"""Quantizer configurations by name, without torch: ``w4g128_awq``, ``w8_rtn``, ``kv2``.

A name is what the ladder writes into the run table (``val_loss_w4g128_awq``,
``qid_w4g128_awq``), so it says everything that changes the number:

* ``w{bits}[g{group}][s]_{rtn|awq}``: weight-only quantization of every ``nn.Linear`` of the
  transformer blocks to ``bits`` (2-8) bits, per output channel or in groups of ``group``
  inputs, asymmetric (with a zero point, as AWQ and GPTQ ship their 4-bit models) or
  symmetric (``s``); round-to-nearest (``rtn``) or after activation-aware scaling (``awq``,
  Lin et al. 2023).
* ``kv{bits}[t{tokens}]``: the attention's keys and values fake-quantized to ``bits`` (2-8)
  bits as KIVI stores them (Liu et al. 2024): keys per channel over groups of ``tokens``
  tokens (32, KIVI's group), values per token.

Example:
    >>> c = parse_config("w4g128_awq")
    >>> c.kind, c.bits, c.group_size, c.symmetric, c.method
    ('weight', 4, 128, False, 'awq')
    >>> parse_config("kv2").token_group
    32
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: Bit widths the quantizers implement: below 2 bits a uniform grid is a sign (binarization,
#: another method); above 8 bits nothing measurable is lost on our ladder.
BITS = range(2, 9)
#: KIVI's key group along tokens (Liu et al. 2024 use G = 32, with the latest R = 128 tokens kept
#: in full precision).
KV_TOKEN_GROUP = 32

#: What the ladder measures at each checkpoint by default. Group size 32 divides every width of
#: the bundled ladders (d_model 96 to 384 and their 4x MLP), where 128 does not divide 96, 192
#: or 320: one group size keeps QiD comparable across sizes. Per-channel w4 is the case where
#: AWQ's scaling matters most; w8 is the control (QiD ~ 0).
DEFAULT_CONFIGS = (
    "w8_rtn",
    "w4_rtn",
    "w4_awq",
    "w4g32_rtn",
    "w4g32_awq",
    "w3g32_rtn",
    "w3g32_awq",
    "w2g32_rtn",
    "kv4",
    "kv2",
)

_WEIGHT = re.compile(r"w(?P<bits>\d+)(?:g(?P<group>\d+))?(?P<sym>s)?_(?P<method>rtn|awq)")
_KV = re.compile(r"kv(?P<bits>\d+)(?:t(?P<tokens>\d+))?")


@dataclass(frozen=True)
class QuantConfig:
    """One quantizer: weight-only (``kind="weight"``) or KV cache (``kind="kv"``)."""

    name: str
    kind: str
    bits: int
    group_size: int | None = None  # weights: inputs per group (None: one group per row)
    symmetric: bool = False
    method: str = "rtn"  # weights: "rtn" or "awq"
    token_group: int = KV_TOKEN_GROUP  # kv: tokens per key group


def check_bits(bits: int, option: str | None = "bits") -> int:
    """``bits`` as an int in 2..8, or an :class:`InputError` naming ``option``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in BITS:
        raise InputError(
            f"{bits!r} is not a supported bit width: use {BITS.start} to {BITS.stop - 1}",
            option=option,
        )
    return bits


def check_group(
    group_size: int | None, width: int | None = None, option: str | None = "group_size"
) -> None:
    """A group size is a positive integer that divides ``width`` (when given)."""
    if group_size is None:
        return
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise InputError(
            f"{group_size!r} is too small: a group holds at least 2 inputs", option=option
        )
    if width is not None and width % group_size:
        raise InputError(
            f"{group_size} does not divide the layer width {width} (groups run along the "
            "input dimension; pick a divisor, or no group for one scale per output channel)",
            option=option,
        )


def parse_config(name: str) -> QuantConfig:
    """The :class:`QuantConfig` a name stands for (see the module docstring for the grammar)."""
    text = str(name).strip()

    def refuse(what: str, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except InputError as exc:
            raise InputError(f"quantizer {text!r}: {what}{exc.message}") from None

    if m := _WEIGHT.fullmatch(text):
        bits = refuse("", lambda: check_bits(int(m["bits"]), option=None))
        group = int(m["group"]) if m["group"] else None
        refuse("group size ", lambda: check_group(group, option=None))
        return QuantConfig(text, "weight", bits, group, bool(m["sym"]), m["method"])
    if m := _KV.fullmatch(text):
        bits = refuse("", lambda: check_bits(int(m["bits"]), option=None))
        tokens = int(m["tokens"]) if m["tokens"] else KV_TOKEN_GROUP
        refuse("token group ", lambda: check_group(tokens, option=None))
        return QuantConfig(text, "kv", bits, token_group=tokens)
    raise InputError(
        f"unknown quantizer {text!r}: expected w<bits>[g<group>][s]_rtn|awq (e.g. w4g128_awq, "
        "w8_rtn) or kv<bits> (e.g. kv2)"
    )


def weight_config(
    bits: int, group_size: int | None = None, *, method: str = "rtn", symmetric: bool = False
) -> QuantConfig:
    """The config of these weight-quantizer settings, named as the run table names it.

    Example:
        >>> weight_config(3, 64, method="awq").name
        'w3g64_awq'
    """
    check_bits(bits)
    check_group(group_size)
    if method not in ("rtn", "awq"):
        raise InputError(f"must be rtn or awq, got {method!r}", option="method")
    group = f"g{group_size}" if group_size else ""
    return parse_config(f"w{bits}{group}{'s' if symmetric else ''}_{method}")
