"""The compare screen: no reports, one report, two reports compared, from the report screen and the start screen."""

from __future__ import annotations

import pytest
from compare_data import make_report, write
from textual.widgets import DataTable, SelectionList

from stormdb_tui.options import Option
from stormdb_tui.registry import Registry, WorkloadEntry
from stormdb_tui.report.model import Report
from stormdb_tui.tui.app import StormApp
from stormdb_tui.tui.screens.compare import CURRENT, CompareScreen, find_candidates
from stormdb_tui.tui.screens.report import ReportScreen
from stormdb_tui.tui.testing import ScreenHarness, run_async, screen_text
from stormdb_tui.workload import Workload

pytestmark = pytest.mark.tui


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def table_rows(screen: CompareScreen) -> dict[str, list[str]]:
    table = screen.query_one("#compare-table", DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)] for key in table.rows}


@run_async
async def test_no_reports_says_where_it_looked(tmp_path) -> None:
    app = ScreenHarness(lambda: CompareScreen([tmp_path / "nothing-here"]))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "No reports found" in text and "nothing-here" in text
        await pilot.press("c")
        await pilot.pause()
        assert any("mark two or more" in n.message for n in app._notifications)
        assert app.screen.doc is None


@run_async
async def test_one_report_asks_for_another(tmp_path) -> None:
    write(tmp_path / "only.json", make_report())
    app = ScreenHarness(lambda: CompareScreen([tmp_path]))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "One report found" in text and "only.json" in text
        await pilot.press("space", "c")
        await pilot.pause()
        assert app.screen.doc is None


@run_async
async def test_two_reports_compared_with_verdict_colours(tmp_path) -> None:
    import os

    base = write(tmp_path / "before.json", make_report(seed=1))
    write(tmp_path / "after.json", make_report(tps=500.0, p99=12.0, seed=2, commit_delay="1000"))
    os.utime(base, (1_000_000_000, 1_000_000_000))  # older: the base
    (tmp_path / "notes.txt").write_text("not a report")
    assert [c.key.rsplit("/", 1)[-1] for c in find_candidates([tmp_path])] == ["after.json", "before.json"]
    app = ScreenHarness(lambda: CompareScreen([tmp_path]))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#compare-pick", SelectionList).select_all()
        await pilot.press("c")
        await settle(app, pilot)
        assert screen.doc is not None and screen.error is None
        assert [s["name"] for s in screen.doc["sides"]] == ["before", "after"]
        rows = table_rows(screen)
        assert rows["tps"][-1] == "worse" and rows["tps"][3] == "-50.0 %"
        assert rows["p99"][-1] == "worse"
        table = screen.query_one("#compare-table", DataTable)
        verdict = table.get_row("tps")[-1]
        assert verdict.style == "bold red"
        text = screen_text(app)
        assert "What differs" in text and "commit_delay" in text
        headline = len(rows)
        await pilot.press("a")
        await pilot.pause()
        assert len(table_rows(screen)) > headline


@run_async
async def test_a_broken_file_is_reported_not_fatal(tmp_path) -> None:
    write(tmp_path / "good.json", make_report())
    (tmp_path / "bad.json").write_text('{"schema_version": 1}')
    app = ScreenHarness(lambda: CompareScreen([tmp_path]))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#compare-pick", SelectionList).select_all()
        await pilot.press("c")
        await settle(app, pilot)
        assert app.screen.doc is None and "not a complete stormdb-tui report" in (app.screen.error or "")
        assert "cannot compare" in screen_text(app)


@run_async
async def test_report_screen_opens_compare_with_the_report_marked(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORMDB_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "reports").mkdir()
    write(tmp_path / "reports" / "earlier.json", make_report(seed=3))
    shown = Report(make_report(tps=2000.0, p99=2.0, seed=4))
    app = ScreenHarness(lambda: ReportScreen(shown))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        pick = screen.query_one("#compare-pick", SelectionList)
        assert pick.selected == [CURRENT]
        pick.select_all()
        await pilot.press("c")
        await settle(app, pilot)
        assert [s["name"] for s in screen.doc["sides"]] == ["earlier", "this report"]
        assert table_rows(screen)["tps"][-1] == "better"
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)


class Demo(Workload):
    name = "demo"
    title = "a workload for the compare screen test"
    description = "Never run."
    options = (Option("scale", "int", 1, "rows"),)

    def transaction(self, ctx):  # pragma: no cover - never run
        return "x"


@run_async
async def test_start_screen_key_opens_compare(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORMDB_RUNS_DIR", str(tmp_path / "runs"))
    registry = Registry()
    registry.add(WorkloadEntry("demo", "builtin", "tests", cls=Demo))
    app = StormApp(registry=registry)
    async with app.run_test(size=(110, 32)) as pilot:
        await pilot.pause()
        app.set_focus(None)  # a field with the focus takes letters as text
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert "No reports found" in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)


@run_async
async def test_compare_ui_marks_the_command_lines_files_in_their_order(tmp_path, monkeypatch) -> None:
    from stormdb_tui.tui.screens.compare import CompareApp

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORMDB_RUNS_DIR", str(tmp_path / "runs"))
    newer = write(tmp_path / "newer.json", make_report(tps=800.0, seed=1))
    older = write(tmp_path / "older.json", make_report(seed=2))
    import os

    os.utime(older, (1_000_000_000, 1_000_000_000))
    app = CompareApp([newer, older])  # the newer file first: it is the base because the command line says so
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.doc is not None
        assert [s["name"] for s in screen.doc["sides"]] == ["newer", "older"]
        assert table_rows(screen)["tps"][-1] == "better"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
