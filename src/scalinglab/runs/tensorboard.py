"""TensorBoard event files, read (and written) without tensorflow or tensorboard.

An event file is a sequence of TFRecords (uint64 length, uint32 masked CRC-32C of the length,
the bytes, uint32 masked CRC of the bytes), each an ``Event`` protocol buffer. We decode only
what scalars need::

    Event   {wall_time = 1 double, step = 2 int64, summary = 5 Summary}
    Summary {repeated value = 1 Value}
    Value   {tag = 1 string, simple_value = 2 float, tensor = 8 TensorProto}
    TensorProto {dtype = 1, tensor_content = 4 bytes, float_val = 5, double_val = 6,
                 int_val = 7, int64_val = 10}

A run is one directory holding event files (several files of one directory are restarts of
the same run and are read in name order). ``params``, ``tokens`` and ``flops`` come from
scalar tags of those names, or from ``read_runs(..., params=..., tokens=...)``.

Example:
    >>> write_scalars("logs/run1/events.out.tfevents.1", [(0, "params", 1.2e8), (100, "loss", 3.1)])  # doctest: +SKIP
    >>> read_runs("logs", tokens="2.4B").metrics()                   # doctest: +SKIP
    ['loss']
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import InputError
from .files import read_bytes
from .schema import SIZES, RawTable

# TensorFlow DataType enum values we can read as scalars, with their little-endian layout.
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8", 19: "<f2"}
_SIZE_TAGS = frozenset(SIZES)


def _make_crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord uses. ``crc32c(b"123456789") == 0xE3069283``."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    """TFRecord's masking of a CRC: an int, or a uint32 array (where the shifts wrap)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    return _mask(crc32c(data))


_CRC_ARRAY = np.array(_CRC_TABLE, dtype=np.uint32)
_VECTOR_MAX_BYTES = 4096  # longer payloads (rare among scalars) are checked one by one
_VECTOR_ROWS = 65536


def masked_crc_many(payloads: list[bytes]) -> np.ndarray:
    """:func:`masked_crc` of many byte strings at once, vectorised across the strings.

    The strings are walked one byte position at a time, longest first, so that a log of a
    million scalar events (~100 bytes each) is checked in about a second rather than a minute.
    """
    n = len(payloads)
    out = np.empty(n, dtype=np.uint32)
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=n)
    long = np.flatnonzero(lengths > _VECTOR_MAX_BYTES)
    for i in long:
        out[i] = masked_crc(payloads[i])
    order = np.argsort(-lengths, kind="stable")
    order = order[lengths[order] <= _VECTOR_MAX_BYTES]
    for start in range(0, len(order), _VECTOR_ROWS):
        idx = order[start : start + _VECTOR_ROWS]
        lens = lengths[idx]
        width = int(lens[0]) if len(idx) else 0
        flat = np.frombuffer(b"".join(payloads[i] for i in idx), dtype=np.uint8)
        rows = np.repeat(np.arange(len(idx)), lens)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
        buf = np.zeros((len(idx), width), dtype=np.uint8)
        buf[rows, cols] = flat
        crc = np.full(len(idx), 0xFFFFFFFF, dtype=np.uint32)
        active = np.searchsorted(-lens, -np.arange(width), side="left")  # rows with len > j
        for j in range(width):
            k = active[j]
            crc[:k] = _CRC_ARRAY[(crc[:k] ^ buf[:k, j]) & 0xFF] ^ (crc[:k] >> 8)
        crc ^= np.uint32(0xFFFFFFFF)
        out[idx] = _mask(crc)
    return out


# ------------------------------------------------------------------------------- decoding
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of one protobuf message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _tensor_scalar(buf: bytes) -> float | None:
    """The single number in a TensorProto, or None when it holds anything else."""
    dtype, numbers = 0, []
    for field, wire, v in _fields(buf):
        if field == 1 and wire == 0:
            dtype = v
        elif field == 4 and wire == 2:
            numbers.append(("content", v))
        elif (field, wire) in ((5, 2), (5, 5), (6, 1), (6, 2)):
            fmt = "<f" if field == 5 else "<d"
            numbers.extend(x for (x,) in struct.iter_unpack(fmt, v))  # packed or single
        elif field in (7, 10):
            if wire == 0:
                numbers.append(v if v < 1 << 63 else v - (1 << 64))
            elif wire == 2:
                pos = 0
                while pos < len(v):
                    x, pos = _varint(v, pos)
                    numbers.append(x if x < 1 << 63 else x - (1 << 64))
    values: list[float] = []
    for item in numbers:
        if isinstance(item, tuple):
            if dtype not in _DTYPES:
                return None
            values.extend(np.frombuffer(item[1], dtype=_DTYPES[dtype]).astype(float).tolist())
        else:
            values.append(float(item))
    return values[0] if len(values) == 1 else None


def _scalars(event: bytes) -> Iterator[tuple[int, float, str, float]]:
    """(step, wall_time, tag, value) for each scalar in one Event."""
    step, wall, summary = 0, float("nan"), None
    for field, wire, v in _fields(event):
        if field == 1 and wire == 1:
            (wall,) = struct.unpack("<d", v)
        elif field == 2 and wire == 0:
            step = v if v < 1 << 63 else v - (1 << 64)
        elif field == 5 and wire == 2:
            summary = v
    if summary is None:
        return
    for field, wire, value in _fields(summary):
        if field != 1 or wire != 2:
            continue
        tag, number = None, None
        for f, w, x in _fields(value):
            if f == 1 and w == 2:
                tag = bytes(x).decode("utf-8", "replace")
            elif f == 2 and w == 5:
                (number,) = struct.unpack("<f", x)
            elif f == 8 and w == 2:
                number = _tensor_scalar(x)
        if tag is not None and number is not None:
            yield step, wall, tag, number


class Record(NamedTuple):
    payload: bytes
    crc: int  # the masked CRC-32C stored after the payload
    offset: int  # byte offset of the record in its file


def read_records(path: Path) -> tuple[list[Record], bool]:
    """The records of one event file, and whether a truncated last record was skipped.

    The length checksum is verified here (a bad length derails the framing); the payload
    checksums of the records that hold scalars are verified by :func:`check_payloads`.
    """
    data = read_bytes(path, name=path.name)
    records, pos = [], 0
    while pos + 12 <= len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if crc != masked_crc(header):
            raise InputError(
                f"not a TensorBoard event file (bad record checksum at byte {pos})", file=path.name
            )
        end = pos + 12 + length + 4
        if end > len(data):
            return records, True
        (payload_crc,) = struct.unpack("<I", data[end - 4 : end])
        records.append(Record(data[pos + 12 : pos + 12 + length], payload_crc, pos))
        pos = end
    return records, pos < len(data)


def check_payloads(records: list[Record], file: str) -> None:
    """InputError naming the first record whose payload does not match its checksum."""
    if not records:
        return
    computed = masked_crc_many([r.payload for r in records])
    stored = np.fromiter((r.crc for r in records), dtype=np.uint32, count=len(records))
    bad = np.flatnonzero(computed != stored)
    if bad.size:
        raise InputError(
            f"corrupt TensorBoard event at byte {records[bad[0]].offset} "
            "(payload checksum mismatch)",
            file=file,
        )


# ------------------------------------------------------------------------------- reading
def event_files(root: Path) -> dict[str, list[Path]]:
    """Runs under ``root``: run name -> its event files (the directory's relative path)."""
    if not root.is_dir():  # one event file (a pipe or a device is refused when it is read)
        return {root.parent.name or root.stem: [root]}
    runs: dict[str, list[Path]] = {}
    for f in sorted(root.rglob("*tfevents*")):
        if f.is_file():
            rel = f.parent.relative_to(root).as_posix()
            runs.setdefault(root.name if rel == "." else rel, []).append(f)
    if not runs:
        raise InputError(
            "no TensorBoard event files (named *tfevents*) in this directory", file=root.name
        )
    return runs


def read_raw(
    path: Path, overrides: Mapping[str, object] | None = None
) -> tuple[RawTable, list[str]]:
    """One long RawTable of every scalar of every run under ``path``."""
    overrides = overrides or {}
    family = path.name if path.is_dir() else path.parent.name
    frames, notes = [], []
    for run, files in event_files(path).items():
        frames.append(_read_run(run, files, overrides, notes))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "family", family)
    return RawTable(frame, np.arange(1, len(frame) + 1), path.name, family), notes


def _read_run(run: str, files: list[Path], overrides, notes: list[str]) -> pd.DataFrame:
    rows: list[tuple[int, float, str, float]] = []
    for f in files:
        records, truncated = read_records(f)
        if truncated:
            notes.append(f"{f.name}: skipped a truncated last record (still being written?)")
        with_scalars = []
        try:
            for rec in records:
                found = list(_scalars(rec.payload))
                if found:
                    rows.extend(found)
                    with_scalars.append(rec)
        except (ValueError, IndexError, struct.error):
            check_payloads(records, f.name)  # say where the file is damaged, when it is
            raise InputError(
                "corrupt TensorBoard event (cannot decode protobuf)", file=f.name
            ) from None
        check_payloads(with_scalars, f.name)
    log = pd.DataFrame(rows, columns=["step", "wall_time", "metric", "value"])
    # A restarted run logs some steps again; like TensorBoard, keep the later value.
    dup = log.duplicated(["metric", "step"], keep="last")
    if dup.any():
        notes.append(
            f"run {run!r}: {dup.sum()} repeated (tag, step) values replaced by the later one"
        )
        log = log[~dup]
    sizes = {}
    for size in SIZES:
        logged = log[log["metric"] == size].sort_values("step")
        if overrides.get(size) is not None or logged.empty:
            continue
        sizes[size] = logged
    need_tokens = "tokens" not in sizes and "flops" not in sizes and overrides.get("flops") is None
    for size, missing in (("params", "params" not in sizes), ("tokens", need_tokens)):
        if missing and overrides.get(size) is None:
            alt = " (or 'flops')" if size == "tokens" else ""
            raise InputError(
                f"run {run!r} has no {size!r} scalar{alt}: log one or pass {size}=...",
                file=files[0].name,
            )
    out = log[~log["metric"].isin(_SIZE_TAGS)].sort_values(["metric", "step"], kind="stable")
    out = out.reset_index(drop=True)
    for size, logged in sizes.items():
        # One value (e.g. params logged once) is constant; a series (tokens seen) is
        # interpolated in step, as tokens grow linearly with steps at a fixed batch size.
        if len(logged) == 1:
            out[size] = float(logged["value"].iloc[0])
        else:
            out[size] = np.interp(out["step"], logged["step"], logged["value"])
    out.insert(0, "run_id", run)
    return out


# ------------------------------------------------------------------------------- writing
def _key(field: int, wire: int) -> bytes:
    return _varint_bytes(field << 3 | wire)


def _varint_bytes(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint_bytes(len(payload)) + payload


def _value(tag: str, value: float, encoding: str) -> bytes:
    body = _bytes_field(1, tag.encode())
    if encoding == "simple_value":
        return body + _key(2, 5) + struct.pack("<f", value)
    if encoding == "float_val":  # what tf.summary.scalar (TF2) writes
        tensor = _key(1, 0) + _varint_bytes(1) + _bytes_field(5, struct.pack("<f", value))
    elif encoding == "tensor_content":
        tensor = _key(1, 0) + _varint_bytes(2) + _bytes_field(4, struct.pack("<d", value))
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    return body + _bytes_field(8, tensor)


def _record(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return (
        header
        + struct.pack("<I", masked_crc(header))
        + payload
        + struct.pack("<I", masked_crc(payload))
    )


def write_scalars(
    path: str | Path,
    scalars: Iterable[tuple[int, str, float]],
    *,
    wall_time: float = 0.0,
    encoding: str = "simple_value",
) -> Path:
    """Write ``(step, tag, value)`` scalars as a TensorBoard event file (readable by TensorBoard).

    ``encoding`` chooses how values are stored: ``simple_value`` (PyTorch's SummaryWriter),
    ``float_val`` (TF2 tensors) or ``tensor_content`` (raw float64 bytes).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    version = _key(1, 1) + struct.pack("<d", wall_time) + _bytes_field(3, b"brain.Event:2")
    chunks = [_record(version)]
    for step, tag, value in scalars:
        summary = _bytes_field(1, _value(tag, float(value), encoding))
        event = (
            _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint_bytes(int(step))
            + _bytes_field(5, summary)
        )  # fmt: skip
        chunks.append(_record(event))
    path.write_bytes(b"".join(chunks))
    return path
