"""``scalinglab.plan``: every planning question a fit answers, in one call.

The question is read from the arguments given, as ``scalinglab plan`` reads its flags:

* ``flops`` alone: the compute-optimal N and D for the budget (with ``target_loss`` also the
  models that reach it within the budget; with ``inference_tokens`` the inference-aware,
  over-trained choice);
* ``params`` and ``tokens``: the loss there;
* ``params`` and ``target_loss``: the tokens to reach the target;
* ``target_loss`` alone (optionally with ``inference_tokens``): the cheapest model to reach it.

With ``gpu`` (or ``peak_flops``) the cost in accelerator-hours (and money with ``price``);
with ``lr`` (or ``sweep_fit``) a learning rate and batch size for the chosen model.

Example:
    >>> import scalinglab as sl                                                   # doctest: +SKIP
    >>> fit = sl.fit("../shared/data/chinchilla_epoch.csv", where="value < 3.42")
    >>> answer = sl.plan(fit, flops=5.76e23, gpu="h100")
    >>> answer.to_json()["params"], answer.to_json()["cost"]["gpu_hours"]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..answer import Answer
from ..errors import InputError
from ..fitting.result import FitResult
from ..runs.sizes import parse_size
from . import allocation, cost, inference, targets
from .flops_model import DEFAULT_FLOPS_MODEL, FlopsModel

#: A size given as a number or as text with a unit (``70B``, ``1.4T``, ``5.76e23``).
Size = float | int | str


@dataclass
class Plan(Answer):
    """The answer to one planning question: the JSON of ``scalinglab plan``, as an object."""

    question: str  # compute_optimal, loss_at, tokens_to_target, cheapest_for_target
    doc: dict[str, Any]
    interval: float

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"plan from {self.doc.get('law')} fit ({self.interval:.0%} intervals): {self.question}"
        )

    @property
    def warnings(self) -> list[str]:
        return list(self.doc.get("warnings", []))

    def to_json(self) -> dict[str, Any]:
        return dict(self.doc)


def size(value: Size | None, option: str, *, zero: bool = False) -> float | None:
    """A positive finite size from a number or text (``"70B"``); ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        number = float(value) if isinstance(value, int | float) else parse_size(str(value))
    except (ValueError, OverflowError):
        raise InputError(
            f"{value!r}: expected a number such as 5.76e23 or 70B", option=option
        ) from None
    if not (math.isfinite(number) and (number > 0 or (zero and number == 0))):
        raise InputError(f"{value!r}: expected a positive number", option=option)
    return number


def plan(
    fit: FitResult | str | Path,
    *,
    flops: Size | None = None,
    target_loss: float | None = None,
    params: Size | None = None,
    tokens: Size | None = None,
    inference_tokens: Size | None = None,
    flops_model: str | FlopsModel = DEFAULT_FLOPS_MODEL,
    gpu: str | None = None,
    peak_flops: float | None = None,
    mfu: float = 0.4,
    price: float | None = None,
    interval: float = 0.9,
    lr: bool = False,
    sweep_fit: str | Path | None = None,
    seq_len: int | None = None,
) -> Plan:
    """Answer the planning question the arguments ask (see the module's docstring).

    ``fit`` is a :class:`FitResult` or the path of one saved as JSON. Sizes take numbers or
    text with units (``"70B"``). Raises :class:`InputError` when no question, or two at once,
    is asked.
    """
    fit = fit if isinstance(fit, FitResult) else FitResult.from_json(fit)
    budget = size(flops, "flops")
    n = size(params, "params")
    d = size(tokens, "tokens")
    t_inf = size(inference_tokens, "inference_tokens", zero=True)
    model = allocation.as_flops_model(flops_model)
    hw = None
    if gpu is not None or peak_flops is not None:
        hw = cost.hardware(gpu, peak_flops=peak_flops, mfu=mfu, price=price)
    elif price is not None:
        raise InputError("`price` needs `gpu` or `peak_flops`")

    doc: dict[str, Any]
    if budget is not None:
        if n is not None or d is not None:
            raise InputError(
                "`flops` chooses N and D itself: drop `params`/`tokens`, or drop `flops`"
            )
        question = "compute_optimal"
        result = allocation.compute_optimal(fit, budget, flops_model=model, interval=interval)
        doc = result.to_json()
        if hw is not None:
            doc["cost"] = cost.training_cost(budget, hw)
        if target_loss is not None:
            doc["models_for_target"] = targets.models_for_target(
                fit, budget, target_loss, flops_model=model, interval=interval
            ).to_json()
        if t_inf is not None:
            doc["inference_aware"] = inference.inference_optimal(
                fit, inference_tokens=t_inf, target_loss=target_loss, flops=budget,
                flops_model=model, interval=interval,
            ).to_json()  # fmt: skip
    elif n is not None and d is not None:
        if target_loss is not None:
            raise InputError("`params` with `tokens` asks for the loss there: drop `target_loss`")
        question = "loss_at"
        doc = allocation.loss_at(fit, n, d, interval=interval)
        doc["flops"] = float(model(n, d))
        if hw is not None:
            doc["cost"] = cost.training_cost(doc["flops"], hw)
    elif n is not None and target_loss is not None:
        question = "tokens_to_target"
        reached = targets.tokens_to_target(
            fit, target_loss, n, flops_model=model, interval=interval
        )
        doc = reached.to_json()
        if hw is not None:
            doc["cost"] = cost.training_cost(
                reached.flops.value, hw, replicates=reached.flops.replicates, interval=interval
            )
    elif target_loss is not None:
        question = "cheapest_for_target"
        cheapest = inference.inference_optimal(
            fit, inference_tokens=t_inf or 0.0, target_loss=target_loss, flops_model=model,
            interval=interval,
        )  # fmt: skip
        doc = cheapest.to_json()
        doc["loss"] = doc["target_loss"]
        if hw is not None:
            doc["cost"] = cost.training_cost(
                cheapest.train_flops.value, hw, replicates=cheapest.train_flops.replicates,
                interval=interval,
            )  # fmt: skip
    else:
        raise InputError(
            "plan needs a question: `flops`, `target_loss`, or `params` with `tokens` or `target_loss`"
        )
    doc.setdefault("law", fit.law.name)
    if lr or sweep_fit is not None:
        from .hyperparams import recommend_hyperparameters

        if not all(isinstance(doc.get(k), float) for k in ("params", "tokens")):
            raise InputError(
                "`lr` needs a plan with a model size and a token count (`flops`, or `params` with `tokens`)"
            )
        doc["hyperparameters"] = recommend_hyperparameters(
            doc["params"], doc["tokens"], sweep=sweep_fit, seq_len=seq_len
        )
    return Plan(question, doc, interval)
