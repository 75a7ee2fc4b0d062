"""Output paths (issue 16, item 3) and click's usage errors: one line, before any work.

Every ``-o/--output`` is checked before the command computes anything (a directory, a missing
or read-only directory, a read-only file), and written whole or not at all.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

import scalinglab.fitting.api
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.runs.files import write_atomic
from scalinglab.runs.store import Store
from scalinglab.synthetic import chinchilla_grid, simulate

runner = CliRunner()
TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    simulate("chinchilla", TRUTH, chinchilla_grid(), noise=0.003, seed=0).df.to_csv(
        "runs.csv", index=False
    )
    sweep = "".join(
        f"s,n{n}-{lr},{n},{20 * n},loss,{2 + 100 * n**-0.3 + 0.05 * (lr - 3) ** 2},{10.0**-lr}\n"
        for n in (1e6, 4e6, 16e6)
        for lr in range(1, 6)
    )
    with open("sweep.csv", "w") as fh:
        fh.write("family,run_id,params,tokens,metric,value,peak_lr\n" + sweep)
    os.mkdir("some_dir")
    return tmp_path


@pytest.fixture
def read_only_dir(in_tmp):
    """A directory nobody can write to, root included (immutable)."""
    path = in_tmp / "ro_dir"
    path.mkdir()
    os.chmod(path, 0o555)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("chattr +i is not available: cannot make a directory read-only for root")
    yield path
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)])
    os.chmod(path, 0o755)


def refusal(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


COMMANDS = {
    "fit": ["fit", "runs.csv", "--bootstrap", "0"],
    "report": ["report", "runs.csv", "--bootstrap", "0", "--holdout", "none"],
    "lr-sweep": ["lr-sweep", "sweep.csv"],
    "fits --show": ["fits", "--show", "1", "--store", "none.duckdb"],
}
OUTPUTS = {
    "some_dir": "error: some_dir: --output names a directory, not a file",
    "missing_dir/out.json": "error: missing_dir/out.json: --output cannot be written: "
    "its directory 'missing_dir' does not exist",
}


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_output_path_is_one_line_before_any_work(command, output, in_tmp, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the command computed before checking its output path")

    monkeypatch.setattr(scalinglab.fitting.api, "estimate", no_work)
    assert refusal(*COMMANDS[command], "-o", output) == OUTPUTS[output]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_read_only_directory_is_one_line(command, read_only_dir):
    line = refusal(*COMMANDS[command], "-o", "ro_dir/out.json")
    assert line.startswith(
        "error: ro_dir/out.json: --output cannot be written: its directory 'ro_dir' is not writable ("
    )


def test_fit_into_a_read_only_store_is_refused_before_the_fit(in_tmp, monkeypatch):
    Store.init("s.duckdb")
    os.chmod("s.duckdb", 0o444)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", "s.duckdb"]).returncode:
        pytest.skip("chattr +i is not available: cannot make a file read-only for root")
    monkeypatch.setattr(scalinglab.fitting.api, "estimate", lambda *a, **k: 1 / 0)
    try:
        line = refusal("fit", "runs.csv", "--bootstrap", "0", "--store", "s.duckdb")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", "s.duckdb"])
    assert line.startswith(
        "error: s.duckdb: cannot save the fit in the store: the file is read-only"
    )


def test_outputs_are_written_as_strict_json(in_tmp):
    def refuse(token):
        raise AssertionError(f"{token} in a JSON output")

    for args in (["fit", "runs.csv", "--bootstrap", "3"], ["lr-sweep", "sweep.csv"]):
        result = runner.invoke(app, [*args, "-o", "out.json", "--json"])
        assert result.exit_code == 0, result.stderr
        json.loads((in_tmp / "out.json").read_text(), parse_constant=refuse)
    assert not [p for p in os.listdir(in_tmp) if p.endswith(".tmp")]


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "fit.json"
    path.write_text("old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(InputError, match=r"fit.json: cannot write: No space left on device$"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["fit.json"]


def test_an_atomic_write_keeps_the_mode_and_writes_through_a_symlink(tmp_path):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert os.stat(target).st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--bootstrap", "x"], "Invalid value for '--bootstrap' / '-b': "),
        (
            ["predict", "f.json", "--at", "params=1", "--interval", "2"],
            "Invalid value for "
            "'--interval': Input should be less than or equal to 0.999 (see 'scalinglab predict --help')",
        ),  # fmt: skip
        (["predict"], "Missing argument 'fit_file'. (see 'scalinglab predict --help')"),
        (["fit", "--nope"], "No such option: --nope"),
        (["no-such-command"], "No such command 'no-such-command'. (see 'scalinglab --help')"),
    ],
)
def test_usage_errors_are_one_line(args, message):
    assert refusal(*args).startswith(f"error: {message}")


def test_a_bare_command_group_still_prints_its_help():
    result = runner.invoke(app, [])
    assert result.exit_code == 2 and "Usage: scalinglab" in result.output
