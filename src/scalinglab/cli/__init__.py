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
for group in (
    fitting,
    planning,
    questions,
    store,
    report,
    quant,
    noise,
    downstream,
    sizing,
    data,
    rl,
    architecture,
):
    app.add_typer(group.app)
app.add_typer(ladder.app, name="ladder", help="Train ladders of small GPTs to make your own data.")


def main() -> None:
    """Entry point of the ``scalinglab`` console script."""
    app()


__all__ = ["app", "main"]
