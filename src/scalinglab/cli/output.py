"""Everything the CLI prints, in one place: JSON, tables, answers, warnings, errors, progress.

The contract (DESIGN.md): with ``--json`` a command prints exactly one JSON object on stdout
and nothing else there; bad input exits with code 2 and one line on stderr naming the file,
row and column at fault; warnings go to stderr as ``warning: ...`` lines.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ..answer import interval_text
from ..errors import InputError

#: Exit codes: success, a failure of the work itself (a ladder run failed), bad input.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def command(fn: F) -> F:
    """Turn :class:`InputError` into one line on stderr (flags spelled as flags) and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def fail(exc: InputError) -> None:
    """Print the error as one line on stderr and exit with code 2."""
    err_console.print(f"error: {exc.for_cli()}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def emit_json(doc: Any) -> None:
    """Print one JSON object on stdout (NaN and infinities become null)."""
    from ..jsonable import to_jsonable  # numpy: imported when there is something to print

    sys.stdout.write(json.dumps(to_jsonable(doc)) + "\n")


def say(text: str) -> None:
    """A line for humans on stdout, printed as it is (no markup, no highlighting)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def warn(warnings: Iterable[str]) -> None:
    """Each warning as one ``warning: ...`` line on stderr."""
    for w in warnings:
        err_console.print(f"warning: {w}", markup=False, highlight=False, soft_wrap=True)


def print_rows(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    left: Sequence[str] = (),
    caption: str | None = None,
) -> None:
    """A table: numbers right-aligned to 4-5 significant digits, ``left`` columns as text."""
    out = Table(title=title, caption=caption)
    for col in columns:
        out.add_column(str(col), justify="left" if col in left else "right", overflow="fold")
    for row in rows:
        out.add_row(*(_cell(v) for v in row))
    console.print(out)


def print_frame(frame: Any, title: str, *, left: Sequence[str] = ()) -> None:
    """A pandas DataFrame as a table."""
    print_rows(title, list(frame.columns), frame.itertuples(index=False), left=left)


def print_answer(title: str, doc: Mapping[str, Any]) -> None:
    """A JSON answer for humans: quantities with their interval, nested answers as own tables."""
    out = Table(title=title, show_header=False)
    out.add_column("quantity")
    out.add_column("value", justify="right")
    out.add_column("interval", justify="right")
    ci = doc.get("ci", {})
    for key, value in doc.items():
        if key in ("ci", "warnings", "notes") or isinstance(value, Mapping | list):
            continue
        out.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value),
                    interval_text(ci.get(key)))  # fmt: skip
    console.print(out)
    for key, value in doc.items():
        if isinstance(value, Mapping) and key != "ci":
            print_answer(f"{title}: {key}", value)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr (only on a terminal); yields ``update(stage, done, total)``."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

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
