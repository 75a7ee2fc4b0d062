"""The ``scalinglab`` command (typer + rich).

One module per group of commands, named for what they do: ``fitting`` (fit, predict,
backtest, laws), ``planning`` (plan, isoflop, compare), ``questions`` (the law zoo's own
questions: lr-sweep, hparams, density, regimes, schedule, steps-to-loss), ``sizing`` (vocab,
knowledge: the literature's sizing rules), ``data`` (epochs, best-pool, curve-form), ``rl``
(rl-asymptote, rl-compare), ``architecture`` (moe-leverage, sparsity-tokens, avg-params),
``store`` (init, import, runs, fits), ``report``
(report, demo) and ``ladder`` (the ``ladder`` sub-command).
Options are declared once in :mod:`.options`; everything printed goes through :mod:`.output`.
Heavy libraries (pandas, scipy, matplotlib, duckdb, torch) are imported inside commands, so
``scalinglab --help`` stays quick.

Every command takes ``--json`` and then prints exactly one JSON object on stdout. Bad input
exits with code 2 and one line on stderr naming the file, row and column at fault.
"""

from __future__ import annotations

import inspect

import typer

from . import (
    architecture,
    data,
    downstream,
    fitting,
    ladder,
    noise,
    planning,
    quant,
    questions,
    report,
    rl,
    sizing,
    store,
)
from .output import OneLineErrors

app = typer.Typer(
    name="scalinglab",
    help="Predict the big training run before you pay for it: fit scaling laws to small runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
#: Each group's commands under one heading of ``scalinglab --help`` (40 commands in one list
#: are hard to read), in the order a user meets them.
PANELS = {
    "Fit, predict, report": (fitting, report),
    "Plan": (planning,),
    "Questions of the law zoo": (questions, sizing, data, rl, architecture),
    "Downstream and test-time compute": (downstream,),
    "Noise and reproducibility": (noise,),
    "Precision": (quant,),
    "Project store": (store,),
}


def _reflowed(doc: str | None) -> str | None:
    """A docstring with each paragraph on one line: typer's help keeps the source's line
    breaks past the first paragraph, so wrapped docstrings printed as ragged lines."""
    if not doc:
        return doc
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


def _present(typer_app: typer.Typer, panel: str | None) -> None:
    for command_info in typer_app.registered_commands:
        command_info.rich_help_panel = command_info.rich_help_panel or panel
        callback = command_info.callback
        command_info.help = command_info.help or _reflowed(callback and callback.__doc__)


for panel, groups in PANELS.items():
    for group in groups:
        _present(group.app, panel)
        app.add_typer(group.app)
_present(ladder.app, None)
app.add_typer(
    ladder.app,
    name="ladder",
    help="Train ladders of small GPTs to make your own data.",
    rich_help_panel="Make data",
)


def main() -> None:
    """Entry point of the ``scalinglab`` console script."""
    app()


__all__ = ["app", "main"]
