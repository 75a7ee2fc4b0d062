"""scalinglab: predict the big training run before you pay for it.

Example:
    >>> import scalinglab as sl                                                  # doctest: +SKIP
    >>> runs = sl.read_runs("../shared/data/chinchilla_epoch.csv")
    >>> fit = sl.fit(runs, law="chinchilla", where="value < 3.7")
    >>> fit.predict({"params": 7e10, "tokens": 1.4e12})
"""

from .errors import InputError
from .fit.api import fit
from .fit.result import FitResult
from .laws import Law, get_law, law_names
from .runs import RunTable, read_runs

__version__ = "0.1.0"

#: Subpackages loaded on first use, so ``import scalinglab`` (and the CLI) stays quick.
_LAZY = {"compare", "downstream", "ladder", "plan", "report", "synthetic"}


def __getattr__(name: str):  # PEP 562
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'scalinglab' has no attribute {name!r}")


__all__ = [
    "FitResult",
    "InputError",
    "Law",
    "RunTable",
    "__version__",
    "fit",
    "get_law",
    "law_names",
    "read_runs",
]
