"""Train one run: AdamW, a schedule, validation every K steps, checkpoints, resume.

A flat loop in the nanoGPT manner: :func:`train_run` reads top to bottom (set up, resume, the
loop, the result). The bookkeeping around the loop is in small helpers above it: the batches
(:class:`Batches`), the evaluation (:func:`evaluate`), the train losses read back from the
device and checked for divergence (:class:`TrainLosses`), the throughput clock
(:class:`Throughput`) and the checkpoint (:func:`save_checkpoint`, :func:`load_checkpoint`).
Every knob is on :class:`RunConfig`. A run lives in its own folder::

    <run_dir>/config.json   what it computes
    <run_dir>/ckpt.pt       latest checkpoint (model, optimizer, step, rows so far); atomic
    <run_dir>/rows.csv      its run-table rows, written when the run ends
    <run_dir>/result.json   status ("done", "diverged"), reason, speed; its presence = finished

Batches are drawn from a generator seeded by ``(seed, step)``, so a resumed run sees exactly
the batches it would have seen had it never stopped. Losses stay on the device and are read
back every few steps, so the GPU is never waited on per step.
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
from .runtable import Row, run_rows

#: ``on_progress(run_id, step, steps, {"train_loss": latest})`` at every read-back of the losses.
ProgressFn = Callable[[str, int, int, dict], None]
#: ``after_step(cfg, step)`` after each step, its evaluation and its checkpoint. Raising from it
#: stops the run as a kill would: the next call resumes from the latest checkpoint. Tests use it
#: to crash a run at a chosen step.
AfterStep = Callable[[RunConfig, int], None]


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else the first GPU if there is one, else the CPU."""
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
        self.seed = cfg.batch_seed

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


class TrainLosses:
    """Train losses held on the device, read back every few steps and checked for divergence.

    Reading a loss back waits for the device, so the loop queues the loss tensors and reads
    them all in one transfer at its sync points. A run has diverged when a loss is not finite,
    or when after warm-up it is more than 1 nat above both its first loss and ln(vocab) (the
    loss of a uniform guess).
    """

    def __init__(self, cfg: RunConfig, warmup_steps: int, rows: list[Row]) -> None:
        self.cfg, self.warmup_steps = cfg, warmup_steps
        self.tokens_per_step = cfg.batch_size * cfg.shape.seq_len
        self.pending: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, loss on device)
        # A resumed run finds its first loss in the rows its checkpoint kept.
        self.first = next((r.value for r in rows if r.metric == "train_loss"), None)

    def add(self, step: int, lr: float, loss: torch.Tensor) -> None:
        self.pending.append((step, lr, loss.detach()))

    def read_back(self, rows: list[Row]) -> str:
        """Append the logged steps' rows to ``rows``; return why the run diverged, or ""."""
        if not self.pending:
            return ""
        cfg = self.cfg
        values = torch.stack([loss for _, _, loss in self.pending]).float().cpu().tolist()
        problem = ""
        for (step, lr, _), value in zip(self.pending, values, strict=True):
            if self.first is None:
                self.first = value
            if not math.isfinite(value):
                problem = problem or f"non-finite train loss at step {step}"
            elif (
                step > self.warmup_steps
                and value > max(self.first, math.log(cfg.shape.vocab_size)) + 1.0
            ):
                problem = problem or (
                    f"train loss {value:.3f} at step {step} diverged from {self.first:.3f}"
                )
            if step % cfg.log_every == 0 or step == cfg.steps:
                rows.append(Row(step, "train_loss", value, step * self.tokens_per_step, lr))
        self.pending.clear()
        return problem


class Throughput:
    """Training tokens per second, timed between the loop's sync points.

    The first steps of an attempt (up to 10, or a tenth of the run) are not timed: they include
    ``torch.compile``'s compilation. Nor are evaluations and checkpoint writes: the clock
    restarts after them.
    """

    def __init__(self, start_step: int, steps: int, tokens_per_step: int) -> None:
        self.untimed_until = start_step + min(10, steps // 10)
        self.tokens_per_step = tokens_per_step
        self.tokens, self.seconds = 0, 0.0
        self.restart(start_step)

    def restart(self, step: int) -> None:
        self.since, self.since_step = time.perf_counter(), step

    def lap(self, step: int) -> None:
        """Time the steps since the last restart (call it once the device has caught up)."""
        if step - self.since_step >= 1 and self.since_step >= self.untimed_until:
            self.tokens += (step - self.since_step) * self.tokens_per_step
            self.seconds += time.perf_counter() - self.since

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


def save_checkpoint(path: Path, model, opt, step: int, rows: list[Row], elapsed_s: float) -> None:
    """Write the run's state to a temporary file, then rename it: a kill never leaves half."""
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        # Plain tuples, so that a checkpoint does not depend on where Row is defined.
        "rows": [tuple(row) for row in rows],
        "elapsed": elapsed_s,
    }
    _atomic_save(state, path)


def load_checkpoint(path: Path, model, opt, device: torch.device) -> tuple[int, list[Row], float]:
    """Restore ``model`` and ``opt`` from ``path``: (step, rows, elapsed seconds) so far.

    Without a checkpoint, ``(0, [], 0.0)``: the run starts from scratch.
    """
    if not path.exists():
        return 0, [], 0.0
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    return state["step"], [Row(*row) for row in state["rows"]], state["elapsed"]


def _checkpoint(model, cfg: RunConfig, corpus: Corpus, dev, autocast, batches: Batches, step: int):
    """What the run's evaluators see at ``step`` (ladder/evaluation.py)."""
    from .evaluation import Checkpoint

    calibration = torch.cat([batches.train_batch(-1 - i)[0] for i in range(4)])  # not a train step
    return Checkpoint(
        model=model, cfg=cfg, corpus=corpus, device=dev, autocast=autocast, step=step,
        val_loss=lambda m: evaluate(m, batches, cfg.batch_size, autocast),
        calibration=calibration,
        validation=torch.cat([batches.val_x[:8], batches.val_y[:8, -1:]], dim=1),
    )  # fmt: skip


def _measure(
    model, cfg: RunConfig, corpus: Corpus, dev, autocast, batches: Batches, step: int,
    run_dir: Path, rows: list[Row], lr: float,
) -> None:  # fmt: skip
    """Run the config's evaluators at ``step`` (rows appended), keep the weights if asked."""
    from .evaluation import evaluate_checkpoint, save_weights

    if cfg.keep_weights:
        save_weights(run_dir, model, cfg, step)
    if cfg.evaluate:
        tokens = step * cfg.batch_size * cfg.shape.seq_len
        ckpt = _checkpoint(model, cfg, corpus, dev, autocast, batches, step)
        for metric, value in evaluate_checkpoint(ckpt).items():
            rows.append(Row(step, metric, float(value), tokens, lr))


def train_run(
    cfg: RunConfig,
    run_dir: str | os.PathLike,
    *,
    corpus: Corpus | None = None,
    device: str | None = None,
    on_progress: ProgressFn | None = None,
    after_step: AfterStep | None = None,
) -> dict:
    """Train (or resume, or skip if finished) one run; return its ``result.json`` content.

    Example (a few seconds on a CPU)::

        shape = ModelShape(d_model=32, n_layers=1, n_heads=2, seq_len=32)
        cfg = RunConfig(family="demo", shape=shape, tokens=8 * 32 * 100, batch_size=8,
                        corpus="texts/")  # a folder of text files (default: Python's source)
        train_run(cfg, "runs/demo")["final_val_loss"]  # the run table: runs/demo/rows.csv
    """
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
    start, rows, elapsed = load_checkpoint(ckpt_file, model, opt, dev)
    use_compile = cfg.compiles_on(dev.type)
    step_model = torch.compile(model) if use_compile else model
    autocast, precision = _autocast_factory(cfg, dev)
    batches = Batches(corpus, cfg, dev)

    steps, tokens_per_step = cfg.steps, cfg.batch_size * cfg.shape.seq_len
    warmup_steps = round(cfg.warmup * steps)
    lr_by_step = schedule_lr(
        cfg.schedule,
        steps,
        cfg.lr,
        warmup_steps=warmup_steps,
        min_lr_ratio=cfg.min_lr_ratio,
        decay_fraction=cfg.decay_fraction,
    )
    read_back_every = 50 if dev.type == "cuda" else 10
    losses = TrainLosses(cfg, warmup_steps, rows)
    clock = Throughput(start, steps, tokens_per_step)
    t0 = time.perf_counter()
    status, reason = "done", ""

    measure_at = set(cfg.evaluation_steps) if (cfg.evaluate or cfg.keep_weights) else set()

    def settle(step: int) -> str:
        """Wait for the device: losses read back, time lapped; why the run diverged, or ""."""
        problem = losses.read_back(rows)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        clock.lap(step)
        return problem

    model.train()
    for step in range(start + 1, steps + 1):
        lr = float(lr_by_step[step - 1])
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = batches.train_batch(step)
        with autocast():
            loss = step_model(x, y)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.add(step, lr, loss)

        is_eval = step % cfg.eval_every == 0 or step == steps
        is_ckpt = step % cfg.ckpt_every == 0
        if is_eval or is_ckpt or step % read_back_every == 0:  # the loop's only waits
            problem = settle(step)
            if problem:
                status, reason = "diverged", problem
                break
            if is_eval:
                # the eager model: no recompiles for eval mode or a short last batch
                val_loss = evaluate(model, batches, cfg.batch_size, autocast)
                rows.append(Row(step, "val_loss", val_loss, step * tokens_per_step, lr))
                if not math.isfinite(val_loss):
                    status, reason = "diverged", f"non-finite validation loss at step {step}"
                    break
            if on_progress:
                last = next((r.value for r in reversed(rows) if r.metric == "train_loss"), math.nan)
                on_progress(cfg.run_id, step, steps, {"train_loss": last})
            if is_ckpt and step < steps:
                elapsed_s = elapsed + time.perf_counter() - t0
                save_checkpoint(ckpt_file, model, opt, step, rows, elapsed_s)
            clock.restart(step)
        if step in measure_at:  # after the step's own bookkeeping; timed apart from training
            problem = settle(step)
            if problem:
                status, reason = "diverged", problem
                break
            _measure(model, cfg, corpus, dev, autocast, batches, step, run_dir, rows, lr)
            clock.restart(step)
        if after_step:
            after_step(cfg, step)

    final_val = None
    if status == "done":
        final_val = evaluate(model, batches, 2 * cfg.batch_size, autocast, final=True)
    logged = [r.value for r in rows if r.metric == "train_loss"]
    train_tail = logged[-max(1, min(20, steps // 20)) :]  # less noisy than the last step alone
    result = {
        "run_id": cfg.run_id,
        "status": status,
        "reason": reason,
        "steps": steps,
        "final_val_loss": final_val,
        "final_train_loss": float(np.mean(train_tail)) if train_tail else None,
        "tokens_per_s": clock.tokens_per_s,
        "elapsed_s": elapsed + time.perf_counter() - t0,
        "resumed_from_step": start or None,  # checkpoints come after step 1 at the earliest
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


def write_rows(cfg: RunConfig, rows: list[Row], result: dict, path: Path) -> None:
    """The run's run-table rows (DESIGN.md schema), per-step then final (``step`` empty)."""
    tmp = path.with_name(path.name + ".tmp")
    run_rows(cfg, rows, result).to_csv(tmp, index=False)
    os.replace(tmp, path)
