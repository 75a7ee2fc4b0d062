"""Paper-ready matplotlib figures of runs, fits, backtests and the compute-optimal frontier.

Every function returns a :class:`matplotlib.figure.Figure` (``fig.savefig("x.pdf")`` exports
PNG, SVG or PDF by the file's extension; :func:`save_figure` writes several at once).
Axes are labelled with units, sizes are on log scales, and colours come from the Okabe-Ito
palette, which stays distinguishable under the common colour-vision deficiencies
(Okabe & Ito 2008, "Color Universal Design"); sequential colours (IsoFLOP budgets) use
cividis, designed for the same purpose (Nuñez et al. 2018).

matplotlib is imported when the first figure is made, not at ``import scalinglab``, and falls
back to the non-interactive Agg backend when there is no display.

Example:
    >>> import scalinglab as sl                                                 # doctest: +SKIP
    >>> runs = sl.read_runs("../shared/data/chinchilla_epoch.csv")
    >>> fit = sl.fit(runs, "chinchilla", where="value < 3.42")
    >>> fit.plot(runs=runs, extrapolate_to={"params": 70e9, "tokens": 1.4e12}).savefig("fit.pdf")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..fitting.data import observations_for, select
from ..fitting.result import FitResult
from ..runs import RunTable
from . import paths
from .html import human as _human
from .style import (
    _STYLE,
    EXCLUDED_COLOUR,
    LAW_COLOUR,
    OKABE_ITO,
    VARIABLE_LABELS,
    pyplot,
    style,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..fitting.result import BacktestResult


def _new_axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    plt = pyplot()
    fig, ax = plt.subplots(figsize=figsize or _STYLE["figure.figsize"], layout="constrained")
    return fig, ax


def save_figure(
    fig: Figure, path: str | os.PathLike[str], formats: Iterable[str] | None = None
) -> list[Path]:
    """Save ``fig`` at ``path``; with ``formats`` (e.g. ``("png", "svg", "pdf")``) one file each.

    Example:
        >>> save_figure(fit.plot(runs=runs), "figs/fit", formats=("png", "pdf"))   # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    targets = [path.with_suffix(f".{f.lstrip('.')}") for f in formats] if formats else [path]
    with style():
        for target in targets:
            fig.savefig(target)
    return targets


def metric_label(y: str) -> str:
    """Axis label of a metric, with its unit: losses are nats per token."""
    if "loss" in y.lower() or y == "value":
        return f"{'loss' if y == 'value' else y} (nats/token)"
    if y.lower().startswith("acc"):
        return f"{y} (accuracy)"
    return y


def family_colours(families: Sequence[str]) -> dict[str, str]:
    """A colour per family, from the Okabe-Ito palette (cycled past seven)."""
    return {f: OKABE_ITO[i % (len(OKABE_ITO) - 1)] for i, f in enumerate(families)}


# -- data -------------------------------------------------------------------------------------
def _observations(fit: FitResult, runs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows the fit used, rows its ``where`` filter removed) from ``runs``."""
    family, where = fit.options.family, fit.options.where
    table = select(runs, family=family)
    y = fit.y if fit.y in table.metrics() else None
    skip = fit.options.skip_fraction
    every = observations_for(table, fit.law, y, skip_fraction=skip)
    if where is None:
        return every, every.iloc[:0]
    used = observations_for(table.filter(where=where), fit.law, y, skip_fraction=skip)
    key = ["family", "run_id"] + (["step"] if "step" in every.columns else [])
    marked = every.merge(used[key].drop_duplicates(), on=key, how="left", indicator=True)
    return used, every[(marked["_merge"] == "left_only").to_numpy()]


def _source_runs(fit: FitResult) -> RunTable | None:
    """The fit's data file, when its ``source`` names a file that exists."""
    source = fit.source
    if source and Path(str(source)).is_file():
        return select(str(source))
    return None


def _x_values(frame: pd.DataFrame, x: str) -> np.ndarray:
    if x not in frame.columns:
        raise InputError(f"cannot plot against {x!r}: the data have no such column")
    return frame[x].to_numpy(dtype=float)


def _law_path(
    fit: FitResult, x: str, lo: float, hi: float, n: int = 160
) -> tuple[pd.DataFrame, str]:
    """Points of the law's variables spanning ``x`` from lo to hi, and what the path is."""
    law = fit.law
    if law.variables == (x,):
        return pd.DataFrame({x: np.geomspace(lo, hi, n)}), ""
    if paths.has_allocation(law) and x in ("flops", "params", "tokens"):
        # A fit with an exponent at 0 (data that do not improve with N or D) has no finite
        # optimum: nothing to draw, which the report says in place of the figure.
        nothing = InputError(
            f"law {law.name!r} has no compute-optimal path to draw with these parameters "
            f"({', '.join(f'{k}={v:.3g}' for k, v in fit.params.items())})"
        )
        if x == "flops":
            budgets = np.geomspace(lo, hi, n)
        else:  # budgets whose optimal N (or D) spans [lo, hi]
            wide = paths.optimal_allocation(law, fit.params, np.geomspace(1e10, 1e32, 120))
            wide = wide[np.isfinite(wide[x]) & np.isfinite(wide["flops"])]
            if len(wide) < 2:
                raise nothing
            logc = np.interp(np.log([lo, hi]), np.log(wide[x]), np.log(wide["flops"]))
            budgets = np.geomspace(*np.exp(logc), n)
        path = paths.optimal_allocation(law, fit.params, budgets).dropna()
        if path.empty:
            raise nothing
        return path, "compute-optimal"
    if x not in law.variables:
        raise InputError(
            f"cannot draw law {law.name!r} against {x!r}: it is a function of "
            f"{', '.join(law.variables)}"
        )
    frame = pd.DataFrame({x: np.geomspace(lo, hi, n)})
    held = []
    for v in law.variables:
        if v != x:
            a, b = fit.data_range.get(v, (np.nan, np.nan))
            frame[v] = float(np.sqrt(a * b))
            held.append(f"{v}={frame[v].iloc[0]:.3g}")
    return frame, ", ".join(held)


def _target_point(fit: FitResult, target: Any, x: str) -> tuple[float, dict[str, float] | None]:
    """x-coordinate of the question asked, and the law's variables there (None: x only)."""
    if isinstance(target, Mapping):
        point = {k: float(v) for k, v in target.items()}
        if x not in point and x == "flops" and {"params", "tokens"} <= set(point):
            point["flops"] = float(paths.TRAINING_FLOPS(point["params"], point["tokens"]))
        if x not in point:
            raise InputError(f"extrapolate_to {dict(target)} does not give {x!r}")
        law_point = point if set(fit.law.variables) <= set(point) else None
        return point[x], law_point
    return float(target), None


# -- figures ----------------------------------------------------------------------------------
def plot_fit(
    fit: FitResult,
    runs: RunTable | pd.DataFrame | str | Path | None = None,
    *,
    x: str | None = None,
    extrapolate_to: float | Mapping[str, float] | None = None,
    interval: float = 0.9,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The data, the fitted law with its bootstrap interval band, and its extrapolation.

    Args:
        fit: a :class:`FitResult`.
        runs: the runs it was fitted to (table, DataFrame or file); the fit's family and
            ``where`` filters are applied, and rows ``where`` removed are drawn hollow. Without
            runs, the fit's source file is read when it exists, else only the law is drawn.
        x: ``"flops"``, ``"params"`` or ``"tokens"`` (or the law's one variable). A law of N
            and D is drawn along its compute-optimal path (the N, D minimising the law at each
            budget C = 6ND), which is the lower envelope the runs should touch.
        extrapolate_to: how far past the data to draw (dashed): a value of ``x``, or the point
            asked about, e.g. ``{"params": 70e9, "tokens": 1.4e12}``, which is marked with its
            prediction and interval.
        interval: level of the band (bootstrap interval of the law).
        ax: draw into these axes instead of a new figure.
    """
    law = fit.law
    x = x or ("flops" if paths.has_allocation(law) or len(law.variables) > 1 else law.variables[0])
    runs = runs if runs is not None else _source_runs(fit)
    with style():
        fig, ax = _new_axes(ax)
        lo, hi = (np.nan, np.nan)
        if runs is not None:
            used, excluded = _observations(fit, runs)
            colours = family_colours(sorted(used["family"].astype(str).unique()))
            for fam, part in used.groupby(used["family"].astype(str)):
                ax.scatter(_x_values(part, x), part["value"], s=12, alpha=0.8, color=colours[fam],
                           edgecolors="none", label=f"{fam} ({len(part)} runs)", zorder=3)  # fmt: skip
            if len(excluded):
                ax.scatter(_x_values(excluded, x), excluded["value"], s=14, facecolors="none",
                           edgecolors=EXCLUDED_COLOUR, linewidths=0.7, zorder=2,
                           label=f"excluded by where ({len(excluded)})")  # fmt: skip
            xs = _x_values(used, x)
            lo, hi = float(np.min(xs)), float(np.max(xs))
        elif x in fit.data_range:
            lo, hi = fit.data_range[x]
        elif x == "flops" and {"params", "tokens"} <= set(fit.data_range):
            (n0, n1), (d0, d1) = fit.data_range["params"], fit.data_range["tokens"]
            lo, hi = (float(paths.TRAINING_FLOPS(n, d)) for n, d in ((n0, d0), (n1, d1)))
        target_x, target = (None, None)
        if extrapolate_to is not None:
            target_x, target = _target_point(fit, extrapolate_to, x)
        right = max(hi, target_x * 1.5) if target_x else hi
        path, how = _law_path(fit, x, lo, right)
        pred = fit.predict(path[list(law.variables)], interval=interval)
        xp = path[x].to_numpy() if x in path else pred[x].to_numpy()
        inside = xp <= hi * (1 + 1e-9)
        label = f"{law.name} fit" + (f" ({how})" if how else "")
        ax.plot(xp[inside], pred["value"][inside], color=LAW_COLOUR, label=label, zorder=4)
        if (~inside).any():
            j = max(int(inside.sum()) - 1, 0)
            ax.plot(xp[j:], pred["value"][j:], color=LAW_COLOUR, ls="--", zorder=4,
                    label="extrapolation")  # fmt: skip
        if pred["lo"].notna().any():
            ax.fill_between(xp, pred["lo"], pred["hi"], color=OKABE_ITO[5], alpha=0.3, lw=0,
                            label=f"{interval:.0%} interval of the law", zorder=1)  # fmt: skip
        if target is not None:
            p = fit.predict({v: target[v] for v in law.variables}, interval=interval).iloc[0]
            yerr = None
            if np.isfinite(p["pred_lo"]):
                yerr = [[p["value"] - p["pred_lo"]], [p["pred_hi"] - p["value"]]]
            where = ", ".join(f"{v} {_human(target[v])}" for v in law.variables)
            ax.errorbar([target_x], [p["value"]], yerr=yerr, fmt="D", ms=5, color=OKABE_ITO[3],
                        capsize=3, zorder=5, label=f"asked: {p['value']:.3f} at {where}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
        ax.set_xlabel(VARIABLE_LABELS.get(x, x))
        ax.set_ylabel(metric_label(fit.y))
        ax.set_title(title or f"{fit.y} vs {x}: {law.name} fit ({fit.n_points} points)")
        ax.legend(loc="best")
    return fig


def plot_residuals(
    fit: FitResult,
    runs: RunTable | pd.DataFrame | str | Path | None = None,
    *,
    x: str = "flops",
    ax: Axes | None = None,
) -> Figure:
    """Relative residuals (observed / fitted - 1, in %) of the runs the fit used, against ``x``.

    The grey band is +-1 robust SD of the log residuals: structure in the residuals (a trend
    with scale, one family off) is what a wrong law looks like.
    """
    runs = runs if runs is not None else _source_runs(fit)
    if runs is None:
        raise InputError("plot_residuals needs the runs the fit was made on")
    used, _ = _observations(fit, runs)
    fitted = fit.law.evaluate(
        {v: used[v].to_numpy(dtype=float) for v in fit.law.variables}, fit.params
    )
    rel = 100 * (used["value"].to_numpy(dtype=float) / fitted - 1)
    with style():
        fig, ax = _new_axes(ax, (5.0, 2.8))
        colours = family_colours(sorted(used["family"].astype(str).unique()))
        fams = used["family"].astype(str).to_numpy()
        for fam, colour in colours.items():
            m = fams == fam
            ax.scatter(_x_values(used, x)[m], rel[m], s=10, color=colour, alpha=0.8,
                       edgecolors="none", label=fam, zorder=3)  # fmt: skip
        sd = 100 * fit.residuals.get("robust_sd", np.nan)
        if np.isfinite(sd):
            ax.axhspan(
                -sd, sd, color="#cccccc", alpha=0.5, lw=0, label=f"+-1 robust SD ({sd:.2f}%)"
            )
        ax.axhline(0, color=LAW_COLOUR, lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(VARIABLE_LABELS.get(x, x))
        ax.set_ylabel("residual: observed / fitted - 1 (%)")
        ax.set_title(f"residuals of the {fit.law.name} fit")
        ax.legend(loc="best")
    return fig


def plot_isoflop(
    runs: RunTable | pd.DataFrame | str | Path,
    fit: FitResult | None = None,
    *,
    y: str | None = None,
    family: str | None = None,
    where: str | None = None,
    tolerance: float = 0.05,
    min_points: int = 4,
    ax: Axes | None = None,
) -> Figure:
    """IsoFLOP slices: loss vs parameters for runs of (about) equal compute, each slice with a
    parabola in log N and its minimum (Hoffmann et al. 2022, Approach 2); with a fit of N and D,
    the law along each slice is drawn dotted.

    Runs whose FLOPs lie within ``tolerance`` decades of each other form one slice; slices of
    fewer than ``min_points`` runs are drawn without a parabola.
    """
    table = select(runs, family=family, where=where)
    obs = table.observations(y)
    slices = paths.isoflop_slices(obs, tolerance=tolerance)
    minima = paths.isoflop_minima(obs, tolerance=tolerance, min_points=min_points)
    plt = pyplot()
    with style():
        fig, ax = _new_axes(ax, (5.4, 3.8))
        budgets = np.sort(slices.unique())
        norm = plt.matplotlib.colors.LogNorm(
            budgets.min(), max(budgets.max(), budgets.min() * 1.01)
        )
        cmap = plt.get_cmap("cividis")
        ax.scatter(obs["params"], obs["value"], c=cmap(norm(slices.to_numpy())), s=12,
                   edgecolors="none", zorder=3)  # fmt: skip
        for _, m in minima.iterrows():
            colour = cmap(norm(m["flops"]))
            part = obs[np.isclose(slices, m["flops"])]
            u = np.linspace(np.log10(part["params"].min()), np.log10(part["params"].max()), 80)
            ax.plot(10**u, np.polyval([m["a"], m["b"], m["c"]], u), color=colour, lw=1.1, zorder=2)
            if fit is not None and paths.has_allocation(fit.law):
                n = 10**u
                tokens = paths.TRAINING_FLOPS.tokens_for(n, m["flops"])
                law = fit.law.evaluate({"params": n, "tokens": tokens}, fit.params)
                ax.plot(n, law * np.ones_like(n), color=colour, lw=0.9, ls=":", zorder=2)
        if len(minima):
            ax.scatter(minima["params"], minima["loss"], marker="*", s=70, color=OKABE_ITO[3],
                       edgecolors="white", linewidths=0.5, zorder=5, label="minimum of each slice")  # fmt: skip
            ax.plot([], [], color="#555555", lw=1.1, label="parabola in log N")
            if fit is not None and paths.has_allocation(fit.law):
                ax.plot([], [], color="#555555", lw=0.9, ls=":", label=f"{fit.law.name} fit")
        sm = plt.matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, label="IsoFLOP budget C (FLOPs)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
        ax.set_xlabel(VARIABLE_LABELS["params"])
        ax.set_ylabel(metric_label(obs.attrs.get("metric", y or "loss")))
        ax.set_title(f"IsoFLOP slices: {len(minima)} minima from {len(budgets)} budgets")
        if len(minima):
            ax.legend(loc="upper right")
    fig.minima = minima  # type: ignore[attr-defined]  (for callers that want the numbers)
    return fig


def plot_frontier(
    fit: FitResult,
    runs: RunTable | pd.DataFrame | str | Path | None = None,
    *,
    flops: float | Sequence[float] | None = None,
    interval: float = 0.9,
    tolerance: float = 0.05,
    ax: Axes | None = None,
) -> Figure:
    """The compute-optimal frontier: loss-minimising parameters N and tokens D vs compute C,
    with bootstrap bands, extrapolated (dashed) to the budgets asked about in ``flops``; with
    runs, the IsoFLOP minima of the data are drawn on it.
    """
    if not paths.has_allocation(fit.law):
        raise InputError(
            f"law {fit.law.name!r} is not a function of params and tokens: no compute-optimal frontier"
        )
    (n0, n1), (d0, d1) = fit.data_range["params"], fit.data_range["tokens"]
    c_lo, c_hi = (float(paths.TRAINING_FLOPS(n, d)) for n, d in ((n0, d0), (n1, d1)))
    targets = [] if flops is None else list(np.atleast_1d(np.asarray(flops, dtype=float)))
    minima = pd.DataFrame()
    if runs is not None:
        table = select(runs, family=fit.options.family, where=fit.options.where)
        obs = table.observations(fit.y if fit.y in table.metrics() else None)
        c_lo, c_hi = float(obs["flops"].min()), float(obs["flops"].max())
        minima = paths.isoflop_minima(obs, tolerance=tolerance)
    right = max([c_hi, *targets]) * 1.5
    front = paths.frontier(fit, np.geomspace(c_lo, right, 60), interval=interval)
    with style():
        fig, ax = _new_axes(ax)
        inside = front["flops"].to_numpy() <= c_hi
        j = max(int(inside.sum()) - 1, 0)
        for col, colour, name in (("params", OKABE_ITO[0], "N"), ("tokens", OKABE_ITO[1], "D")):
            a = paths.slope(front["flops"].to_numpy(), front[col].to_numpy())
            ax.plot(front["flops"][inside], front[col][inside], color=colour,
                    label=f"optimal {col} {name} \u221d C^{a:.2f}")  # fmt: skip
            ax.plot(front["flops"][j:], front[col][j:], color=colour, ls="--")
            if f"{col}_lo" in front:
                ax.fill_between(front["flops"], front[f"{col}_lo"], front[f"{col}_hi"], color=colour,
                                alpha=0.2, lw=0)  # fmt: skip
            if len(minima):
                ax.scatter(minima["flops"], minima[col], marker="*", s=60, color=colour,
                           edgecolors="white", linewidths=0.5, zorder=5)  # fmt: skip
        if len(minima):
            ax.scatter(
                [], [], marker="*", s=60, color="#555555", label="IsoFLOP minima of the runs"
            )
        if "params_lo" in front:
            ax.fill_between([], [], [], color="#555555", alpha=0.2, lw=0,
                            label=f"{interval:.0%} bootstrap interval")  # fmt: skip
        ax.plot([], [], color="#555555", ls="--", label="extrapolation")
        if targets:
            at = paths.optimal_allocation(fit.law, fit.params, np.asarray(targets))
            for _, row in at.iterrows():
                ax.axvline(row["flops"], color="#777777", lw=0.8, ls=":")
                ax.annotate(f"C {row['flops']:.3g}:\nN {_human(row['params'])}\nD {_human(row['tokens'])}",
                            (row["flops"], row["params"]), fontsize=7, xytext=(-4, -6),
                            textcoords="offset points", ha="right", va="top")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(VARIABLE_LABELS["flops"])
        ax.set_ylabel("compute-optimal N (parameters), D (tokens)")
        ax.set_title(f"compute-optimal frontier of the {fit.law.name} fit")
        ax.legend(loc="upper left")
    return fig


def plot_parity(backtest: BacktestResult, *, ax: Axes | None = None) -> Figure:
    """Backtest parity: predicted vs actual for the held-out runs, with prediction intervals.

    Points on the diagonal are perfect; the dotted lines are +-2% relative error.
    """
    pts = backtest.points
    with style():
        fig, ax = _new_axes(ax, (4.0, 3.8))
        actual, predicted = pts["actual"].to_numpy(), pts["predicted"].to_numpy()
        inside = pts["inside"].to_numpy(dtype=bool)
        yerr = np.vstack([predicted - pts["lo"].to_numpy(), pts["hi"].to_numpy() - predicted])
        for mask, colour, label in (
            (inside, OKABE_ITO[0], "inside"),
            (~inside, OKABE_ITO[3], "outside"),
        ):
            if mask.any():
                ax.errorbar(actual[mask], predicted[mask], yerr=np.abs(yerr[:, mask]), fmt="o",
                            ms=4, color=colour, capsize=2, lw=0.9, zorder=3,
                            label=f"held-out run, {label} its {backtest.interval:.0%} interval")  # fmt: skip
        both = np.concatenate([actual, pts["lo"], pts["hi"]])
        span = np.nanmax(both) - np.nanmin(both)
        lim = (np.nanmin(both) - 0.1 * span, np.nanmax(both) + 0.1 * span)
        grid = np.linspace(*lim, 10)
        ax.plot(grid, grid, color=LAW_COLOUR, lw=0.9, label="predicted = actual")
        for f in (0.98, 1.02):
            ax.plot(grid, grid * f, color="#777777", lw=0.8, ls=":")
        ax.plot([], [], color="#777777", lw=0.8, ls=":", label="+-2%")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal", adjustable="box")
        y = backtest.fit.y
        ax.set_xlabel(f"actual {metric_label(y)}")
        ax.set_ylabel(f"predicted {metric_label(y)}")
        ax.set_title(
            f"backtest, held out {backtest.holdout} ({len(pts)} runs)\n"
            f"mean |relative error| {backtest.mare:.2%}; {backtest.coverage:.0%} inside interval"
        )
        ax.legend(loc="upper left")
    return fig


def plot_bootstrap(
    fit: FitResult, parameters: Sequence[str] | None = None, *, bins: int = 40
) -> Figure:
    """Bootstrap distributions of parameters (default: the exponents and other nonlinear ones),
    with the estimate, the 95% interval and the law's published value when it has one.
    """
    frame = fit._sample_frame()
    if frame is None:
        raise InputError("the fit has no bootstrap samples (fit with bootstrap > 0)")
    if parameters is None:
        parameters = [
            p.name for p in fit.law.parameters if not p.linear and p.name not in fit.fixed
        ]
        parameters = parameters or [n for n in fit.law.parameter_names if n not in fit.fixed]
    unknown = [p for p in parameters if p not in frame.columns]
    if unknown:
        raise InputError(f"no bootstrap samples of {', '.join(unknown)}")
    ci = fit.conf_int()
    values = {**fit.params, **fit.derived}
    plt = pyplot()
    with style():
        k = len(parameters)
        fig, axes = plt.subplots(
            1, k, figsize=(2.6 * k + 0.4, 2.6), layout="constrained", squeeze=False
        )
        for ax, name in zip(axes[0], parameters, strict=True):
            samples = frame[name].to_numpy()
            samples = samples[np.isfinite(samples)]
            ax.hist(samples, bins=bins, color=OKABE_ITO[0], alpha=0.75, edgecolor="none",
                    label="bootstrap replicates")  # fmt: skip
            lo, hi = ci.loc[name, "lo"], ci.loc[name, "hi"]
            ax.axvspan(lo, hi, color=OKABE_ITO[5], alpha=0.2, lw=0, label="95% interval")
            ax.axvline(values[name], color=LAW_COLOUR, lw=1.2, label="estimate")
            if name in fit.law.published:
                ax.axvline(fit.law.published[name], color=OKABE_ITO[3], lw=1.2, ls="--",
                           label="published value")  # fmt: skip
            ax.set_title(f"{name} = {values[name]:.4g}  [{lo:.4g}, {hi:.4g}]", fontsize=8.5)
            ax.set_xlabel(name if _is_linear(fit, name) else f"{name} (dimensionless)")
            ax.set_ylabel("replicates")
            ax.grid(False)
        handles: dict[str, Any] = {}
        for ax in axes[0]:
            for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, h)
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=len(handles))
        fig.suptitle(f"{fit.law.name}: bootstrap over runs, {len(frame)} replicates", fontsize=9.5)
    return fig


def _is_linear(fit: FitResult, name: str) -> bool:
    return any(p.name == name and p.linear for p in fit.law.parameters)


def _plain_log_ticks(axis: Any) -> None:
    """Plain numbers (2.0, 2.5, 3.0) on a log axis spanning less than a decade, like loss."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axis.set_major_locator(
        LogLocator(base=10, subs=(1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0))
    )
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(1.0, 10.0)))
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(NullFormatter())
