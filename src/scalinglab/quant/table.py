"""From the ladder's quantization metrics to the rows the ``qid`` law is fitted to.

The ladder writes one metric per quantizer (``qid_w4g32_awq``, ``qid_w3g32_awq``, ...). The
law ``qid`` (:mod:`scalinglab.laws.precision`) is a function of params, tokens and bits, so
one quantizer family (method, group size, symmetry) becomes one metric ``qid`` with a numeric
column ``bits`` that the fit reads as a law variable.

Example:
    >>> import scalinglab as sl                                              # doctest: +SKIP
    >>> runs = qid_runs("ladder/runs.csv", method="awq", group_size=32)      # doctest: +SKIP
    >>> fit = sl.fit(runs, "qid", y="qid")                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import InputError
from ..runs import RunTable, read_runs
from .configs import weight_config

#: The metric the reshaped rows carry.
QID_METRIC = "qid"
#: Bit widths fitted by default, as Ouyang et al. do: at 8 bits QiD is at the noise floor of a
#: validation loss (our ladder's control), and on log values that noise would swamp the law.
FIT_BITS = (2, 3, 4)


def qid_runs(
    runs: Any,
    *,
    method: str = "awq",
    group_size: int | None = 32,
    symmetric: bool = False,
    bits: Iterable[int] = FIT_BITS,
) -> RunTable:
    """Rows ``qid_w<b>...`` of one quantizer family as metric ``qid`` with a column ``bits``.

    ``runs`` is anything :func:`scalinglab.read_runs` reads; ``bits`` the widths kept (default
    2, 3, 4: see :data:`FIT_BITS`). Each row's ``run_id`` gains
    ``:w<b>`` (a run table holds one value per run, step and metric), so the bootstrap resamples
    (checkpoint, bit width) pairs. Rows with QiD <= 0 (no measurable degradation, typically 8
    bits) are dropped and counted in the table's notes: the law is fitted on log values.
    """
    table = read_runs(runs)
    df = table.df
    wanted = list(bits)
    names = {
        weight_config(b, group_size, method=method, symmetric=symmetric).name: b for b in wanted
    }
    metrics = {f"qid_{name}": b for name, b in names.items()}
    rows = df[df["metric"].isin(list(metrics))].copy()
    if rows.empty:
        have = sorted(m for m in df["metric"].unique() if str(m).startswith("qid_"))
        raise InputError(
            f"no metric {' / '.join(metrics)} in the runs (QiD metrics there: "
            f"{', '.join(have) or 'none'})"
        )
    rows["bits"] = rows["metric"].map(metrics).astype(float)
    rows["run_id"] = rows["run_id"].astype(str) + ":w" + rows["bits"].astype(int).astype(str)
    rows["metric"] = QID_METRIC
    positive = rows["value"] > 0
    notes = [*table.notes, f"{len(rows)} QiD rows of {', '.join(sorted(names))}"]
    if not positive.all():
        notes.append(f"{int((~positive).sum())} rows with QiD <= 0 dropped (no measurable loss)")
    return RunTable(rows[positive], table.source, notes)
