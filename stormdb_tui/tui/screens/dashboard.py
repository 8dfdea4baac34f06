"""The live dashboard: throughput, latency per operation, errors, the server, workers.

It never touches the engine's threads: a timer reads the runner's current
:class:`~stormdb_tui.engine.metrics.RunSnapshot` (an immutable object the sampler
replaces once per interval) and redraws the panes only when it is a new
object; between samples only the clock line changes. Phase changes arrive
from the app as method calls made while handling the runner's messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from stormdb_tui.engine.metrics import RunSnapshot
from stormdb_tui.engine.tutorials import PANES
from stormdb_tui.tui.widgets.panes import Pane, fmt_ms, fmt_rate

TITLES = {
    "throughput": "Throughput tx/s",
    "server": "Server",
    "latency": "Latency ms: run and last interval; over time p50 p95 p99 p99.9",
    "errors": "Errors",
    "waits": "Waits (ours)",
    "io": "I/O blocks/s (pg_stat_io)",
    "connections": "Connections",
    "workers": "Workers",
}
BOTTOM = ("errors", "waits", "io", "connections")
"""The bottom row, left to right; as many as the width allows are shown, the others a key away."""
BOTTOM_KEYS = {"errors": ("3", "errors"), "connections": ("5", "conns"), "waits": ("7", "waits"), "io": ("8", "I/O")}


def bottom_capacity(width: int) -> int:
    """How many bottom panes fit side by side at this terminal width."""
    return 4 if width >= 140 else 3 if width >= 100 else 1


def run_line(info: Mapping[str, Any] | None) -> str:
    """``multiplex driver, 2 processes, 8 workers``: how the load is generated (the protocol of the run)."""
    if not info or not info.get("driver"):
        return ""
    processes = info.get("processes")
    parts = [f"{info['driver']} driver"]
    if processes:
        parts.append(f"{processes} process{'es' if processes != 1 else ''}")
    workers, connections = info.get("workers"), info.get("connections")
    if workers:
        parts.append(f"{workers} worker{'s' if workers != 1 else ''}")
    if connections and connections != workers:
        parts.append(f"{connections} connections")
    return ", ".join(parts)


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


class DashboardScreen(Screen):
    """Watches one run; ``s`` stops it gracefully, ``a`` / ``ctrl+c`` aborts."""

    BINDINGS = [
        Binding("s", "stop", "Stop"),
        Binding("a", "abort", "Abort"),
        Binding("ctrl+c", "abort", "Abort", show=False),
        Binding("w", "toggle_workers", "Workers"),
        Binding("b", "next_bottom", "Next pane"),
        Binding("1", "focus_pane('throughput')", "Panes 1-8", show=False),
        Binding("2", "focus_pane('latency')", show=False),
        Binding("3", "focus_pane('errors')", show=False),
        Binding("4", "focus_pane('server')", show=False),
        Binding("5", "focus_pane('connections')", show=False),
        Binding("6", "focus_pane('workers')", show=False),
        Binding("7", "focus_pane('waits')", show=False),
        Binding("8", "focus_pane('io')", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, snapshot_source: Callable[[], RunSnapshot | None], workload: str = "",
                 refresh_s: float = 0.5, monitoring: bool | None = None,
                 run_info: Callable[[], Mapping[str, Any] | None] | None = None) -> None:
        super().__init__(classes="dashboard")
        self.monitoring = monitoring
        self.run_info = run_info
        """Driver, processes, workers and connections of the run, once the engine has chosen them."""
        self._recent = ["errors", "waits", "connections", "io"]
        """Bottom panes, the most recently asked for first: the first ones fit the row."""
        self.snapshot_source = snapshot_source
        self.workload = workload
        self.refresh_s = refresh_s
        self.phase = "starting"
        self.detail = ""
        self.finished_status: str | None = None
        self._snap: RunSnapshot | None = None
        self._measure_t0: float | None = None
        self._warm_t0: float | None = None
        self.redraws = 0
        self.initial_focus: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="dash-status")
        yield Static("", id="dash-info")
        with Horizontal(id="dash-top"):
            yield Pane("throughput", TITLES["throughput"])
            yield Pane("server", TITLES["server"])
        yield Pane("latency", TITLES["latency"])
        with Horizontal(id="dash-bottom"):
            yield Pane("errors", TITLES["errors"])
            yield Pane("waits", TITLES["waits"])
            yield Pane("io", TITLES["io"])
            yield Pane("connections", TITLES["connections"])
        yield Pane("workers", TITLES["workers"])
        yield Footer()

    def on_mount(self) -> None:
        self.title = "stormdb-tui"
        self.sub_title = f"{self.workload} — live"
        self.query_one("#pane-workers").display = False
        for pane in self.query(Pane):
            pane.monitoring = self.monitoring
        self._reflow(self.app.size.width, self.app.size.height)
        self.set_interval(self.refresh_s, self.tick)
        self.tick()
        if self.initial_focus:
            name, self.initial_focus = self.initial_focus, None
            self.call_after_refresh(self.focus_pane, name)

    def on_resize(self, event: events.Resize) -> None:
        self._reflow(event.size.width, event.size.height)

    def _reflow(self, width: int, height: int) -> None:
        """Narrow terminals lose the side column's width, short ones the bottom row (shown on demand)."""
        self.set_class(width < 100, "-narrow")
        self.set_class(bottom_capacity(width) == 1, "-single")
        self.set_class(height < 30, "-short")
        self.set_class(height < 22, "-tiny")
        self._layout_bottom()

    def _layout_bottom(self) -> None:
        """Show the bottom panes that fit; the last one's border names the others and their keys."""
        if not self.is_mounted:
            return
        room = bottom_capacity(self.app.size.width)
        shown = set(self._recent[:room])
        panes = {name: self.query_one(f"#pane-{name}", Pane) for name in BOTTOM}
        for name, pane in panes.items():
            appears = name in shown and not pane.display
            pane.display = name in shown
            pane.border_subtitle = ""
            if appears and self._snap is not None:
                self.call_after_refresh(pane.show, self._snap)
        hidden = [name for name in BOTTOM if name not in shown]
        if hidden:
            last = panes[[name for name in BOTTOM if name in shown][-1]]
            last.border_subtitle = "  ".join(f"{BOTTOM_KEYS[n][0]} {BOTTOM_KEYS[n][1]}" for n in hidden) + "  b next"

    def _bring_bottom(self, name: str) -> None:
        self._recent = [name, *(n for n in self._recent if n != name)]
        self._layout_bottom()

    def action_next_bottom(self) -> None:
        """``b``: the next pane of the bottom row (at small sizes, in place of the one shown)."""
        current = self._recent[0]
        self.focus_pane(BOTTOM[(BOTTOM.index(current) + 1) % len(BOTTOM)])

    # -- updates ---------------------------------------------------------------------

    def set_phase(self, phase: str, detail: str = "") -> None:
        self.phase, self.detail = phase, detail
        now = time.monotonic()
        if phase == "warmup":
            self._warm_t0 = now
        elif phase == "measuring":
            self._measure_t0 = now
        self._show_status()

    def finish(self, status: str) -> None:
        """The run is over: freeze the panes on the final snapshot."""
        self.finished_status = status
        if self.is_mounted:
            self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        snap = self.snapshot_source()
        if snap is not None and (force or snap is not self._snap):
            self.show_snapshot(snap)
        else:
            self._show_status()

    def show_snapshot(self, snap: RunSnapshot) -> None:
        """Redraw every visible pane from ``snap`` (in place, no mounting)."""
        self._snap = snap
        self.redraws += 1
        for pane in self.query(Pane):
            if pane.display:
                pane.show(snap)
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        snap = self._snap
        text = Text()
        text.append(f" {self.workload} ", style="bold reverse")
        status = self.finished_status or self.phase
        text.append(f" {status} ", style="bold")
        if snap is not None and snap.client_bound:  # first, so no width cuts it off: the figures describe the client
            text.append(" CLIENT-BOUND ", style="bold reverse red")
        elapsed = self._elapsed()
        duration = snap.duration_s if snap is not None else None
        if self.phase == "warmup" and self._warm_t0 is not None and snap is not None and not self.finished_status:
            text.append(f" warm-up {_clock(time.monotonic() - self._warm_t0)} / {_clock(snap.warmup_s)}")
        else:
            text.append(f" {_clock(elapsed)}")
            if duration:
                text.append(f" / {_clock(duration)}")
        if snap is not None:
            text.append(f"  tx {snap.transactions:,}  ")
            text.append(f"errors {snap.errors:,}", style="bold red" if snap.errors else "")
            text.append(f"  {fmt_rate(snap.tps)} tps  {fmt_rate(snap.qps)} qps")
        if self.finished_status:
            text.append("   r: report  escape: back", style="dim")
        elif self.detail and self.phase not in ("measuring",):
            text.append(f"  {self.detail}", style="dim")
        self.query_one("#dash-status", Static).update(text)
        self.query_one("#dash-info", Static).update(self._info_text(snap))

    def _info_text(self, snap: RunSnapshot | None) -> Text:
        """The second header line: what not to take at face value first, then how the load is driven."""
        text = Text()
        client = snap.client if snap is not None else None
        if snap is not None and snap.client_bound:
            reasons = "; ".join((client or {}).get("reasons") or ()) or "the load generator is saturated"
            text.append(f" {reasons}: the figures describe the client ", style="bold red")
        agreement = snap.agreement if snap is not None else None
        if agreement and agreement.get("warning"):
            # the first clause fits the line; the report has the whole sentence and its reason
            text.append(f" ⚠ {str(agreement['warning']).split(':')[0].split(';')[0]} ", style="bold yellow")
        line = run_line(self.run_info() if self.run_info is not None else None)
        if line:
            text.append(f" {line}", style="dim")
        if client and not snap.client_bound and client.get("cpu_share") is not None:  # type: ignore[union-attr]
            lag = (client.get("lag_ms") or {}).get("p99")
            text.append(f"   client CPU {client['cpu_share'] * 100:.0f} %", style="dim")
            if lag is not None:
                text.append(f", lag p99 {fmt_ms(lag)} ms", style="dim")
        if agreement and agreement.get("checked") and not agreement.get("warning"):
            diff = agreement.get("difference")
            text.append(f"   client and server agree on the commits ({diff:+,})" if isinstance(diff, int)
                        else "   client and server agree on the commits", style="green")
        return text

    def _elapsed(self) -> float:
        snap = self._snap
        if self.finished_status and snap is not None:
            return snap.elapsed_s
        if self._measure_t0 is not None:
            return time.monotonic() - self._measure_t0
        return snap.elapsed_s if snap is not None and self.phase == "measuring" else 0.0

    # -- actions -----------------------------------------------------------------------

    def action_stop(self) -> None:
        self.app.stop_run(abort=False)  # type: ignore[attr-defined]

    def action_abort(self) -> None:
        self.app.stop_run(abort=True)  # type: ignore[attr-defined]

    def action_toggle_workers(self) -> None:
        workers = self.query_one("#pane-workers", Pane)
        self.show_workers(not workers.display)

    def show_workers(self, visible: bool) -> None:
        workers = self.query_one("#pane-workers", Pane)
        workers.display = visible
        bottom = self.query_one("#dash-bottom")
        bottom.display = not visible
        bottom.set_class(not visible and self.has_class("-short"), "-shown")
        if visible and self._snap is not None:
            self.call_after_refresh(workers.show, self._snap)

    def action_focus_pane(self, name: str) -> None:
        self.focus_pane(name)

    def focus_pane(self, name: str) -> bool:
        """Focus and highlight one pane (the tutorials point at them by name)."""
        if name not in PANES:
            return False
        if name == "workers":
            self.show_workers(True)
        elif name in BOTTOM:
            self.show_workers(False)
            self.query_one("#dash-bottom").add_class("-shown")
            self._bring_bottom(name)
        else:
            self.query_one("#dash-bottom").remove_class("-shown")
        found = self.query(f"#pane-{name}").results(Pane)
        target = next(found, None)
        if target is None:
            return False
        for pane in self.query(Pane):
            pane.set_class(pane.pane_name == name, "-highlight")
        target.focus()
        return True

    def on_screen_resume(self) -> None:
        """Back on top (a tutorial asked for a pane meanwhile): focus it now."""
        if self.initial_focus:
            name, self.initial_focus = self.initial_focus, None
            self.call_after_refresh(self.focus_pane, name)

    def action_back(self) -> None:
        if self.finished_status is not None:
            self.dismiss()
        else:
            self.app.notify("the run is still going: s stops it, a aborts it", timeout=3)
