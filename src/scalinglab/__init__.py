"""scalinglab: predict the big training run before you pay for it.

The package root holds the verbs of the Python API; the subpackages are named for what they
hold (``runs``, ``laws``, ``fitting``, ``planning``, ``compare``, ``downstream``, ``report``,
``ladder``), so no attribute of the root shadows a subpackage. Everything is imported on first
use: ``import scalinglab`` (and the CLI's ``--help``) loads neither pandas nor scipy.

Example:
    >>> import scalinglab as sl                                                  # doctest: +SKIP
    >>> runs = sl.read_runs("../shared/data/chinchilla_epoch.csv")
    >>> fit = sl.fit(runs, law="chinchilla", where="value < 3.7")
    >>> fit.predict({"params": 7e10, "tokens": 1.4e12})
    >>> sl.plan(fit, flops=5.76e23).summary()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import InputError

#: Public names and the module each is read from, on first use (PEP 562).
_EXPORTS = {
    "FitOptions": "fitting.options",
    "analyse": "analysis",
    "FitResult": "fitting.result",
    "Law": "laws.base",
    "RunTable": "runs.table",
    "backtest": "fitting.backtest",
    "fit": "fitting.api",
    "get_law": "laws.zoo",
    "law_names": "laws.zoo",
    "plan": "planning.questions",
    "read_runs": "runs.readers",
}
_SUBPACKAGES = {
    "analysis", "compare", "downstream", "fitting", "ladder", "laws", "planning", "report", "runs",
    "synthetic",
}  # fmt: skip
#: Names whose results have views (a FitResult's ``plot()`` and Jupyter display) that the
#: report layer registers: the package root, above every layer, loads it with them.
_WITH_VIEWS = {"FitResult", "analyse", "backtest", "fit", "plan"}

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import analyse
    from .fitting.api import fit
    from .fitting.backtest import backtest
    from .fitting.options import FitOptions
    from .fitting.result import FitResult
    from .laws.base import Law
    from .laws.zoo import get_law, law_names
    from .planning.questions import plan
    from .runs.readers import read_runs
    from .runs.table import RunTable


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        if name in _WITH_VIEWS:
            from . import report  # noqa: F401  (registers a FitResult's views)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'scalinglab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_SUBPACKAGES])


__all__ = [
    "FitOptions",
    "FitResult",
    "InputError",
    "Law",
    "RunTable",
    "__version__",
    "analyse",
    "backtest",
    "fit",
    "get_law",
    "law_names",
    "plan",
    "read_runs",
]
