"""The report's data-driven sections (issues 13, 15, 17): Precision for a qid fit, Downstream
for pass@k metrics, Divergence cliff for an LR sweep; each on the bundled ladder data, each
absent where the runs have nothing for it, each a short note where its analysis fails."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.analysis import analyse, analyse_cliff, analyse_downstream
from scalinglab.cli import app
from scalinglab.fitting.options import FitOptions
from scalinglab.report import render, render_report

LADDER = Path(__file__).resolve().parents[1] / "data" / "ladder"
NEW_SECTIONS = ("precision", "downstream", "cliff")
QUICK = {"bootstrap": 0, "holdout": None}


@pytest.fixture
def quick_figures(monkeypatch):
    """Figures are drawn but not encoded as PNG: for tests of the page around them."""
    import matplotlib.pyplot as plt

    def stub(fig, fig_id, caption, *, image_format="png"):
        plt.close(fig)
        return f'<figure id="{fig_id}"></figure>'

    monkeypatch.setattr(render, "figure_html", stub)


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="(\w+)"><h2>', page)


def section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def qid_table():
    from scalinglab.quant.table import qid_runs

    return qid_runs(LADDER / "eval" / "runs.csv", method="rtn")


def test_precision_section_draws_the_qid_figure_of_a_qid_fit(quick_figures):
    analysis = analyse(qid_table(), "qid", y="qid", family="gpu-ladder", huber_delta=0.01, **QUICK)
    report = render_report(analysis)
    assert section_ids(report.html)[:4] == ["data", "answers", "fits", "precision"]
    assert "fig-qid-0" in report.figures
    assert '<figure id="fig-qid-0">' in section(report.html, "precision")
    assert "<h2>Precision</h2>" in report.html


def test_cli_report_takes_huber_delta_and_draws_the_qid_figure(tmp_path, quick_figures):
    csv = tmp_path / "qid.csv"
    qid_table().df.to_csv(csv, index=False)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, [
        "report", str(csv), "--law", "qid", "--y", "qid", "--family", "gpu-ladder",
        "--huber-delta", "0.01", "--bootstrap", "0", "--holdout", "none", "-o", str(out), "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert "fig-qid-0" in doc["figures"]
    assert '<section id="precision">' in out.read_text()


def test_a_family_too_small_to_fit_is_left_out_of_a_report_of_several(quick_figures):
    """The ladder's schedule variants are one run each (three QiD points for four parameters):
    a report of every family fits the main ladder and says which families it left out."""
    analysis = analyse(qid_table(), "qid", y="qid", huber_delta=0.01, **QUICK)
    assert [f.options.family for f in analysis.fits] == ["gpu-ladder"]
    left_out = [w for w in analysis.warnings if "not fitted" in w]
    assert left_out == [
        f"qid [gpu-ladder-{s}] not fitted: runs.csv: too few points for law 'qid': 3 point(s) "
        "for 4 free parameters (need at least 5)"
        for s in ("constant", "wsd")
    ]
    with pytest.raises(sl.InputError, match="too few points for law 'qid'"):
        analyse(qid_table(), "qid", y="qid", family="gpu-ladder-wsd", **QUICK)


def test_downstream_section_on_the_ladder_eval_runs(quick_figures):
    analysis = analyse(LADDER / "eval" / "runs.csv", "chinchilla", y="val_loss",
                       family="gpu-ladder", **QUICK)  # fmt: skip
    down = analysis.downstream
    assert down is not None and analysis.cliff is None
    (cov,) = down.coverage
    assert cov.task == "next_line" and len(cov.fits) == 18 and not cov.notes
    assert all(c.a < 0 and c.b < 0 for c in cov.fits.values())  # coverage grows with k
    assert cov.across is not None and cov.across.params["g"] > 0  # and with size
    assert down.loss == "val_loss"
    assert [link.metric.name for link in down.links] == ["acc_mc_next_line", "exact_next_line"]
    assert all(link.status == "fitted" for link in down.links)
    report = render_report(analysis)
    page = section(report.html, "downstream")
    assert "<h2>Downstream and test-time compute</h2>" in page
    for fig_id in ("fig-coverage-0", "fig-metric-loss-0", "fig-metric-loss-1"):
        assert fig_id in report.figures and f'<figure id="{fig_id}">' in page
    assert "<td>acc_mc_next_line</td><td>fitted</td>" in page
    assert page.count("gpu-ladder-d") == 18  # one row per run's coverage law
    data = json.loads(
        re.search(r'id="scalinglab-data">(.*?)</script>', report.html)
        .group(1)
        .replace("<\\/", "</")
    )
    assert data["downstream"]["coverage"][0]["task"] == "next_line"
    assert "precision" not in section_ids(report.html)


def test_cliff_section_lists_the_8x_runs_of_the_probe_sweep_past_the_cliff(quick_figures):
    analysis = analyse(LADDER / "lr-probes" / "runs.csv", "chinchilla", y="val_loss", **QUICK)
    assert analysis.downstream is None
    cliff = analysis.cliff.result
    assert analysis.cliff.lr_column == "peak_lr" and analysis.cliff.y == "val_loss"
    assert cliff.trend["n_sizes"] == 6 and 0.2 < cliff.trend["alpha"] < 0.5
    report = render_report(analysis)
    assert "cliff" in section_ids(report.html)
    page = section(report.html, "cliff")
    assert "<h2>Divergence cliff</h2>" in page and "N<sup>-0.355</sup> (6 sizes" in page
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    at_8x = [r for r in rows if "<td>8x</td>" in r]
    assert len(at_8x) == 6  # one per size
    assert all('<span class="bad">past cliff</span>' in r for r in at_8x)
    assert all("attention logits peaked at" in r for r in at_8x)
    at_1x = [r for r in rows if "<td>1x</td>" in r]
    assert len(at_1x) == 6 and all('<span class="ok">ok</span>' in r for r in at_1x)
    assert "peak attention logit" in page


def test_the_ladder_runs_have_none_of_the_new_sections(quick_figures):
    analysis = analyse(LADDER / "runs.csv", "chinchilla", y="val_loss", family="gpu-ladder",
                       **QUICK)  # fmt: skip
    assert analysis.downstream is None and analysis.cliff is None
    report = render_report(analysis)
    ids = section_ids(report.html)
    assert not set(NEW_SECTIONS) & set(ids)
    assert ids[:3] == ["data", "answers", "fits"]
    assert not any(f.startswith(("fig-qid", "fig-coverage", "fig-metric-loss"))
                   for f in report.figures)  # fmt: skip
    assert "downstream" not in analysis.to_json() and "cliff" not in analysis.to_json()


def test_a_section_whose_analysis_fails_is_a_note_not_a_crash(quick_figures):
    eval_runs = sl.read_runs(LADDER / "eval" / "runs.csv")
    df = eval_runs.df
    # pass@1 alone: no coverage law (it needs two k or more); no accuracy-like metric
    one_k = sl.RunTable(df[df["metric"].isin(["val_loss", "pass@1_next_line"])
                           & (df["family"] == "gpu-ladder")].reset_index(drop=True))  # fmt: skip
    down = analyse_downstream(one_k, FitOptions(bootstrap=0))
    assert down is not None and not down.coverage[0].fits and down.coverage[0].notes
    # a sweep whose loss has no name the analysis knows: lr_cliff cannot choose a metric
    probes = sl.read_runs(LADDER / "lr-probes" / "runs.csv").df
    names = {"val_loss": "ppl_a", "train_loss": "ppl_b"}
    renamed = probes.assign(metric=probes["metric"].replace(names))
    cliff = analyse_cliff(sl.RunTable(renamed), FitOptions())
    assert cliff is not None and cliff.result is None and "several metrics" in cliff.note
    analysis = analyse(LADDER / "runs.csv", "chinchilla", y="val_loss", family="gpu-ladder",
                       **QUICK)  # fmt: skip
    report = render_report(dataclasses.replace(analysis, downstream=down, cliff=cliff))
    ids = section_ids(report.html)
    assert "downstream" in ids and "cliff" in ids
    assert 'class="muted">no coverage law for run ' in section(report.html, "downstream")
    assert "fig-coverage-0" not in report.figures
    assert '<p class="muted">No cliff analysis: ' in section(report.html, "cliff")
