"""The law zoo: declarative scaling laws and user formulas."""

from .base import Law, Parameter
from .zoo import all_laws, get_law, law_names

__all__ = ["Law", "Parameter", "all_laws", "get_law", "law_names"]
