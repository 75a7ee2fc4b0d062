"""The compute-optimal vocabulary: Tao et al. 2024's Approach 3 on a fit of the ``vocabulary`` law.

For a model of ``N_nv`` non-vocabulary parameters trained with a budget of C FLOPs, the
vocabulary V (``N_v = V*d`` parameters at embedding width d) trades tokenization and capacity
against data: with ``C = 6 (N_nv + N_v) D``, a larger vocabulary leaves fewer tokens. Tao et al.
(arXiv:2407.13623, section 4.3, "Usage") replace D by ``C / (6 (N_nv + N_v))`` in their eq. 8 and
solve ``dL_u/dV = 0``; :func:`optimal_vocabulary` finds the same minimum of L_u in V numerically,
for the fit's estimate and each of its bootstrap replicates.

Which budget goes with which model: given both, the question is theirs for a model trained off
the compute-optimal allocation (their Figure 6, Tables 2-3). Given one, the other follows their
Approach 1, ``N_nv = 0.0833 C^0.5`` (:func:`scalinglab.laws.vocabulary.approach1_flops`), the
allocation of their Table 1; the answer's notes say so. The width d defaults to the paper's width
for N_nv (:func:`scalinglab.laws.vocabulary.paper_width`).

With the published constants this reproduces Table 1's Approach-3 column: Llama2-70B's
configuration (N_nv = 70B, d = 8192, C = 7.1e23) gives V = 218K (their Table 1: 218K; the
abstract: "at least 216K").

Example:
    >>> answer = optimal_vocabulary(params=70e9)              # the paper's constants
    >>> round(answer.vocab.value / 1e3)
    218
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError, positive
from ..fitting.result import FitResult
from ..laws.vocabulary import VOCABULARY, approach1_flops, approach1_params, paper_width
from .allocation import Quantity
from .replicates import (
    ParameterSets,
    check_level,
    failed_replicates_warning,
    minimize_1d,
    parameter_sets,
)

#: Vocabularies searched: from 256 entries (bytes) to 1e8, fewer when the budget runs short.
VOCAB_RANGE = (256.0, 1e8)
VOCABULARY_VARIABLES = ("params", "vocab_params", "tokens")


@dataclass
class OptimalVocabulary(Answer):
    """The vocabulary that minimises L_u for a model and a budget, with intervals."""

    title = "compute-optimal vocabulary"

    params: float  # non-vocabulary parameters N_nv
    flops: float
    d_model: float
    vocab: Quantity  # V at the minimum of L_u
    vocab_params: Quantity  # N_v = V*d
    tokens: Quantity  # D = C / (6 (N_nv + N_v))
    loss_u: Quantity  # the unigram-normalized loss there (the law's value negated)
    source: str
    interval: float
    current_vocab: float | None = None
    current_loss_u: Quantity | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        names = ["vocab", "vocab_params", "tokens", "loss_u"]
        doc: dict[str, Any] = {
            "params": self.params,
            "flops": self.flops,
            "d_model": self.d_model,
            **{k: getattr(self, k).value for k in names},
            "tokens_per_param": self.tokens.value / (self.params + self.vocab_params.value),
            "source": self.source,
            "interval": self.interval,
        }
        ci = {k: getattr(self, k).ci() for k in names}
        if self.current_vocab is not None and self.current_loss_u is not None:
            doc["current_vocab"] = self.current_vocab
            doc["current_loss_u"] = self.current_loss_u.value
            doc["vocab_ratio"] = self.vocab.value / self.current_vocab
            ci["current_loss_u"] = self.current_loss_u.ci()
        return {**doc, "ci": ci, "notes": list(self.notes), "warnings": list(self.warnings)}


def _parameter_sets(fit: FitResult | Mapping[str, float] | None) -> tuple[ParameterSets, str]:
    """The fit's estimate and replicates, or fixed values (the published ones by default)."""
    if isinstance(fit, FitResult):
        if set(fit.law.variables) != set(VOCABULARY_VARIABLES):
            raise InputError(
                "the compute-optimal vocabulary needs a fit of a law of params, vocab_params and "
                f"tokens (such as 'vocabulary'); law {fit.law.name!r} is a function of "
                f"{', '.join(fit.law.variables)}"
            )
        return parameter_sets(fit), f"{fit.law.name} fit of {fit.y}"
    values = dict(VOCABULARY.published if fit is None else fit)
    missing = [p for p in VOCABULARY.parameter_names if p not in values]
    if missing:
        raise InputError(f"no value for parameter(s) {', '.join(missing)} of law 'vocabulary'")
    sets = {k: np.array([[float(values[k])]]) for k in VOCABULARY.parameter_names}
    source = "Tao et al. 2024 (published)" if fit is None else "given parameters"
    return ParameterSets(VOCABULARY, sets), source


def optimal_vocabulary(
    fit: FitResult | Mapping[str, float] | None = None,
    *,
    flops: float | None = None,
    params: float | None = None,
    d_model: float | None = None,
    vocab: float | None = None,
    interval: float = 0.9,
) -> OptimalVocabulary:
    """The vocabulary V minimising L_u for ``params`` non-vocabulary parameters and ``flops``.

    ``fit``: a fit of the ``vocabulary`` law (intervals from its bootstrap), parameter values,
    or None for Tao et al.'s published constants. Give ``flops``, ``params`` or both; the missing
    one follows Tao et al.'s Approach 1 (N_nv = 0.0833 C^0.5). ``d_model`` (the embedding width)
    defaults to the paper's width for ``params``; ``vocab``, a vocabulary to compare (e.g. the
    32K of Llama2), adds its L_u under the same budget.

    Raises :class:`InputError` for non-positive sizes, a vocabulary larger than the model (more
    entries than non-vocabulary parameters), a budget that cannot train the model on one token,
    or an optimum at the edge of the vocabularies searched.
    """
    level = check_level(interval)
    if flops is None and params is None:
        raise InputError("give `flops` (a training budget), `params` (a model's non-vocabulary "
                         "parameters) or both")  # fmt: skip
    notes = []
    if params is None:
        flops = positive(flops, "flops")
        params = approach1_params(flops)
        notes.append(
            f"params {params:.3g}: the compute-optimal non-vocabulary parameters of the budget "
            "by Tao et al.'s Approach 1 (N_nv = 0.0833 C^0.5)"
        )
    params = positive(params, "params")
    if flops is None:
        flops = approach1_flops(params)
        notes.append(
            f"flops {flops:.3g}: the budget at which the model is compute-optimal by Tao et "
            "al.'s Approach 1 (N_nv = 0.0833 C^0.5, their Table 1)"
        )
    flops = positive(flops, "flops")
    if d_model is None:
        d_model = paper_width(params)
        notes.append(f"d_model {d_model:g}: Tao et al.'s embedding width for this model size")
    d_model = positive(d_model, "d_model")
    if vocab is not None:
        vocab = positive(vocab, "vocab")
        if vocab > params:
            raise InputError(
                f"{vocab:.3g} is a vocabulary larger than the model ({params:.3g} "
                "non-vocabulary `params`)",
                option="vocab",
            )
    if flops <= 6 * params:
        raise InputError(
            f"{flops:.3g} cannot train {params:.3g} non-vocabulary parameters on one token "
            f"(6 x `params` = {6 * params:.3g})",
            option="flops",
        )
    sets, source = _parameter_sets(fit)

    def loss_u(vocab_size: np.ndarray) -> np.ndarray:
        n_v = vocab_size * d_model
        tokens = flops / (6 * (params + n_v))
        return -sets.evaluate({"params": params, "vocab_params": n_v, "tokens": tokens})

    # Up to the vocabulary whose parameters would take half the budget's 6*N*(one token).
    top = min(VOCAB_RANGE[1], 0.5 * (flops / 6 - params) / d_model)
    lo, hi = math.log(VOCAB_RANGE[0]), math.log(max(top, 2 * VOCAB_RANGE[0]))
    with np.errstate(all="ignore"):
        x, best, interior = minimize_1d(lambda t: loss_u(np.exp(t)), lo, hi, sets.size)
    if not interior[0]:
        edge = "smallest" if x[0] <= lo + 1e-9 else "largest"
        raise InputError(
            f"L_u has no minimum between vocabularies of {math.exp(lo):.3g} and "
            f"{math.exp(hi):.3g} for this model and budget: the {edge} is best"
        )
    v = np.where(interior, np.exp(x), np.nan)
    n_v = v * d_model
    answer = OptimalVocabulary(
        params=params,
        flops=flops,
        d_model=d_model,
        vocab=Quantity.of(v, level),
        vocab_params=Quantity.of(n_v, level),
        tokens=Quantity.of(flops / (6 * (params + n_v)), level),
        loss_u=Quantity.of(np.where(interior, best, np.nan), level),
        source=source,
        interval=level,
        notes=notes,
    )
    if vocab is not None:
        answer.current_vocab = vocab
        answer.current_loss_u = Quantity.of(loss_u(np.array([vocab]))[:, 0], level)
    answer.warnings += failed_replicates_warning(interior, "L_u has no minimum in the vocabulary")
    if isinstance(fit, FitResult):
        import pandas as pd

        point = pd.DataFrame(
            {"params": [params], "vocab_params": [n_v[0]], "tokens": [answer.tokens.value]}
        )
        answer.warnings += fit.extrapolation_warnings(point)
    return answer
