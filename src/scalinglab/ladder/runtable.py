"""Run-table rows (DESIGN.md schema) for ladder runs, and the sweep's combined table.

Columns: ``family, run_id, params, tokens, flops, step, metric, value`` then extras. ``params``
is the non-embedding count; ``flops = 6 * params * tokens``; ``flops_attn`` adds the attention
term. Per-step rows carry the optimizer step; one final row per metric has ``step`` empty
(final validation loss on the whole fixed held-out set; final train loss = mean of the last
steps), so fitting final values needs no option.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .config import RunConfig
from .sizing import flops_per_token

COLUMNS = ["family", "run_id", "params", "tokens", "flops", "step", "metric", "value"]
EXTRAS = [
    "flops_attn",
    "lr",
    "params_total",
    "d_model",
    "n_layers",
    "n_heads",
    "seq_len",
    "batch_size",
    "schedule",
    "peak_lr",
    "seed",
    "data_seed",
    "status",
    "corpus_fingerprint",
]


class Row(NamedTuple):
    """One value a run logs while it trains; :func:`run_rows` adds the columns the run shares.

    Example:
        >>> row = Row(step=40, metric="val_loss", value=3.21, tokens=40 * 256, lr=3e-3)
        >>> row.metric, row.tokens
        ('val_loss', 10240)
    """

    step: int | None  # optimizer step; None on a run's final rows (DESIGN.md: empty = final)
    metric: str  # "train_loss" or "val_loss", nats per token
    value: float
    tokens: int  # tokens trained on up to this step
    lr: float  # learning rate used at this step


def run_rows(cfg: RunConfig, rows: list[Row], result: dict) -> pd.DataFrame:
    """One run's table: its logged ``rows``, then (if it finished) one final row per metric."""
    per_step = pd.DataFrame(rows, columns=Row._fields)
    final = []
    if result["status"] == "done":
        total = cfg.tokens_trained
        last_lr = per_step["lr"].iloc[-1] if len(per_step) else np.nan
        final.append(Row(None, "val_loss", result["final_val_loss"], total, last_lr))
        if result.get("final_train_loss") is not None:
            final.append(Row(None, "train_loss", result["final_train_loss"], total, last_lr))
        # measurements of the final model (ladder/evaluation.py) are final values too
        measured = per_step[~per_step["metric"].isin(["train_loss", "val_loss"])]
        at_end = measured[measured["step"] == cfg.steps]
        final += [Row(None, m, v, total, lr) for m, v, lr in
                  zip(at_end["metric"], at_end["value"], at_end["lr"], strict=True)]  # fmt: skip
    df = pd.concat([per_step, pd.DataFrame(final, columns=Row._fields)], ignore_index=True)
    df["step"] = df["step"].astype("Int64")
    df["tokens"] = df["tokens"].astype("int64")
    s = cfg.shape
    df["family"] = cfg.family
    df["run_id"] = cfg.run_id
    df["params"] = cfg.params
    df["flops"] = 6.0 * cfg.params * df["tokens"]
    df["flops_attn"] = flops_per_token(s, attention=True) * df["tokens"]
    df["params_total"] = cfg.params_total
    df["d_model"], df["n_layers"], df["n_heads"] = s.d_model, s.n_layers, s.n_heads
    df["seq_len"], df["batch_size"] = s.seq_len, cfg.batch_size
    df["schedule"], df["peak_lr"], df["seed"] = cfg.schedule, cfg.lr, cfg.seed
    df["data_seed"] = cfg.batch_seed
    df["status"] = result["status"]
    df["corpus_fingerprint"] = result.get("corpus_fingerprint", "")
    return df[COLUMNS + EXTRAS]


def collect(out_dir: str | Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the ``rows.csv`` of finished runs under ``out_dir/runs`` (sorted by id)."""
    runs = Path(out_dir) / "runs"
    frames = []
    ids = run_ids if run_ids is not None else sorted(p.name for p in runs.glob("*") if p.is_dir())
    for rid in ids:
        f = runs / rid / "rows.csv"
        if f.exists():
            frames.append(pd.read_csv(f, dtype={"step": "Int64"}))
    if not frames:
        return pd.DataFrame(columns=COLUMNS + EXTRAS)
    return pd.concat(frames, ignore_index=True)


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
