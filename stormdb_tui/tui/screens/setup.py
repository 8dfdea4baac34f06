"""The setup screen: connecting, checking the data, and loading it with a progress bar.

Progress arrives as :class:`~stormdb_tui.tui.messages.SetupProgressed`
messages (rows, rows/s, ETA computed by the engine's ``Progress``); the
cancel key sets the load's ``cancelled`` flag through the runner, and the
loader stops between batches.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from stormdb_tui.workload import SetupProgress


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class SetupScreen(Screen):
    """Shown from the start of a run until the workers start."""

    BINDINGS = [
        Binding("c", "cancel", "Cancel"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, workload: str = "") -> None:
        super().__init__(classes="setup")
        self.workload = workload
        self.last: SetupProgress | None = None
        self.failed = False
        self._log: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="setup-box"):
            yield Static(f"Preparing {self.workload or 'the run'}", id="setup-title")
            yield Static("", id="setup-phase", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="setup-bar")
            yield Static("", id="setup-stats", markup=False)
            yield Static("", id="setup-log", markup=False)
            yield Static("c: cancel the load (what is loaded stays; the next run resumes it with --setup)",
                         id="setup-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "stormdb-tui"
        self.sub_title = "setup"

    def show_phase(self, phase: str, detail: str) -> None:
        text = f"{phase}: {detail}" if detail else phase
        self.query_one("#setup-phase", Static).update(text)
        self._log = [*self._log, text][-6:]
        self.query_one("#setup-log", Static).update("\n".join(self._log))

    def show_progress(self, progress: SetupProgress) -> None:
        """Move the bar and the rows / rows/s / ETA line (cheap: updates in place)."""
        self.last = progress
        bar = self.query_one("#setup-bar", ProgressBar)
        if progress.total_rows:
            bar.update(total=progress.total_rows, progress=min(progress.rows, progress.total_rows))
        total = f" / {progress.total_rows:,}" if progress.total_rows else ""
        self.query_one("#setup-stats", Static).update(
            f"{progress.phase}: {progress.rows:,}{total} rows   {progress.rows_per_s:,.0f} rows/s   "
            f"elapsed {_duration(progress.elapsed_s)}   ETA {_duration(progress.eta_s)}"
        )

    def show_error(self, text: str) -> None:
        self.failed = True
        self.query_one("#setup-phase", Static).update("failed: " + text)
        self.query_one("#setup-hint", Static).update("escape: back to the pick screen")

    def action_cancel(self) -> None:
        if self.failed:
            self.action_back()
            return
        self.app.cancel_setup()  # type: ignore[attr-defined]
        self.query_one("#setup-hint", Static).update("cancelling… (the loader stops after its current batch)")

    def action_back(self) -> None:
        if self.failed or not self.app.run_active:  # type: ignore[attr-defined]
            self.dismiss()
