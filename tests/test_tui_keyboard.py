"""Keyboard-first: typing into any field never fires a screen's single-letter keys, Tab reaches
the DSN field, the focused widget is visibly different, and the help names its screens in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Button, Input, OptionList, Switch

from stormdb_tui.registry import discover
from stormdb_tui.report.model import Report
from stormdb_tui.tui.app import StormApp
from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.screens.help import HelpScreen
from stormdb_tui.tui.screens.pick import PickScreen
from stormdb_tui.tui.screens.report import ExportPrompt, ReportScreen
from stormdb_tui.tui.screens.tutorial import TutorialListScreen
from stormdb_tui.tui.testing import ScreenHarness, canned_snapshot, run_async, screen_text
from stormdb_tui.tui.widgets.options_form import OptionsForm
from stormdb_tui.tui.widgets.panes import Pane

pytestmark = pytest.mark.tui
TYPED = "postgresql://tq@host:5432/db?sslmode=prefer&x=jmrsawb123456789"
"""Every single-letter key of the pick, report, dashboard and tutorial screens, and the app's ?/r/t."""


@pytest.fixture(scope="module")
def registry():
    return discover()


def _report(tmp_path: Path) -> Report:
    data = {
        "schema_version": 1, "status": "completed", "workload": {"name": "simple", "version": "1.0"},
        "run": {"workers": 1, "model": "closed"},
        "summary": {"elapsed_s": 2.0, "transactions": 10, "tps": 5.0, "qps": 5.0, "errors": 0, "retries": 0,
                    "rollbacks": 0, "latency_ms": {"p50": 1.5}},
        "operations": {"select-only": {"count": 10, "errors": 0, "tps": 5.0, "latency_ms": {"p50": 1.5}}},
        "started_at": "2026-01-02T03:04:05+00:00",
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    return Report.load(path)


@run_async
async def test_typing_a_dsn_types_it_and_tab_reaches_the_field(registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        app.pick.query_one("#workloads", OptionList).focus()
        for _ in range(12):
            if app.focused is not None and app.focused.id == "dsn":
                break
            await pilot.press("tab")
            await pilot.pause()
        assert app.focused is not None and app.focused.id == "dsn", f"Tab stopped at {app.focused!r}"
        await pilot.press(*TYPED)
        await pilot.pause()
        assert app.screen is app.pick, f"a key typed into the DSN field opened {app.screen!r}"
        assert app.pick.query_one("#dsn", Input).value == TYPED
        assert app.pick.settings().dsn == TYPED  # typing chose the DSN target
        # the run settings' fields too: "2s" in duration neither starts nor stops anything
        duration = app.pick.query_one("#run-form", OptionsForm).field("duration").query_one(Input)
        duration.focus()
        duration.value = ""
        await pilot.press("2", "s", "t", "r")
        await pilot.pause()
        assert app.screen is app.pick and duration.value == "2str" and not app.run_active


@run_async
async def test_focus_is_visible_on_every_kind_of_field(registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        pick = app.pick
        widgets = [pick.query_one("#dsn", Input), pick.query_one("#workloads", OptionList),
                   pick.query_one("#sw-monitor", Switch), pick.query_one("#start", Button),
                   pick.query_one("#run-form", OptionsForm).field("workers").query_one(Input)]
        for widget in widgets:
            app.set_focus(None)
            await pilot.pause()
            unfocused = (widget.styles.background, widget.styles.background_tint, widget.styles.border,
                         widget.styles.text_style)
            widget.focus()
            await pilot.pause()
            assert widget.has_focus
            focused = (widget.styles.background, widget.styles.background_tint, widget.styles.border,
                       widget.styles.text_style)
            assert focused != unfocused, f"{widget!r} looks the same focused and not"


@run_async
async def test_export_prompt_takes_typing_and_a_habitual_key_does_not_replace_the_path(tmp_path) -> None:
    report = _report(tmp_path)
    app = ScreenHarness(lambda: ReportScreen(report))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("j")
        await pilot.pause()
        assert isinstance(app.screen, ExportPrompt)
        field = app.screen.query_one("#export-path", Input)
        default = field.value
        assert default.startswith("reports/simple-") and default.endswith(".json")
        await pilot.press("m")  # meant as "and Markdown too": it is typing, at the end, not a new prompt
        await pilot.pause()
        assert isinstance(app.screen, ExportPrompt) and len(app.screen_stack) == 3
        assert field.value == default + "m"
        await pilot.press("backspace", *"qj12", "backspace", "backspace", "backspace", "backspace")
        await pilot.pause()
        assert isinstance(app.screen, ExportPrompt) and field.value == default
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)


@run_async
async def test_help_names_the_screens_in_words(tmp_path, monkeypatch, registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        app.pick.query_one("#workloads", OptionList).focus()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TutorialListScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Tutorials" in text and "tutoriallist" not in text.lower().replace(" ", "x")
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, PickScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Pick" in screen_text(app)


def _dashboard(snap, info=None) -> ScreenHarness:
    return ScreenHarness(lambda: DashboardScreen(lambda: snap, "demo", refresh_s=0.1, monitoring=True,
                                                 run_info=(lambda: info) if info else None))


@pytest.mark.parametrize("size", [(160, 48), (80, 24), (60, 20)])
@run_async
async def test_header_shows_the_driver_client_bound_and_the_agreement_warning(size) -> None:
    from dataclasses import replace

    snap = replace(canned_snapshot(intervals=12), client_bound=True,
                   client={"bound": True, "cpu_share": 0.97, "reasons": ["client CPU at 97% of 2 cores"],
                           "lag_ms": {"p99": 3.0}},
                   agreement={"checked": True, "status": "warning", "difference": 900,
                              "warning": "client and server disagree by +900 commits"})
    info = {"driver": "multiplex", "processes": 2, "workers": 8, "connections": 8}
    app = _dashboard(snap, info)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        lines = screen_text(app).splitlines()
        status = next(line for line in lines if " demo " in line and "starting" in line)
        assert "CLIENT-BOUND" in status  # on the first line whatever the width
        text = "\n".join(lines)
        assert "client CPU at 97% of 2 cores" in text  # why, right under the badge
        if size[0] >= 80:
            assert "disagree by +900" in text
            assert "multiplex driver, 2 processes, 8 workers" in text


@run_async
async def test_header_without_a_bound_client_shows_its_cpu_and_agreement() -> None:
    from dataclasses import replace

    snap = replace(canned_snapshot(intervals=5), client={"bound": False, "cpu_share": 0.31, "lag_ms": {"p99": 0.4}},
                   agreement={"checked": True, "status": "ok", "difference": 3})
    app = _dashboard(snap, {"driver": "threads", "processes": 1, "workers": 4, "connections": 2})
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "CLIENT-BOUND" not in text
        assert "threads driver, 1 process, 4 workers, 2 connections" in text
        assert "client CPU 31 %" in text and "agree on the commits (+3)" in text


@pytest.mark.parametrize("size, shown", [((160, 48), 4), ((120, 40), 3), ((80, 30), 1)])
@run_async
async def test_bottom_row_shows_what_fits_and_switches_to_the_rest(size, shown) -> None:
    app = _dashboard(canned_snapshot(intervals=12))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        dash = app.shown
        bottom = {name: dash.query_one(f"#pane-{name}", Pane) for name in ("errors", "waits", "io", "connections")}
        visible = [name for name, pane in bottom.items() if pane.display]
        assert len(visible) == shown, visible
        if shown < 4:
            assert any("8 I/O" in str(p.border_subtitle) or "3 errors" in str(p.border_subtitle)
                       for p in bottom.values() if p.display)
        await pilot.press("8")
        await pilot.pause(0.2)
        io = bottom["io"]
        assert io.display and io.has_focus
        text = screen_text(app)
        assert "blocks/s" in text and "reads 120" in text
        if shown == 1:
            assert not bottom["errors"].display
            await pilot.press("b")  # the next one, in place
            await pilot.pause(0.2)
            assert bottom["connections"].display and not io.display
            assert "total 9 / 97" in screen_text(app)
        # the latency table stays whatever is shown below it
        assert "all (run)" in screen_text(app)


@run_async
async def test_short_terminal_shows_the_bottom_row_only_when_asked() -> None:
    app = _dashboard(canned_snapshot(intervals=12))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        dash = app.shown
        assert not dash.query_one("#dash-bottom").display or dash.query_one("#dash-bottom").region.height == 0
        await pilot.press("7")
        await pilot.pause(0.2)
        waits = dash.query_one("#pane-waits", Pane)
        assert waits.display and waits.region.height >= 4 and waits.has_focus
        assert "Lock:transactionid" in screen_text(app)
        assert "all (run)" in screen_text(app)


@run_async
async def test_text_typed_on_the_target_choice_goes_into_the_dsn_field(registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        app.pick.query_one("#target-kind").focus()
        await pilot.pause()
        await pilot.press(*"host=/tmp dbname=t")
        await pilot.pause()
        assert app.screen is app.pick, f"typing on the Target choice opened {app.screen!r}"
        assert app.pick.query_one("#dsn", Input).value == "host=/tmp dbname=t"
        assert app.pick.settings().dsn == "host=/tmp dbname=t"
        # Tab never stops on an invisible container between the lists and the fields
        app.pick.query_one("#workloads", OptionList).focus()
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is not None and app.focused.id != "pick-right"
