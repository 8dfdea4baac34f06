"""The setup screen: connecting, checking the data, and loading it with a progress bar.

Progress arrives as :class:`~stormdb_tui.tui.messages.SetupProgressed`
messages (rows, rows/s, ETA computed by the engine's ``Progress``); the
cancel key sets the load's ``cancelled`` flag through the runner, and the
loader stops between batches.
"""

from __future__ import annotations

import time

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


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class SetupScreen(Screen):
    """Shown from the start of a run until the workers start; after a failure, Back and Retry."""

    BINDINGS = [
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry", "Retry"),
        Binding("b", "back", "Back"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, workload: str = "") -> None:
        super().__init__(classes="setup")
        self.workload = workload
        self.last: SetupProgress | None = None
        self.failed = False
        self._log: list[str] = []
        self._last_at = 0.0
        self._spin = 0

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
        # Phases that copy no rows (indexes, vacuum) send no progress: the clock moves on its own.
        self.set_interval(0.25, self._tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return not self.failed
        if action == "retry":
            return self.failed
        if action == "back":
            return self.failed or not getattr(self.app, "run_active", False)
        return True

    def show_phase(self, phase: str, detail: str) -> None:
        text = f"{phase}: {detail}" if detail else phase
        self.query_one("#setup-phase", Static).update(text)
        self._log = [*self._log, text][-6:]
        self.query_one("#setup-log", Static).update("\n".join(self._log))

    def show_progress(self, progress: SetupProgress) -> None:
        """Move the bar and the rows / rows/s / ETA line (cheap: updates in place)."""
        self.last = progress
        self._last_at = time.monotonic()
        bar = self.query_one("#setup-bar", ProgressBar)
        if progress.total_rows:  # a phase without rows (indexes) keeps the bar where the rows left it
            bar.update(total=progress.shown_total, progress=progress.rows)
        self._show_stats()

    def _show_stats(self) -> None:
        progress = self.last
        if progress is None or self.failed:
            return
        stats = self.query_one("#setup-stats", Static)
        if not progress.counting:
            waited = progress.phase_elapsed_s + (time.monotonic() - self._last_at)
            stats.update(f"{progress.phase} {SPINNER[self._spin % len(SPINNER)]}  working for {_duration(waited)}   "
                         f"{progress.rows:,} rows loaded so far   elapsed "
                         f"{_duration(progress.elapsed_s + time.monotonic() - self._last_at)}")
            return
        total = f" / {progress.shown_total:,}" if progress.total_rows else ""
        stats.update(
            f"{progress.phase}: {progress.rows:,}{total} rows   {progress.rows_per_s:,.0f} rows/s   "
            f"elapsed {_duration(progress.elapsed_s)}   ETA {_duration(progress.eta_s)}"
        )

    def _tick(self) -> None:
        self._spin += 1
        if self.last is not None and not self.last.counting:
            self._show_stats()

    def show_error(self, text: str) -> None:
        self.failed = True
        self.query_one("#setup-phase", Static).update("failed: " + text)
        self.query_one("#setup-bar", ProgressBar).display = False
        self.query_one("#setup-stats", Static).display = False
        self.query_one("#setup-hint", Static).update(
            "r: retry (after fixing the server or the network)   b or escape: back to the pick screen")
        self.refresh_bindings()

    def action_cancel(self) -> None:
        if self.failed:
            self.action_back()
            return
        self.app.cancel_setup()  # type: ignore[attr-defined]
        self.query_one("#setup-hint", Static).update("cancelling… (the loader stops after its current batch)")

    def action_retry(self) -> None:
        if self.failed:
            self.app.retry_run()  # type: ignore[attr-defined]

    def action_back(self) -> None:
        if self.failed or not self.app.run_active:  # type: ignore[attr-defined]
            self.dismiss()
