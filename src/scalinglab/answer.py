"""The verbs every answer shares: ``summary()``, ``to_frame()``, ``to_json()``.

A fit, a backtest, a plan, a comparison, an IsoFLOP analysis: each is a result object that
explains itself in text (``summary()``), gives its numbers as a pandas DataFrame
(``to_frame()``) and as plain JSON (``to_json()``), like statsmodels' results classes. A class
writes ``to_json`` and, where a table is natural, ``to_frame``; the text comes from one
renderer here (:func:`render_text`), so every answer reads the same way.

Example:
    >>> class Budget(Answer):
    ...     title = "budget"
    ...     def to_json(self):
    ...         return {"flops": 1e21, "loss": 2.5, "ci": {"loss": [2.4, 2.6]}, "warnings": []}
    >>> print(Budget().summary())
    budget
      flops  1e+21
      loss   2.5  [2.4, 2.6]
    >>> Budget().to_frame().columns.tolist()
    ['flops', 'loss', 'loss_lo', 'loss_hi']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Keys of a JSON answer that hold its intervals, warnings and notes, not its quantities.
META_KEYS = ("ci", "warnings", "notes")


class Answer:
    """Mixin of the shared verbs; subclasses define :meth:`to_json` (and ``title``)."""

    title: str = ""

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
        """The answer's numbers as a one-row DataFrame (intervals as ``NAME_lo``/``NAME_hi``)."""
        import pandas as pd

        return pd.DataFrame([flat_numbers(self.to_json())])

    def summary(self) -> str:
        """The answer in readable text: quantities with their intervals, then warnings."""
        return render_text(self.title or type(self).__name__, self.to_json())

    def __str__(self) -> str:
        return self.summary()


def flat_numbers(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Scalars of a JSON answer, each followed by its interval from ``doc["ci"]``."""
    ci = doc.get("ci") or {}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in META_KEYS or isinstance(value, Mapping | list | tuple):
            continue
        out[key] = value
        span = ci.get(key) if isinstance(ci, Mapping) else None
        if span and len(span) == 2:
            out[f"{key}_lo"], out[f"{key}_hi"] = span
    return out


def format_value(value: Any) -> str:
    """Numbers to 4 significant digits, None and NaN as ``-``, the rest as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | int):
        return f"{value:.4g}"
    return str(value)


def interval_text(span: Any) -> str:
    """``[lo, hi]``, or empty when the interval is missing or undefined."""
    if (
        not span
        or len(span) != 2
        or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in span)
    ):
        return ""
    return f"[{format_value(span[0])}, {format_value(span[1])}]"


def render_text(title: str, doc: Mapping[str, Any], indent: str = "  ") -> str:
    """Key/value lines of a JSON answer; nested answers become indented blocks."""
    lines = [title]
    ci = doc.get("ci") or {}
    scalars = [
        (k, v) for k, v in doc.items() if k not in META_KEYS and not isinstance(v, Mapping | list)
    ]
    width = max((len(k) for k, _ in scalars), default=0)
    for key, value in scalars:
        span = interval_text(ci.get(key)) if isinstance(ci, Mapping) else ""
        lines.append(
            f"{indent}{key:<{width}}  {format_value(value)}" + (f"  {span}" if span else "")
        )
    for key, value in doc.items():
        if key not in META_KEYS and isinstance(value, Mapping):
            block = render_text(key, value, indent)
            lines += [indent + line for line in block.splitlines()]
    lines += [f"{indent}note: {n}" for n in doc.get("notes") or []]
    lines += [f"{indent}WARNING: {w}" for w in doc.get("warnings") or []]
    return "\n".join(lines)
