"""Figures: paper-ready (labelled log axes, Okabe-Ito colours), correct, exportable."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import scalinglab as sl  # noqa: E402
from scalinglab.errors import InputError  # noqa: E402
from scalinglab.fitting.backtest import backtest  # noqa: E402
from scalinglab.report import (  # noqa: E402
    OKABE_ITO,
    plot_bootstrap,
    plot_fit,
    plot_frontier,
    plot_isoflop,
    plot_parity,
    plot_residuals,
    save_figure,
)
from scalinglab.report.paths import isoflop_minima, optimal_allocation  # noqa: E402
from scalinglab.synthetic import chinchilla_grid, simulate  # noqa: E402

TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
QUESTION = {"params": 70e9, "tokens": 1.4e12}


@pytest.fixture(scope="module")
def runs():
    return simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0)


@pytest.fixture(scope="module")
def fit(runs):
    return sl.fit(runs, "chinchilla", bootstrap=40)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_importing_scalinglab_and_its_report_does_not_import_matplotlib():
    code = "import sys, scalinglab, scalinglab.report, scalinglab.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fit_plot_has_data_law_dashed_extrapolation_band_and_the_question(fit, runs):
    fig = fit.plot(runs=runs, extrapolate_to=QUESTION)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "training compute C (FLOPs)"
    assert ax.get_ylabel() == "loss (nats/token)"
    lines = lines_by_label(ax)
    law = lines["chinchilla fit (compute-optimal)"]
    assert law.get_linestyle() == "-"
    assert lines["extrapolation"].get_linestyle() == "--"
    # the solid law stops at the data; the dashed part reaches past the question (6ND)
    assert law.get_xdata().max() == pytest.approx(runs.df["flops"].max(), rel=0.05)
    assert lines["extrapolation"].get_xdata().max() > 6 * 70e9 * 1.4e12
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% interval of the law" in labels
    asked = [t for t in labels if t.startswith("asked: ")]
    expected = fit.predict(QUESTION)["value"].iloc[0]
    assert asked == [f"asked: {expected:.3f} at params 70B, tokens 1.4T"]
    assert labels[0] == "synthetic (72 runs)"


def test_compute_optimal_path_lies_on_the_lower_envelope_of_the_runs(fit, runs):
    ax = plot_fit(fit, runs).axes[0]
    law = lines_by_label(ax)["chinchilla fit (compute-optimal)"]
    x, y = law.get_xdata(), law.get_ydata()
    obs = runs.df
    at_runs = np.interp(np.log(obs["flops"]), np.log(x), y)
    # no run beats the compute-optimal loss at its budget by more than the noise (0.3%)
    assert (obs["value"] >= at_runs * (1 - 0.012)).all()


@pytest.mark.parametrize(
    ("x", "label"), [("params", "parameters N"), ("tokens", "training tokens D")]
)
def test_fit_can_be_drawn_against_params_or_tokens(fit, runs, x, label):
    ax = plot_fit(fit, runs, x=x).axes[0]
    assert ax.get_xlabel() == label and ax.get_xscale() == "log"


def test_a_reloaded_fit_draws_the_law_without_data(fit):
    reloaded = sl.FitResult.from_json(fit.to_json())
    ax = reloaded.plot(extrapolate_to=1e24).axes[0]
    from matplotlib.collections import PathCollection

    assert not [c for c in ax.collections if isinstance(c, PathCollection)]  # no scatter of runs
    assert lines_by_label(ax)["extrapolation"].get_xdata().max() >= 1e24


def test_where_excluded_runs_are_drawn_hollow(runs):
    f = sl.fit(runs, "chinchilla", where="value < 3.5", bootstrap=0)
    labels = [t.get_text() for t in plot_fit(f, runs).axes[0].get_legend().get_texts()]
    excluded = (runs.df["value"] >= 3.5).sum()
    assert f"excluded by where ({excluded})" in labels


def test_families_get_okabe_ito_colours():
    a = simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=1, family="a").df
    b = simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=2, family="b").df
    both = sl.RunTable(__import__("pandas").concat([a, b], ignore_index=True))
    f = sl.fit(both, "chinchilla", bootstrap=0)
    ax = plot_fit(f, both).axes[0]
    colours = [matplotlib.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections[:2]]
    assert colours == [OKABE_ITO[0].lower(), OKABE_ITO[1].lower()]


def test_optimal_allocation_matches_hoffmann_closed_form():
    c = np.array([1e20, 5.76e23])
    got = optimal_allocation(sl.get_law("chinchilla"), TRUTH, c)
    a, b = TRUTH["alpha"], TRUTH["beta"]
    g = (a * TRUTH["A"] / (b * TRUTH["B"])) ** (1 / (a + b))
    n_opt = g * (c / 6) ** (b / (a + b))  # Hoffmann et al. 2022, eq. 4
    np.testing.assert_allclose(got["params"], n_opt, rtol=2e-3)
    np.testing.assert_allclose(got["tokens"] * got["params"] * 6, c, rtol=1e-9)


def test_isoflop_minima_find_each_budgets_optimum(runs):
    minima = isoflop_minima(runs.observations())
    assert len(minima) == 6
    truth = optimal_allocation(sl.get_law("chinchilla"), TRUTH, minima["flops"].to_numpy())
    ratio = minima["params"].to_numpy() / truth["params"].to_numpy()
    assert np.all(np.abs(np.log(ratio)) < np.log(1.35))


def test_isoflop_slices_of_budgets_read_off_a_figure_stay_narrow(shared_data):
    from scalinglab.report.paths import isoflop_slices

    # Epoch's extraction: FLOPs read off Chinchilla's figure scatter, so single linkage alone
    # chained the 3e19, 6e19 and 1e20 budgets into one slice a decade wide (92 runs).
    obs = sl.read_runs(shared_data / "chinchilla_epoch.csv").observations()
    slices = isoflop_slices(obs)
    span = obs.groupby(slices)["flops"].agg(lambda c: np.log10(c.max() / c.min()))
    assert span.max() <= 0.2
    sizes = obs.groupby(slices).size()
    big = sizes[sizes >= 20]  # the budgets with the most runs: about 3e19, 6e19, 1e20
    assert [round(c / 1e19, 1) for c in big.index if 1e19 < c < 2e20] == [2.8, 5.9, 9.6]
    # exact budgets are one slice each, labelled by the budget
    exact = sl.read_runs(shared_data / "isoflops_epochai_chinchilla.csv").observations()
    budgets = isoflop_slices(exact.assign(flops=6 * exact.params * exact.tokens))
    assert budgets.nunique() == 9


def test_isoflop_figure_draws_a_parabola_and_minimum_per_slice(fit, runs):
    fig = plot_isoflop(runs, fit)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "parameters N" and ax.get_ylabel() == "loss (nats/token)"
    assert len(fig.minima) == 6
    stars = [c for c in ax.collections if len(c.get_offsets()) == 6]
    assert stars, "one star per slice"
    assert fig.axes[1].get_ylabel() == "IsoFLOP budget C (FLOPs)"  # the colour bar


def test_frontier_shows_optimal_n_and_d_with_exponents(fit, runs):
    ax = plot_frontier(fit, runs, flops=[5.76e23]).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    a = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
    n_label = next(t for t in labels if t.startswith("optimal params N"))
    assert float(n_label.rsplit("^", 1)[1]) == pytest.approx(a, abs=0.03)
    assert any(t.startswith("optimal tokens D") for t in labels)
    assert "extrapolation" in labels and "IsoFLOP minima of the runs" in labels
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_frontier_needs_a_law_of_params_and_tokens(runs):
    f = sl.fit(runs, "power_floor:flops", bootstrap=0)
    with pytest.raises(InputError, match="no compute-optimal frontier"):
        plot_frontier(f)


def test_residuals_and_parity_and_bootstrap_figures(fit, runs):
    ax = plot_residuals(fit, runs).axes[0]
    assert ax.get_ylabel() == "residual: observed / fitted - 1 (%)"
    assert len(ax.collections[0].get_offsets()) == 72
    bt = backtest(runs, "chinchilla", holdout="flops > 1e20", bootstrap=30)
    ax = plot_parity(bt).axes[0]
    assert ax.get_xlabel() == "actual loss (nats/token)"
    assert "mean |relative error|" in ax.get_title()
    fig = plot_bootstrap(fit)
    assert [a.get_xlabel() for a in fig.axes] == ["alpha (dimensionless)", "beta (dimensionless)"]
    assert fig.axes[0].get_title().startswith(f"alpha = {fit.params['alpha']:.4g}")


def test_bootstrap_figure_needs_samples(runs):
    with pytest.raises(InputError, match="no bootstrap samples"):
        plot_bootstrap(sl.fit(runs, "chinchilla", bootstrap=0))


def test_figures_export_to_png_svg_and_pdf(fit, runs, tmp_path):
    written = save_figure(fit.plot(runs=runs), tmp_path / "fit", formats=("png", "svg", "pdf"))
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}
    assert [p.suffix for p in written] == [".png", ".svg", ".pdf"]
    for path in written:
        assert path.read_bytes().startswith(magic[path.suffix])
    assert "training compute C (FLOPs)" in (tmp_path / "fit.svg").read_text()  # text stays text


def test_a_fit_without_a_compute_optimal_path_is_refused_in_one_line():
    """The 4x-lr sweep of the ladder fits chinchilla with beta at 0: no finite optimum, so
    nothing to draw along the path; the report shows this line instead of a traceback (it
    crashed in predict on an empty path)."""
    from pathlib import Path

    from scalinglab.report import figures

    sweep = Path(__file__).resolve().parents[1] / "data" / "ladder" / "lr-sweep-50m" / "runs.csv"
    fit = sl.fit(sweep, "chinchilla", family="lr-sweep-x4", y="val_loss", bootstrap=0)
    assert fit.params["beta"] == 0.0
    for x in ("flops", "params"):
        with pytest.raises(InputError, match="has no compute-optimal path to draw"):
            figures.plot_fit(fit, x=x)
