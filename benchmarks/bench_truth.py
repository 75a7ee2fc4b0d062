"""Truthfulness: how far predictions miss on held-out real runs, and whether intervals cover.

    python benchmarks/bench_truth.py            # every study x protocol (about 10 minutes)
    python benchmarks/bench_truth.py --quick    # one protocol per study

For every real study (``benchmarks/studies.py``) and holdout protocol (the top compute budget;
the largest size; the two largest sizes), fit the rest and predict the held-out runs with
``chinchilla`` as given, ``chinchilla`` with ``--calibrate``, and ``auto`` (the law chosen by
cross-extrapolation). The study's whole group is left out of the shipped prior while it is
scored, and nothing about the held-out runs reaches the fit. Prints per case and pooled: mean
|relative error|, coverage of the 50%, 80% and 90% prediction intervals, the median 90%
half-width relative to the prediction, the median |error|, and auto's error against
chinchilla's (per case, and per study averaged over its protocols). Writes
``out/bench/truth.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import scalinglab as sl  # noqa: E402
from scalinglab.fitting.extrapolation import leave_out  # noqa: E402
from studies import PROTOCOLS, ROOT, available, holdout  # noqa: E402

METHODS = {
    "chinchilla": ("chinchilla", {}),
    "chinchilla --calibrate": ("chinchilla", {"calibrate": True}),
    "auto": ("auto", {}),
}
LEVELS = (0.5, 0.8, 0.9)


def score(study, table, protocol: str, method: str) -> dict:
    law, extra = METHODS[method]
    spec = holdout(study, table, protocol)
    t0 = time.perf_counter()
    with leave_out(study.group):
        bt = sl.backtest(table, law, sl.FitOptions(y=study.y, **extra), holdout=spec)
        points = bt.points
        at = points[list(bt.fit.law.variables)]
        row = {"study": study.name, "protocol": protocol, "method": method, "n": len(points),
               "chosen": bt.fit.law.name}  # fmt: skip
        actual = points["actual"].to_numpy()
        for level in LEVELS:
            pred = bt.fit.predict(at, interval=level)
            inside = (actual >= pred["pred_lo"].to_numpy()) & (actual <= pred["pred_hi"].to_numpy())
            row[f"inside{int(level * 100)}"] = inside.tolist()
            if level == 0.9:
                half = (pred["pred_hi"] - pred["pred_lo"]) / 2 / pred["value"]
                row["half_width90"] = half.tolist()
    row["rel_error"] = points["rel_error"].tolist()
    row["seconds"] = time.perf_counter() - t0
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one protocol per study")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    rows = []
    for study in available():
        table = study.runs()
        for protocol in PROTOCOLS[:1] if args.quick else PROTOCOLS:
            for method in args.methods:
                row = score(study, table, protocol, method)
                rows.append(row)
                print(f"{study.name:18s} {protocol:13s} {method:24s} n={row['n']:2d} "
                      f"|err| {np.mean(np.abs(row['rel_error'])):6.2%}  "
                      f"90% covers {np.mean(row['inside90']):4.0%}  "
                      f"half-width {np.median(row['half_width90']):6.2%}  {row['seconds']:5.1f} s",
                      flush=True)  # fmt: skip
    summarise(rows)
    if set(METHODS) <= {r["method"] for r in rows}:
        print("\n" + markdown(rows))
    out = ROOT / "out" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth.json").write_text(json.dumps(rows, indent=1))
    print(f"\nwritten {out / 'truth.json'}")
    print(timing())


def summarise(rows: list[dict]) -> None:
    cases = pd.DataFrame([{**{k: r[k] for k in ("study", "protocol", "method", "n")},
                           "mare": float(np.mean(np.abs(r["rel_error"])))} for r in rows])  # fmt: skip
    print("\n== pooled over every held-out run " + "=" * 40)
    print(f"{'method':26s}{'runs':>6}{'|err|':>8}{'cov50':>7}{'cov80':>7}{'cov90':>7}"
          f"{'med hw90':>10}{'med |err|':>10}{'hw/err':>8}")  # fmt: skip
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        err = np.abs(np.concatenate([r["rel_error"] for r in mine]))
        hw = np.concatenate([r["half_width90"] for r in mine])
        cov = {lv: np.mean(np.concatenate([r[f"inside{lv}"] for r in mine])) for lv in (50, 80, 90)}
        print(f"{method:26s}{len(err):6d}{err.mean():8.2%}{cov[50]:7.0%}{cov[80]:7.0%}{cov[90]:7.0%}"
              f"{np.median(hw):10.2%}{np.median(err):10.2%}{np.median(hw) / np.median(err):8.2f}")  # fmt: skip
    wide = cases.pivot_table(index=["study", "protocol"], columns="method", values="mare")
    if not {"auto", "chinchilla"} <= set(wide.columns):
        return
    ratio = wide["auto"] / wide["chinchilla"]
    per_study = wide.groupby("study").mean()
    study_ratio = per_study["auto"] / per_study["chinchilla"]
    print("\n== auto against chinchilla " + "=" * 46)
    print(
        f"median error ratio over {len(ratio)} study x protocol cases: {ratio.median():.2f} "
        f"(worst {ratio.max():.2f})"
    )
    print(
        "per study (mean |error| over its protocols): "
        + ", ".join(f"{s} {v:.2f}" for s, v in study_ratio.items())
        + f"; worst {study_ratio.max():.2f}"
    )


def markdown(rows: list[dict]) -> str:
    """The per-case table of docs/fitting.md."""
    frame = pd.DataFrame([{"study": r["study"], "protocol": r["protocol"], "method": r["method"],
                           "n": r["n"], "mare": np.mean(np.abs(r["rel_error"])),
                           "cov90": np.mean(r["inside90"]), "hw": np.median(r["half_width90"])}
                          for r in rows])  # fmt: skip
    lines = [
        "| study | held out | runs | chinchilla: error, 90% covered, half-width "
        "| `--calibrate`: covered, half-width | `auto`: error, covered, half-width "
        "| auto / chinchilla |",
        "|---|---|---|---|---|---|---|",
    ]
    for (study, protocol), group in frame.groupby(["study", "protocol"], sort=False):
        m = group.set_index("method")
        ch, ca, au = m.loc["chinchilla"], m.loc["chinchilla --calibrate"], m.loc["auto"]
        lines.append(
            f"| {study} | {protocol.replace('_', ' ')} | {int(ch.n)} "
            f"| {ch.mare:.2%}, {ch.cov90:.0%}, ±{ch.hw:.1%} | {ca.cov90:.0%}, ±{ca.hw:.1%} "
            f"| {au.mare:.2%}, {au.cov90:.0%}, ±{au.hw:.1%} | {au.mare / ch.mare:.2f} |"
        )
    return "\n".join(lines)


def timing() -> str:
    """`--law auto` on Epoch's 240 Chinchilla runs, with a single chinchilla fit beside it."""
    runs = sl.read_runs(ROOT.parent / "shared" / "data" / "chinchilla_epoch.csv")
    runs = runs.filter(where="value < 3.42")
    t0 = time.perf_counter()
    sl.fit(runs, "chinchilla")
    single = time.perf_counter() - t0
    t0 = time.perf_counter()
    sl.fit(runs, "auto")
    auto = time.perf_counter() - t0
    return f"fit --law auto on 240 Chinchilla runs: {auto:.1f} s (target < 30 s); chinchilla alone: {single:.2f} s"


if __name__ == "__main__":
    main()
