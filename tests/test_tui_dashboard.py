"""Dashboard fed with hand-built RunSnapshots: every pane shows the numbers, keys work, redraws are cheap."""

from __future__ import annotations

import gc
import time

import pytest

from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.testing import ScreenHarness, canned_snapshot, run_async, screen_text
from stormdb_tui.tui.widgets.panes import Pane, event_marks, spark_rows

pytestmark = pytest.mark.tui


def _harness(source, size_workers: int = 4) -> ScreenHarness:
    return ScreenHarness(lambda: DashboardScreen(source, "demo", refresh_s=0.1))


def test_sparkline_and_event_marks() -> None:
    rows = spark_rows([0, 50, 100], 3, 2)
    assert rows == ["  █", " ██"]
    assert spark_rows([1.0] * 10, 4, 1) == ["████"]
    snap = canned_snapshot(intervals=10)
    marks, recent = event_marks(snap, 10)
    assert marks[2] == "C" and marks[7] == "V"  # checkpoint at t=3 s, autovacuum at t=8 s
    assert marks[4] == "!"  # the interval with an error
    assert recent == ["3s checkpoint started", "8s autovacuum started: pgbench_accounts"]


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
        assert "elapsed" in text and "tx 14,100" in text


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
        assert "64 workers" in text and "#63" in text
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
        await pilot.pause(0.2)
        text = screen_text(app)
        for title in ("Throughput", "Server", "Latency", "Errors", "Connections"):
            assert title in text
        assert "server statistics off" in text
        assert "Stop" in text.splitlines()[-1]  # the footer is on screen


@run_async
async def test_redraw_is_fast_at_64_workers() -> None:
    snap = canned_snapshot(intervals=3600, workers=64)
    app = _harness(lambda: snap)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        dash = app.shown
        dash.show_workers(True)
        await pilot.pause()
        gc.collect()  # garbage left by earlier tests is not this screen's cost
        # CPU time of the UI thread, not wall time: the test machine is shared, the cost is what we own
        t0 = time.thread_time()
        for _ in range(10):
            dash.show_snapshot(snap)
        per_redraw = (time.thread_time() - t0) / 10
        assert per_redraw < 0.05, per_redraw
        for key in ("w", "2", "w"):
            t0 = time.thread_time()
            await pilot.press(key)
            await pilot.pause()
            assert time.thread_time() - t0 < 0.1, key
