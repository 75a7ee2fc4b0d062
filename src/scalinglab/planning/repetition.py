"""How many epochs before repeating data costs more than x% (Muennighoff et al. 2023).

With U unique tokens, a model of N parameters trained for e epochs sees D = e*U tokens. The
``data_constrained`` law (Muennighoff et al. 2023, eqs. 5-7; :mod:`scalinglab.laws.pretraining`)
gives its loss ``L(N, D, U)``; had the D tokens all been fresh it would be ``L(N, D, D)``. The
cost of repetition at e epochs is the relative excess

    ``cost(e) = L(N, e*U, U) / L(N, e*U, e*U) - 1``,

which grows with e (the repeated tokens' value decays with half-life R_D* ln 2 repetitions,
and the parameters beyond U/20 decay with R_N*). :func:`repetition_epochs` finds the first e
at which ``cost(e)`` reaches a threshold, for every bootstrap replicate of a fitted law or for
the published fit (:data:`~scalinglab.laws.data.MUENNIGHOFF_FIT`, the authors' repository:
R_D* = 15.39, R_N* = 5.31, E, A, B, alpha = beta = 0.353). It also gives, at those epochs,
the value of the data seen against fresh data (``D'/D``) and the value of the last repeated
token (``exp(-R_D/R_D*)``). Muennighoff et al.'s headline, that up to 4 epochs cost next to
nothing, is :func:`repetition_cost` at e = 4 (``tests/test_zoo_data.py``).

Example:
    >>> answer = repetition_epochs(None, params=1e9, unique_tokens=2e10, cost=0.01)
    >>> round(answer.epochs.value, 1)
    19.1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..answer import Answer
from ..errors import InputError, positive
from ..fitting.result import FitResult
from ..laws.data import MUENNIGHOFF_FIT
from ..laws.zoo import get_law
from .allocation import Quantity
from .replicates import ParameterSets, check_level, parameter_sets

VARIABLES = ("params", "tokens", "unique_tokens")
#: Epochs searched: from 1 (no repetition) to this many.
MAX_EPOCHS = 1e4
GRID_POINTS = 400
PUBLISHED_SOURCE = "Muennighoff et al. 2023 (published fit, github.com/huggingface/datablations)"


def repetition_sets(fit: FitResult | None) -> tuple[ParameterSets, str]:
    """The law's parameter sets (a fit's, or the published fit's) and where they come from."""
    if fit is None:
        law = get_law("data_constrained")
        values = {k: np.array([[float(MUENNIGHOFF_FIT[k])]]) for k in law.parameter_names}
        return ParameterSets(law, values), PUBLISHED_SOURCE
    if set(fit.law.variables) != set(VARIABLES) or "RD_star" not in fit.law.parameter_names:
        raise InputError(
            "the repetition question needs a fit of the data_constrained law (params, tokens, "
            f"unique_tokens); law {fit.law.name!r} is a function of {', '.join(fit.law.variables)}"
        )
    return parameter_sets(fit), f"{fit.law.name} fit"


def repetition_cost(sets: ParameterSets, params: float, unique_tokens: float, epochs: Any):
    """``L(N, e*U, U) / L(N, e*U, e*U) - 1`` for every parameter set and epoch count: (S, k)."""
    e = np.atleast_2d(np.asarray(epochs, dtype=float))
    tokens = e * unique_tokens
    repeated = sets.evaluate({"params": params, "tokens": tokens, "unique_tokens": unique_tokens})
    fresh = sets.evaluate({"params": params, "tokens": tokens, "unique_tokens": tokens})
    with np.errstate(all="ignore"):
        return repeated / fresh - 1.0


def value_of_data(rd_star: Any, epochs: Any) -> Any:
    """``D'/D``: what e epochs of U unique tokens are worth against e*U fresh ones."""
    r = np.asarray(epochs, dtype=float) - 1.0
    return (1.0 + rd_star * (1.0 - np.exp(-r / rd_star))) / (1.0 + r)


@dataclass
class RepetitionEpochs(Answer):
    """Epochs of U unique tokens before repeating them costs more than a share of the loss."""

    title = "epochs before repetition costs more than the threshold (Muennighoff et al. 2023)"

    params: float
    unique_tokens: float
    cost: float
    epochs: Quantity  # the first epoch count at which the cost reaches ``cost`` (inf: never)
    tokens: Quantity
    value_of_data: Quantity  # D'/D at those epochs
    last_token_value: Quantity  # exp(-R_D/R_D*): a repeated token against a fresh one
    cost_at_4_epochs: Quantity
    source: str
    interval: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        names = ("epochs", "tokens", "value_of_data", "last_token_value", "cost_at_4_epochs")
        return {
            "params": self.params,
            "unique_tokens": self.unique_tokens,
            "cost": self.cost,
            **{k: getattr(self, k).value for k in names},
            "source": self.source,
            "interval": self.interval,
            "ci": {k: getattr(self, k).ci() for k in names},
            "warnings": list(self.warnings),
        }


def repetition_epochs(
    fit: FitResult | None,
    params: float,
    unique_tokens: float,
    *,
    cost: float = 0.01,
    interval: float = 0.9,
) -> RepetitionEpochs:
    """The first epoch count at which repeating ``unique_tokens`` costs ``cost`` of the loss.

    ``fit``: a ``data_constrained`` fit (its bootstrap replicates give intervals), or None for
    Muennighoff et al.'s published fit. ``cost``: a fraction in (0, 1) (0.01: the loss 1% above
    that of fresh data). Epochs are searched from 1 to 10,000; where the cost never reaches the
    threshold (a small model, whose loss is limited by its size), the answer is ``inf``.
    """
    level = check_level(interval)
    n = positive(params, "params")
    u = positive(unique_tokens, "unique_tokens")
    cost = float(cost)
    if not (math.isfinite(cost) and 0.0 < cost < 1.0):
        raise InputError(f"must be a fraction in (0, 1), got {cost:g}", option="cost")
    sets, source = repetition_sets(fit)
    grid = np.geomspace(1.0, MAX_EPOCHS, GRID_POINTS)
    costs = repetition_cost(sets, n, u, grid[None, :])  # (S, G)
    epochs = np.array([_first_reaching(grid, row, cost, sets, n, u, s) for s, row in
                       enumerate(costs)])  # fmt: skip
    rd = sets.values["RD_star"][:, 0]
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(epochs), epochs, np.nan)
        value = value_of_data(rd, finite)
        last = np.exp(-(finite - 1.0) / rd)
    at_4 = repetition_cost(sets, n, u, np.array([[4.0]]))[:, 0]
    answer = RepetitionEpochs(
        params=n,
        unique_tokens=u,
        cost=cost,
        epochs=Quantity.of(epochs, level),
        tokens=Quantity.of(epochs * u, level),
        value_of_data=Quantity.of(value, level),
        last_token_value=Quantity.of(last, level),
        cost_at_4_epochs=Quantity.of(at_4, level),
        source=source,
        interval=level,
    )
    if not math.isfinite(epochs[0]):
        answer.warnings.append(
            f"repeating {u:.3g} unique tokens never costs {cost:.2%} of the loss of a model of "
            f"{n:.3g} parameters within {MAX_EPOCHS:g} epochs: its size limits it first"
        )
    if fit is not None and fit.data_range:
        seen = fit.data_range.get("tokens", (math.nan, math.nan))[1]
        if math.isfinite(epochs[0]) and epochs[0] * u > 10 * seen:
            answer.warnings.append(
                f"the answer's {epochs[0] * u:.3g} tokens lie past 10x the largest run fitted "
                f"({seen:.3g} tokens)"
            )
    return answer


def _first_reaching(
    grid: np.ndarray, row: np.ndarray, threshold: float, sets: ParameterSets, n: float,
    u: float, s: int,
) -> float:  # fmt: skip
    """The first epoch count where one parameter set's cost reaches ``threshold`` (bisected)."""
    above = np.flatnonzero(np.isfinite(row) & (row >= threshold))
    if above.size == 0:
        return math.inf
    i = int(above[0])
    if i == 0:
        return 1.0
    one = ParameterSets(sets.law, {k: v[s : s + 1] for k, v in sets.values.items()})
    lo, hi = math.log(grid[i - 1]), math.log(grid[i])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if repetition_cost(one, n, u, np.array([[math.exp(mid)]]))[0, 0] >= threshold:
            hi = mid
        else:
            lo = mid
    return math.exp(0.5 * (lo + hi))
