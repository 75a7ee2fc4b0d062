"""The one way scalinglab opens a file a user names: regular files only, bounded, one-line errors.

Every reader of user input goes through this module (run tables of every format, TensorBoard
logs, the store's content hash; FIT files and ladder specs should too), so a hostile path
behaves the same everywhere:

* **Regular files only.** A named pipe, a device (``/dev/zero``, also behind a symlink), a
  socket or a directory is refused with one line instead of a hang or a ``MemoryError``. The
  file is opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor, so even
  opening a pipe that has no writer cannot block, and the file checked is the file read.
* **Bounded size.** A file larger than ``max_bytes`` is refused before anything is read (and a
  file growing while it is read is cut off at the limit, not followed forever).
* **UTF-8 text.** A byte-order mark is dropped; an undecodable byte is reported with its line.
* **Bounded JSON.** Nesting deeper than ``max_depth`` (``[[[[...`` 100,000 deep would raise
  ``RecursionError``) and integers too large for a float (a 401-digit integer would raise
  ``OverflowError`` deep in pandas) are refused with the line.
* **Whole writes.** What scalinglab writes for a user (a saved fit, a report) appears complete
  or not at all (:func:`write_atomic`): a killed command never leaves half a file.

Every failure is an :class:`~scalinglab.errors.InputError` naming the file (and the line when
there is one); the CLI prints it as one line and exits with code 2. ``name`` is how the file is
named in messages (the path as given when omitted; run-table readers pass the file name).

API:

``open_regular_file(path, *, name=None, max_bytes=MAX_FILE_BYTES) -> BinaryIO``
    The open file (binary, blocking reads) after the checks; the caller closes it.
``check_regular_file(path, *, name=None, max_bytes=MAX_FILE_BYTES) -> int``
    The checks alone, returning the size, for libraries that open a path themselves
    (pyarrow, DuckDB). Prefer :func:`open_regular_file` where a file object will do.
``read_bytes(path, *, name=None, max_bytes=MAX_FILE_BYTES) -> bytes``
``read_text(path, *, name=None, max_bytes=MAX_FILE_BYTES) -> str``
    The whole file; ``read_text`` decodes UTF-8 (BOM dropped).
``decode_utf8(data, *, name) -> str``
    Bytes already read to text, with the line of the first bad byte on failure.
``load_json(path, *, name=None, max_bytes=MAX_JSON_BYTES, max_depth=MAX_JSON_DEPTH) -> Any``
    A JSON document (a FIT file, a sweep) read and parsed with the limits above.
``parse_json(text, *, name, max_depth=MAX_JSON_DEPTH, line=None) -> Any``
    The same parser for text in hand; ``line`` is the line number to report (JSON lines).
``write_atomic(path, data, *, name=None) -> Path``
    Write a whole file (a saved fit, a report) so that readers see the old file or the new
    one, never a half-written one: a temporary file beside it, then ``os.replace``.

Example:
    >>> doc = load_json("fit.json", max_bytes=64 << 20)          # doctest: +SKIP
    >>> spec = tomllib.loads(read_text("ladder.toml"))           # doctest: +SKIP
    >>> with open_regular_file("runs.csv", name="runs.csv") as fh:   # doctest: +SKIP
    ...     frame = pd.read_csv(fh)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError

#: Largest file read at all (a run table of tens of millions of rows is a few GB).
MAX_FILE_BYTES = 16 << 30
#: Largest JSON document: json builds Python objects of ~10x the text's size.
MAX_JSON_BYTES = 1 << 30
#: Deepest JSON nesting: run-table records are 2 deep, FIT files under 10.
MAX_JSON_DEPTH = 64
#: The largest integer a JSON number may be: beyond it a float is inf (and pandas overflows).
_MAX_FLOAT_INT = int(sys.float_info.max)

PathLike = str | os.PathLike[str]
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _refuse_size(size: int, max_bytes: int, name: str) -> None:
    if size > max_bytes:
        raise InputError(f"file too large: {size:,} bytes (the limit is {max_bytes:,})", file=name)


def open_regular_file(
    path: PathLike, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    Raises:
        InputError: missing, unreadable, not a regular file (directory, pipe, device,
            socket; symlinks are followed to what they point at), or too large.
    """
    name = str(path) if name is None else name
    try:
        # O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _CLOEXEC)
    except FileNotFoundError:
        raise InputError("no such file or directory", file=name) from None
    except IsADirectoryError:  # some systems refuse to open a directory at all
        raise InputError("is a directory, not a file", file=name) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", file=name) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = _kind(info.st_mode)
            raise InputError(f"is {what}, not a regular file", file=name)
        _refuse_size(info.st_size, max_bytes, name)
        os.set_blocking(fd, True)  # a regular file: back to ordinary reads
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular_file(
    path: PathLike, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> int:
    """The checks of :func:`open_regular_file` for a library that opens ``path`` itself."""
    with open_regular_file(path, name=name, max_bytes=max_bytes) as fh:
        return os.fstat(fh.fileno()).st_size


def read_bytes(
    path: PathLike, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> bytes:
    """The whole of a regular file; a file still growing is refused at ``max_bytes``."""
    name = str(path) if name is None else name
    with open_regular_file(path, name=name, max_bytes=max_bytes) as fh:
        data = fh.read(max_bytes + 1)
    _refuse_size(len(data), max_bytes, name)
    return data


def decode_utf8(data: bytes, *, name: str) -> str:
    """UTF-8 bytes to text (a byte-order mark dropped); the first bad byte named by its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _not_utf8(data[exc.start], line, name) from None


def _not_utf8(byte: int, line: int, name: str) -> InputError:
    return InputError(
        f"not UTF-8 text: byte 0x{byte:02x} cannot be decoded (save the file as UTF-8)",
        file=name,
        row=line,
    )


def read_text(path: PathLike, *, name: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The whole of a regular file as UTF-8 text (a byte-order mark dropped)."""
    name = str(path) if name is None else name
    return decode_utf8(read_bytes(path, name=name, max_bytes=max_bytes), name=name)


class _JsonLimit(Exception):
    """Raised inside the JSON parser's hooks; turned into an InputError with its line.

    ``token`` is text to find the line by (the hooks are not told where they are).
    """

    def __init__(self, message: str, token: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.token = token


def _parse_int(text: str) -> int | float:
    # Python would read any integer; pandas, numpy and float() overflow on one past 1.8e308.
    # Above int64 an integer becomes a float, as every column scalinglab reads is float64.
    if len(text) > 310 or abs(value := int(text)) > _MAX_FLOAT_INT:
        shown = text if len(text) <= 24 else f"{text[:12]}...{text[-6:]}"
        raise _JsonLimit(f"number too large: {shown} ({len(text.lstrip('-'))} digits)", text)
    return value if -(2**63) <= value < 2**63 else float(value)


_DECODER = json.JSONDecoder(parse_int=_parse_int)


def _depth(doc: Any) -> int:
    """Nesting depth of a parsed document, without recursion."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return deepest


def parse_json(
    text: str, *, name: str, max_depth: int = MAX_JSON_DEPTH, line: int | None = None
) -> Any:
    """Parse one JSON document with scalinglab's limits.

    ``line`` names the line in messages (one record of a JSON-lines file); without it the line
    is found in ``text``.

    Raises:
        InputError: invalid JSON, nested deeper than ``max_depth``, or an integer beyond the
            float range.
    """

    def line_of(token: str | None) -> int | None:
        if line is not None or token is None:
            return line
        return text.count("\n", 0, max(text.find(token), 0)) + 1

    try:
        doc = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        row = line if line is not None else exc.lineno
        raise InputError(f"invalid JSON: {exc.msg}", file=name, row=row) from None
    except _JsonLimit as exc:
        raise InputError(exc.message, file=name, row=line_of(exc.token)) from None
    except RecursionError:
        raise InputError(
            f"JSON nested too deeply (more than {max_depth} levels)", file=name, row=line
        ) from None
    # A document with fewer brackets than the limit cannot nest deeper: skip the walk.
    if text.count("[") + text.count("{") > max_depth and _depth(doc) > max_depth:
        raise InputError(
            f"JSON nested too deeply (more than {max_depth} levels)", file=name, row=line
        )
    return doc


def load_json(
    path: PathLike,
    *,
    name: str | None = None,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Read and parse a JSON file through the guarded open (see the module docstring).

    Example:
        >>> load_json("fit.json")["law"]   # doctest: +SKIP
        'chinchilla'
    """
    name = str(path) if name is None else name
    return parse_json(
        read_text(path, name=name, max_bytes=max_bytes), name=name, max_depth=max_depth
    )


def write_atomic(path: PathLike, data: str | bytes, *, name: str | None = None) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` all at once, or not at all.

    The data go to a new temporary file in the target's own directory (so that the rename
    stays on one file system), flushed to disk, then renamed over the target with
    ``os.replace``: an interrupted write (a full disk, a kill) leaves the previous file, never
    part of a new one. A symlink is written through (its target is replaced, not the link); a
    file that existed keeps its permission bits, a new one gets the umask's. Returns ``path``.

    Raises:
        InputError: the directory is missing or read-only, ``path`` is a directory, the disk
            is full... (every ``OSError``, as one line naming the file).
    """
    name = str(path) if name is None else name
    target = Path(os.path.realpath(path))
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        # 0o666 as open() uses: the kernel takes the umask off, as for any new file
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o666)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", file=name) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write: {exc.strerror or exc}", file=name) from None
        raise
    return Path(path)
