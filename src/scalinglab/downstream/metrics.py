"""Downstream metrics by name: what each measures, its range, its chance level.

A run-table metric is a downstream metric when its name says so:

==================  =========================================  =========  ==================
name                measures                                   range      shortfall (fitted)
==================  =========================================  =========  ==================
``acc_<task>``      accuracy (also ``acc_norm_<task>``)        [0, 1]     ``1 - acc``
``err_<task>``      error rate                                 [0, 1]     ``err``
``exact_<task>``    exact-match rate                           [0, 1]     ``1 - exact``
``pass@<k>_<task>`` pass@k (Chen et al. 2021)                  [0, 1]     ``1 - pass@k``
``prob_<task>``     probability of the correct choice among    [0, 1]     ``1 - prob``
                    the choices (Schaeffer et al. 2024)
``logprob_<task>``  log-probability of the correct answer      <= 0       ``-logprob`` (nats)
==================  =========================================  =========  ==================

Links are fitted to the *shortfall*, the distance to a perfect score, which falls toward 0 as
models improve and is positive, as the estimator's log residuals need.

Chance levels of 46 tasks (Gadre et al.'s downstream suite, LLM Foundry's eval gauntlet) and
their number of items come from mlfoundations/scaling's ``exp_data/eval_metadata.csv``;
the ladder's own tasks are added (:mod:`scalinglab.ladder.tasks`).

Example:
    >>> m = parse_metric("pass@8_next_line")
    >>> m.kind, m.task, m.k, m.shortfall_name
    ('pass@k', 'next_line', 8, '1-pass@8_next_line')
    >>> parse_metric("acc_hellaswag").chance()
    0.25
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

#: (chance level, number of items) of known tasks. Multiple choice: 1 / choices; generative
#: tasks (exact match, language modelling): 0. The ladder's: ``mc_next_line`` has 4 choices.
BENCHMARKS: dict[str, tuple[float, int | None]] = {
    "mmlu_zeroshot": (0.25, 14042), "hellaswag_zeroshot": (0.25, 10042), "jeopardy": (0.0, 2117),
    "bigbench_qa_wikidata": (0.0, 20321), "arc_easy": (0.25, 2376), "arc_challenge": (0.25, 2376),
    "mmlu": (0.25, 14042), "bigbench_misconceptions": (0.5, 219), "copa": (0.5, 100),
    "siqa": (0.5, 1954), "commonsense_qa": (0.25, 1221), "piqa": (0.5, 1838),
    "openbook_qa": (0.25, 500), "bigbench_novel_concepts": (0.25, 32),
    "bigbench_strange_stories": (0.5, 174), "bigbench_strategy_qa": (0.5, 2289),
    "lambada_openai": (0.0, 5153), "hellaswag": (0.25, 10042), "winograd": (0.5, 273),
    "winogrande": (0.5, 1267), "bigbench_conlang_translation": (0.0, 164),
    "bigbench_language_identification": (0.25, 10000),
    "bigbench_conceptual_combinations": (0.25, 103), "bigbench_elementary_math_qa": (0.25, 38160),
    "bigbench_dyck_languages": (0.0, 1000), "agi_eval_lsat_ar": (0.25, 230),
    "bigbench_cs_algorithms": (0.0, 1320), "bigbench_logical_deduction": (0.25, 1500),
    "bigbench_operators": (0.0, 210), "bigbench_repeat_copy_logic": (0.0, 32),
    "simple_arithmetic_nospaces": (0.0, 1000), "simple_arithmetic_withspaces": (0.0, 1000),
    "math_qa": (0.25, 2983), "logi_qa": (0.25, 651), "pubmed_qa_labeled": (0.0, 1000),
    "squad": (0.0, 10570), "agi_eval_lsat_rc": (0.25, 268), "agi_eval_lsat_lr": (0.25, 510),
    "coqa": (0.0, 7983), "bigbench_understanding_fables": (0.25, 189), "boolq": (0.5, 3270),
    "agi_eval_sat_en": (0.25, 206), "winogender_mc_female": (0.5, 60),
    "winogender_mc_male": (0.5, 60), "enterprise_pii_classification": (0.5, 3395),
    "bbq": (0.5, 58492),
    # the ladder's own (scalinglab.ladder.tasks)
    "mc_next_line": (0.25, None), "next_line": (0.0, None),
}  # fmt: skip


@dataclass(frozen=True)
class Metric:
    """A downstream metric: its name, kind, task and (for pass@k) k."""

    name: str
    kind: str  # accuracy, error, exact, pass@k, probability, logprob
    task: str
    k: int | None = None

    @property
    def bounded(self) -> bool:
        """Whether values lie in [0, 1] (all but log-probabilities)."""
        return self.kind != "logprob"

    @property
    def shortfall_name(self) -> str:
        """The name of the fitted quantity: ``1-acc_x``, ``err_x``, ``-logprob_x``."""
        if self.kind == "error":
            return self.name
        return f"-{self.name}" if self.kind == "logprob" else f"1-{self.name}"

    @property
    def unit(self) -> str:
        return "nats" if self.kind == "logprob" else "fraction"

    def shortfall(self, values: Any) -> np.ndarray:
        """Distance to a perfect score (positive; 0 is perfect)."""
        v = np.asarray(values, dtype=float)
        if self.kind == "error":
            return v
        return -v if self.kind == "logprob" else 1.0 - v

    def from_shortfall(self, y: Any) -> np.ndarray:
        """The metric's value for a shortfall (the inverse of :meth:`shortfall`)."""
        return self.shortfall(y)  # every map above is its own inverse

    def chance(self, given: float | None = None) -> float | None:
        """The metric's value at chance: ``given``, else the known task's, else None.

        For an error the chance level is ``1 - chance accuracy``; log-probabilities have none.
        """
        if self.kind == "logprob":
            return None
        level = given
        if level is None:
            known = BENCHMARKS.get(self.task)
            if known is None:
                return 0.0 if self.kind in ("exact", "pass@k") else None
            level = known[0] if self.kind != "error" else 1.0 - known[0]
        return float(level)

    def items(self) -> int | None:
        """Items of the task where known (its binomial noise), else None."""
        known = BENCHMARKS.get(self.task)
        return None if known is None else known[1]

    def check(self, values: Any, *, where: str = "") -> None:
        """Refuse values outside the metric's range, naming the first."""
        v = np.asarray(values, dtype=float).reshape(-1)
        bad = ~np.isfinite(v) | ((v < 0) | (v > 1) if self.bounded else v > 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            span = "in [0, 1]" if self.bounded else "<= 0 (a log-probability)"
            at = f" ({where[i] if isinstance(where, list | tuple) else where})" if where else ""
            raise InputError(
                f"{self.name!r} is {_article(self.kind)} and must lie {span}; got {v[i]:g}{at}",
                option="metric",
            )


def _article(kind: str) -> str:
    return {"accuracy": "an accuracy", "error": "an error rate", "exact": "an exact-match rate",
            "pass@k": "a pass rate", "probability": "a probability",
            "logprob": "a log-probability"}[kind]  # fmt: skip


_PASS = re.compile(r"^pass@(\d+)_(.+)$")
_PREFIXES = (
    ("acc_norm_", "accuracy"), ("acc_", "accuracy"), ("err_", "error"), ("exact_", "exact"),
    ("logprob_", "logprob"), ("prob_", "probability"),
)  # fmt: skip


def parse_metric(name: str) -> Metric:
    """The :class:`Metric` a name stands for.

    Raises:
        InputError: the name is not a downstream metric's (see the module docstring).
    """
    text = str(name).strip()
    m = _PASS.match(text)
    if m:
        return Metric(text, "pass@k", m.group(2), int(m.group(1)))
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            return Metric(text, kind, text[len(prefix) :])
    raise InputError(
        f"{text!r} is not a downstream metric: name it acc_<task>, err_<task>, exact_<task>, "
        "pass@<k>_<task>, prob_<task> or logprob_<task>",
        option="metric",
    )


def is_downstream(name: str) -> bool:
    try:
        parse_metric(name)
    except InputError:
        return False
    return True


def check_chance(chance: float | None, ceiling: float | None = None) -> None:
    """A chance level in [0, 1) below the ceiling (the best score the task allows)."""
    for name, value in (("chance", chance), ("ceiling", ceiling)):
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise InputError(f"must lie in [0, 1], got {value:g}", option=name)
    if chance is not None and ceiling is not None and chance >= ceiling:
        raise InputError(
            f"{chance:g} is not below the ceiling {ceiling:g}: a task whose best score is at or "
            "below chance cannot be fitted",
            option="chance",
        )


def chance_margin(metric: Metric, stderr: Any = None) -> float:
    """How far from chance a score must be to count as above it: two standard errors, the
    given ones or binomial at chance from the task's items (at least one item's worth), or 0.02
    when neither is known.

    Example:
        >>> round(chance_margin(parse_metric("acc_copa")), 3)   # 100 items at 50%
        0.1
    """
    margins = []
    if stderr is not None:
        s = np.asarray(stderr, dtype=float)
        if np.isfinite(s).any():
            margins.append(2.0 * float(np.nanmax(s)))
    n, p = metric.items(), metric.chance()
    if n and p is not None:
        margins.append(2.0 * math.sqrt(max(p * (1 - p), 1.0 / n) / n))
    return max(margins) if margins else 0.02


__all__ = [
    "BENCHMARKS",
    "Metric",
    "chance_margin",
    "check_chance",
    "is_downstream",
    "parse_metric",
]
