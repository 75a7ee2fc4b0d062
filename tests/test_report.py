"""The HTML report: self-contained, every figure present, numbers that match the fit."""

from __future__ import annotations

import base64
import json
import re

import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.analysis import analyse
from scalinglab.cli import app
from scalinglab.report import render, render_report
from scalinglab.synthetic import chinchilla_grid, simulate

CHINCHILLA_BUDGET = 5.76e23
QUESTION = {"params": 70e9, "tokens": 1.4e12}
FIGURES = [
    "fig-fit-0-flops",
    "fig-fit-0-params",
    "fig-fit-0-tokens",
    "fig-residuals-0",
    "fig-bootstrap-0",
    "fig-isoflop",
    "fig-frontier",
    "fig-parity-0",
]


def build_report(
    runs, laws="chinchilla", *, image_format="png", title=None, progress=None, **options
):
    """Analyse, then render: the two steps every caller of the report takes."""
    analysis = analyse(runs, laws, progress=progress, **options)
    return render_report(analysis, image_format=image_format, title=title, progress=progress)


@pytest.mark.slow
def test_report_of_the_chinchilla_runs(shared_data):
    """One build (the slow part), every property of the page checked on it."""
    runs = sl.read_runs(shared_data / "chinchilla_epoch.csv")
    report = build_report(
        runs, "chinchilla", where="value < 3.42", bootstrap=100, holdout="largest:2",
        flops=[CHINCHILLA_BUDGET], at=[QUESTION],
    )  # fmt: skip
    check_chinchilla_report_has_every_figure_inline(report)
    check_chinchilla_report_parameters_match_the_fit(report)
    check_chinchilla_report_answers_the_questions(report)
    check_report_is_self_contained(report)
    check_report_downloads_carry_the_runs_and_the_fit(report)


@pytest.fixture
def quick_figures(monkeypatch):
    """Figures are made but not rendered to PNG: for tests of what surrounds them."""
    import matplotlib.pyplot as plt

    def stub(fig, fig_id, caption, *, image_format="png"):
        plt.close(fig)
        return f'<figure id="{fig_id}"></figure>'

    monkeypatch.setattr(render, "figure_html", stub)


def embedded_data(page: str) -> dict:
    m = re.search(
        r'<script type="application/json" id="scalinglab-data">(.*?)</script>', page, re.S
    )
    assert m, "the page carries its data"
    return json.loads(m.group(1).replace("<\\/", "</"))


def check_chinchilla_report_has_every_figure_inline(chinchilla_report):
    page = chinchilla_report.html
    assert chinchilla_report.figures == FIGURES
    for fig_id in FIGURES:
        m = re.search(
            rf'<figure id="{fig_id}"><img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page
        )
        assert m, fig_id
        assert base64.b64decode(m.group(1)).startswith(b"\x89PNG")
    assert page.count("<figure ") == len(FIGURES)


def check_chinchilla_report_parameters_match_the_fit(chinchilla_report):
    fit = chinchilla_report.fits[0]
    # Epoch AI's refit of the same runs (without the 5 highest-loss ones): alpha .3478, beta .3658
    assert fit.params["alpha"] == pytest.approx(0.3478, abs=0.005)
    assert fit.params["beta"] == pytest.approx(0.3658, abs=0.005)
    data = embedded_data(chinchilla_report.html)
    assert data["fits"][0]["params"] == fit.params
    ci = fit.conf_int()
    for name, value in fit.params.items():
        row = re.search(
            rf"<tr><td>{name}</td><td>([^<]+)</td><td>\[([^,]+), ([^\]]+)\]</td>",
            chinchilla_report.html,
        )
        assert row, name
        assert float(row.group(1)) == pytest.approx(value, rel=1e-5)
        assert float(row.group(2)) == pytest.approx(ci.loc[name, "lo"], rel=1e-4)
        assert float(row.group(3)) == pytest.approx(ci.loc[name, "hi"], rel=1e-4)


def check_chinchilla_report_answers_the_questions(chinchilla_report):
    from scalinglab.planning.allocation import compute_optimal

    fit = chinchilla_report.fits[0]
    answers = chinchilla_report.answers[0]
    plan = compute_optimal(fit, flops=CHINCHILLA_BUDGET)
    (alloc,) = answers["allocations"]
    assert alloc["params"] == pytest.approx(plan.params.value)
    assert alloc["tokens"] == pytest.approx(plan.tokens.value)
    assert 5e10 < alloc["params"] < 1.2e11  # Chinchilla's own answer at this budget: 70B
    (pred,) = answers["predictions"]
    assert pred["value"] == pytest.approx(fit.predict(QUESTION)["value"].iloc[0])
    page = chinchilla_report.html
    assert "Compute-optimal allocation" in page and f"{alloc['params'] / 1e9:.3g}B" in page
    bt = chinchilla_report.backtests[0]
    assert bt is not None and bt.mare < 0.03
    assert f"{bt.mare:.2%}" in page


def check_report_is_self_contained(chinchilla_report):
    page = chinchilla_report.html
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(?!data:|#)', page), "only data: URIs and in-page anchors"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"<script(?![^>]*application/json)", page), "no executable script"
    assert "default-src 'none'" in page  # and the browser is told to load nothing


def check_report_downloads_carry_the_runs_and_the_fit(chinchilla_report):
    page = chinchilla_report.html
    runs = re.search(r'download="runs.csv" href="data:text/csv;base64,([^"]+)"', page)
    assert base64.b64decode(runs.group(1)).decode().count("\n") == 246  # header + 245 runs
    fit_link = re.search(
        r'download="fit-0-chinchilla.json" href="data:application/json;base64,([^"]+)"', page
    )
    reloaded = sl.FitResult.from_json(json.loads(base64.b64decode(fit_link.group(1))))
    assert reloaded.params == chinchilla_report.fits[0].params


def test_one_fit_per_family_and_law(tmp_path, quick_figures):
    import pandas as pd

    truth = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
    a = simulate("chinchilla", truth, chinchilla_grid(), noise=0.003, seed=1, family="a").df
    b = simulate("chinchilla", truth, chinchilla_grid(), noise=0.003, seed=2, family="b").df
    runs = sl.RunTable(pd.concat([a, b], ignore_index=True))
    report = build_report(runs, ["chinchilla", "power_floor:flops"], bootstrap=0, holdout=None)
    assert [(f.law.name, f.options.family) for f in report.fits] == [
        ("chinchilla", "a"), ("chinchilla", "b"), ("power_floor:flops", "a"), ("power_floor:flops", "b"),
    ]  # fmt: skip
    assert "fig-fit-3-flops" in report.figures and "fig-fit-3-params" not in report.figures
    assert report.answers[2]["planning"].startswith("law 'power_floor:flops' is not a function")
    assert len(report.answers[2]["predictions"]) == 2  # 10x and 100x the data
    path = report.write(tmp_path / "sub" / "r.html")
    assert path.read_text() == report.html


def test_report_reuses_fits_it_is_given(quick_figures):
    runs = simulate("chinchilla", {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28},
                    chinchilla_grid(), noise=0.003, seed=0)  # fmt: skip
    fit = sl.fit(runs, "chinchilla", bootstrap=10)
    calls = []
    report = build_report(runs, fits=[fit], progress=lambda *args: calls.append(args))
    assert report.fits[0] is fit and report.backtests == [None]
    assert calls[-1] == ("figures", len(report.figures), len(report.figures))


def test_fit_repr_html_is_a_table_of_parameters_with_intervals():
    runs = simulate("chinchilla", {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28},
                    chinchilla_grid(), noise=0.003, seed=0)  # fmt: skip
    fit = sl.fit(runs, "chinchilla", bootstrap=20)
    page = fit._repr_html_()
    assert page.startswith('<div class="scalinglab-fit"><style>')
    assert '<code class="formula">loss = E + A*params**-alpha + B*tokens**-beta</code>' in page
    lo, hi = fit.conf_int().loc["alpha"]
    assert (
        f"<tr><td>alpha</td><td>{fit.params['alpha']:.6g}</td><td>[{lo:.5g}, {hi:.5g}]</td>" in page
    )
    assert '<span class="ok">converged</span>' in page


def test_cli_report_writes_the_page_and_prints_its_path(tmp_path, quick_figures):
    runs = simulate("chinchilla", {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28},
                    chinchilla_grid(), noise=0.003, seed=0)  # fmt: skip
    csv = tmp_path / "runs.csv"
    runs.df.to_csv(csv, index=False)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["report", str(csv), "--bootstrap", "20", "--holdout", "flops > 1e20",
              "--flops", "1e23", "--at", "params=70B,tokens=1.4T", "-o", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["report"] == str(out.resolve()) and out.is_file()
    assert doc["answers"][0]["allocations"][0]["flops"] == 1e23
    assert doc["backtests"][0]["holdout"] == "flops > 1e20"
    human = CliRunner().invoke(
        app, ["report", str(csv), "--bootstrap", "0", "--holdout", "none", "-o", str(out)]
    )
    assert human.exit_code == 0, human.stderr
    assert f"report written to {out.resolve()}" in human.stdout


def test_cli_report_bad_input_exits_2_with_one_line(tmp_path):
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "none.csv"), "-o", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert "\n" not in result.stderr.strip()


@pytest.mark.slow
def test_svg_report_inlines_every_figure_as_svg():
    runs = simulate("chinchilla", {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28},
                    chinchilla_grid(sizes_per_budget=6), noise=0.003, seed=0)  # fmt: skip
    report = build_report(runs, bootstrap=0, holdout=None, image_format="svg")
    assert len(report.figures) == 6  # 3 fit views, residuals, IsoFLOP, frontier
    assert report.html.count("<svg") == len(report.figures)
    assert "<?xml" not in report.html and "<img " not in report.html
    assert not re.search(r'(src|href)="(?!data:|#)', report.html)
