"""Snapshot tests: each workbench screen rendered from canned data, compared with accepted SVGs.

Regenerate after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the new files under ``tests/__snapshots__/`` before committing them.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_textual_snapshot")

from stormdb_tui.options import Option  # noqa: E402
from stormdb_tui.registry import Registry, WorkloadEntry  # noqa: E402
from stormdb_tui.tui.screens.dashboard import DashboardScreen  # noqa: E402
from stormdb_tui.tui.screens.help import HelpScreen  # noqa: E402
from stormdb_tui.tui.screens.pick import PickScreen  # noqa: E402
from stormdb_tui.tui.screens.setup import SetupScreen  # noqa: E402
from stormdb_tui.tui.testing import ScreenHarness, canned_snapshot  # noqa: E402
from stormdb_tui.tui.widgets.confirm import ConfirmDialog  # noqa: E402
from stormdb_tui.workload import SetupProgress, Workload  # noqa: E402

pytestmark = pytest.mark.tui


class Demo(Workload):
    """A fixed workload with one option of every type, so the form snapshot never drifts."""

    name = "demo"
    title = "every option type"
    description = "A workload used only by the snapshot tests."
    version = "1.2"
    operations = ("balance", "deposit")
    options = (
        Option("scale", "int", 1, "rows = 1000 × scale", minimum=1, maximum=1000),
        Option("ratio", "float", 0.5, "share of writes", minimum=0, maximum=1),
        Option("pipeline", "bool", True, "pipeline multi-statement transactions"),
        Option("mode", "choice", "mixed", "which transactions", choices=("read", "write", "mixed")),
        Option("pause", "duration", 0.01, "sleep between statements"),
        Option("mix", "weights", {"balance": 3, "deposit": 1}, "transaction weights", choices=("balance", "deposit")),
    )

    def transaction(self, ctx):  # pragma: no cover - never run
        return "balance"


def _registry() -> Registry:
    registry = Registry()
    registry.add(WorkloadEntry("demo", "builtin", "tests", cls=Demo))
    registry.add(WorkloadEntry("broken", "path", "/plugins/broken.py", error="SyntaxError: invalid syntax"))
    return registry


def test_pick_screen(snap_compare) -> None:
    app = ScreenHarness(lambda: PickScreen(_registry(), configs=["configs/demo.yaml"]))
    assert snap_compare(app, terminal_size=(100, 34))


def test_pick_screen_with_a_bad_value(snap_compare) -> None:
    async def type_bad_scale(pilot) -> None:
        await pilot.pause()
        field = pilot.app.shown.workload_form().field("scale")
        field.query_one("Input").value = "0"
        await pilot.pause()

    app = ScreenHarness(lambda: PickScreen(_registry(), configs=[]))
    assert snap_compare(app, terminal_size=(80, 24), run_before=type_bad_scale)


def test_setup_screen(snap_compare) -> None:
    def fill(screen: SetupScreen) -> None:
        screen.show_phase("connecting", "host=/tmp dbname=bench")
        screen.show_phase("setup", "loading demo")
        screen.show_progress(SetupProgress("accounts", 250_000, 1_000_000, 125_000.0, 2.0, 6.0))

    app = ScreenHarness(lambda: SetupScreen("demo"), after_mount=fill)
    assert snap_compare(app, terminal_size=(80, 24))


def _dashboard(workers: int = 4, pg: bool = True) -> ScreenHarness:
    snap = canned_snapshot(workers=workers, pg=pg)

    def finish(screen: DashboardScreen) -> None:
        screen.set_phase("done", "completed")
        screen.finish("completed")

    return ScreenHarness(lambda: DashboardScreen(lambda: snap, "demo", refresh_s=60), after_mount=finish)


def test_dashboard(snap_compare) -> None:
    assert snap_compare(_dashboard(), terminal_size=(80, 24))


def test_dashboard_large_with_workers(snap_compare) -> None:
    assert snap_compare(_dashboard(workers=16), terminal_size=(120, 40), press=["w", "_"])


def test_dashboard_without_server_stats(snap_compare) -> None:
    assert snap_compare(_dashboard(pg=False), terminal_size=(100, 30))


def test_help_screen(snap_compare) -> None:
    async def open_help(pilot) -> None:
        await pilot.pause()
        pilot.app.push_screen(HelpScreen(pilot.app.shown, []))
        await pilot.pause()

    assert snap_compare(_dashboard(), terminal_size=(80, 24), run_before=open_help)


def test_rebuild_confirmation(snap_compare) -> None:
    async def ask(pilot) -> None:
        await pilot.pause()
        pilot.app.push_screen(ConfirmDialog("--rebuild drops every object owned by demo. Drop and reload?",
                                            yes="Drop and reload", no="Cancel"))
        await pilot.pause()

    assert snap_compare(_dashboard(), terminal_size=(80, 24), run_before=ask)


def test_setup_screen_after_a_failed_connection(snap_compare) -> None:
    def fail(screen: SetupScreen) -> None:
        screen.show_phase("connecting", "host=/nonexistent dbname=bench")
        screen.show_error("cannot connect to host=/nonexistent dbname=bench: No such file or directory")

    app = ScreenHarness(lambda: SetupScreen("demo"), after_mount=fail)
    assert snap_compare(app, terminal_size=(80, 24))


def test_dashboard_client_bound_with_its_driver(snap_compare) -> None:
    from dataclasses import replace

    snap = replace(canned_snapshot(), client_bound=True,
                   client={"bound": True, "cpu_share": 0.97, "reasons": ["client CPU at 97% of 2 cores"]})
    info = {"driver": "multiplex", "processes": 2, "workers": 4, "connections": 4}
    app = ScreenHarness(lambda: DashboardScreen(lambda: snap, "demo", refresh_s=60, run_info=lambda: info))
    assert snap_compare(app, terminal_size=(160, 48))


def test_dashboard_at_60x20(snap_compare) -> None:
    assert snap_compare(_dashboard(), terminal_size=(60, 20))
