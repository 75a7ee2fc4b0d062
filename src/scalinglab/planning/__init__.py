"""Questions answered from a fitted law, each with intervals from the fit's bootstrap.

Example:
    >>> import scalinglab as sl                                                    # doctest: +SKIP
    >>> from scalinglab.planning import compute_optimal                            # doctest: +SKIP
    >>> fit = sl.fit("../shared/data/chinchilla_epoch.csv", where="value < 3.7")  # doctest: +SKIP
    >>> compute_optimal(fit, flops=5.76e23).to_json()                             # doctest: +SKIP
"""

from .allocation import Allocation, compute_optimal, loss_at
from .cost import ACCELERATORS, Hardware, hardware, training_cost
from .flops_model import DEFAULT_FLOPS_MODEL, FlopsModel
from .inference import inference_optimal
from .questions import Plan, plan
from .targets import models_for_target, tokens_to_target

__all__ = [
    "ACCELERATORS",
    "DEFAULT_FLOPS_MODEL",
    "Allocation",
    "FlopsModel",
    "Hardware",
    "Plan",
    "compute_optimal",
    "hardware",
    "inference_optimal",
    "loss_at",
    "models_for_target",
    "plan",
    "tokens_to_target",
    "training_cost",
]
