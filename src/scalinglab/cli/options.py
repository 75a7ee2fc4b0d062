"""Every CLI option declared once, and the parsers that turn option text into library values.

Commands annotate their parameters with these types, so ``--where`` or ``--store`` mean the
same everywhere and read the same in ``--help``. The parsers raise
:class:`~scalinglab.errors.InputError` (one line, exit 2) on bad text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from ..fitting.options import FitOptions

# -- inputs ----------------------------------------------------------------------------------
RunsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Run table file(s): CSV, Parquet, JSONL, W&B export, TensorBoard; without any, "
        "the runs of the project store."
    ),
]
RunFilesArg = Annotated[
    list[Path],
    typer.Argument(help="Run table file(s): CSV, Parquet, JSONL, W&B export, TensorBoard."),
]
FitArg = Annotated[Path, typer.Argument(help="A fit saved with `scalinglab fit -o FIT.json`.")]
DEFAULT_STORE = Path("scalinglab.duckdb")
StoreOpt = Annotated[
    Path,
    typer.Option(
        "--store", "-s", envvar="SCALINGLAB_STORE", help="The project store (DuckDB file)."
    ),
]

# -- what to fit and how (FitOptions) --------------------------------------------------------
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
    int, typer.Option("--bootstrap", "-b", help="Bootstrap replicates (resampling runs); 0 skips.")
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
ReplicatesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--replicates",
        "-r",
        help="A run table holding replicates of these runs: the same spec trained again, or "
        "more seeds (repeatable).",
    ),
]
WeightingOpt = Annotated[
    str,
    typer.Option(
        "--weighting",
        help="none, compute (1/10 to 1 by compute) or noise (by replicate noise, with "
        "--replicates or seeds in the table).",
    ),
]
CalibrateOpt = Annotated[
    bool,
    typer.Option(
        "--calibrate",
        help="Widen prediction intervals by the error nested backtests measure at each "
        "extrapolation distance (a few more fits).",
    ),
]

HoldoutOpt = Annotated[
    str,
    typer.Option(
        "--holdout",
        help="Runs held out: largest:K[:COLUMN] or an expression such as 'flops > 1e21'.",
    ),
]

# -- answers ---------------------------------------------------------------------------------
IntervalOpt = Annotated[
    float, typer.Option("--interval", min=0.01, max=0.999, help="Interval level.")
]
FlopsModelOpt = Annotated[
    str, typer.Option("--flops-model", help="Training FLOPs of params and tokens.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


# -- parsers ---------------------------------------------------------------------------------
def parse_assignments(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a name given twice is an error.

    Example:
        >>> parse_assignments(["alpha=0.34", "E=published"], "--fix")
        {'alpha': '0.34', 'E': 'published'}
    """
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError(f"{option} {item!r}: expected name=value")
        if name in out:
            raise InputError(f"{option} {item!r}: {name} given twice")
        out[name] = value
    return out


def parse_bounds(items: list[str] | None) -> dict[str, tuple[float, float]]:
    """``["alpha=0:1", "E=1:"]`` -> ``{"alpha": (0.0, 1.0), "E": (1.0, inf)}``."""
    out = {}
    for name, value in parse_assignments(items, "--bound").items():
        lo, sep, hi = value.partition(":")
        try:
            bounds = (float(lo) if lo else -math.inf, float(hi) if hi else math.inf)
        except ValueError:
            raise InputError(f"--bound {name}={value}: expected lo:hi numbers") from None
        if not sep or math.isnan(bounds[0]) or math.isnan(bounds[1]) or bounds[0] >= bounds[1]:
            raise InputError(f"--bound {name}={value}: expected lo:hi with lo < hi")
        out[name] = bounds
    return out


def parse_points(
    items: list[str], variables: Sequence[str] | None = None
) -> list[dict[str, float]]:
    """``["params=7e10,tokens=1.4e12"]`` -> one dict of numbers per ``--at``.

    Each value is a finite number (``70B`` accepted), a size (params, tokens, flops) a
    positive one; a name given twice is an error. With ``variables`` (the law's) every point
    names exactly those.

    Example:
        >>> parse_points(["params=70B,tokens=1.4T"], ("params", "tokens"))
        [{'params': 70000000000.0, 'tokens': 1400000000000.0}]
    """
    from ..fitting.result import prediction_points

    points = []
    for item in items:
        point = parse_assignments([p for p in item.split(",") if p.strip()], "--at")
        if not point:
            raise InputError(f"--at {item!r}: expected name=value[,name=value...]")
        row = prediction_points(point, tuple(point)).iloc[0]
        if variables is not None:
            known = f"(the law's variables: {', '.join(variables)})"
            if unknown := [n for n in point if n not in variables]:
                raise InputError(f"--at {item!r}: {unknown[0]!r} is not a variable {known}")
            if missing := [v for v in variables if v not in point]:
                raise InputError(f"--at {item!r}: {missing[0]!r} is missing {known}")
        points.append({name: float(value) for name, value in row.items()})
    return points


def family_option(family: list[str] | None) -> str | list[str] | None:
    """Repeated ``--family`` values: None, one name, or several."""
    if not family:
        return None
    return family[0] if len(family) == 1 else list(family)


def fit_options(
    *,
    y: str | None = None,
    family: list[str] | None = None,
    where: str | None = None,
    fix: list[str] | None = None,
    bound: list[str] | None = None,
    **values: Any,
) -> FitOptions:
    """The :class:`FitOptions` of a command's flags (``--fix``/``--bound`` parsed here)."""
    return FitOptions(
        y=y, family=family_option(family), where=where, fix=parse_assignments(fix, "--fix"),
        bounds=parse_bounds(bound), **values,
    )  # fmt: skip


def size_option(text: str, option: str) -> float:
    """A size given on the command line (``70B``, ``5.76e23``); bad text is refused in one
    line naming ``option``."""
    from ..planning.questions import size

    value = size(text, option)
    assert value is not None  # only None gives None
    return value


def load_runs(paths: list[Path] | None, store: Path | None, y: str | None = None) -> Any:
    """The runs of the given files, or of the project store when no file is given.

    ``y`` is the metric ``--y`` names: the column to read of a wide table (one column per
    metric), the metric to keep of a long one.
    """
    from ..runs.store import Store

    if paths:
        return read_files(paths, y)
    return Store(store or DEFAULT_STORE).runs()


def read_files(paths: list[Path], y: str | None = None) -> Any:
    """The runs of the given files (``y`` as in :func:`load_runs`)."""
    from ..runs import read_runs

    return read_runs([str(p) for p in paths] if len(paths) > 1 else str(paths[0]), y=y)
