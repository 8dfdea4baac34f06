"""Errors of the pgbench script language: located syntax errors and runtime failures."""

from __future__ import annotations

from stormdb_tui.errors import EXIT_USAGE, StormError


class ScriptError(StormError):
    """A script that cannot run: syntax error or unsupported command, located as file:line:column.

    The CLI prints the message and exits 2, as for any other bad input.
    """

    exit_code = EXIT_USAGE

    def __init__(self, source: str, line: int, column: int, message: str, text: str | None = None) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.message = message
        self.text = text
        where = f"{source}:{line}:{column}" if column else f"{source}:{line}"
        super().__init__(f"{where}: {message}")


class ScriptRuntimeError(Exception):
    """A meta-command failed while a client ran its script (overflow, bad argument, \\gset row count).

    pgbench aborts the client on these; here the transaction is counted as
    failed under its script's label and the client goes on with the next one.
    """

    sqlstate = None
