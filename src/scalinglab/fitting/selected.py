"""What a cross-extrapolated choice of law found: the candidates, their scores, the members.

Data only (the procedure is :mod:`.selection`): a :class:`Selection` rides on the
:class:`~scalinglab.fitting.result.FitResult` it produced and round-trips through its JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..laws.base import Law


@dataclass
class CandidateScore:
    """One candidate's record: its nested extrapolation scores, its weight, or why not."""

    label: str
    weight: float = 0.0
    #: Worst nested cut's RMS of ln(predicted / actual) per decade past the data.
    score: float | None = None
    #: Mean |predicted / actual - 1| over every nested held-out run.
    nested_error: float | None = None
    n_points: int = 0
    #: The candidate's prediction at :attr:`Selection.probe` (fitted on all the runs).
    prediction: float | None = None
    excluded: str | None = None


@dataclass
class Member:
    """A law in the combination: its fitted parameters and weight."""

    label: str
    law: Law
    params: dict[str, float]
    weight: float

    def log_prediction(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.log(self.law.evaluate(data, self.params))


@dataclass
class Selection:
    """The candidates compared by nested extrapolation, and the laws the fit combines.

    Example:
        >>> sel = Selection([CandidateScore("chinchilla", 1.0, 0.05, 0.01, 9)], [], ["largest:1"], {})
        >>> sel.winner
        'chinchilla'
    """

    candidates: list[CandidateScore]
    members: list[Member]
    holdouts: list[str]
    #: Where the candidates' predictions are compared: 10x the largest run in every variable.
    probe: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The combination's own nested extrapolations: per holdout, the log errors of the
    #: held-out runs and their distances past the data (decades).
    nested: dict[str, list[list[float]]] = field(default_factory=dict)

    @property
    def ranked(self) -> list[CandidateScore]:
        """Candidates that were scored, best first."""
        scored = [c for c in self.candidates if c.excluded is None and c.score is not None]
        return sorted(scored, key=lambda c: (-c.weight, c.score))

    @property
    def winner(self) -> str | None:
        return self.ranked[0].label if self.ranked else None

    @property
    def runner_up(self) -> CandidateScore | None:
        return self.ranked[1] if len(self.ranked) > 1 else None

    def disagreement(self, data: Mapping[str, np.ndarray]) -> np.ndarray | float:
        """Weighted variance of the members' log predictions: how much the laws combined
        disagree at ``data`` (0 for one law)."""
        if len(self.members) < 2:
            return 0.0
        logs = np.stack([np.broadcast_to(m.log_prediction(data), np.shape(data[next(iter(data))]))
                         for m in self.members])  # fmt: skip
        w = np.array([m.weight for m in self.members])[:, None]
        mean = np.sum(w * logs, axis=0)
        return np.sum(w * (logs - mean) ** 2, axis=0)

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate: weight, nested scores, prediction at the probe, exclusion."""
        return pd.DataFrame([asdict(c) for c in self.candidates])

    def summary_lines(self) -> list[str]:
        """The selection for a fit's summary: the table, the winner, the runner-up."""
        if not self.candidates:
            return []
        at = ", ".join(f"{k}={v:.3g}" for k, v in self.probe.items())
        width = max(24, len(at) + 3)  # the probe's column is as wide as its header
        lines = [
            f"selection  cross-extrapolation over {len(self.holdouts)} nested holdouts "
            f"({', '.join(self.holdouts) or 'none'}); score: worst holdout's log-error RMS "
            "per decade past the data",
            f"{'candidate':<34}{'weight':>8}{'score':>9}{'nested err':>12}  {'at ' + at:>{width}}",
        ]
        for c in sorted(self.candidates, key=lambda c: (c.excluded is not None, -c.weight)):
            if c.excluded is not None:
                lines.append(f"{c.label:<34}{'':>8}  excluded: {c.excluded}")
                continue
            lines.append(
                f"{c.label:<34}{c.weight:>8.2f}{_fmt(c.score, '.3f'):>9}"
                f"{_fmt(c.nested_error, '.2%'):>12}  {_fmt(c.prediction, '.4g'):>{width}}"
            )
        best, second = self.ranked[:1], self.runner_up
        if best and second is not None and second.score and best[0].score:
            lines.append(
                f"chosen     {best[0].label} (weight {best[0].weight:.2f}); runner-up "
                f"{second.label} scores {second.score / best[0].score:.2f}x its error and "
                f"predicts {_fmt(second.prediction, '.4g')} at the probe"
            )
        lines += [f"note       {n}" for n in self.notes]
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "winner": self.winner,
            "runner_up": None if self.runner_up is None else self.runner_up.label,
            "holdouts": list(self.holdouts),
            "probe": dict(self.probe),
            "candidates": [_clean(asdict(c)) for c in self.candidates],
            "members": [
                {
                    "label": m.label,
                    "law_spec": m.law.to_dict(),
                    "params": m.params,
                    "weight": m.weight,
                }
                for m in self.members
            ],
            "notes": list(self.notes),
            "nested": {k: [[_finite(x) for x in row] for row in v] for k, v in self.nested.items()},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Selection:
        return cls(
            candidates=[CandidateScore(**c) for c in doc.get("candidates", [])],
            members=[
                Member(
                    m["label"],
                    Law.from_dict(m["law_spec"]),
                    {k: float(v) for k, v in m["params"].items()},
                    float(m["weight"]),
                )
                for m in doc.get("members", [])
            ],  # fmt: skip
            holdouts=list(doc.get("holdouts", [])),
            probe={k: float(v) for k, v in (doc.get("probe") or {}).items()},
            notes=list(doc.get("notes", [])),
            nested={
                k: [[math.nan if x is None else float(x) for x in row] for row in v]
                for k, v in (doc.get("nested") or {}).items()
            },  # fmt: skip
        )


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, spec)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in doc.items()
    }
