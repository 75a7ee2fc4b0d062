"""Two or more families: the winner at a budget with its probability, and crossover scales."""

from .families import (
    Comparison,
    Crossover,
    FamilyFits,
    compare,
    compare_families,
    comparison_table,
    fit_families,
    loss_curve,
)
from .joint import joint_law

__all__ = [
    "Comparison",
    "Crossover",
    "FamilyFits",
    "compare",
    "compare_families",
    "comparison_table",
    "fit_families",
    "joint_law",
    "loss_curve",
]
