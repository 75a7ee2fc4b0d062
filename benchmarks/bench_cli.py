"""How long `scalinglab --help` takes, against typer alone measured in the same run.

    python benchmarks/bench_cli.py [--repeat 10]

The CLI imports its heavy libraries (pandas, scipy, matplotlib, duckdb, torch) inside
commands, so asking for help should cost about what typer and rich cost. Target: CPU time
within 2x of a bare typer app with two commands. Prints the median CPU seconds (user + system
of the child process) of each and their ratio.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TYPER_ALONE = """
import typer
app = typer.Typer(no_args_is_help=True, add_completion=False)
@app.command()
def first(x: int = 1) -> None: ...
@app.command()
def second(x: int = 1) -> None: ...
app()
"""


def cpu_seconds(command: list[str]) -> float:
    """CPU time (user + system) of one run of ``command``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "typer_alone.py"
        bare.write_text(TYPER_ALONE)
        commands = {
            "typer alone": [sys.executable, str(bare), "--help"],
            "scalinglab --help": [sys.executable, "-m", "scalinglab.cli", "--help"],
        }
        for command in commands.values():  # warm the file cache
            cpu_seconds(command)
        median = {
            name: statistics.median(cpu_seconds(cmd) for _ in range(args.repeat))
            for name, cmd in commands.items()
        }
    for name, seconds in median.items():
        print(f"{name:<20} {seconds * 1000:7.0f} ms CPU (median of {args.repeat})")
    ratio = median["scalinglab --help"] / median["typer alone"]
    print(f"ratio                {ratio:7.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
