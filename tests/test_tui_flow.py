"""The workbench against a real server: setup progress, cancel, rebuild confirmation, and the full flow
pick → setup → run → report → export."""

from __future__ import annotations

import json

import psycopg
import pytest
from textual.widgets import Input, OptionList, ProgressBar, Switch

from stormdb_tui.registry import discover
from stormdb_tui.tui.app import StormApp
from stormdb_tui.tui.screens.dashboard import DashboardScreen
from stormdb_tui.tui.screens.setup import SetupScreen
from stormdb_tui.tui.testing import run_async, screen_text, wait_for
from stormdb_tui.tui.widgets.confirm import ConfirmDialog
from stormdb_tui.tui.widgets.options_form import OptionsForm

pytestmark = pytest.mark.tui


@pytest.fixture(scope="module")
def registry():
    return discover()


def _set_field(form: OptionsForm, name: str, value: str) -> None:
    form.field(name).query_one(Input).value = value


def _drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@run_async
async def test_setup_progress_bar_advances_on_a_real_load(registry, dsn, monkeypatch) -> None:
    schema = "tui_setup_progress"
    _drop_schema(dsn, schema)
    seen: list[tuple[int, int, float]] = []
    original = SetupScreen.show_progress

    def spy(self, progress):
        original(self, progress)
        bar = self.query_one("#setup-bar", ProgressBar)
        seen.append((progress.rows, progress.total_rows, bar.progress))

    monkeypatch.setattr(SetupScreen, "show_progress", spy)
    app = StormApp(registry=registry, dsn=dsn)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        form = app.pick.workload_form()
        _set_field(form, "schema", schema)
        _set_field(form, "scale", "2")
        app.pick.query_one("#sw-monitor", Switch).value = False
        assert app.start_run({"run.duration": "1s", "run.workers": 1})
        assert await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen), 10)
        assert await wait_for(pilot, lambda: app.last_report is not None or not app.run_active, 120)
        assert app.last_report is not None, screen_text(app)
        await pilot.pause(0.5)  # let the report screen finish mounting before the app closes
    rows = [r for r, _t, _p in seen]
    assert len(seen) >= 2 and rows == sorted(rows)  # monotonic progress, more than one update
    assert any(0 < p < total for _r, total, p in seen if total) or len({p for *_x, p in seen}) >= 2
    last_rows, last_total, last_bar = seen[-1]
    assert last_total >= 200_000 and last_rows >= 200_000  # scale 2: 200,000 accounts and more
    assert last_bar == min(last_rows, last_total)
    with psycopg.connect(dsn) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{schema}".pgbench_accounts').fetchone()[0] == 200_000
    _drop_schema(dsn, schema)


@run_async
async def test_cancel_key_stops_the_load_and_rebuild_asks_first(registry, dsn) -> None:
    schema = "tui_setup_cancel"
    _drop_schema(dsn, schema)
    app = StormApp(registry=registry, dsn=dsn)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        form = app.pick.workload_form()
        _set_field(form, "schema", schema)
        _set_field(form, "scale", "50")
        # --rebuild first asks; "n" drops nothing and starts nothing
        app.pick.query_one("#sw-rebuild", Switch).value = True
        await pilot.pause()
        assert app.start_run()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "drops every object owned by the workload simple" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert not app.run_active and app.screen is app.pick
        # without rebuild: a load starts; "c" cancels it between batches
        app.pick.query_one("#sw-rebuild", Switch).value = False
        assert app.start_run({"run.duration": "30s"})
        assert await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen)
                           and app.screen.last is not None and app.screen.last.rows > 0, 60)
        await pilot.press("c")
        assert await wait_for(pilot, lambda: not app.run_active, 60)
        await pilot.pause(0.2)
        assert app.screen is app.pick, screen_text(app)  # back to pick, no run happened
        assert app.last_report is None
    with psycopg.connect(dsn) as conn:
        loaded = conn.execute(
            "SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE schemaname = %s", (schema,)
        ).fetchone()[0]
        assert loaded < 5_000_000  # stopped well before scale 50's 5,000,000 accounts
    _drop_schema(dsn, schema)


@run_async
async def test_full_flow_pick_setup_run_report_export(registry, dsn, tmp_path) -> None:
    schema = "tui_flow"
    _drop_schema(dsn, schema)
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        # pick: the DSN target, the simple workload's select-only script, 3 s with 2 workers
        await pilot.click("#target-dsn")
        app.pick.query_one("#dsn", Input).value = dsn
        olist = app.pick.query_one("#workloads", OptionList)
        olist.focus()
        olist.highlighted = olist.get_option_index("wl-simple")
        await pilot.pause()
        form = app.pick.workload_form()
        await pilot.pause()
        app.pick.workload_form().field("script").query_one("Select").value = "select-only"
        _set_field(form, "schema", schema)
        run_form = app.pick.query_one("#run-form", OptionsForm)
        _set_field(run_form, "duration", "3s")
        _set_field(run_form, "workers", "2")
        await pilot.pause()
        assert app.pick.settings().errors == {}
        await pilot.press("ctrl+s")
        # setup (the data is missing, so it is loaded first) then the dashboard
        assert await wait_for(pilot, lambda: app.dashboard is not None and app.dashboard.phase == "measuring", 120), \
            screen_text(app)
        assert any("loading simple" in line for line in app.setup_screen._log)
        assert await wait_for(pilot, lambda: app.dashboard.redraws >= 2 or app.last_report is not None, 10)
        if app.last_report is None:
            live = screen_text(app)
            assert "select-only" in live and "Latency" in live
        # the run ends by itself after 3 s and the report screen opens
        assert await wait_for(pilot, lambda: app.last_report is not None, 60)
        report = app.last_report
        assert report.status == "completed"
        assert report.data["summary"]["transactions"] > 0
        assert set(report.data["operations"]) == {"select-only"}
        assert report.data["pg"] is not None  # server statistics are on by default in the TUI
        # the workers ran in a child process, so the UI never competed with them for the GIL
        from stormdb_tui.engine.processes import ProcessGroup

        assert isinstance(app.session.runner.group, ProcessGroup)
        assert app.session.runner.group.crashed == []
        await pilot.pause(0.3)
        from stormdb_tui.tui.screens.report import ReportScreen

        assert isinstance(app.screen, ReportScreen)
        # export JSON through the report screen's path prompt
        await pilot.press("j")
        await pilot.pause()
        target = tmp_path / "flow.json"
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        assert await wait_for(pilot, target.exists, 10)
        saved = json.loads(target.read_text())
        assert saved["status"] == "completed"
        assert saved["summary"]["transactions"] == report.data["summary"]["transactions"]
        # back to the dashboard (final figures), then to pick for another run
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and "completed" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.pick
        assert app.exit_code == 0
    _drop_schema(dsn, schema)


@run_async
async def test_abort_key_ends_the_app_with_status_130_and_keeps_the_report(registry, dsn, tmp_path) -> None:
    schema = "tui_abort"
    config = tmp_path / "abort.yaml"
    report_path = tmp_path / "abort.json"
    config.write_text(
        f"workload: {{name: simple, scale: 1, script: select-only, schema: {schema}}}\n"
        f"run: {{workers: 1, duration: 60s}}\nmonitoring: {{enabled: false}}\nreport: {{json: {report_path}}}\n"
    )
    app = StormApp(registry=registry, config=str(config), dsn=dsn)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        assert app.pick.settings().config_path == str(config)
        assert app.start_run()
        assert await wait_for(pilot, lambda: app.dashboard is not None and app.dashboard.phase == "measuring", 120)
        await pilot.pause(1.2)
        app.screen.focus_pane("latency")
        await pilot.press("a")
        assert await wait_for(pilot, lambda: not app.run_active, 30)
        await pilot.pause(0.2)
    assert app.return_value == 130
    saved = json.loads(report_path.read_text())
    assert saved["status"] == "interrupted" and saved["stop_reason"] == "aborted by user"
    _drop_schema(dsn, schema)
