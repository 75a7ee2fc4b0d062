"""RL compute commands (Khatri et al. 2025's reward-compute sigmoid, law ``scalerl:X``):
``rl-asymptote`` (the ceiling of one run, from a saved fit) and ``rl-compare`` (recipes by
asymptote and efficiency, fitted from their runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import BootOpt, FitArg, IntervalOpt, JsonOpt, RunFilesArg, SeedOpt, WhereOpt, YOpt
from .output import command, emit_answer, emit_json, print_rows, say, warn

app = typer.Typer()


@app.command("rl-asymptote")
@command
def rl_asymptote_command(
    fit_file: FitArg,
    fraction: Annotated[
        float, typer.Option("--fraction", help="Share of the gain A - R0 to give the compute of.")
    ] = 0.9,
    interval: IntervalOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """The asymptote of an RL run (a scalerl fit) with its interval, and compute to reach it."""
    from ..fitting.result import FitResult
    from ..planning.rl import rl_asymptote

    answer = rl_asymptote(FitResult.from_json(fit_file), fraction=fraction, interval=interval)
    doc = answer.to_json()
    emit_answer(doc, f"{answer.title} ({interval:.0%} intervals)", as_json=as_json)


@app.command("rl-compare")
@command
def rl_compare(
    runs: RunFilesArg,
    family: Annotated[
        list[str], typer.Option("--family", "-f", help="An RL recipe (give two or more).")
    ],
    x: Annotated[str, typer.Option("--x", help="The compute column (gpu_hours, flops, step).")] = (
        "gpu_hours"
    ),
    y: YOpt = None,
    where: WhereOpt = None,
    margin: Annotated[
        float, typer.Option("--margin", help="Asymptotes this close count as equal.")
    ] = 0.02,
    bootstrap: BootOpt = 200,
    interval: IntervalOpt = 0.9,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Compare RL recipes by their sigmoids: highest asymptote, most efficient, crossovers."""
    from ..compare.rl import compare_rl_recipes
    from .options import fit_options, read_files

    options = fit_options(y=y, where=where, bootstrap=bootstrap, seed=seed)
    result = compare_rl_recipes(
        read_files(runs), list(family), f"scalerl:{x}", options, margin=margin, interval=interval
    )
    doc = result.to_json()
    if as_json:
        emit_json(doc)
        return
    rows = []
    for name, row in doc["families"].items():
        ci = row["ci"]
        rows.append((name, f"{row['A']:.4f}", f"[{ci['A'][0]:.4f}, {ci['A'][1]:.4f}]",
                     f"{row['B']:.3f}", f"{row['C_mid']:.4g}", f"{row['R0']:.4f}"))  # fmt: skip
    print_rows(f"{doc['law']} per recipe ({interval:.0%} intervals)",
               ("recipe", "A", "interval", "B", "C_mid", "R0"), rows, left=("recipe",))  # fmt: skip
    same = " (within the margin: the same ceiling)" if doc["same_asymptote"] else ""
    say(f"highest asymptote: {doc['highest_asymptote']} (probability "
        f"{doc['p_highest_asymptote']:.0%}), ahead by {doc['asymptote_gap']:.4f}{same}")  # fmt: skip
    say(f"most efficient (largest B): {doc['most_efficient']} (probability "
        f"{doc['p_most_efficient']:.0%})")  # fmt: skip
    for c in doc["crossovers"]:
        a, b = c["families"]
        if c[doc["variable"]] is None:
            say(f"{a} vs {b}: no crossover; {c['message']}")
        else:
            say(f"{a} vs {b}: cross at {c[doc['variable']]:.3g} {doc['variable']} "
                f"[{c['ci'][0]:.3g}, {c['ci'][1]:.3g}]; {c['ahead_below']} ahead below, "
                f"{c['ahead_above']} above")  # fmt: skip
    warn(doc["warnings"])
