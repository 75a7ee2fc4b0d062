"""Validate the bundled ladder: fit every size but the largest, predict the largest.

    python data/ladder/holdout_check.py [data/ladder/runs.csv]

Fits the Chinchilla law ``E + A N^-alpha + B D^-beta`` to the final validation losses (rows with
an empty ``step``) of the main grid (family ``gpu-ladder``) without the largest size, then
predicts the largest size's final validation loss at each of its budgets. Two fitters: the
package's own ``scalinglab.fit`` (Huber loss, bootstrap intervals) when it is importable, and
a plain scipy least-squares reference on log losses (best of a grid of starts).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def scipy_fit(params, tokens, loss):
    from scipy.optimize import least_squares

    def law(th, n, d):
        e, a, alpha, b, beta = th
        return e + np.exp(a) * n**-alpha + np.exp(b) * d**-beta

    best = None
    for alpha0 in (0.1, 0.3, 0.6):
        for beta0 in (0.1, 0.3, 0.6):
            for e0 in (0.0, 0.3, 0.6):
                r = least_squares(
                    lambda th: np.log(law(th, params, tokens)) - np.log(loss),
                    [e0, np.log(10.0), alpha0, np.log(10.0), beta0],
                    bounds=([0, -20, 0, -20, 0], [loss.min(), 40, 3, 40, 3]),
                )
                if best is None or r.cost < best.cost:
                    best = r
    return lambda n, d: law(best.x, n, d)


def main(path: str) -> None:
    df = pd.read_csv(path, dtype={"step": "Int64"})
    final = df[df.step.isna() & (df.metric == "val_loss") & (df.family == "gpu-ladder")]
    largest = final.params.max()
    train, test = final[final.params < largest], final[final.params == largest]
    n, d = test.params.to_numpy(float), test.tokens.to_numpy(float)
    truth = test.value.to_numpy(float)
    print(
        f"fit on {len(train)} runs ({train.params.nunique()} sizes up to "
        f"{train.params.max():,} params); predict {len(test)} runs of {largest:,} params"
    )
    predict = scipy_fit(
        train.params.to_numpy(float), train.tokens.to_numpy(float), train.value.to_numpy(float)
    )
    pred = predict(n, d)
    print("\nscipy least squares on log loss (reference):")
    for t, y, p in zip(d, truth, pred, strict=True):
        print(f"  tokens {t:12,.0f}  measured {y:.4f}  predicted {p:.4f}  error {p / y - 1:+.2%}")
    print(f"  mean |error| {np.mean(np.abs(pred / truth - 1)):.2%}")
    try:
        import scalinglab
    except ImportError:
        return
    fit = getattr(scalinglab, "fit", None)
    if not callable(fit):
        return
    result = fit(train, law="chinchilla", y="val_loss")
    pred = result.predict(test[["params", "tokens"]])
    print("\nscalinglab.fit (Huber; 90% prediction interval: bootstrap + run-to-run scatter):")
    for t, y, (_, row) in zip(d, truth, pred.iterrows(), strict=True):
        inside = row["pred_lo"] <= y <= row["pred_hi"]
        print(
            f"  tokens {t:12,.0f}  measured {y:.4f}  predicted {row['value']:.4f} "
            f"[{row['pred_lo']:.4f}, {row['pred_hi']:.4f}]  error {row['value'] / y - 1:+.2%}  "
            f"{'inside' if inside else 'OUTSIDE'} the interval"
        )
    print(f"  mean |error| {np.mean(np.abs(pred['value'].to_numpy() / truth - 1)):.2%}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "runs.csv"))
