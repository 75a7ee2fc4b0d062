"""The ``scalinglab`` command (typer + rich).

Every command takes ``--json`` and then prints exactly one JSON object on stdout. Bad input
exits with code 2 and one line on stderr naming the file, row and column at fault.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import InputError
from .jsonable import to_jsonable

app = typer.Typer(
    name="scalinglab",
    help="Predict the big training run before you pay for it: fit scaling laws to small runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
LawOpt = Annotated[
    str, typer.Option("--law", "-l", help="Law name (see `scalinglab laws`) or a formula.")
]
YOpt = Annotated[
    str | None, typer.Option("--y", help="Metric to fit (or the column of a wide table).")
]
FamilyOpt = Annotated[
    list[str] | None, typer.Option("--family", "-f", help="Keep only this family (repeatable).")
]
WhereOpt = Annotated[
    str | None,
    typer.Option("--where", "-w", help="Keep rows matching this expression, e.g. 'value < 3.42'."),
]
BootOpt = Annotated[
    int, typer.Option("--bootstrap", "-b", min=0, help="Bootstrap replicates (resampling runs).")
]
FixOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fix", help="Hold a parameter fixed: name=value | name=published | name=FIT.json."
    ),
]
BoundOpt = Annotated[
    list[str] | None, typer.Option("--bound", help="Bounds of a parameter: name=lo:hi.")
]
DeltaOpt = Annotated[float, typer.Option("--huber-delta", help="Huber delta on log residuals.")]
SkipOpt = Annotated[
    float, typer.Option("--skip-fraction", help="Share of each curve's first steps to drop.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (bootstrap, grid sampling).")]
DEFAULT_STORE = Path("scalinglab.duckdb")
StoreOpt = Annotated[
    Path,
    typer.Option(
        "--store", "-s", envvar="SCALINGLAB_STORE", help="The project store (DuckDB file)."
    ),
]
RunsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Run table file(s): CSV, Parquet, JSONL, W&B export, TensorBoard; without any, the runs of the project store."
    ),
]


def main() -> None:
    """Entry point of the ``scalinglab`` console script."""
    app()


def cli_command(fn: F) -> F:
    """Turn InputError into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def emit_json(doc: Any) -> None:
    """Print one JSON object on stdout (NaN and infinities become null)."""
    sys.stdout.write(json.dumps(to_jsonable(doc)) + "\n")


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr; yields ``update(stage, done, total)``."""
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not enabled or not err_console.is_terminal,
    )  # fmt: skip
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    with bar:
        yield update


def parse_assignments(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` with a clear error for bad items."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"{option} {item!r}: expected name=value")
        out[name.strip()] = value.strip()
    return out


def parse_bounds(items: list[str] | None) -> dict[str, tuple[float, float]]:
    out = {}
    for name, value in parse_assignments(items, "--bound").items():
        lo, sep, hi = value.partition(":")
        try:
            bounds = (float(lo) if lo else -math.inf, float(hi) if hi else math.inf)
        except ValueError:
            raise InputError(f"--bound {name}={value}: expected lo:hi numbers") from None
        if not sep or bounds[0] >= bounds[1]:
            raise InputError(f"--bound {name}={value}: expected lo:hi with lo < hi")
        out[name] = bounds
    return out


def load_runs(paths: list[Path] | None, store: Path | None) -> Any:
    """The runs of the given files, or of the project store when no file is given."""
    from .runs import read_runs
    from .runs.store import Store

    if paths:
        return read_runs([str(p) for p in paths] if len(paths) > 1 else str(paths[0]))
    return Store(store or DEFAULT_STORE).runs()


CalibrateOpt = Annotated[
    bool,
    typer.Option(
        "--calibrate",
        help="Widen prediction intervals by the error nested backtests measure at each "
        "extrapolation distance (a few more fits).",
    ),
]


def _family(family: list[str] | None) -> str | list[str] | None:
    if not family:
        return None
    return family[0] if len(family) == 1 else family


# -- commands ------------------------------------------------------------------------------


@app.command()
@cli_command
def fit(
    runs: RunsArg = None,
    law: LawOpt = "chinchilla",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 200,
    fix: FixOpt = None,
    bound: BoundOpt = None,
    huber_delta: DeltaOpt = 1e-3,
    skip_fraction: SkipOpt = 0.1,
    calibrate: CalibrateOpt = False,
    seed: SeedOpt = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Save the fit as JSON here.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            "-s",
            help="Read runs from (when no file is given) and save the fit into this project store.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a scaling law to runs: robust, multi-start, with bootstrap intervals."""
    from .fitting.api import fit as fit_law
    from .fitting.api import select

    table = load_runs(runs, store)
    fit_options = dict(
        y=y, family=_family(family), where=where, bootstrap=bootstrap,
        fix=parse_assignments(fix, "--fix"), bounds=parse_bounds(bound), huber_delta=huber_delta,
        skip_fraction=skip_fraction, seed=seed, calibrate=calibrate,
    )  # fmt: skip
    with progress_bar(not as_json) as update:
        if law.replace(" ", "") == "lr_annealing:auto":  # the annealing momentum by objective
            from .planning.schedules import fit_lr_annealing

            result = fit_lr_annealing(table, progress=update, **fit_options)
        else:
            result = fit_law(table, law, progress=update, **fit_options)
    doc = result.to_json()
    if output:
        result.save(output)
        doc["saved_to"] = str(output)
    if store:
        from .runs.store import Store

        options = {"y": y, "family": family, "where": where, "bootstrap": bootstrap, "fix": fix, "bound": bound,
                   "huber_delta": huber_delta, "skip_fraction": skip_fraction, "seed": seed, "source": table.source,
                   "calibrate": calibrate}  # fmt: skip
        data_hash = select(table, family=_family(family), where=where).data_hash()
        doc["fit_id"] = Store(store).save_fit(
            doc, data_hash=data_hash, law=result.law.name, options=options
        )
    if as_json:
        doc["bootstrap"] = None if result.samples is None else len(result.samples)
        emit_json(doc)
        return
    console.print(result.summary(), markup=False, highlight=False, soft_wrap=True)
    if output:
        console.print(f"saved to {output}")
    if store:
        console.print(f"saved in the store {store} as fit {doc['fit_id']}", markup=False)


def parse_points(items: list[str]) -> list[dict[str, str]]:
    """``["params=7e10,tokens=1.4e12"]`` -> one dict per --at."""
    points = []
    for item in items:
        point = parse_assignments([p for p in item.split(",") if p.strip()], "--at")
        if not point:
            raise InputError(f"--at {item!r}: expected name=value[,name=value...]")
        points.append(point)
    return points


@app.command()
@cli_command
def predict(
    fit_file: Annotated[
        Path, typer.Argument(help="A fit saved with `scalinglab fit -o FIT.json`.")
    ],
    at: Annotated[
        list[str],
        typer.Option("--at", help="Point to predict: params=7e10,tokens=1.4e12 (repeatable)."),
    ],
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, max=0.999, help="Interval level.")
    ] = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Predict the fitted metric at new scales, with intervals."""
    import pandas as pd

    from .fitting.result import FitResult

    result = FitResult.from_json(fit_file)
    frames = [result.predict(p, interval=interval) for p in parse_points(at)]
    warnings = sorted({w for f in frames for w in f.attrs.get("warnings", [])})
    table = pd.concat(frames, ignore_index=True)
    if as_json:
        emit_json(
            {
                "law": result.law.name,
                "interval": interval,
                "predictions": table.to_dict(orient="records"),
                "warnings": warnings,
            }
        )
        return
    out = Table(title=f"{result.law.name}: predicted {result.y} ({interval:.0%} intervals)")
    for col in table.columns:
        out.add_column(col, justify="right")
    for _, row in table.iterrows():
        out.add_row(*(f"{v:.5g}" for v in row))
    console.print(out)
    for w in warnings:
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)


@app.command()
@cli_command
def backtest(
    runs: RunsArg = None,
    law: LawOpt = "chinchilla",
    holdout: Annotated[
        str,
        typer.Option(
            "--holdout", help="largest:K[:COLUMN] or an expression such as 'flops > 1e21'."
        ),
    ] = "largest:1",
    y: YOpt = None,
    family: FamilyOpt = None,
    where: WhereOpt = None,
    bootstrap: BootOpt = 200,
    fix: FixOpt = None,
    interval: Annotated[float, typer.Option("--interval", min=0.01, max=0.999)] = 0.9,
    calibrate: CalibrateOpt = False,
    seed: SeedOpt = 0,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Fit on all but the held-out (largest) runs, predict them, report the errors."""
    from .fitting.backtest import backtest as run_backtest

    table = load_runs(runs, store)
    with progress_bar(not as_json) as update:
        result = run_backtest(
            table, law, holdout=holdout, y=y, family=_family(family), where=where,
            interval=interval, bootstrap=bootstrap, fix=parse_assignments(fix, "--fix"),
            seed=seed, progress=update, calibrate=calibrate,
        )  # fmt: skip
    if as_json:
        emit_json(result.to_json())
        return
    out = Table(title=f"backtest of {result.fit.law.name}, holdout {holdout}")
    cols = [
        "run_id",
        *result.fit.law.variables,
        "actual",
        "predicted",
        "lo",
        "hi",
        "rel_error",
        "inside",
    ]
    for col in cols:
        out.add_column(col, justify="right")
    for _, row in result.points.iterrows():
        out.add_row(*(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    console.print(out)
    console.print(result.verdict)
    for w in [*result.warnings, *result.fit.warnings]:
        err_console.print(f"warning: {w}", markup=False, soft_wrap=True)


@app.command()
@cli_command
def laws(as_json: JsonOpt = False) -> None:
    """List every built-in law with its formula and reference."""
    from .laws import all_laws

    found = all_laws()
    if as_json:
        emit_json({"laws": [law.to_dict() for law in found]})
        return
    out = Table(title="scalinglab laws (or pass any formula to --law)")
    for col in ("name", "formula", "linear", "reference"):
        out.add_column(col, overflow="fold")
    for law in found:
        linear = ", ".join(p.name for p in law.parameters if p.linear)
        out.add_row(law.name, law.formula, linear, law.reference)
    console.print(out)


@app.command()
@cli_command
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path(
        "out/demo"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Run the whole flow on the bundled data: fit, backtest, predict."""
    from .demo import run_demo

    with progress_bar(not as_json) as update:
        result = run_demo(out, progress=update)
    if as_json:
        emit_json(result.summary)
        return
    for line in result.lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for name, path in result.outputs.items():
        console.print(f"{name} written to {path}", markup=False, highlight=False, soft_wrap=True)


def _register_commands() -> None:
    """Commands of the later stages live in their own modules and register on ``app``."""
    from . import cli_plan, cli_report, cli_zoo  # noqa: F401  (imported for their commands)
    from .cli_ladder import ladder_app

    app.add_typer(
        ladder_app, name="ladder", help="Train ladders of small GPTs to make your own data."
    )


_register_commands()
