"""The real studies scalinglab measures itself on, and how they are held out.

Every set of real runs we have: the three extractions of Chinchilla's runs (Epoch AI's, and two
of its IsoFLOP figure), Gadre et al.'s over-trained families (C4, RedPajama, RefinedWeb; their
C4 validation loss), and scalinglab's own GPU ladder with its independent re-training. Studies
that share their runs form a *group*: when one is scored, its whole group is left out of the
shipped prior (``scalinglab.fitting.extrapolation.leave_out``), so the prior never saw it.

Holdout protocols, each fitted on the rest and predicting the held-out runs:
``top_budget`` (the runs of the largest compute budget), ``largest_size`` (the largest model
size) and ``largest_two`` (the two largest sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import scalinglab as sl
from scalinglab.fitting.holdout import final_observations
from scalinglab.laws import get_law
from scalinglab.runs.budgets import budget_slices

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PROTOCOLS = ("top_budget", "largest_size", "largest_two")


@dataclass(frozen=True)
class Study:
    name: str
    group: str
    path: Path
    options: dict = field(default_factory=dict)

    def runs(self) -> sl.RunTable:
        table = sl.read_runs(self.path)
        family = self.options.get("family")
        return table.filter(family=family) if family else table

    @property
    def y(self) -> str | None:
        return self.options.get("y")


STUDIES = (
    Study("chinchilla_epoch", "chinchilla", SHARED / "chinchilla_epoch.csv"),
    Study("isoflops_epochai", "chinchilla", SHARED / "isoflops_epochai_chinchilla.csv"),
    Study("isoflops_scalefit", "chinchilla", SHARED / "isoflops_ml_scalefit.csv"),
    Study("gadre_c4", "gadre", SHARED / "overtrain_gadre.csv", {"family": "c4_original", "y": "loss_c4_val"}),
    Study("gadre_rpj", "gadre", SHARED / "overtrain_gadre.csv", {"family": "rpj", "y": "loss_c4_val"}),
    Study("gadre_rw", "gadre", SHARED / "overtrain_gadre.csv", {"family": "rw_original", "y": "loss_c4_val"}),
    Study("ladder", "ladder", ROOT / "data" / "ladder" / "runs.csv", {"family": "gpu-ladder", "y": "val_loss"}),
    Study("ladder_rerun", "ladder", SHARED / "ladder_rerun_h200" / "runs.csv", {"family": "gpu-ladder", "y": "val_loss"}),
)  # fmt: skip


def holdout(study: Study, table: sl.RunTable, protocol: str) -> str:
    """The ``--holdout`` expression of a protocol on a study's runs."""
    if protocol == "largest_size":
        return "largest:1"
    if protocol == "largest_two":
        return "largest:2"
    final = final_observations(table, get_law("chinchilla"), study.y)
    flops = final["flops"].to_numpy(dtype=float)
    budgets = budget_slices(flops)
    return f"flops >= {float(flops[budgets == budgets.max()].min())!r}"


def available() -> list[Study]:
    """The studies whose files are present (the shared data sit beside the checkout)."""
    return [s for s in STUDIES if s.path.is_file()]


def distinct(values: np.ndarray) -> int:
    return len(np.unique(values))
