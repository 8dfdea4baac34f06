"""The workbench's rough edges, each as a user meets it: the pick form shows the command line's values,
load progress stays within 100 % and phases without rows say they are working, a failed connection
offers Back and Retry, a stopped run's report says it was stopped, exported paths stay whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Input, ProgressBar, Switch

from stormdb_tui.registry import discover
from stormdb_tui.tui.app import StormApp, readable_paths
from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.screens.pick import PickScreen
from stormdb_tui.tui.screens.report import ReportScreen
from stormdb_tui.tui.screens.setup import SetupScreen
from stormdb_tui.tui.testing import ScreenHarness, run_async, screen_text, wait_for
from stormdb_tui.tui.widgets.options_form import OptionsForm
from stormdb_tui.workload import Progress

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.tui
SCHEMA = "tui_edges"


@pytest.fixture(scope="module")
def registry():
    return discover()


def _field(screen: PickScreen, form: str, name: str) -> Input:
    target = screen.workload_form() if form == "workload" else screen.query_one("#run-form", OptionsForm)
    assert target is not None
    return target.field(name).query_one(Input)


# -- the pick form and the command line --------------------------------------------------------


@run_async
async def test_pick_form_shows_the_command_lines_overrides(registry) -> None:
    """``run -c configs/tpcc-quick.yaml --set scale=5 --workers 3``: the form says 5 and 3, not the file's."""
    config = str(ROOT / "configs" / "tpcc-quick.yaml")
    overrides = (("scale", 5), ("run.workers", 3), ("run.connections", 2))
    app = ScreenHarness(lambda: PickScreen(registry, config=config, overrides=overrides,
                                           switches={"monitor": False}))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.3)
        pick = app.shown
        assert pick.workload == "tpcc"
        assert _field(pick, "workload", "scale").value == "5"
        assert _field(pick, "run", "workers").value == "3"
        assert pick.query_one("#sw-monitor", Switch).value is False
        settings = pick.settings()
        assert settings.workload_values["scale"] == 5 and settings.run_values["workers"] == 3
        # a flag the form has no field for still reaches the run
        assert ("run.connections", 2) in settings.overrides()
        # the user's edit wins over the command line
        _field(pick, "workload", "scale").value = "2"
        await pilot.pause()
        pairs = pick.settings().overrides()
        assert pairs.index(("workload.scale", 2)) > pairs.index(("scale", 5))
        # another config drops the command line's extras
        await pick.select_config(str(ROOT / "configs" / "simple.yaml"))
        await pilot.pause()
        assert ("run.connections", 2) not in pick.settings().overrides()


@run_async
async def test_pick_form_without_a_config_shows_the_command_lines_workload(registry) -> None:
    app = ScreenHarness(lambda: PickScreen(registry, overrides=(("workload.name", "bulk_insert"),
                                                                ("run.duration", 7.0))))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.3)
        assert app.shown.workload == "bulk_insert"
        assert _field(app.shown, "run", "duration").value in ("7s", "7", "7.0s", "7.0")


# -- load progress -------------------------------------------------------------------------------


@run_async
async def test_load_progress_never_passes_100_and_phases_without_rows_show_work() -> None:
    progress = Progress()
    progress.phase("copy", 1000)
    progress.advance(1040)  # the loader's estimate fell short
    over = progress.snapshot()
    progress.phase("indexes")
    indexes = progress.snapshot()
    assert "1,040/1,040 rows" in over.line() and over.fraction == 1.0
    assert "0 rows/s" not in indexes.line() and "working" in indexes.line()

    app = ScreenHarness(lambda: SetupScreen("tpcc"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.shown
        screen.show_progress(over)
        await pilot.pause()
        bar = screen.query_one("#setup-bar", ProgressBar)
        assert bar.percentage is not None and bar.percentage <= 1.0
        text = screen_text(app)
        # No 104 %: the rate beside it (1,040 rows over a few µs) may well contain "104", a percentage not.
        assert "1,040 / 1,040 rows" in text and not re.search(r"104\s*%", text)
        screen.show_progress(indexes)
        await pilot.pause(0.6)
        text = screen_text(app)
        assert "indexes" in text and "working for" in text and "rows/s" not in text
        assert bar.percentage == 1.0  # the rows are all in; the line above says what goes on


@run_async
async def test_failed_connection_offers_back_and_retry(registry) -> None:
    app = StormApp(registry=registry, dsn="host=/nonexistent-socket-dir dbname=nope connect_timeout=2")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.failed, 30)
        first = app.screen
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "Retry" in text and "Back" in text
        assert "Cancel" not in text and "--%" not in text
        assert not first.query_one("#setup-bar").display
        await pilot.press("r")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen is not first
                              and app.screen.failed, 30)
        assert first not in app.screen_stack
        await pilot.press("b")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PickScreen)
        assert app.internal_error is None


# -- a stopped run ---------------------------------------------------------------------------------


@run_async
async def test_the_report_of_a_stopped_run_says_so_and_its_export_path_stays_whole(
        registry, dsn, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "short.yaml"
    config.write_text(f"workload: {{name: simple, scale: 1, script: select-only, schema: {SCHEMA}}}\n"
                      "run: {workers: 1, duration: 30s, warmup: 0s}\nmonitoring: {enabled: false}\n")
    app = StormApp(registry=registry, config=str(config), dsn=dsn)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: app.dashboard is not None and app.dashboard.phase == "measuring", 90)
        await pilot.pause(1.5)
        await pilot.press("s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen), 60)
        await pilot.pause(0.3)
        messages = [n.message for n in app._notifications]
        assert any(m.startswith("stopped by you") for m in messages), messages
        assert await wait_for(pilot, lambda: "stopped by you" in screen_text(app), 5)  # the toast, on the report
        # The status, under the toast at 80 columns until the toast goes.
        assert await wait_for(pilot, lambda: "interrupted" in screen_text(app), 20)
        await pilot.press("j")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "reports" / "a-long-report-name.json")
        await pilot.press("enter")
        await pilot.pause(0.3)
        written = [n.message for n in app._notifications if "written to" in n.message]
        assert written and written[-1].endswith("\nreports/a-long-report-name.json"), written
        assert await wait_for(pilot, lambda: "reports/a-long-report-name.json" in screen_text(app), 5)  # one line
        assert (tmp_path / "reports" / "a-long-report-name.json").exists()
        assert not isinstance(app.screen, DashboardScreen)


def test_paths_in_toasts_are_short_and_on_their_own_line() -> None:
    assert readable_paths("JSON report written to /w/x/reports/simple-20260101-000000.json", cwd="/w/x",
                          home="/home/u") == "JSON report written to\nreports/simple-20260101-000000.json"
    assert readable_paths("journal: /home/u/.local/share/stormdb-tui/runs/a.jsonl (kept)", cwd="/w",
                          home="/home/u") == "journal:\n~/.local/share/stormdb-tui/runs/a.jsonl (kept)"
    assert readable_paths("could not write /x.json: denied", cwd="/w", home="/h") == "could not write /x.json: denied"
    assert readable_paths("see /tmp/stormdb-tui-error-12345.log.", cwd="/w", home="/h") == \
        "see\n/tmp/stormdb-tui-error-12345.log."


@run_async
async def test_report_summary_ranks_bulk_insert_methods_by_rows_per_second() -> None:
    from stormdb_tui.report.model import Report

    ranking = [{"method": "copy", "rows": 40000, "seconds": 1.0, "rows_per_s": 40000.0},
               {"method": "insert_single", "rows": 1600, "seconds": 1.0, "rows_per_s": 1600.0}]
    data = {
        "schema_version": 1, "status": "completed",
        "workload": {"name": "bulk_insert", "version": "1", "summary": {"fastest": "copy", "ranking": ranking}},
        "run": {"workers": 1, "model": "closed"},
        "summary": {"elapsed_s": 2.0, "transactions": 1604, "tps": 802.0, "latency_ms": {}},
        "operations": {"insert_single": {"count": 1600, "errors": 0, "tps": 800.0, "latency_ms": {}},
                       "copy": {"count": 4, "errors": 0, "tps": 2.0, "latency_ms": {}}},
    }
    app = ScreenHarness(lambda: ReportScreen(Report(data)))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        lines = screen_text(app).splitlines()
        head = next(i for i, line in enumerate(lines) if "rows per s" in line)
        assert lines[head + 1].split()[0] == "copy" and "40,000" in lines[head + 1]
        assert lines[head + 2].split()[0] == "insert_single"
