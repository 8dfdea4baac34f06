"""Paths through the workbench that once crashed it, each driven by keys as a user would press them.

They run real (short) runs against the test server: the crashes came from
the order of screens a second run meets, which canned data cannot reproduce.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stormdb_tui.registry import discover
from stormdb_tui.tui.app import StormApp
from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.screens.report import ReportScreen
from stormdb_tui.tui.screens.tutorial import TutorialScreen
from stormdb_tui.tui.testing import run_async, screen_text
from stormdb_tui.tui.testing import wait_for as _wait_for

pytestmark = pytest.mark.tui
SCHEMA = "tui_crashes"


@pytest.fixture(scope="module")
def registry():
    return discover()


async def wait_for(pilot, predicate, timeout: float = 90.0) -> bool:
    return await _wait_for(pilot, predicate, timeout)


def short_config(tmp_path: Path, *, duration: str = "30s", report: Path | None = None) -> Path:
    path = tmp_path / "short.yaml"
    text = (f"workload: {{name: simple, scale: 1, script: select-only, schema: {SCHEMA}}}\n"
            f"run: {{workers: 1, duration: {duration}, warmup: 0s}}\nmonitoring: {{enabled: true}}\n")
    if report is not None:
        text += f"report: {{json: {report}}}\n"
    path.write_text(text)
    return path


def measuring(app: StormApp) -> bool:
    return app.dashboard is not None and app.dashboard.phase == "measuring"


@run_async
async def test_second_run_started_from_a_tutorial_does_not_collide_with_the_first_dashboard(
        registry, dsn, tmp_path) -> None:
    """start, ctrl+s, s, on the report t, Enter, n d n d: once DuplicateIds 'dashboard'."""
    app = StormApp(registry=registry, config=str(short_config(tmp_path)), dsn=dsn)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: measuring(app)), screen_text(app)
        await pilot.pause(1.2)
        await pilot.press("s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen)), screen_text(app)
        first = app.last_report
        await pilot.press("t")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TutorialScreen)
        for key in "ndnd":
            await pilot.press(key)
            await pilot.pause(0.3)
        assert await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.run_active), \
            screen_text(app)
        assert app.dashboard is app.screen
        await pilot.press("s")
        assert await wait_for(pilot, lambda: app.last_report is not first and not app.run_active, 120)
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen), 10)
        await pilot.pause(0.5)  # the report's tabs finish mounting before the app closes
    assert app.return_code in (0, None)


@run_async
async def test_tutorial_look_at_the_server_after_going_back_from_the_report(registry, dsn, tmp_path) -> None:
    """Tutorial 1: run, report q, Escape, n d (look: server): once NoMatches '#pane-server'."""
    app = StormApp(registry=registry, dsn=dsn)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("t")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.2)
        tutorial = app.screen
        assert isinstance(tutorial, TutorialScreen)
        await pilot.press("n", "d")
        await pilot.pause(0.3)
        await pilot.press("n", "d")
        assert await wait_for(pilot, lambda: measuring(app)), screen_text(app)
        await pilot.pause(1.2)
        await pilot.press("s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen)), screen_text(app)
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.screen is tutorial
        await pilot.press("n", "d")
        await pilot.pause(0.5)
        # the finished run's dashboard comes back, frozen on its last figures, with the server pane in focus
        assert isinstance(app.screen, DashboardScreen), screen_text(app)
        assert app.focused is not None and app.focused.id == "pane-server"
        assert "finished" in screen_text(app) or "completed" in screen_text(app) or "interrupted" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.screen is tutorial
    assert app.return_code in (0, None)


class Boom(RuntimeError):
    pass


@run_async
async def test_an_internal_error_stops_the_run_keeps_the_report_and_exits_non_zero(
        registry, dsn, tmp_path, monkeypatch) -> None:
    report_path = tmp_path / "boom.json"
    app = StormApp(registry=registry, config=str(short_config(tmp_path, report=report_path)), dsn=dsn)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: measuring(app)), screen_text(app)
        await pilot.pause(1.2)

        def broken(self, name: str) -> bool:
            raise Boom("a pane that cannot be drawn")

        monkeypatch.setattr(DashboardScreen, "focus_pane", broken)
        await pilot.press("4")
        assert await wait_for(pilot, lambda: not app.run_active, 60), screen_text(app)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "internal error" in text.lower() and "Boom" in text and "a pane that cannot be drawn" in text
        assert "report" in text.lower()
        await pilot.press("q")
        await pilot.pause(0.3)
    assert app.return_code == 1
    saved = json.loads(report_path.read_text())
    assert saved["status"] == "interrupted" and "internal error" in saved["stop_reason"]
    assert saved["summary"]["transactions"] > 0


@run_async
async def test_ctrl_q_during_a_run_asks_and_then_stops_gracefully_keeping_the_report(
        registry, dsn, tmp_path) -> None:
    report_path = tmp_path / "quit.json"
    app = StormApp(registry=registry, config=str(short_config(tmp_path, report=report_path)), dsn=dsn)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: measuring(app)), screen_text(app)
        await pilot.pause(1.2)
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
        assert "quit" in screen_text(app).lower() and app.run_active
        await pilot.press("n")  # changed my mind: the run goes on
        await pilot.pause(0.2)
        assert app.run_active and isinstance(app.screen, DashboardScreen)
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: not app.run_active, 60)
        await pilot.pause(0.5)
    assert app.return_code == 0
    saved = json.loads(report_path.read_text())
    assert saved["status"] == "interrupted" and saved["summary"]["transactions"] > 0

