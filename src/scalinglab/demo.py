"""``scalinglab demo``: the whole flow on the bundled data, in one call.

The bundled data are the project's own ladder runs (``data/ladder/``) when present; until
they exist, Epoch AI's Chinchilla extraction in ``../shared/data/`` is used, and the demo says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .fitting.options import FitOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The demo lets the runs choose their law (cross-extrapolation, scalinglab.fitting.selection).
DEMO_LAW = "auto"


@dataclass
class DemoData:
    path: Path
    description: str
    fit_options: FitOptions
    backtest_holdout: str


def find_demo_data() -> DemoData:
    """The bundled ladder runs, else the shared Chinchilla data; InputError if neither."""
    ladder = REPO_ROOT / "data" / "ladder" / "runs.csv"
    if ladder.is_file():
        return DemoData(
            ladder,
            "the project's own ladder of small GPTs trained on one H100 (data/ladder/): final "
            "validation loss of the main cosine grid, 6 sizes x 3 token budgets",
            FitOptions(y="val_loss", family="gpu-ladder"),
            "largest:1",
        )
    shared = Path(os.environ.get("SCALINGLAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    chinchilla = shared / "chinchilla_epoch.csv"
    if chinchilla.is_file():
        return DemoData(
            chinchilla,
            "Epoch AI's extraction of Chinchilla's 245 runs (../shared/data/), without the five "
            "highest-loss runs, as Epoch did; the bundled ladder data are not built yet",
            FitOptions(where="value < 3.42"),
            "largest:2",
        )
    raise InputError(
        "no demo data: neither data/ladder/runs.csv nor ../shared/data/chinchilla_epoch.csv exists "
        "(set SCALINGLAB_SHARED_DATA to the folder of the shared data)"
    )


@dataclass
class DemoResult:
    data: DemoData
    outputs: dict[str, Path] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def run_demo(out_dir: Path, progress: Callable[[str, int, int], None] | None = None) -> DemoResult:
    """Import, fit, backtest, plan and report on the demo data; write the results under ``out_dir``."""
    from .analysis import analyse
    from .fitting.api import fit
    from .fitting.backtest import backtest
    from .report import render_report
    from .runs.store import Store

    data = find_demo_data()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(data)
    # A project store like a user's, rebuilt on every demo so that it holds exactly the bundled
    # runs (an old store would keep runs of an earlier version of the data).
    store_path = out_dir / "scalinglab.duckdb"
    for stale in (store_path, store_path.with_name(store_path.name + ".wal")):
        stale.unlink(missing_ok=True)
    store = Store.init(store_path)
    imported = store.import_files(
        [data.path],
        on_conflict="replace",
        progress=None if progress is None else (lambda d, t, _: progress("import", d, t)),
    )
    runs = store.runs()
    result.outputs["store"] = store.path
    result.lines.append(
        f"data: {data.description}: {len(runs)} rows from {data.path} "
        f"({imported.rows_added} new in the store {store.path})"
    )
    # The law is chosen by how well each candidate extrapolates inside the runs (law="auto").
    fitted = fit(runs, DEMO_LAW, data.fit_options, progress=progress)
    fit_id = store.save_fit(
        fitted.to_json(), data_hash=runs.data_hash(), law=fitted.law.name,
        options=_stored_options(data.fit_options),
    )  # fmt: skip
    result.outputs["fit"] = fitted.save(out_dir / "fit.json")
    result.lines.append(fitted.summary())
    result.lines.append(f"fit saved in the store as fit {fit_id}")
    bt = backtest(
        runs, DEMO_LAW, data.fit_options, holdout=data.backtest_holdout, progress=progress
    )
    (out_dir / "backtest.json").write_text(json.dumps(bt.to_json(), indent=1, default=float))
    result.outputs["backtest"] = out_dir / "backtest.json"
    result.lines.append(f"backtest ({data.backtest_holdout}): {bt.verdict}")
    hi = {v: fitted.data_range[v][1] * 10 for v in fitted.law.variables}
    pred = fitted.predict(hi)
    row = pred.iloc[0]
    at = ", ".join(f"{v}={hi[v]:.3g}" for v in fitted.law.variables)
    result.lines.append(
        f"prediction at 10x the largest run ({at}): {row['value']:.4f} "
        f"(90% interval of the law {row['lo']:.4f}..{row['hi']:.4f}; "
        f"of a run there {row['pred_lo']:.4f}..{row['pred_hi']:.4f}, {row['decades']:.1f} decades "
        "past the data)"
    )
    analysis = analyse(runs, DEMO_LAW, data.fit_options, fits=[fitted], backtests=[bt], at=[hi])
    report = render_report(analysis, title=f"scalinglab demo: {data.path.name}", progress=progress)
    result.outputs["report"] = report.write(out_dir / "report.html").resolve()
    plan = next((a for a in report.answers[0]["allocations"] if "error" not in a), None)
    if plan is not None:
        result.lines.append(
            f"compute-optimal at {plan['flops']:.3g} FLOPs: N={plan['params']:.3g}, "
            f"D={plan['tokens']:.3g}, predicted loss {plan['loss']:.4f}"
        )
    result.summary = {
        "data": str(data.path),
        "params": fitted.params,
        "backtest_mean_abs_rel_error": bt.mare,
        "prediction_at_10x": float(row["value"]),
        "compute_optimal": plan,
        "report": str(result.outputs["report"]),
        "outputs": {k: str(v) for k, v in result.outputs.items()},
    }
    return result


def _stored_options(options: FitOptions) -> dict[str, Any]:
    """The options a user set (those that differ from the defaults), as the store records them."""
    default = FitOptions().to_json()
    return {k: v for k, v in options.to_json().items() if v != default[k]}
