"""Run tables: reading, validating and storing the observations scaling laws are fitted to.

Example:
    >>> from scalinglab.runs import read_runs
    >>> t = read_runs("../shared/data/chinchilla_epoch.csv")   # doctest: +SKIP
    >>> t.filter(where="value < 4.9").observations("loss")     # doctest: +SKIP
"""

from .readers import read_runs
from .schema import CANONICAL
from .sizes import format_size, parse_size
from .table import RunTable
from .tensorboard import write_scalars

__all__ = ["CANONICAL", "RunTable", "format_size", "parse_size", "read_runs", "write_scalars"]
