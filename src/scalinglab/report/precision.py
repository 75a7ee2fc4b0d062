"""The precision figure: quantization-induced degradation against training tokens, one panel
per bit width, one colour per model size, with the fitted ``qid`` law and its interval.

Ouyang et al. 2024 draw QiD rising with tokens and falling with size; this draws
the same on one's own ladder (the rows of :func:`scalinglab.quant.qid_runs`). matplotlib is
imported when a figure is made.

Example:
    >>> runs = qid_runs("ladder/runs.csv", method="awq", group_size=32)   # doctest: +SKIP
    >>> fit = sl.fit(runs, "qid", y="qid")                                # doctest: +SKIP
    >>> plot_qid(runs, fit).savefig("qid.pdf")                            # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..fitting.result import FitResult
from ..runs import RunTable
from .html import human
from .style import VARIABLE_LABELS, pyplot, style

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def plot_qid(
    runs: RunTable | pd.DataFrame,
    fit: FitResult | None = None,
    *,
    interval: float = 0.9,
    extrapolate: float = 2.0,
) -> Figure:
    """QiD vs tokens: a panel per bit width, a colour per model size (cividis, by log size).

    ``runs`` holds ``params``, ``tokens``, ``bits`` and the QiD in ``value`` (a run table of
    metric ``qid``, as :func:`scalinglab.quant.qid_runs` makes). With ``fit`` (of the ``qid``
    law), each size's law is drawn over the data's tokens and ``extrapolate`` times past them,
    with its bootstrap interval at ``interval``.
    """
    df = runs.df if isinstance(runs, RunTable) else runs
    missing = [c for c in ("params", "tokens", "bits", "value") if c not in df.columns]
    if missing:
        raise InputError(f"the QiD figure needs column(s) {', '.join(missing)} (see qid_runs)")
    df = df[df["value"] > 0]
    if df.empty:
        raise InputError("no positive QiD to draw (QiD <= 0 is no measurable degradation)")
    bits = np.sort(df["bits"].unique())
    sizes = np.sort(df["params"].unique())
    plt = pyplot()
    with style():
        fig, axes = plt.subplots(
            1, len(bits), figsize=(2.6 * len(bits) + 1.0, 3.2), sharey=True, squeeze=False,
            layout="constrained",
        )  # fmt: skip
        norm = plt.matplotlib.colors.LogNorm(sizes.min(), max(sizes.max(), sizes.min() * 1.01))
        cmap = plt.get_cmap("cividis")
        d_lo, d_hi = df["tokens"].min(), df["tokens"].max() * extrapolate
        grid = np.geomspace(d_lo, d_hi, 60)
        for ax, b in zip(axes[0], bits, strict=True):
            part = df[df["bits"] == b]
            ax.scatter(part["tokens"], part["value"], c=cmap(norm(part["params"].to_numpy())),
                       s=16, edgecolors="none", zorder=3)  # fmt: skip
            if fit is not None:
                for n in sizes:
                    _draw_law(ax, fit, n, b, grid, cmap(norm(n)), interval)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(plt.matplotlib.ticker.NullFormatter())
            ax.set_title(f"{b:g} bits")
            ax.set_xlabel(VARIABLE_LABELS["tokens"])
        axes[0][0].set_ylabel("QiD (nats per token)")
        sm = plt.matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        bar = fig.colorbar(sm, ax=axes[0].tolist(), label=VARIABLE_LABELS["params"])
        bar.set_ticks(sizes, labels=[human(n) for n in sizes])
        if fit is not None:
            axes[0][-1].plot([], [], color="#555555", lw=1.1, label=f"{fit.law.name} fit")
            axes[0][-1].legend(loc="lower right")
    return fig


def _draw_law(
    ax: Any, fit: FitResult, n: float, bits: float, tokens: np.ndarray, colour: Any, level: float
) -> None:
    """One size's law over ``tokens`` at ``bits``, with its bootstrap band when there is one."""
    frame = fit.predict(
        {"params": np.full(len(tokens), n), "tokens": tokens, "bits": np.full(len(tokens), bits)},
        interval=level,
    )
    ax.plot(tokens, frame["value"], color=colour, lw=1.1, zorder=2)
    if frame["lo"].notna().all():
        ax.fill_between(tokens, frame["lo"], frame["hi"], color=colour, alpha=0.15, lw=0, zorder=1)
