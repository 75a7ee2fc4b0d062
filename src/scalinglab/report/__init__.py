"""``scalinglab.report``: figures of runs and fits, and one self-contained HTML report.

It renders results it is given (an :class:`~scalinglab.analysis.Analysis`, fits, backtests)
and fits nothing itself. matplotlib is imported only when a figure is drawn. Importing this
package registers the fit card (Jupyter's view) and :func:`plot_fit` as the views of a
:class:`~scalinglab.fitting.result.FitResult` (``fit._repr_html_()``, ``fit.plot()``).

Example:
    >>> import scalinglab as sl                                                  # doctest: +SKIP
    >>> from scalinglab.report import render_report, plot_fit
    >>> analysis = sl.analyse("runs.csv", "chinchilla")
    >>> render_report(analysis).write("report.html")
"""

from ..fitting.result import FitResult
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
from .html import fit_repr_html, fit_table_html
from .paths import frontier, isoflop_minima, optimal_allocation
from .render import Report, render_report

FitResult.views.update(html=fit_repr_html, plot=plot_fit)

__all__ = [
    "OKABE_ITO",
    "Report",
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
    "render_report",
    "save_figure",
]
