"""TensorBoard event files: our reader against our writer, with no tensorflow installed."""

from __future__ import annotations

import struct

import pytest

from scalinglab.errors import InputError
from scalinglab.runs import read_runs, write_scalars
from scalinglab.runs.tensorboard import crc32c, masked_crc, masked_crc_many, read_records


def log_run(path, params=1e6, steps=(100, 200, 300, 400, 500, 600, 700, 800, 900, 1000), **kw):
    scalars = [(0, "params", params)] if params else []
    scalars += [(s, "tokens", 1e3 * s) for s in steps]
    scalars += [(s, "loss", 10.0 / s + 2.0) for s in steps]
    return write_scalars(path, scalars, **kw)


def test_crc32c_matches_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("encoding", ["simple_value", "float_val", "tensor_content"])
def test_event_file_scalars_are_read_in_every_encoding(tmp_path, encoding):
    path = log_run(tmp_path / "run-1m" / "events.out.tfevents.1.host", encoding=encoding)
    t = read_runs(path)
    assert t.metrics() == ["loss"]
    assert t.df["run_id"].unique().tolist() == ["run-1m"]
    assert t.df["step"].tolist() == [100.0 * i for i in range(1, 11)]
    assert t.df["value"].iloc[0] == pytest.approx(2.1, rel=1e-6)  # float32 precision
    assert t.df["params"].unique().tolist() == [1e6]
    assert t.df["tokens"].tolist() == [1e3 * 100 * i for i in range(1, 11)]


def test_a_directory_of_runs_gives_one_run_per_subdirectory(tmp_path):
    log_run(tmp_path / "logs" / "small" / "events.out.tfevents.1")
    log_run(tmp_path / "logs" / "large" / "events.out.tfevents.1", params=4e6)
    t = read_runs(tmp_path / "logs")
    assert t.families() == ["logs"]
    assert sorted(t.df["run_id"].unique()) == ["large", "small"]
    assert len(t.observations()) == 18  # first 10% of each run dropped


def test_restart_files_of_one_run_keep_the_later_value(tmp_path):
    run = tmp_path / "run"
    log_run(run / "events.out.tfevents.1", steps=(100, 200))
    write_scalars(run / "events.out.tfevents.2", [(200, "loss", 9.0), (300, "loss", 8.0)])
    t = read_runs(run)
    assert t.df["value"].tolist()[-2:] == [9.0, 8.0]
    assert "run 'run': 1 repeated (tag, step) values replaced by the later one" in t.notes


def test_sizes_given_as_arguments_replace_missing_tags(tmp_path):
    path = write_scalars(tmp_path / "r" / "events.out.tfevents.1", [(10, "loss", 3.0)])
    t = read_runs(path, params="125M", tokens="2.5B")
    assert (t.df["params"].iloc[0], t.df["tokens"].iloc[0]) == (125e6, 2.5e9)


def test_missing_params_scalar_says_what_to_do(tmp_path):
    path = log_run(tmp_path / "r" / "events.out.tfevents.1", params=None)
    with pytest.raises(InputError) as info:
        read_runs(path)
    assert str(info.value) == (
        "events.out.tfevents.1: run 'r' has no 'params' scalar: log one or pass params=..."
    )


def test_truncated_last_record_is_skipped_with_a_note(tmp_path):
    path = log_run(tmp_path / "r" / "events.out.tfevents.1")
    path.write_bytes(path.read_bytes()[:-7])
    t = read_runs(path)
    assert len(t) == 9
    assert (
        "events.out.tfevents.1: skipped a truncated last record (still being written?)" in t.notes
    )


def test_a_file_that_is_not_an_event_file_is_refused(tmp_path):
    path = tmp_path / "events.out.tfevents.bad"
    path.write_bytes(b"this is not a tfrecord file at all")
    with pytest.raises(
        InputError, match="not a TensorBoard event file \\(bad record checksum at byte 0\\)"
    ):
        read_runs(path)


def test_directory_without_event_files_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="^empty: no TensorBoard event files"):
        read_runs(tmp_path / "empty")


def test_records_are_framed_with_length_and_checksums(tmp_path):
    path = write_scalars(tmp_path / "events.out.tfevents.1", [(1, "loss", 1.5)])
    records, truncated = read_records(path)
    assert len(records) == 2 and not truncated  # file-version event, then the scalar
    assert struct.unpack("<Q", path.read_bytes()[:8])[0] == len(records[0].payload)


def test_a_changed_scalar_value_fails_its_payload_checksum(tmp_path):
    path = log_run(tmp_path / "r" / "events.out.tfevents.1")
    records, _ = read_records(path)
    last = records[-1]  # a loss scalar; its float value sits just before the tag's end
    data = bytearray(path.read_bytes())
    value_byte = last.offset + 12 + len(last.payload) - 1
    data[value_byte] ^= 0x01  # still a valid protobuf, a slightly different loss
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as info:
        read_runs(path)
    assert str(info.value) == (
        f"events.out.tfevents.1: corrupt TensorBoard event at byte {last.offset} "
        "(payload checksum mismatch)"
    )


def test_vectorised_checksums_equal_the_plain_ones():
    payloads = [bytes(range(n % 256)) * (1 + n // 256) for n in range(0, 600, 7)]
    payloads += [b"", b"123456789", bytes(5000)]  # empty, the check string, a long one
    assert masked_crc_many(payloads).tolist() == [masked_crc(p) for p in payloads]
