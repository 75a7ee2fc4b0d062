"""Run a sweep: skip finished runs, execute the rest, stream results into the run table.

Output folder::

    <out>/spec.toml     the spec as given
    <out>/runs/<id>/    one folder per run (see train.py)
    <out>/runs.csv      the run table of every finished run, rewritten as each run ends
    <out>/sweep.json    status of every run (done / diverged / failed and why), machine info

A run is finished when its ``result.json`` exists (done or diverged): re-running the sweep
skips it. A failed or interrupted run has none and is run again; it resumes from its
checkpoint.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..accelerators import ACCELERATORS
from ..errors import InputError
from . import executors
from .config import RunConfig
from .runtable import collect, write_table
from .sizing import flops_per_token, human
from .spec import Sweep

if TYPE_CHECKING:  # train.py imports torch: importing the ladder must not (torch is an extra)
    from .train import AfterStep

# The time model of `plan`. GPU: a compiled step takes the longer of its kernel-launch floor,
# which grows with depth, and its FLOPs at the model FLOP utilisation the ladder's trainer
# reaches at that width (measured on an H100: the bundled ladder's shapes alone and the
# 3.2M-202M benchmark, 8 measurements within 8%; docs/ladder.md). CPU: 2 cores' model FLOP/s,
# scaled by the cores present, and a per-step floor.
GPU_PEAK_FLOPS = ACCELERATORS["h100"]["peak_flops"]  # dense bf16, the machine measured
GPU_MFU_MAX, GPU_MFU_HALF_WIDTH = 0.553, 293.0  # MFU = max * d / (d + half_width)
GPU_STEP_FLOOR = (2.05e-3, 1.425e-3)  # seconds per step: base + per layer
GPU_COMPILE_SECONDS = 20.0  # measured 11-28 s per run
CPU_FLOPS, CPU_STEP_FLOOR, CPU_COMPILE_SECONDS = 5.0e10, 0.002, 40.0


def step_seconds(cfg: RunConfig, device: str) -> float:
    """Estimated seconds per optimizer step of ``cfg`` alone on ``device`` ("cuda" or "cpu").

    Example:
        >>> from scalinglab.ladder.sizing import ModelShape
        >>> cfg = RunConfig(family="f", shape=ModelShape(768, 12, 12, 1024), tokens=10**8,
        ...                 batch_size=32, lr=1e-3)
        >>> round(step_seconds(cfg, "cuda") * 1e3)  # ms; measured 51.2 on an H100
        52
    """
    flops = cfg.flops_attn / cfg.steps
    if device == "cuda":
        d = cfg.shape.d_model
        rate = GPU_PEAK_FLOPS * GPU_MFU_MAX * d / (d + GPU_MFU_HALF_WIDTH)
        base, per_layer = GPU_STEP_FLOOR
        return max(flops / rate, base + per_layer * cfg.shape.n_layers)
    rate = CPU_FLOPS * max(1, min(os.cpu_count() or 1, 16)) / 2
    return max(flops / rate, CPU_STEP_FLOOR)


def estimate_seconds(cfg: RunConfig, device: str) -> float:
    """A rough wall-time estimate for one run alone on ``device`` ("cuda" or "cpu")."""
    compile_seconds = GPU_COMPILE_SECONDS if device == "cuda" else CPU_COMPILE_SECONDS
    return cfg.steps * step_seconds(cfg, device) + (
        compile_seconds if cfg.compiles_on(device) else 2.0
    )


def plan_rows(sweep: Sweep, device: str = "cpu") -> list[dict]:
    rows = []
    for cfg in sweep.runs:
        rows.append(
            {
                "run_id": cfg.run_id,
                "family": cfg.family,
                "d_model": cfg.shape.d_model,
                "n_layers": cfg.shape.n_layers,
                "params": cfg.params,
                "params_total": cfg.params_total,
                "tokens": cfg.tokens_trained,
                "tokens_per_param": cfg.tokens_trained / cfg.params,
                "steps": cfg.steps,
                "batch_size": cfg.batch_size,
                "lr": cfg.lr,
                "schedule": cfg.schedule,
                "seed": cfg.seed,
                "flops": cfg.flops,
                "flops_attn": cfg.flops_attn,
                "flops_per_token": flops_per_token(cfg.shape),
                "est_seconds": estimate_seconds(cfg, device),
            }
        )
    return rows


def machine_info() -> dict:
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import numpy
        import torch

        info.update(
            torch=torch.__version__,
            numpy=numpy.__version__,
            cuda=torch.version.cuda,
            gpus=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        )
    except ImportError:
        pass
    return info


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError(
            "the ladder needs the torch extra: pip install 'scalinglab[torch]'"
        ) from None


def run_sweep(
    sweep: Sweep,
    out: str | os.PathLike,
    *,
    executor: str = "local",
    device: str | None = None,
    ray_address: str | None = None,
    num_gpus: float | None = None,
    runs_per_device: int = 1,
    devices: list[str] | None = None,
    reporter=None,
    after_step: AfterStep | None = None,
) -> dict:
    """Execute ``sweep`` into ``out``; returns the ``sweep.json`` summary.

    ``reporter`` (optional) gets ``start(sweep, todo)``, ``progress(run_id, step, steps, info)``,
    ``finished(cfg, result)`` and ``stop()`` calls; the CLI draws rich progress bars with it.
    ``after_step`` (optional) is called after every step of every run (see
    :func:`scalinglab.ladder.train.train_run`; the multi-gpu and Ray executors pickle it).
    """
    _require_torch()
    if executor not in executors.EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; known: {', '.join(executors.EXECUTORS)}")
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if sweep.text:
        (out / "spec.toml").write_text(sweep.text)
    from .corpus import load_corpus

    # Build (or find) the cached corpus once, before any worker starts.
    corpus = load_corpus(sweep.corpus, val_fraction=sweep.val_fraction, dtype=sweep.corpus_dtype)
    status_file = out / "sweep.json"
    statuses: dict[str, dict] = {}
    todo, skipped = [], []
    for cfg in sweep.runs:
        result_file = out / "runs" / cfg.run_id / "result.json"
        if result_file.exists():
            statuses[cfg.run_id] = json.loads(result_file.read_text())
            skipped.append(cfg.run_id)
        else:
            todo.append(cfg)
    ids = [cfg.run_id for cfg in sweep.runs]
    summary = {
        "name": sweep.name,
        "executor": executor,
        "corpus_fingerprint": corpus.fingerprint,
        "corpus_train_tokens": corpus.n_train,
        "machine": machine_info(),
        "skipped": skipped,
        "runs": statuses,
    }

    def save() -> None:
        write_table(collect(out, ids), out / "runs.csv")
        summary["counts"] = {
            s: sum(1 for r in statuses.values() if r.get("status") == s)
            for s in ("done", "diverged", "failed")
        }
        tmp = status_file.with_name("sweep.json.tmp")
        tmp.write_text(json.dumps(summary, indent=1, default=str))
        tmp.replace(status_file)

    progress = reporter.progress if reporter else None
    if executor == "local":
        stream = executors.run_local(
            todo, out, device=device, progress=progress, after_step=after_step
        )
    elif executor == "multi-gpu":
        stream = executors.run_multi_gpu(
            todo,
            out,
            devices=devices,
            runs_per_device=runs_per_device,
            progress=progress,
            after_step=after_step,
        )
    else:
        stream = executors.run_ray(
            todo,
            out,
            num_gpus=num_gpus,
            address=ray_address,
            progress=progress,
            after_step=after_step,
        )
    if reporter:
        reporter.start(sweep, todo)
    t0 = time.perf_counter()
    try:
        for cfg, result in stream:
            rows_csv = result.pop("rows_csv", "")
            rows_file = out / "runs" / cfg.run_id / "rows.csv"
            if rows_csv and not rows_file.exists():  # Ray node without a shared file system
                rows_file.parent.mkdir(parents=True, exist_ok=True)
                rows_file.write_text(rows_csv)
            statuses[cfg.run_id] = {k: v for k, v in result.items()}
            if reporter:
                reporter.finished(cfg, result)
            save()
    finally:
        if reporter:
            reporter.stop()
    summary["elapsed_s"] = time.perf_counter() - t0
    save()
    return summary


def describe(cfg: RunConfig) -> str:
    s = cfg.shape
    return (
        f"d{s.d_model} L{s.n_layers} {human(cfg.params)} params, "
        f"{human(cfg.tokens_trained)} tokens, {cfg.schedule}"
    )
