"""``scalinglab.report``: figures of runs and fits, and one self-contained HTML report.

matplotlib is imported only when a figure is drawn.

Example:
    >>> from scalinglab.report import build_report, plot_fit                    # doctest: +SKIP
    >>> build_report("runs.csv", "chinchilla").write("report.html")
"""

from .build import Report, build_report, write_report
from .figures import (
    OKABE_ITO,
    plot_bootstrap,
    plot_fit,
    plot_frontier,
    plot_isoflop,
    plot_parity,
    plot_residuals,
    save_figure,
)
from .html import fit_table_html
from .paths import frontier, isoflop_minima, optimal_allocation

__all__ = [
    "OKABE_ITO",
    "Report",
    "build_report",
    "fit_table_html",
    "frontier",
    "isoflop_minima",
    "optimal_allocation",
    "plot_bootstrap",
    "plot_fit",
    "plot_frontier",
    "plot_isoflop",
    "plot_parity",
    "plot_residuals",
    "save_figure",
    "write_report",
]
