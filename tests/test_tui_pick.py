"""Pick screen: forms generated from option declarations, inline validation, workload switch, help."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input, OptionList

from stormdb_tui.registry import discover
from stormdb_tui.tui.app import StormApp
from stormdb_tui.tui.screens.help import HelpScreen
from stormdb_tui.tui.testing import run_async, screen_text
from stormdb_tui.tui.widgets.options_form import OptionsForm

pytestmark = pytest.mark.tui


@pytest.fixture(scope="module")
def registry():
    return discover()


def _run_field(app: StormApp, name: str) -> Input:
    return app.pick.query_one("#run-form", OptionsForm).field(name).query_one(Input)


@run_async
async def test_bad_value_is_shown_inline_and_blocks_start(registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        start = app.pick.query_one("#start", Button)
        assert not start.disabled
        workers = _run_field(app, "workers")
        workers.focus()
        workers.value = ""
        await pilot.press("0")
        await pilot.pause()
        field = app.pick.query_one("#run-form", OptionsForm).field("workers")
        assert field.error is not None and "run.workers" in field.error and "out of range" in field.error
        assert start.disabled
        assert "out of range" in screen_text(app)
        assert app.start_run() is False
        assert app.run_active is False
        # a bad duration unit in the same form is reported with what is expected
        duration = _run_field(app, "duration")
        duration.value = "10 parsecs"
        await pilot.pause()
        assert "unknown unit" in (app.pick.query_one("#run-form", OptionsForm).field("duration").error or "")
        workers.value = "8"
        duration.value = "2m"
        await pilot.pause()
        assert not start.disabled
        settings = app.pick.settings()
        assert settings.errors == {}
        assert settings.run_values["workers"] == 8 and settings.run_values["duration"] == 120.0


@run_async
async def test_workload_switch_regenerates_the_form(registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert app.pick.workload == "simple"
        form = app.pick.workload_form()
        assert {f.option.name for f in form.fields()} >= {"scale", "script", "pipeline"}
        # choose tpcc the way a user does: focus the list and move to it
        olist = app.pick.query_one("#workloads", OptionList)
        olist.focus()
        await pilot.pause()
        olist.highlighted = olist.get_option_index("wl-tpcc")
        await pilot.pause(0.2)
        assert app.pick.workload == "tpcc"
        names = {f.option.name for f in app.pick.workload_form().fields()}
        assert "load_connections" in names and "script" not in names
        assert "tpcc" in screen_text(app)
        # the new form validates against tpcc's declarations
        scale = app.pick.workload_form().field("scale").query_one(Input)
        scale.value = "-3"
        await pilot.pause()
        assert "workload.scale" in app.pick.settings().errors
        assert app.pick.query_one("#start", Button).disabled


@run_async
async def test_config_fills_workload_and_run_settings(registry) -> None:
    app = StormApp(registry=registry, config="configs/simple-select.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        settings = app.pick.settings()
        assert settings.config_path == "configs/simple-select.yaml"
        assert settings.workload == "simple"
        assert settings.workload_values["script"] == "select-only"
        assert settings.workload_values["scale"] == 10
        assert settings.run_values["workers"] == 8
        # load_config switches to another config and its workload
        await app.load_config("configs/simple.yaml")
        await pilot.pause()
        settings = app.pick.settings()
        assert settings.config_path == "configs/simple.yaml"
        assert settings.workload_values["script"] == "tpcb-like"
        assert settings.run_values["duration"] == 30.0


@run_async
async def test_failed_plugin_is_listed_as_failed(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_plugin.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.setenv("STORMDB_WORKLOAD_PATH", str(tmp_path))
    app = StormApp(registry=discover())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        olist = app.pick.query_one("#workloads", OptionList)
        failed = [olist.get_option_at_index(i) for i in range(olist.option_count)
                  if (olist.get_option_at_index(i).id or "").startswith("wl-failed-")]
        assert failed and "broken_plugin (failed)" in str(failed[0].prompt)
        assert failed[0].disabled


@run_async
async def test_dsn_target_requires_a_value_and_help_opens(registry) -> None:
    app = StormApp(registry=registry)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.click("#target-dsn")
        await pilot.pause()
        assert "dsn" in app.pick.settings().errors
        dsn = app.pick.query_one("#dsn", Input)
        assert not dsn.disabled
        dsn.value = "host=/nonexistent dbname=x"
        await pilot.pause()
        assert "dsn" not in app.pick.settings().errors
        app.pick.query_one("#workloads", OptionList).focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Start" in text and "Test connection" in text and "Help" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@run_async
async def test_connection_test_reports_failure_and_success(registry, dsn) -> None:
    app = StormApp(registry=registry, dsn="host=/nonexistent-socket-dir dbname=nope")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.click("#test-conn")
        for _ in range(50):
            await pilot.pause(0.1)
            if "✘" in str(app.pick.query_one("#conn-status").content):
                break
        assert "✘" in str(app.pick.query_one("#conn-status").content)
        app.pick.query_one("#dsn", Input).value = dsn
        await pilot.press("ctrl+t")
        for _ in range(50):
            await pilot.pause(0.1)
            if "✔" in str(app.pick.query_one("#conn-status").content):
                break
        status = str(app.pick.query_one("#conn-status").content)
        assert "✔ connected: PostgreSQL" in status


@run_async
async def test_the_chosen_target_is_marked_without_colour(registry) -> None:
    """Only the chosen target shows the dot: a monochrome terminal (or a screen capture) tells them apart."""

    def marks() -> list[bool]:
        lines = [line for line in screen_text(app).splitlines() if "embedded server" in line or "DSN" in line]
        return ["●" in line for line in lines]

    app = StormApp(registry=registry)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert marks() == [True, False]
        await pilot.click("#target-dsn")
        await pilot.pause()
        assert marks() == [False, True]
