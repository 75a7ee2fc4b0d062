"""Shared pieces of the ladder tests: a tiny spec over a small corpus; a fault hook; a law fit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A small real corpus that every Python has: the stdlib's asyncio package (~0.5 MB).
SMALL_CORPUS = str(Path(asyncio.__file__).parent)

TINY_SPEC = f"""
name = "tiny"
[model]
seq_len = 32
sizes = [{{d_model = 16, n_layers = 1}}, {{d_model = 32, n_layers = 1}},
         {{d_model = 48, n_layers = 2}}, {{d_model = 64, n_layers = 2}}]
[budget]
tokens = [3e4, 6e4]
[train]
batch_size = 8
lr = "3e-3 * (32 / d_model)**0.5"
eval_every = 40
eval_tokens = 4096
final_eval_tokens = 16384
ckpt_every = 40
[corpus]
source = "{SMALL_CORPUS}"
val_fraction = 0.05
"""


class SimulatedKill(BaseException):
    """A killed process, as a test stages it: not an ``Exception``, so no executor records it
    as a failed run; like ``KeyboardInterrupt`` it ends the run and the sweep where they stand."""


@dataclass(frozen=True)
class CrashAfter:
    """An ``after_step`` hook: raise ``error`` after step ``step`` of the runs whose id contains
    ``run`` ("": every run), on every attempt.

    A module-level class, so the multi-gpu executor's spawned workers can unpickle it.
    """

    step: int
    run: str = ""
    error: type[BaseException] = SimulatedKill

    def __call__(self, cfg, step: int) -> None:
        if step == self.step and self.run in cfg.run_id:
            raise self.error(f"fault injected after step {step} of {cfg.run_id}")


def fit_chinchilla(params, tokens, loss) -> tuple[np.ndarray, float]:
    """E + A N^-a + B D^-b by least squares on log loss (scipy), returning (theta, rms rel err).

    Uses ``scalinglab.fit`` when the package provides it; scipy otherwise.
    """
    import scalinglab

    params, tokens, loss = (np.asarray(v, dtype=float) for v in (params, tokens, loss))
    fit = getattr(scalinglab, "fit", None)
    if callable(fit):
        import pandas as pd

        df = pd.DataFrame(
            {
                "family": "t",
                "run_id": [f"r{i}" for i in range(len(loss))],
                "params": params,
                "tokens": tokens,
                "flops": 6 * params * tokens,
                "step": np.nan,
                "metric": "val_loss",
                "value": loss,
            }
        )
        res = fit(df, law="chinchilla", y="val_loss")
        pred = np.asarray(res.predict(df)["value"], dtype=float)
        return np.asarray(list(res.params.values())), float(
            np.sqrt(np.mean((pred / loss - 1) ** 2))
        )
    from scipy.optimize import least_squares

    def model(th):
        e, a, al, b, be = th
        return e + np.exp(a) * params**-al + np.exp(b) * tokens**-be

    best = None
    for a0 in (0.2, 0.5):
        th0 = [0.5 * loss.min(), np.log(10.0), a0, np.log(10.0), a0]
        r = least_squares(
            lambda th: np.log(model(th)) - np.log(loss),
            th0,
            bounds=([0, -20, 0, -20, 0], [loss.min(), 30, 2, 30, 2]),
        )
        if best is None or r.cost < best.cost:
            best = r
    pred = model(best.x)
    return best.x, float(np.sqrt(np.mean((pred / loss - 1) ** 2)))
