"""``scalinglab ladder ...``: plan and run ladders of small GPTs.

Mounted by ``scalinglab.cli`` as the ``ladder`` sub-command. Every command takes ``--json`` (one
JSON object on stdout, nothing else); bad input prints one line on stderr and exits 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import InputError

ladder_app = typer.Typer(
    name="ladder",
    help="Train ladders of small GPTs: plan a sweep, run it, get a run table.",
    no_args_is_help=True,
    add_completion=False,
)


JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _fail(exc: InputError) -> None:
    print(f"error: {exc}", file=sys.stderr)
    raise typer.Exit(2)


def _sweep(spec: Path | None, preset: str | None):
    from .ladder.presets import preset as load_preset
    from .ladder.spec import load_spec

    if (spec is None) == (preset is None):
        raise InputError("give either a SPEC file or --preset NAME")
    return load_preset(preset) if preset else load_spec(spec)


def _fmt_seconds(s: float) -> str:
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.1f}min"


@ladder_app.command("plan")
def plan(
    spec: Annotated[Path | None, typer.Argument(help="sweep spec (TOML)")] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="a named spec, e.g. cpu-tiny")
    ] = None,
    device: Annotated[
        str, typer.Option(help="device the estimate is for: auto, cpu or cuda")
    ] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Print the runs a spec expands to, with their size, tokens, FLOPs and estimated time."""
    from .ladder.sweep import plan_rows

    try:
        sweep = _sweep(spec, preset)
        if device == "auto":
            try:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            except ImportError:
                device = "cpu"
        if device not in ("cpu", "cuda"):
            raise InputError(f"--device must be auto, cpu or cuda, not {device!r}")
        rows = plan_rows(sweep, device)
    except InputError as exc:
        _fail(exc)
    totals = {
        "runs": len(rows),
        "flops": sum(r["flops"] for r in rows),
        "flops_attn": sum(r["flops_attn"] for r in rows),
        "tokens": sum(r["tokens"] for r in rows),
        "est_seconds": sum(r["est_seconds"] for r in rows),
    }
    if as_json:
        print(json.dumps({"name": sweep.name, "device": device, "runs": rows, "total": totals}))
        return
    table = Table(title=f"ladder {sweep.name}: {len(rows)} runs (estimates for {device})")
    for col in (
        "run",
        "params",
        "total",
        "tokens",
        "tok/param",
        "steps",
        "batch",
        "lr",
        "schedule",
        "FLOPs",
        "est.",
    ):
        table.add_column(col, justify="left" if col in ("run", "schedule") else "right")
    for r in rows:
        table.add_row(
            r["run_id"],
            f"{r['params']:,}",
            f"{r['params_total']:,}",
            f"{r['tokens']:,}",
            f"{r['tokens_per_param']:.1f}",
            str(r["steps"]),
            str(r["batch_size"]),
            f"{r['lr']:.2e}",
            r["schedule"],
            f"{r['flops']:.2e}",
            _fmt_seconds(r["est_seconds"]),
        )
    console = Console()
    console.print(table)
    console.print(
        f"total: {totals['tokens']:,} tokens, {totals['flops']:.2e} FLOPs "
        f"({totals['flops_attn']:.2e} with attention), about "
        f"{_fmt_seconds(totals['est_seconds'])} on {device}, one run at a time"
    )
    if device == "cuda":
        console.print(
            "small models leave a GPU mostly idle: with `ladder run --executor multi-gpu "
            "--runs-per-gpu 4` the bundled ladder took half its estimate here"
        )


class _RichReporter:
    """Rich progress bars: one per run (local executor) and one overall."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.tasks: dict[str, int] = {}
        self.overall = None

    def start(self, sweep, todo) -> None:
        self.bars.start()
        self.overall = self.bars.add_task(f"{sweep.name} (all runs)", total=len(todo), info="")

    def progress(self, run_id: str, step: int, steps: int, info: dict) -> None:
        if run_id not in self.tasks:
            self.tasks[run_id] = self.bars.add_task(run_id, total=steps, info="")
        loss = info.get("train_loss")
        self.bars.update(
            self.tasks[run_id], completed=step, info=f"loss {loss:.3f}" if loss is not None else ""
        )

    def finished(self, cfg, result: dict) -> None:
        if cfg.run_id in self.tasks:
            self.bars.remove_task(self.tasks.pop(cfg.run_id))
        v = result.get("final_val_loss")
        note = f"val {v:.4f}" if isinstance(v, float) else result.get("status", "")
        self.bars.console.print(f"{result.get('status', '?'):>8}  {cfg.run_id}  {note}")
        self.bars.update(self.overall, advance=1, info=note)

    def stop(self) -> None:
        self.bars.stop()


@ladder_app.command("run")
def run(
    spec: Annotated[Path | None, typer.Argument(help="sweep spec (TOML)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("runs"),
    preset: Annotated[
        str | None, typer.Option("--preset", help="a named spec, e.g. cpu-tiny")
    ] = None,
    executor: Annotated[str, typer.Option(help="local, multi-gpu or ray")] = "local",
    device: Annotated[str | None, typer.Option(help="torch device (local executor)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
    num_gpus: Annotated[float | None, typer.Option(help="GPUs per run (ray executor)")] = None,
    runs_per_gpu: Annotated[int, typer.Option(help="concurrent runs per GPU (multi-gpu)")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Train every run of a spec into OUT (finished runs are skipped; partial ones resume)."""
    from .ladder.sweep import run_sweep

    console = Console(stderr=as_json)
    try:
        sweep = _sweep(spec, preset)
        reporter = None if as_json else _RichReporter(console)
        summary = run_sweep(
            sweep,
            out,
            executor=executor,
            device=device,
            ray_address=ray_address,
            num_gpus=num_gpus,
            runs_per_device=runs_per_gpu,
            reporter=reporter,
        )
    except InputError as exc:
        _fail(exc)
    summary["run_table"] = str(out / "runs.csv")
    if as_json:
        print(json.dumps(summary, default=str))
        return
    counts = summary.get("counts", {})
    console.print(
        f"{sweep.name}: {counts.get('done', 0)} done, {counts.get('diverged', 0)} "
        f"diverged, {counts.get('failed', 0)} failed, {len(summary['skipped'])} "
        f"skipped as finished; run table: {out / 'runs.csv'}"
    )
    if counts.get("failed"):
        raise typer.Exit(1)


@ladder_app.command("presets")
def presets(as_json: JsonFlag = False) -> None:
    """List the named specs (use with --preset, or print one with `show`)."""
    from .ladder.presets import PRESETS

    if as_json:
        print(json.dumps({"presets": PRESETS}))
        return
    for name, text in PRESETS.items():
        desc = next(
            (
                ln.split("=", 1)[1].strip().strip('"')
                for ln in text.splitlines()
                if ln.startswith("description")
            ),
            "",
        )
        print(f"{name}: {desc}")


@ladder_app.command("corpus")
def corpus(
    source: Annotated[
        str, typer.Argument(help="'python', or a text file / folder / token file")
    ] = "python",
    val_fraction: Annotated[float, typer.Option(help="fraction held out for validation")] = 0.01,
    as_json: JsonFlag = False,
) -> None:
    """Build (or find) the cached token corpus and print its size and fingerprint."""
    from .ladder.corpus import cache_root, load_corpus

    try:
        c = load_corpus(source, val_fraction=val_fraction)
    except InputError as exc:
        _fail(exc)
    info = {
        "fingerprint": c.fingerprint,
        "train_tokens": c.n_train,
        "val_tokens": int(c.val.shape[0]),
        "vocab_size": c.vocab_size,
        "cache": str(cache_root() / "corpus" / c.fingerprint),
        **c.meta,
    }
    if as_json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")


if __name__ == "__main__":  # python -m scalinglab.cli_ladder ... (before the lead mounts it)
    ladder_app()
