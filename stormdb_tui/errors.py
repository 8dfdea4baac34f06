"""The project's own exceptions and the exit codes they map to.

Every error a user can cause (bad config, bad option, unreachable server) is
raised as a :class:`StormError` subclass carrying a one-line message; the CLI
prints that line and exits with the class's exit code, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGHUP = 129
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class StormError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code = EXIT_FAILED


class ConfigError(StormError):
    """A config file, CLI flag or option value is wrong.

    The message is built from where the problem is (file, line, key path),
    what was expected and what was found, so the user can fix it without
    reading code.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        file: str | None = None,
        line: int | None = None,
        expected: str | None = None,
        found: object = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.file = file
        self.line = line
        self.expected = expected
        self.found = found
        self.hint = hint
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
            where += ": "
        key = f"{self.path}: " if self.path else ""
        text = f"{where}{key}{self.detail}"
        if self.expected is not None:
            text += f" (expected {self.expected}"
            if self.found is not None:
                text += f", found {self.found!r}"
            text += ")"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def located(self, file: str | None, line: int | None) -> ConfigError:
        """Return a copy that names the file and line, keeping what is already known."""
        return ConfigError(
            self.detail,
            path=self.path,
            file=self.file or file,
            line=self.line or line,
            expected=self.expected,
            found=self.found,
            hint=self.hint,
        )


class UsageError(StormError):
    """The command line itself is wrong."""

    exit_code = EXIT_USAGE


class WorkloadError(StormError):
    """A workload cannot run: missing data, missing extension, wrong scale."""

    exit_code = EXIT_FAILED


class DatabaseError(StormError):
    """The target database cannot be reached or used."""

    exit_code = EXIT_FAILED
