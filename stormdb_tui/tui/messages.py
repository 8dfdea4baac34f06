"""Messages the run thread posts to the app.

The runner calls its ``on_phase`` callback and the load's progress callback
from its own threads; those callbacks only wrap the news in one of these
messages and hand it to :meth:`textual.app.App.post_message`, which queues it
thread-safely and returns at once, so a busy UI never holds up the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from stormdb_tui.report.model import Report
    from stormdb_tui.workload import SetupProgress


class RunPhaseChanged(Message):
    """The run entered a phase: connecting, setup, starting, warmup, measuring, stopping, done."""

    def __init__(self, phase: str, detail: str = "") -> None:
        super().__init__()
        self.phase = phase
        self.detail = detail


class SetupProgressed(Message):
    """The data load advanced (at most ten of these a second)."""

    def __init__(self, progress: SetupProgress) -> None:
        super().__init__()
        self.progress = progress


class RunNotice(Message):
    """One line the user should see while the run goes (where its journal is, a file it could not write)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RunFinished(Message):
    """The run thread ended.

    ``status`` is the report's status (completed, interrupted, failed) when a
    run happened, ``cancelled`` when the user cancelled before measuring, or
    ``failed`` with ``error`` set when preparation failed (no report then).
    """

    def __init__(self, status: str, report: Report | None = None, error: str | None = None) -> None:
        super().__init__()
        self.status = status
        self.report = report
        self.error = error


class ConnectionTested(Message):
    """The pick screen's connection test finished."""

    def __init__(self, ok: bool, text: str) -> None:
        super().__init__()
        self.ok = ok
        self.text = text
