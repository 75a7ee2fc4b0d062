"""Train one run: AdamW, a schedule, validation every K steps, checkpoints, resume.

A flat loop in the nanoGPT manner. Every knob is on :class:`RunConfig`. A run lives in its own
folder::

    <run_dir>/config.json   what it computes
    <run_dir>/ckpt.pt       latest checkpoint (model, optimizer, step, rows so far); atomic
    <run_dir>/rows.csv      its run-table rows, written when the run ends
    <run_dir>/result.json   status ("done", "diverged"), reason, speed; its presence = finished

Batches are drawn from a generator seeded by ``(seed, step)``, so a resumed run sees exactly
the batches it would have seen had it never stopped. Losses stay on the device and are read
back every ``flush`` steps, so the GPU is never waited on per step.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..runs.schedules import schedule_lr
from .config import RunConfig
from .corpus import Corpus, load_corpus
from .model import GPT

# Tests: simulate a kill after step S of every run ("S") or of runs whose id contains X ("X:S").
CRASH_ENV = "SCALINGLAB_LADDER_CRASH_AFTER_STEP"


def _crash_step(run_id: str) -> int:
    value = os.environ.get(CRASH_ENV, "")
    if not value:
        return 0
    target, _, step = value.rpartition(":")
    return int(step) if not target or target in run_id else 0


class SimulatedCrash(RuntimeError):
    """Raised after step ``$SCALINGLAB_LADDER_CRASH_AFTER_STEP`` to test resume."""


ProgressFn = Callable[[str, int, int, dict], None]


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Batches:
    """Random windows of the train split; the fixed held-out windows of the validation split."""

    def __init__(self, corpus: Corpus, cfg: RunConfig, device: torch.device) -> None:
        t = cfg.shape.seq_len
        with warnings.catch_warnings():  # memmaps are read-only; we never write through them
            warnings.simplefilter("ignore", UserWarning)
            train = torch.from_numpy(np.asarray(corpus.train))
            n_val_tokens = max(cfg.eval_tokens, cfg.final_eval_tokens) + 1
            val = torch.from_numpy(np.ascontiguousarray(corpus.val[:n_val_tokens]))
        # On a GPU the whole train split lives in device memory: sampling is then one gather
        # and the host never stalls the stream. Off-GPU, index the memory map directly.
        if device.type == "cuda" and train.numel() < 4e9:
            train = train.to(device)
        self.train, self.device, self.t, self.b = train, device, t, cfg.batch_size
        if self.train.numel() < t + 2:
            raise ValueError("the train split is shorter than one sequence")
        n_val = (val.numel() - 1) // t
        if n_val < 1:
            raise ValueError("the validation split is shorter than one sequence")
        val = val.to(device)
        self.val_x = val[: n_val * t].view(n_val, t)
        self.val_y = val[1 : n_val * t + 1].view(n_val, t)
        # The periodic evaluation reads windows spread evenly over the final evaluation's set,
        # so the two estimate the same loss (a prefix would be a handful of files).
        n_eval = max(1, min(n_val, cfg.eval_tokens // t))
        self.eval_index = torch.linspace(0, n_val - 1, n_eval, device=device).round().long()
        self.arange = torch.arange(t + 1, device=train.device)
        self.gen = torch.Generator(device=train.device)
        self.seed = cfg.seed

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.gen.manual_seed(self.seed * 1_000_003 + step)
        hi = self.train.numel() - self.t - 1
        offsets = torch.randint(0, hi, (self.b,), generator=self.gen, device=self.train.device)
        chunk = self.train[offsets[:, None] + self.arange].to(self.device, non_blocking=True)
        chunk = chunk.long()
        return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def evaluate(model, batches: Batches, batch_size: int, autocast, *, final: bool = False) -> float:
    """Mean loss in nats per token over the fixed validation windows (all of them if final)."""
    model.eval()
    total = torch.zeros((), device=batches.device, dtype=torch.float64)
    index = None if final else batches.eval_index
    n = batches.val_x.shape[0] if final else index.numel()
    for i in range(0, n, batch_size):
        rows = slice(i, i + batch_size) if final else index[i : i + batch_size]
        x, y = batches.val_x[rows].long(), batches.val_y[rows].long()
        with autocast():
            total += model(x, y).double() * x.shape[0]
    model.train()
    return float(total / n)


def _autocast_factory(cfg: RunConfig, device: torch.device):
    use_bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda")

    def factory():
        if use_bf16:
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return torch.autocast(device_type=device.type, enabled=False)

    return factory, ("bf16" if use_bf16 else "fp32")


def train_run(
    cfg: RunConfig,
    run_dir: str | os.PathLike,
    *,
    corpus: Corpus | None = None,
    device: str | None = None,
    on_progress: ProgressFn | None = None,
) -> dict:
    """Train (or resume, or skip if finished) one run; return its ``result.json`` content."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    result_file, ckpt_file = run_dir / "result.json", run_dir / "ckpt.pt"
    if result_file.exists():
        return json.loads(result_file.read_text())
    _atomic_write(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=1))
    corpus = corpus or load_corpus(
        cfg.corpus, val_fraction=cfg.val_fraction, dtype=cfg.corpus_dtype
    )
    dev = pick_device(device)
    torch.manual_seed(cfg.seed)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    model = GPT(cfg.shape).to(dev)
    groups = model.optimizer_groups(cfg.weight_decay)
    opt = torch.optim.AdamW(
        groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=dev.type == "cuda"
    )
    start, rows, elapsed, resumed_from = 0, [], 0.0, None
    if ckpt_file.exists():
        state = torch.load(ckpt_file, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, rows, elapsed = state["step"], state["rows"], state["elapsed"]
        resumed_from = start
    use_compile = cfg.compiles_on(dev.type)
    step_model = torch.compile(model) if use_compile else model
    autocast, precision = _autocast_factory(cfg, dev)
    batches = Batches(corpus, cfg, dev)

    steps, t = cfg.steps, cfg.shape.seq_len
    tokens_per_step = cfg.batch_size * t
    warmup_steps = round(cfg.warmup * steps)
    flush_every = 50 if dev.type == "cuda" else 10
    crash_after = _crash_step(cfg.run_id)
    pending: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, loss on device)
    first_loss = next((r[2] for r in rows if r[1] == "train_loss"), None)
    status, reason = "done", ""
    timed_tokens, timed_seconds, t0 = 0, 0.0, time.perf_counter()
    tick, tick_step = t0, start

    def flush(step: int) -> str:
        nonlocal first_loss
        if not pending:
            return ""
        values = torch.stack([p[2] for p in pending]).float().cpu().tolist()
        problem = ""
        for (s, lr, _), v in zip(pending, values, strict=True):
            if first_loss is None:
                first_loss = v
            if not math.isfinite(v):
                problem = problem or f"non-finite train loss at step {s}"
            elif s > warmup_steps and v > max(first_loss, math.log(cfg.shape.vocab_size)) + 1.0:
                problem = (
                    problem or f"train loss {v:.3f} at step {s} diverged from {first_loss:.3f}"
                )
            if s % cfg.log_every == 0 or s == steps:
                rows.append((s, "train_loss", v, s * tokens_per_step, lr))
        pending.clear()
        return problem

    lr_by_step = schedule_lr(
        cfg.schedule,
        steps,
        cfg.lr,
        warmup_steps=warmup_steps,
        min_lr_ratio=cfg.min_lr_ratio,
        decay_fraction=cfg.decay_fraction,
    )
    model.train()
    for step in range(start + 1, steps + 1):
        if cfg.fault_step is not None and step == cfg.fault_step:
            raise RuntimeError(f"fault injected at step {step} (fault_step)")
        lr = float(lr_by_step[step - 1])
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batches.train_batch(step)
        with autocast():
            loss = step_model(x, y)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        pending.append((step, lr, loss.detach()))

        is_eval = step % cfg.eval_every == 0 or step == steps
        is_ckpt = step % cfg.ckpt_every == 0 or step == crash_after
        if is_eval or is_ckpt or step % flush_every == 0:
            problem = flush(step)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if step - tick_step >= 1 and tick_step >= start + min(10, steps // 10):
                timed_tokens += (step - tick_step) * tokens_per_step  # skip compile steps
                timed_seconds += now - tick
            if problem:
                status, reason = "diverged", problem
                break
            if is_eval:
                # eager model: no recompiles for eval mode or a short last batch
                v = evaluate(model, batches, cfg.batch_size, autocast)
                rows.append((step, "val_loss", v, step * tokens_per_step, lr))
                if not math.isfinite(v):
                    status, reason = "diverged", f"non-finite validation loss at step {step}"
                    break
            if on_progress:
                last = next((r[2] for r in reversed(rows) if r[1] == "train_loss"), float("nan"))
                on_progress(cfg.run_id, step, steps, {"train_loss": last})
            if is_ckpt and step < steps:
                _atomic_save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "step": step,
                        "rows": rows,
                        "elapsed": elapsed + time.perf_counter() - t0,
                    },
                    ckpt_file,
                )
            tick, tick_step = time.perf_counter(), step
        if crash_after and step == crash_after:
            raise SimulatedCrash(f"simulated crash after step {step} (${CRASH_ENV})")

    final_val = None
    if status == "done":
        final_val = evaluate(model, batches, 2 * cfg.batch_size, autocast, final=True)
    train_tail = [r[2] for r in rows if r[1] == "train_loss"][-max(1, min(20, steps // 20)) :]
    result = {
        "run_id": cfg.run_id,
        "status": status,
        "reason": reason,
        "steps": steps,
        "final_val_loss": final_val,
        "final_train_loss": float(np.mean(train_tail)) if train_tail else None,
        "tokens_per_s": timed_tokens / timed_seconds if timed_seconds > 0 else None,
        "elapsed_s": elapsed + time.perf_counter() - t0,
        "resumed_from_step": resumed_from,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "precision": precision,
        "compiled": use_compile,
        "corpus_fingerprint": corpus.fingerprint,
        "torch": torch.__version__,
    }
    write_rows(cfg, rows, result, run_dir / "rows.csv")
    _atomic_write(result_file, json.dumps(result, indent=1))
    if ckpt_file.exists():
        ckpt_file.unlink()
    return result


def write_rows(cfg: RunConfig, rows: list, result: dict, path: Path) -> None:
    """The run's run-table rows (DESIGN.md schema), per-step then final (``step`` empty)."""
    from .runtable import run_rows

    run_rows(cfg, rows, result).to_csv(path.with_name(path.name + ".tmp"), index=False)
    os.replace(path.with_name(path.name + ".tmp"), path)
