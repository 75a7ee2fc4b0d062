"""Beyond the loss: downstream metrics, emergence, pooled families and test-time compute.

* loss -> metric links per task, chosen by cross-extrapolation, chained after a loss law with
  both fits' bootstrap replicates crossed (:mod:`.predict`, :mod:`.link`, :mod:`.metrics`);
  Gadre et al.'s average-error link (:func:`fit_error_link`, :func:`chain`);
* emergence and monotonicity: breaks, inverse scaling, "predictable from N sizes?"
  (:mod:`.emergence`, :mod:`.trend`);
* many families at once with shared exponents (:mod:`.pooled`);
* test-time scaling: unbiased pass@k, PassUntil, verifier ceilings (:mod:`.passk`), coverage
  laws (:mod:`.coverage`), inference cost in FLOPs and bytes (:mod:`.cost`) and the best
  (model, samples) at a budget (:mod:`.budget`).
"""

from .budget import BudgetChoice, best_at_budget, budget_frontier
from .cost import DecoderShape, GenerationCost, generation_cost, hardware, token_cost
from .coverage import (
    CoverageFit,
    coverage_points,
    fit_coverage,
    fit_coverage_across_sizes,
    fit_coverage_per_run,
)
from .emergence import Emergence, emergence
from .link import (
    ERROR_LINK,
    GADRE_17_TASKS,
    LINKS,
    average_error,
    chain,
    error_table,
    fit_error_link,
)
from .metrics import BENCHMARKS, Metric, is_downstream, parse_metric
from .passk import (
    PassUntil,
    coverage_curve,
    pass_at_k,
    pass_until,
    verified_accuracy,
    verifier_ceiling,
)
from .pooled import PooledFit, pooled_fit
from .predict import TaskBacktest, TaskLink, backtest_tasks, fit_task_link, metric_pairs
from .trend import trend

__all__ = [
    "BENCHMARKS",
    "ERROR_LINK",
    "GADRE_17_TASKS",
    "LINKS",
    "BudgetChoice",
    "CoverageFit",
    "DecoderShape",
    "Emergence",
    "GenerationCost",
    "Metric",
    "PassUntil",
    "PooledFit",
    "TaskBacktest",
    "TaskLink",
    "average_error",
    "backtest_tasks",
    "best_at_budget",
    "budget_frontier",
    "chain",
    "coverage_curve",
    "coverage_points",
    "emergence",
    "error_table",
    "fit_coverage",
    "fit_coverage_across_sizes",
    "fit_coverage_per_run",
    "fit_error_link",
    "fit_task_link",
    "generation_cost",
    "hardware",
    "is_downstream",
    "metric_pairs",
    "parse_metric",
    "pass_at_k",
    "pass_until",
    "pooled_fit",
    "token_cost",
    "trend",
    "verified_accuracy",
    "verifier_ceiling",
]
