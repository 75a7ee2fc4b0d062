"""Figures of downstream results: a metric against loss, coverage against samples per model
size, and the cost-coverage frontier.

Rendering only: each function draws a result it is given (a task link, coverage fits, a
frontier table made by :mod:`scalinglab.downstream`) and fits nothing. matplotlib is imported
inside the functions (:func:`.style.pyplot`).

Example:
    >>> from scalinglab.downstream import fit_task_link                         # doctest: +SKIP
    >>> task = fit_task_link("runs.csv", "acc_mc_next_line", loss="val_loss")
    >>> plot_metric_vs_loss(task).savefig("acc_vs_loss.pdf")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .html import human
from .style import LAW_COLOUR, OKABE_ITO, pyplot, style

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _axes(ax: Axes | None, size: tuple[float, float] = (5.0, 3.6)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = pyplot().subplots(figsize=size, layout="constrained")
    return fig, ax


def _size_colours(sizes: Any) -> dict[float, Any]:
    """Sequential colours by log size (cividis, readable under colour-vision deficiencies)."""
    cmap = pyplot().get_cmap("cividis")
    values = sorted(set(float(s) for s in sizes))
    if len(values) == 1:
        return {values[0]: cmap(0.3)}
    logs = np.log(values)
    return {
        v: cmap(0.85 * (lv - logs[0]) / (logs[-1] - logs[0]))
        for v, lv in zip(values, logs, strict=True)
    }


def plot_metric_vs_loss(
    task: Any,
    *,
    held_out: pd.DataFrame | None = None,
    extend_to: float | None = None,
    interval: float = 0.9,
    ax: Axes | None = None,
) -> Figure:
    """A task's runs (metric against loss, coloured by size), its link with the prediction
    band, chance, and optionally held-out runs (``held_out``: columns ``loss`` and ``actual``).

    ``task``: a :class:`scalinglab.downstream.TaskLink`; ``extend_to``: the lowest loss to draw
    the link to (default: a tenth of the data's loss range below its best run).
    """
    pairs = task.pairs
    x = pairs["x"].to_numpy(dtype=float)
    with style():
        fig, ax = _axes(ax)
        colours = _size_colours(pairs["params"])
        for size, part in pairs.groupby("params"):
            ax.scatter(part["x"], part["value"], s=18, color=colours[float(size)], zorder=3)
        ax.scatter([], [], s=18, color=colours[max(colours)], label="runs (colour: size)")
        span = np.ptp(x) or 1.0
        low = extend_to if extend_to is not None else x.min() - 0.1 * span
        if task.fit is not None:
            grid = np.linspace(low, x.max() + 0.05 * span, 120)
            at = {"loss": grid} if task.via == "loss" else {"flops": grid}
            curve = task.predict(at, interval=interval)
            ax.plot(grid, curve["value"], color=LAW_COLOUR, lw=1.4, label=f"link: {task.link}")
            ax.fill_between(grid, curve["pred_lo"], curve["pred_hi"], color=OKABE_ITO[0],
                            alpha=0.18, lw=0, label=f"{interval:.0%} prediction band")  # fmt: skip
            ax.axvspan(low, x.min(), color="#eeeeee", zorder=0, lw=0)
        if task.chance is not None and task.metric.kind != "error":
            ax.axhline(task.chance, color="#777777", ls=":", lw=0.9, label="chance")
        if held_out is not None and len(held_out):
            ax.scatter(held_out["loss"], held_out["actual"], marker="*", s=90,
                       color=OKABE_ITO[3], zorder=4, label="held out")  # fmt: skip
        if task.via == "loss":
            ax.invert_xaxis()  # better models to the right
            ax.set_xlabel(f"{task.loss} (nats; lower is better)")
        else:
            ax.set_xscale("log")
            ax.set_xlabel("training compute C (FLOPs)")
        ax.set_ylabel(task.metric.name)
        ax.set_title(f"{task.metric.name}: {task.status}" + (f" ({task.link})" if task.fit else ""))
        ax.legend(loc="best")
    return fig


def plot_coverage(
    fits: Mapping[str, Any],
    points: pd.DataFrame,
    *,
    fit_max_k: float | None = None,
    sizes: Mapping[str, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Coverage against samples k (log scale), one colour per model size: the measured pass@k
    (filled where fitted, open where held out) and each model's law, dashed past ``fit_max_k``;
    the legend names each size once, smallest first.

    ``fits``: run id -> :class:`scalinglab.downstream.CoverageFit`; ``points``: columns
    ``run_id``, ``k``, ``coverage`` and ``params`` (:func:`scalinglab.downstream.coverage_points`).
    """
    with style():
        fig, ax = _axes(ax, (5.2, 3.8))
        size_of = sizes or points.groupby("run_id")["params"].first().to_dict()
        colours = _size_colours(size_of.values())
        top = float(points["k"].max())
        grid = np.geomspace(1, top, 100)
        labelled: set[float] = set()  # one legend entry per size, smallest first
        for run, fit in sorted(fits.items(), key=lambda item: float(size_of[item[0]])):
            size = float(size_of[run])
            colour = colours[size]
            part = points[points["run_id"] == run]
            used = part["k"] <= (fit_max_k or np.inf)
            ax.scatter(part["k"][used], part["coverage"][used], s=14, color=colour, zorder=3)
            ax.scatter(part["k"][~used], part["coverage"][~used], s=22, facecolors="none",
                       edgecolors=colour, zorder=3)  # fmt: skip
            curve = fit.predict(grid)
            inside = grid <= (fit_max_k or np.inf)
            ax.plot(grid[inside], curve["value"][inside], color=colour, lw=1.2,
                    label=None if size in labelled else f"{human(size)} params")  # fmt: skip
            labelled.add(size)
            ax.plot(grid[~inside], curve["value"][~inside], color=colour, lw=1.2, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("samples per problem k")
        ax.set_ylabel("coverage (pass@k)")
        title = "coverage = exp(a k^b) per model (Brown et al. 2024)"
        if fit_max_k:
            title += f"\nfitted on k <= {fit_max_k:g} (filled); open: held out"
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=6.5)
    return fig


def plot_cost_coverage_frontier(
    frontier: pd.DataFrame, *, unit: str = "seconds", ax: Axes | None = None
) -> Figure:
    """Coverage reachable per problem against the inference budget, one line per model, the
    best at each budget marked (:func:`scalinglab.downstream.budget_frontier`'s table)."""
    with style():
        fig, ax = _axes(ax, (5.2, 3.8))
        colours = _size_colours(frontier["params"])
        for model, part in frontier.groupby("model", sort=False):
            part = part.sort_values("budget")
            colour = colours[float(part["params"].iloc[0])]
            ax.plot(part["budget"], part["coverage"], color=colour, lw=1.3, label=str(model))
            ax.fill_between(part["budget"], part["lo"], part["hi"], color=colour, alpha=0.12,
                            lw=0)  # fmt: skip
        best = frontier[frontier["best"]]
        ax.scatter(best["budget"], best["coverage"], s=16, color=LAW_COLOUR, zorder=4,
                   label="best at that budget")  # fmt: skip
        ax.set_xscale("log")
        label = {"seconds": "accelerator-seconds", "flops": "FLOPs",
                 "equivalent_flops": "equivalent FLOPs (FLOPs + bytes x FLOP/byte)",
                 "bytes": "bytes moved"}.get(unit, unit)  # fmt: skip
        ax.set_xlabel(f"inference budget per problem ({label})")
        ax.set_ylabel("coverage")
        ax.set_title("which model and how many samples: cost-coverage frontier")
        ax.legend(loc="upper left", fontsize=6.5)
    return fig


__all__ = ["plot_cost_coverage_frontier", "plot_coverage", "plot_metric_vs_loss"]
