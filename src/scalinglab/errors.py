"""Errors that scalinglab reports to its users.

An :class:`InputError` is bad input: the CLI prints its one-line message on stderr and exits
with code 2. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


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
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return ": ".join([*where, self.message])
