"""Knowledge capacity as a reference line: about 2 bits of knowledge per parameter.

Allen-Zhu & Li 2024, *Physics of Language Models: Part 3.3, Knowledge Capacity Scaling Laws*
(arXiv:2404.05405, ICLR 2025), train GPT-2, LLaMA and Mistral models from scratch on synthetic
biographies, (name, attribute, value) facts written as text, and measure the bits of knowledge
a model stores against its parameters (the capacity ratio). Their findings (Results 1-12 of
section 1) that a planner can use:

* **2 bits per parameter** after sufficient training: each fact seen about **1000 times**
  ("1000 exposures"), across sizes, depths, widths and data settings (Results 1-3); a universal
  ratio across architectures, even without MLP layers (Result 5). A 7B model can store 14B bits
  (Remark 1.1).
* **1 bit per parameter at 100 exposures** (Result 4): rare knowledge is stored at half the
  ratio; there LLaMA/Mistral-style gated MLPs store 1.3x less than GPT-2 (Results 6-7).
* **int8 keeps it, int4 does not** (Result 8, GPTQ): 2 bits/param at int8, 0.7 at int4.
* Mixture-of-experts with 32 experts stores 1.3x less than dense while using 8.8% of its
  parameters at inference (Result 9); "junk" data at 1:7 costs up to 20x at 100 exposures, 1.3x
  at 1000, and a domain token prepended to useful data brings 20x back to 2x (Results 10-12).

:func:`knowledge_capacity` gives the knowledge bits of a model size, or the parameters a number
of bits needs, at the ratio the paper measured for the chosen setting; settings it did not
measure are refused rather than interpolated. The figure is an upper reference for factual
knowledge of this kind, not a prediction of benchmark scores.

Example:
    >>> knowledge_capacity(params=7e9).knowledge_bits      # Remark 1.1: 7B -> 14B bits
    14000000000.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..answer import Answer
from ..errors import InputError, positive

REFERENCE = "Allen-Zhu & Li 2024, Physics of Language Models Part 3.3 (arXiv:2404.05405)"

#: Bits of knowledge per parameter by (exposures per fact, weight bits), as published:
#: trained in 16-bit, 1000 exposures (Results 1-3, 5); 100 exposures (Result 4); GPTQ to int8
#: and int4 of the sufficiently trained models (Result 8).
BITS_PER_PARAM = {
    (1000, 16): 2.0,
    (1000, 8): 2.0,
    (1000, 4): 0.7,
    (100, 16): 1.0,
}
#: Where each ratio is published.
SOURCES = {
    (1000, 16): "Results 1-3 and 5: 1000 exposures per fact",
    (1000, 8): "Result 8: GPTQ to int8 keeps 2 bits/param",
    (1000, 4): "Result 8: GPTQ to int4 leaves 0.7 bits/param",
    (100, 16): "Result 4: 100 exposures per fact",
}
CAVEATS = (
    "measured on synthetic biographies (name, attribute, value) trained from scratch, models up "
    "to ~0.5B parameters; an upper reference for factual knowledge, not a benchmark prediction",
    "gated MLPs (LLaMA/Mistral) store 1.3x less than GPT-2 at 100 exposures (Results 6-7); "
    "32-expert MoE 1.3x less than dense (Result 9); junk data at 1:7 up to 20x less at 100 "
    "exposures, 1.3x at 1000 (Results 10-11)",
)


@dataclass
class KnowledgeCapacity(Answer):
    """Bits of knowledge a model of some size stores, at the published ratio."""

    title = "knowledge capacity"

    params: float
    knowledge_bits: float
    bits_per_param: float
    exposures: int
    weight_bits: int
    source: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "knowledge_bits": self.knowledge_bits,
            "bits_per_param": self.bits_per_param,
            "exposures": self.exposures,
            "weight_bits": self.weight_bits,
            "source": self.source,
            "reference": REFERENCE,
            "notes": list(self.notes),
            "warnings": [],
        }


def knowledge_capacity(
    params: float | None = None,
    *,
    knowledge_bits: float | None = None,
    exposures: int = 1000,
    weight_bits: int = 16,
) -> KnowledgeCapacity:
    """Knowledge bits of a model of ``params`` parameters, or the parameters ``knowledge_bits``
    need, at Allen-Zhu & Li's ratio for ``exposures`` per fact (1000 or 100) and weights of
    ``weight_bits`` (16 as trained, 8 or 4 after GPTQ; 32 counts as 16).

    Raises :class:`InputError` unless exactly one of ``params`` and ``knowledge_bits`` is a
    positive number, and for a setting the paper did not measure (100 exposures quantized).

    Example:
        >>> knowledge_capacity(params=7e9, weight_bits=4).knowledge_bits / 1e9
        4.9
        >>> knowledge_capacity(knowledge_bits=14e9).params / 1e9
        7.0
    """
    if (params is None) == (knowledge_bits is None):
        raise InputError("give exactly one of `params` (the bits a model stores) and "
                         "`knowledge_bits` (the parameters they need)")  # fmt: skip
    if exposures not in (100, 1000):
        raise InputError(
            f"must be 1000 (sufficient training: 2 bits/param) or 100 (1 bit/param), the "
            f"settings Allen-Zhu & Li measured; got {exposures!r}",
            option="exposures",
        )
    if weight_bits not in (4, 8, 16, 32):
        raise InputError(
            f"must be 16 (as trained; 32 the same), 8 or 4, got {weight_bits!r}",
            option="weight_bits",
        )
    key = (exposures, min(weight_bits, 16))
    if key not in BITS_PER_PARAM:
        raise InputError(
            f"{weight_bits} has no published ratio at {exposures} exposures: Allen-Zhu & Li "
            "quantized only sufficiently trained models (1000 exposures)",
            option="weight_bits",
        )
    ratio = BITS_PER_PARAM[key]
    if params is not None:
        n = positive(params, "params")
        bits = n * ratio
    else:
        bits = positive(knowledge_bits, "knowledge_bits")
        n = bits / ratio
    return KnowledgeCapacity(
        params=n,
        knowledge_bits=bits,
        bits_per_param=ratio,
        exposures=exposures,
        weight_bits=weight_bits,
        source=SOURCES[key],
        notes=list(CAVEATS),
    )
