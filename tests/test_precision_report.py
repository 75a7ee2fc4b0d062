"""The QiD figure: a panel per bit width, a colour per size, the fitted law with its band."""

import pytest

import scalinglab as sl
from scalinglab.errors import InputError
from scalinglab.report.precision import plot_qid
from scalinglab.synthetic import simulate
from test_precision_law import TRUTH, ladder_design


@pytest.fixture(scope="module")
def runs():
    return simulate("qid", TRUTH, ladder_design(), noise=0.05, seed=0, metric="qid")


def test_one_panel_per_bit_width_with_the_law_of_each_size(runs, tmp_path):
    fit = sl.fit(runs, "qid", bootstrap=30)
    fig = plot_qid(runs, fit)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["2 bits", "3 bits", "4 bits"]
    for ax in panels:
        assert len(ax.collections[0].get_offsets()) == 18  # 6 sizes x 3 budgets
        assert sum(len(line.get_xdata()) == 60 for line in ax.get_lines()) == 6
        assert ax.get_xscale() == ax.get_yscale() == "log"
    fig.savefig(tmp_path / "qid.png")
    assert (tmp_path / "qid.png").stat().st_size > 10_000


def test_the_data_alone_and_what_cannot_be_drawn(runs):
    fig = plot_qid(runs)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 3
    with pytest.raises(InputError, match="needs column"):
        plot_qid(runs.df.drop(columns="bits"))
    with pytest.raises(InputError, match="no positive QiD"):
        plot_qid(runs.df.assign(value=-1.0))
