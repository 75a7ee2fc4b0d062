"""Everything the CLI prints or writes, in one place: JSON, tables, answers, warnings, errors,
progress, and the files of ``-o/--output``.

The contract (DESIGN.md): with ``--json`` a command prints exactly one JSON object on stdout
and nothing else there; bad input exits with code 2 and one line on stderr naming the file,
row and column at fault (a bad option value too: click's usage errors are one line here);
warnings go to stderr as ``warning: ...`` lines. An output file is checked before the command
does any work (:func:`check_output`) and written whole or not at all (:func:`write_json`,
``FitResult.save``, ``Report.write``).
"""

from __future__ import annotations

import functools
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from ..answer import interval_text
from ..errors import InputError

try:  # typer >= 0.24 carries its own click, whose errors derive from TyperException
    from typer import TyperException as ClickError
except ImportError:  # older typer raises click's
    from click import ClickException as ClickError

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
    _error_line(exc.for_cli())
    raise typer.Exit(EXIT_BAD_INPUT)


def _error_line(text: str) -> None:
    err_console.print(f"error: {text}", markup=False, highlight=False, soft_wrap=True)


class OneLineErrors(TyperGroup):
    """The command group, with click's usage errors (a value that is not an integer, one
    outside an option's range, an unknown option, a missing argument) as one ``error:`` line
    and exit code 2, like every other bad input; typer draws them as a usage box."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except ClickError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help
                if exc.format_message().strip():  # typer's rich help is printed already
                    exc.show()
            else:
                ctx = getattr(exc, "ctx", None)
                see = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                _error_line(" ".join(exc.format_message().split()) + see)
            sys.exit(exc.exit_code)
        except typer.Abort:
            _error_line("aborted")
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


# -- output files ----------------------------------------------------------------------------
def check_output(path: Path | None, *, option: str = "output") -> None:
    """Refuse now, before any work, an output path the command could not write at the end.

    The path must not be a directory or another non-regular file (a pipe, a device), its
    directory must exist and take a new file (tried, not read off permission bits, which do
    not bind root and do not show a read-only mount), and an existing file must be writable.
    """
    if path is None:
        return

    def refuse(message: str) -> InputError:
        return InputError(message, file=str(path), option=option)

    target = Path(os.path.realpath(path))  # a symlink is written through
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a name too long, a file where a directory should be...
        raise refuse(f"cannot be written: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise refuse("names a directory, not a file")
    if mode is not None and not stat.S_ISREG(mode):
        raise refuse("names something other than a regular file (a pipe, a device...)")
    if not target.parent.is_dir():
        raise refuse(f"cannot be written: its directory {str(path.parent)!r} does not exist")
    try:
        with tempfile.TemporaryFile(dir=target.parent):
            pass
    except OSError as exc:
        raise refuse(
            f"cannot be written: its directory {str(path.parent)!r} is not writable "
            f"({exc.strerror or exc})"
        ) from None
    if mode is not None:
        try:
            with open(target, "r+b"):  # opened, not truncated
                pass
        except OSError as exc:
            raise refuse(
                f"cannot be written: the file is read-only ({exc.strerror or exc})"
            ) from None


def write_json(path: Path, doc: Any) -> None:
    """Save ``doc`` at ``path`` as strict JSON (NaN and infinities as null), atomically."""
    from ..jsonable import to_jsonable
    from ..runs.files import write_atomic  # here: scalinglab.runs imports pandas (--help must not)

    write_atomic(path, json.dumps(to_jsonable(doc), indent=1))


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


def emit_answer(doc: Mapping[str, Any], title: str, *, as_json: bool) -> None:
    """An answer as one JSON object (``--json``), or as tables with its warnings on stderr."""
    if as_json:
        emit_json(doc)
        return
    print_answer(title, doc)
    warn(doc.get("warnings", []))


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
