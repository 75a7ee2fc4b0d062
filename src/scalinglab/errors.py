"""Errors that scalinglab reports to its users.

An :class:`InputError` is bad input: the CLI prints its one-line message on stderr and exits
with code 2. Everything else is a bug and keeps its traceback.

Library code names the *argument* at fault (``option="flops"``, or ```flops``` in backticks
inside the message), never a command-line flag: the CLI renders it as ``--flops``
(:meth:`InputError.for_cli`), Python callers see ``flops``.
"""

from __future__ import annotations

import math
import re

#: An argument named in a message: `flops` (rendered --flops by the CLI).
_ARGUMENT = re.compile(r"`([a-z][a-z0-9_]*)`")


def _spell(name: str, flag: bool) -> str:
    return "--" + name.replace("_", "-") if flag else name


class InputError(ValueError):
    """Bad input, reported as one line naming the file, row and column at fault.

    Example:
        >>> str(InputError("row has a non-numeric size", file="runs.csv", row=7, column="params"))
        "runs.csv: row 7: column 'params': row has a non-numeric size"
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        option: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        self.option = option
        super().__init__(self._render())

    def for_cli(self) -> str:
        """The message with the argument at fault spelled as its flag (``flops`` -> ``--flops``).

        Example:
            >>> InputError("must be positive, got -1", option="target_loss").for_cli()
            '--target-loss must be positive, got -1'
            >>> str(InputError("must be positive, got -1", option="target_loss"))
            'target_loss must be positive, got -1'
            >>> InputError("needs `target_loss` or `flops`").for_cli()
            'needs --target-loss or --flops'
        """
        return self._render(flag=True)

    def _render(self, flag: bool = False) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        message = _ARGUMENT.sub(lambda m: _spell(m.group(1), flag), self.message)
        if self.option:  # "flops must be positive" reads as a sentence, "--flops ..." too
            message = f"{_spell(self.option, flag)} {message}"
        return ": ".join([*where, message])


def positive(value: object, option: str) -> float:
    """``value`` as a finite positive float, or an :class:`InputError` naming ``option``.

    Example:
        >>> positive("2.5", "flops")
        2.5
        >>> positive(-1, "flops")
        Traceback (most recent call last):
        ...
        scalinglab.errors.InputError: flops must be a positive number, got -1
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"must be a positive number, got {value!r}", option=option) from None
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"must be a positive number, got {number:g}", option=option)
    return number
