"""Where runs execute: this process, one process per local GPU, or a Ray cluster.

Each executor takes the runs still to do and yields ``(config, result)`` as runs finish, so the
sweep can stream results into the run table. A run that raises is retried once (it resumes
from its checkpoint), then reported as ``{"status": "failed", "reason": ...}``; the other runs
carry on. Every worker trains through :func:`scalinglab.ladder.train.train_run`, which writes
the run's folder under ``<out>/runs/<run_id>``: for Ray on several machines ``out`` must be on
a shared file system (the rows also come back to the driver in the result).

An ``after_step`` hook (see :func:`~scalinglab.ladder.train.train_run`) goes to every run.
The multi-gpu and Ray executors pickle it into their workers: it must be a module-level
function (or an instance of a module-level class) that the workers can import.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .config import RunConfig

if TYPE_CHECKING:  # train.py imports torch: importing the ladder must not (torch is an extra)
    from .train import AfterStep, ProgressFn

EXECUTORS = ("local", "multi-gpu", "ray")
RETRIES = 1


def _failed(exc: BaseException) -> dict:
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    return {"status": "failed", "reason": last[:500]}


def run_in_worker(
    cfg_dict: dict,
    run_dir: str,
    device: str | None,
    cache: str | None,
    after_step: AfterStep | None = None,
) -> dict:
    """Train one run in a worker (picklable entry point for process pools and Ray)."""
    if cache:
        os.environ["SCALINGLAB_CACHE"] = cache
    from .train import train_run  # torch is imported in the worker, not the driver

    cfg = RunConfig.from_dict(cfg_dict)
    result = train_run(cfg, run_dir, device=device, after_step=after_step)
    rows = Path(run_dir) / "rows.csv"
    result["rows_csv"] = rows.read_text() if rows.exists() else ""
    return result


def run_local(
    runs: list[RunConfig],
    out: Path,
    *,
    device: str | None = None,
    progress: ProgressFn | None = None,
    after_step: AfterStep | None = None,
) -> Iterator[tuple[RunConfig, dict]]:
    """One run after another in this process (per-step progress for each).

    A kill (``KeyboardInterrupt``, or any other exception that is not an ``Exception``) ends
    the sweep instead of failing the run: the next sweep resumes it.
    """
    from .train import train_run

    for cfg in runs:
        result = None
        for attempt in range(RETRIES + 1):
            try:
                result = train_run(
                    cfg,
                    out / "runs" / cfg.run_id,
                    device=device,
                    on_progress=progress,
                    after_step=after_step,
                )
                break
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
                result = _failed(exc)
                result["attempts"] = attempt + 1
        yield cfg, result


_WORKER_DEVICE: str | None = None


def _pool_init(queue, threads: int) -> None:
    # Each pool worker takes one device for its whole life and sees only that GPU; it gets
    # its share of the CPU cores (oversubscribed OpenMP threads slow everything down).
    global _WORKER_DEVICE
    os.environ["OMP_NUM_THREADS"] = str(threads)
    device = queue.get()
    if device.startswith("cuda:"):
        os.environ["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1]
        device = "cuda:0"
    _WORKER_DEVICE = device


def _pool_run(
    cfg_dict: dict, run_dir: str, cache: str | None, after_step: AfterStep | None
) -> dict:
    return run_in_worker(cfg_dict, run_dir, _WORKER_DEVICE, cache, after_step)


def run_multi_gpu(
    runs: list[RunConfig],
    out: Path,
    *,
    devices: list[str] | None = None,
    runs_per_device: int = 1,
    progress: ProgressFn | None = None,
    after_step: AfterStep | None = None,
) -> Iterator[tuple[RunConfig, dict]]:
    """One worker process per local GPU (or ``runs_per_device`` per GPU), one run each.

    Several runs per GPU pay off for small models, whose steps are bound by kernel-launch
    overhead on the CPU: concurrent processes fill the GPU that one process leaves idle.
    ``devices`` defaults to every visible GPU (``["cuda:0", "cuda:1", ...]``).
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if devices is None:
        import torch

        devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if not devices:
        raise InputError("the multi-gpu executor found no CUDA device")
    slots = [d for d in devices for _ in range(max(1, runs_per_device))]
    ctx = mp.get_context("spawn")  # CUDA cannot be re-initialised in a forked child
    queue = ctx.Manager().Queue()
    for d in slots:
        queue.put(d)
    cache = os.environ.get("SCALINGLAB_CACHE")
    attempts = {cfg.run_id: 0 for cfg in runs}
    with ProcessPoolExecutor(
        len(slots),
        mp_context=ctx,
        initializer=_pool_init,
        initargs=(queue, max(1, (os.cpu_count() or 1) // len(slots))),
    ) as pool:

        def submit(cfg: RunConfig):
            attempts[cfg.run_id] += 1
            run_dir = str(out / "runs" / cfg.run_id)
            return pool.submit(_pool_run, cfg.to_dict(), run_dir, cache, after_step)

        # Longest runs first, so the pool does not end waiting on one big run.
        order = sorted(runs, key=lambda c: -c.flops_attn)
        pending = {submit(cfg): cfg for cfg in order}
        while pending:
            fut = next(as_completed(pending))
            cfg = pending.pop(fut)
            try:
                yield cfg, fut.result()
            except Exception as exc:  # noqa: BLE001
                if attempts[cfg.run_id] <= RETRIES:
                    pending[submit(cfg)] = cfg
                else:
                    yield cfg, {**_failed(exc), "attempts": attempts[cfg.run_id]}


def run_ray(
    runs: list[RunConfig],
    out: Path,
    *,
    num_gpus: float | None = None,
    num_cpus: float = 1,
    address: str | None = None,
    progress: ProgressFn | None = None,
    after_step: AfterStep | None = None,
) -> Iterator[tuple[RunConfig, dict]]:
    """Each run a Ray task (``num_gpus`` each); results stream back as tasks finish.

    Connects to ``address`` (or ``$RAY_ADDRESS``), else to a running ``ray.init()`` in this
    process, else starts a local cluster. Ray's own task retries are off: a failed task is
    resubmitted once here (it resumes from its checkpoint), then recorded as failed.
    """
    try:
        import ray
    except ImportError:
        raise InputError(
            "the ray executor needs the ray extra: pip install 'scalinglab[ray]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    if num_gpus is None:
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    task = ray.remote(run_in_worker).options(
        num_gpus=num_gpus, num_cpus=num_cpus, max_retries=0, retry_exceptions=False
    )
    cache = os.environ.get("SCALINGLAB_CACHE")
    device = None if num_gpus else "cpu"
    attempts = {cfg.run_id: 0 for cfg in runs}

    def submit(cfg: RunConfig):
        attempts[cfg.run_id] += 1
        run_dir = str(out / "runs" / cfg.run_id)
        return task.remote(cfg.to_dict(), run_dir, device, cache, after_step)

    pending = {submit(cfg): cfg for cfg in runs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        ref = done[0]
        cfg = pending.pop(ref)
        try:
            result = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - RayTaskError wraps the worker's exception
            if attempts[cfg.run_id] <= RETRIES:
                pending[submit(cfg)] = cfg
                continue
            result = {
                **_failed(getattr(exc, "cause", None) or exc),
                "attempts": attempts[cfg.run_id],
            }
        if progress and result.get("status") != "failed":
            progress(cfg.run_id, cfg.steps, cfg.steps, {})
        yield cfg, result
