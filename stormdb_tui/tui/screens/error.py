"""The screen an internal error ends on: what broke, where the run's report went, and how to leave.

A bug in the workbench must not cost the user the run it was watching, nor
leave them staring at a traceback while workers go on in the background. The
app stops the run gracefully, keeps its report, and shows this screen; the
full traceback goes to a file whose path is shown here and printed on exit.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static


class ErrorScreen(Screen):
    """Shown once, after the first unhandled exception; ``q`` leaves with exit status 1."""

    BINDINGS = [
        Binding("q", "leave", "Quit"),
        Binding("escape", "leave", "Quit", show=False),
        Binding("ctrl+q", "leave", "Quit", show=False),
    ]
    DEFAULT_CSS = """
    ErrorScreen #error-box { padding: 1 2; }
    ErrorScreen #error-title { color: $error; text-style: bold; }
    ErrorScreen #error-run { margin-top: 1; }
    ErrorScreen #error-trace { margin-top: 1; color: $text-muted; }
    """

    def __init__(self, summary: str, frames: list[str], log_path: str | None, run_going: bool) -> None:
        super().__init__(classes="error")
        self.summary = summary
        self.frames = frames
        self.log_path = log_path
        self.run_going = run_going
        self.run_lines: list[str] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="error-box"):
            yield Static("stormdb-tui hit an internal error and has to close", id="error-title", markup=False)
            yield Static(self.summary, id="error-summary", markup=False)
            yield Static(self._run_text(), id="error-run", markup=False)
            where = f"The full traceback is in {self.log_path}." if self.log_path else ""
            yield Static(Text("\n".join([where, "", *self.frames]).strip()), id="error-trace")
        yield Footer()

    def _run_text(self) -> str:
        if self.run_going:
            return "Stopping the run gracefully: in-flight transactions finish and its report is written…"
        return "No run was going. q quits (exit status 1)."

    def run_stopped(self, lines: list[str]) -> None:
        """The run has ended: say where its report is."""
        self.run_going = False
        self.run_lines = list(lines)
        text = "The run was stopped and its report kept:\n  " + "\n  ".join(lines) if lines else \
            "The run was stopped; it had no report to write."
        self.query_one("#error-run", Static).update(text + "\n\nq quits (exit status 1).")

    def action_leave(self) -> None:
        self.app.leave_after_error()  # type: ignore[attr-defined]
