"""Dashboard fed with hand-built RunSnapshots: every pane shows the numbers, keys work, redraws are cheap."""

from __future__ import annotations

import pytest

from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.testing import ScreenHarness, canned_snapshot, run_async, screen_text
from stormdb_tui.tui.widgets.charts import Chart
from stormdb_tui.tui.widgets.panes import Pane, recent_events

pytestmark = pytest.mark.tui


def _harness(source, size_workers: int = 4) -> ScreenHarness:
    return ScreenHarness(lambda: DashboardScreen(source, "demo", refresh_s=0.1))


def test_recent_events_use_the_chart_letters() -> None:
    snap = canned_snapshot(intervals=10)
    assert recent_events(snap) == ["C 3s checkpoint started", "V 8s autovacuum started: pgbench_accounts"]


@pytest.mark.parametrize("size", [(160, 48), (80, 24), (60, 20)])
@run_async
async def test_charts_fill_their_panes_and_latency_stays_at_every_size(size) -> None:
    snap = canned_snapshot(intervals=30)
    app = _harness(lambda: snap)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        dash = app.shown
        latency = dash.query_one("#pane-latency", Pane)
        assert latency.display and latency.region.height >= 6, latency.region
        assert "all (run)" in screen_text(app) and "last interval" in screen_text(app)
        throughput = dash.query_one("#pane-throughput", Pane)
        chart = throughput.query_one(Chart)
        assert chart.region.width >= throughput.content_region.width - 1
        assert chart.region.height >= throughput.content_region.height - 2
        if size == (160, 48):
            lat_chart = latency.query_one(Chart)
            assert lat_chart.display and lat_chart.region.width >= 40 and lat_chart.region.height >= 10
            text = screen_text(app)
            for key in ("p50", "p90", "p95", "p99", "p99.9", "max"):
                assert key in text
            assert "seconds into the measured window" in text  # the plotext axes


@run_async
async def test_panes_show_the_snapshot() -> None:
    snap = canned_snapshot()
    app = _harness(lambda: snap)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        text = screen_text(app)
        # latency percentiles per label: p50 p95 p99 p99.9 max
        deposit = next(line for line in text.splitlines() if "deposit" in line and "1.75" in line)
        for value in ("1.75", "4.25", "8.50", "17.2", "31.0"):
            assert value in deposit
        assert "balance" in text and "0.456" in text
        assert "98.76 %" in text  # cache hit ratio
        assert "2.50 MB/s" in text  # WAL
        assert "timed 1 req 2 running" in text  # checkpoints
        assert "3, longest 0.25s" in text  # lock waits
        assert "transaction_rollback" in text and "40001" in text  # errors by class, first message
        assert "idle in transaction" in text and "total 9 / 97" in text  # connections by state
        assert "Lock 3" in text
        assert "rd 120 wr 35 ext 4" in text  # pg_stat_io block operations
        assert "31% Lock:transactionid" in text and "50% CPU" in text  # wait profile
        assert "checkpoint started" in text  # a server event on the timeline
        assert "/ 0:30" in text and "tx 14,100" in text


@run_async
async def test_keys_workers_focus_and_stop() -> None:
    snap = canned_snapshot(workers=64)
    app = _harness(lambda: snap)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause(0.2)
        dash = app.shown
        assert not dash.query_one("#pane-workers").display
        await pilot.press("w")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert dash.query_one("#pane-workers").display
        assert "64 workers" in text
        assert dash.query_one("#pane-workers", Pane).query_one(Chart).region.height >= 6
        await pilot.press("w")
        await pilot.pause()
        assert not dash.query_one("#pane-workers").display
        dash.focus_pane("latency")
        await pilot.pause()
        latency = dash.query_one("#pane-latency", Pane)
        assert latency.has_focus and latency.has_class("-highlight")
        await pilot.press("5")
        await pilot.pause()
        assert dash.query_one("#pane-connections", Pane).has_focus
        assert not latency.has_class("-highlight")
        await pilot.press("7")
        await pilot.pause()
        assert dash.query_one("#pane-waits", Pane).has_focus
        await pilot.press("s")
        await pilot.press("a")
        await pilot.press("ctrl+c")
        assert app.stops == [False, True, True]


@run_async
async def test_redraws_in_place_only_for_new_snapshots() -> None:
    holder = {"snap": canned_snapshot(intervals=5)}
    app = _harness(lambda: holder["snap"])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        dash = app.shown
        panes = list(dash.query(Pane))
        before = dash.redraws
        dash.tick()
        dash.tick()
        assert dash.redraws == before  # same immutable snapshot: nothing redrawn
        holder["snap"] = canned_snapshot(intervals=6, errors=False)
        await pilot.pause(0.3)
        assert dash.redraws == before + 1
        assert list(dash.query(Pane)) == panes  # updated in place, nothing remounted
        assert "no errors" in screen_text(app)


@run_async
async def test_fits_80x24_and_shows_monitoring_off() -> None:
    snap = canned_snapshot(pg=False)
    app = _harness(lambda: snap)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):  # the first frame, on a busy machine
            await pilot.pause(0.1)
            if "errors 7" in screen_text(app):
                break
        text = screen_text(app)
        for title in ("Throughput", "Server", "Latency"):
            assert title in text
        assert "errors 7" in text.splitlines()[0]  # the error count stays on the status line, on top
        assert "server statistics off" in text
        assert "Stop" in text.splitlines()[-1]  # the footer is on screen
        await pilot.press("3")  # 24 rows: the bottom panes come up on demand, one at a time at 80 columns
        for _ in range(30):
            await pilot.pause(0.1)
            if "5 conns" in screen_text(app):
                break
        text = screen_text(app)
        assert "Errors" in text and "Connections" not in text and "5 conns" in text
        await pilot.press("5")
        for _ in range(30):
            await pilot.pause(0.1)
            if "Connections" in screen_text(app):
                break
        assert "Connections" in screen_text(app) and "Errors" not in screen_text(app)


@run_async
async def test_an_hour_at_64_workers_redraws_in_place() -> None:
    """A long run with many workers: every redraw and pane toggle keeps the same widgets.

    Its cost is measured in a real terminal by ``benchmarks/tui_cost.py``,
    not here: a timed assertion on a shared machine measures the machine.
    """
    snap = canned_snapshot(intervals=3600, workers=64)
    app = _harness(lambda: snap)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        dash = app.shown
        dash.show_workers(True)
        await pilot.pause()
        panes = list(dash.query(Pane))
        for _ in range(3):
            dash.show_snapshot(snap)
        await pilot.pause()
        assert list(dash.query(Pane)) == panes
        assert "64 workers" in screen_text(app)
        for key in ("w", "2", "w"):
            await pilot.press(key)
            await pilot.pause()
        assert list(dash.query(Pane)) == panes
