"""``scalinglab ladder ...``: plan and run ladders of small GPTs (torch only inside commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from .options import JsonOpt
from .output import EXIT_FAILED, command, console, emit_json, err_console, print_rows, say

app = typer.Typer(
    name="ladder",
    help="Train ladders of small GPTs: plan a sweep, run it, get a run table.",
    no_args_is_help=True,
    add_completion=False,
)

SpecArg = Annotated[Path | None, typer.Argument(help="Sweep spec (TOML).")]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="A named spec, e.g. cpu-tiny (see `presets`).")
]


def _sweep(spec: Path | None, preset: str | None) -> Any:
    from ..ladder.presets import preset as load_preset
    from ..ladder.spec import load_spec

    if (spec is None) == (preset is None):
        raise InputError("give either a SPEC file or `preset` NAME")
    return load_preset(preset) if preset else load_spec(spec)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


@app.command("plan")
@command
def plan(
    spec: SpecArg = None,
    preset: PresetOpt = None,
    device: Annotated[
        str, typer.Option(help="Device the estimate is for: auto, cpu or cuda.")
    ] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Print the runs a spec expands to, with their size, tokens, FLOPs and estimated time."""
    from ..ladder.sweep import plan_rows

    sweep = _sweep(spec, preset)
    if device == "auto":
        try:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            device = "cpu"
    if device not in ("cpu", "cuda"):
        raise InputError(f"must be auto, cpu or cuda, not {device!r}", option="device")
    rows = plan_rows(sweep, device)
    totals = {
        "runs": len(rows),
        "flops": sum(r["flops"] for r in rows),
        "flops_attn": sum(r["flops_attn"] for r in rows),
        "tokens": sum(r["tokens"] for r in rows),
        "est_seconds": sum(r["est_seconds"] for r in rows),
    }
    if as_json:
        emit_json({"name": sweep.name, "device": device, "runs": rows, "total": totals})
        return
    columns = ("run", "params", "total", "tokens", "tok/param", "steps", "batch", "lr",
               "schedule", "FLOPs", "est.")  # fmt: skip
    table = [
        (r["run_id"], f"{r['params']:,}", f"{r['params_total']:,}", f"{r['tokens']:,}",
         f"{r['tokens_per_param']:.1f}", str(r["steps"]), str(r["batch_size"]), f"{r['lr']:.2e}",
         r["schedule"], f"{r['flops']:.2e}", _duration(r["est_seconds"]))
        for r in rows
    ]  # fmt: skip
    print_rows(f"ladder {sweep.name}: {len(rows)} runs (estimates for {device})", columns, table,
               left=("run", "schedule"))  # fmt: skip
    say(
        f"total: {totals['tokens']:,} tokens, {totals['flops']:.2e} FLOPs "
        f"({totals['flops_attn']:.2e} with attention), about "
        f"{_duration(totals['est_seconds'])} on {device}, one run at a time"
    )
    if device == "cuda":
        say(
            "small models leave a GPU mostly idle: with `ladder run --executor multi-gpu "
            "--runs-per-gpu 4` the bundled ladder took half its estimate here"
        )


class _RichReporter:
    """Rich progress bars on stderr: one per run (local executor) and one overall."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=err_console,
        )  # fmt: skip
        self.tasks: dict[str, Any] = {}
        self.overall: Any = None

    def start(self, sweep: Any, todo: Any) -> None:
        self.bars.start()
        self.overall = self.bars.add_task(f"{sweep.name} (all runs)", total=len(todo), info="")

    def progress(self, run_id: str, step: int, steps: int, info: dict) -> None:
        if run_id not in self.tasks:
            self.tasks[run_id] = self.bars.add_task(run_id, total=steps, info="")
        loss = info.get("train_loss")
        self.bars.update(
            self.tasks[run_id], completed=step, info=f"loss {loss:.3f}" if loss is not None else ""
        )

    def finished(self, cfg: Any, result: dict) -> None:
        if cfg.run_id in self.tasks:
            self.bars.remove_task(self.tasks.pop(cfg.run_id))
        v = result.get("final_val_loss")
        note = f"val {v:.4f}" if isinstance(v, float) else result.get("status", "")
        self.bars.console.print(f"{result.get('status', '?'):>8}  {cfg.run_id}  {note}",
                                markup=False, highlight=False)  # fmt: skip
        self.bars.update(self.overall, advance=1, info=note)

    def stop(self) -> None:
        self.bars.stop()


@app.command("run")
@command
def run(
    spec: SpecArg = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("runs"),
    preset: PresetOpt = None,
    executor: Annotated[str, typer.Option(help="local, multi-gpu or ray.")] = "local",
    device: Annotated[str | None, typer.Option(help="Torch device (local executor).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    num_gpus: Annotated[float | None, typer.Option(help="GPUs per run (ray executor).")] = None,
    runs_per_gpu: Annotated[int, typer.Option(help="Concurrent runs per GPU (multi-gpu).")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Train every run of a spec into OUT (finished runs are skipped; partial ones resume)."""
    from ..ladder.sweep import run_sweep

    sweep = _sweep(spec, preset)
    summary = run_sweep(
        sweep, out, executor=executor, device=device, ray_address=ray_address, num_gpus=num_gpus,
        runs_per_device=runs_per_gpu, reporter=None if as_json else _RichReporter(),
    )  # fmt: skip
    summary["run_table"] = str(out / "runs.csv")
    counts = summary.get("counts", {})
    if as_json:
        emit_json(summary)
    else:
        say(
            f"{sweep.name}: {counts.get('done', 0)} done, {counts.get('diverged', 0)} "
            f"diverged, {counts.get('failed', 0)} failed, {len(summary['skipped'])} "
            f"skipped as finished; run table: {out / 'runs.csv'}"
        )
    if counts.get("failed"):
        raise typer.Exit(EXIT_FAILED)


@app.command("presets")
@command
def presets(as_json: JsonOpt = False) -> None:
    """List the named specs (use them with --preset)."""
    from ..ladder.presets import PRESETS

    if as_json:
        emit_json({"presets": PRESETS})
        return
    for name, text in PRESETS.items():
        desc = next((line.split("=", 1)[1].strip().strip('"') for line in text.splitlines()
                     if line.startswith("description")), "")  # fmt: skip
        say(f"{name}: {desc}")


@app.command("corpus")
@command
def corpus(
    source: Annotated[
        str, typer.Argument(help="'python', or a text file / folder / token file.")
    ] = "python",
    val_fraction: Annotated[float, typer.Option(help="Fraction held out for validation.")] = 0.01,
    as_json: JsonOpt = False,
) -> None:
    """Build (or find) the cached token corpus and print its size and fingerprint."""
    from ..ladder.corpus import cache_root, load_corpus

    c = load_corpus(source, val_fraction=val_fraction)
    info = {
        "fingerprint": c.fingerprint,
        "train_tokens": c.n_train,
        "val_tokens": int(c.val.shape[0]),
        "vocab_size": c.vocab_size,
        "cache": str(cache_root() / "corpus" / c.fingerprint),
        **c.meta,
    }
    if as_json:
        emit_json(info)
        return
    for k, v in info.items():
        say(f"{k}: {v}")


__all__ = ["app", "console"]
