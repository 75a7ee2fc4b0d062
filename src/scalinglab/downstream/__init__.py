"""Loss -> downstream metric chains (Gadre et al. 2024), with propagated uncertainty."""

from .link import ERROR_LINK, GADRE_17_TASKS, average_error, chain, error_table, fit_error_link

__all__ = [
    "ERROR_LINK",
    "GADRE_17_TASKS",
    "average_error",
    "chain",
    "error_table",
    "fit_error_link",
]
