"""The report screen: a real run's report and a canned partial one, tabs, exports, bad paths."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.app import App

from stormdb_tui.config import load_config
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.report.model import Report
from stormdb_tui.tui.screens.report import ExportPrompt, ReportScreen
from stormdb_tui.tui.testing import screen_text

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.tui


class Host(App):
    """Just enough app to show one report screen over a blank base screen."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report

    def on_mount(self) -> None:
        self.push_screen(ReportScreen(self.report))


@pytest.fixture(scope="module")
def real_report(dsn: str) -> Report:
    """A one-second mixed pgbench run with server statistics: two labels, intervals, histogram, pg."""
    cfg = load_config(ROOT / "configs" / "simple-mixed.yaml")
    plan = make_plan(cfg, overrides=[("run.duration", 1.5), ("run.warmup", 0), ("run.workers", 2),
                                     ("metrics.interval", 0.5)], dsn=dsn, monitor=True, quiet=True)
    runner = Runner(plan)
    runner.prepare()
    return runner.run()


def canned_report(tmp_path: Path) -> Report:
    """An interrupted run from an older file: no server section, no intervals, no histogram."""
    data = {
        "schema_version": 1,
        "status": "interrupted",
        "message": "stopped early: interrupted",
        "workload": {"name": "simple", "version": "1.0"},
        "run": {"workers": 4, "model": "closed"},
        "summary": {"elapsed_s": 2.0, "transactions": 10, "tps": 5.0, "qps": 5.0, "errors": 1, "retries": 0,
                    "rollbacks": 0, "latency_ms": {"p50": 1.5, "p95": 3.0, "p99": 4.0, "max": 9.0}},
        "operations": {"select-only": {"count": 10, "errors": 1, "tps": 5.0, "latency_ms": {"p50": 1.5}}},
        "errors": [{"operation": "select-only", "sqlstate": "57014", "class": "query canceled", "count": 1,
                    "first_message": "canceling statement due to statement timeout"}],
        "pg": None,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    return Report.load(path)


def notifications(app: App) -> list[tuple[str, str]]:
    return [(n.severity, n.message) for n in app._notifications]


async def export(pilot, app: App, key: str, path: str) -> None:
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(app.screen, ExportPrompt)
    prompt_input = app.screen.query_one("#export-path")
    assert prompt_input.value.startswith("reports/")  # the default offered
    prompt_input.value = path
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ReportScreen)


def test_report_of_a_real_run(real_report: Report, tmp_path: Path) -> None:
    assert real_report.status == "completed"
    labels = set(real_report.data["operations"])
    assert labels == {"select-only", "tpcb-like"}
    hist = real_report.data["latency_histogram"]
    assert sum(hist["counts"]["*"]) == real_report.data["summary"]["transactions"]

    async def main() -> None:
        app = Host(real_report)
        async with app.run_test(size=(100, 36)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            text = screen_text(app)
            assert "completed" in text and "TPS" in text
            ops = screen.query_one("#ops-table")
            assert ops.row_count == len(labels) + 1  # every label plus "all"
            await pilot.press("2")
            await pilot.pause()
            assert "Latency histogram, all operations" in screen_text(app)
            await pilot.press("l")
            await pilot.pause()
            assert any(f"Latency histogram, {label}" in screen_text(app) for label in labels)
            await pilot.press("3")
            await pilot.pause()
            assert "Throughput (tx/s per interval)" in screen_text(app)
            await pilot.press("4")
            await pilot.pause()
            assert "Server statistics" in screen.server_markdown
            await pilot.press("5")
            await pilot.pause()
            await export(pilot, app, "j", str(tmp_path / "out" / "run.json"))
            await export(pilot, app, "m", str(tmp_path / "out" / "run.md"))
            assert not [n for n in notifications(app) if n[0] == "error"]
            assert any("written to" in m for _, m in notifications(app))

    asyncio.run(main())
    saved = Report.load(tmp_path / "out" / "run.json")
    assert saved.data["summary"] == json.loads(real_report.to_json())["summary"]
    markdown = (tmp_path / "out" / "run.md").read_text()
    assert markdown.startswith("# stormdb-tui report: simple (completed)")
    assert "tpcb-like" in markdown


def test_report_loaded_from_an_old_partial_file(tmp_path: Path) -> None:
    report = canned_report(tmp_path)

    async def main() -> None:
        app = Host(report)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "interrupted" in screen_text(app)
            for key, expected in (("2", "Latency by percentile"), ("3", "No time series in this report"),
                                  ("5", "canceling statement")):
                await pilot.press(key)
                await pilot.pause()
                assert expected in screen_text(app), key
            await pilot.press("4")
            await pilot.pause()
            assert "not collected" in app.screen.server_markdown
            await export(pilot, app, "j", str(tmp_path / "again.json"))
            await export(pilot, app, "m", str(tmp_path / "again.md"))
            await pilot.press("q")
            await pilot.pause()
            assert not isinstance(app.screen, ReportScreen)

    asyncio.run(main())
    assert Report.load(tmp_path / "again.json").data["status"] == "interrupted"
    assert "57014" in (tmp_path / "again.md").read_text()


def test_unwritable_path_is_an_error_notification(tmp_path: Path) -> None:
    report = canned_report(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    async def main() -> None:
        app = Host(report)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await export(pilot, app, "j", str(blocker / "report.json"))
            errors = [m for severity, m in notifications(app) if severity == "error"]
            assert errors and str(blocker) in errors[0]
            assert isinstance(app.screen, ReportScreen)
            # Escape in the prompt cancels without writing anything.
            await pilot.press("m")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ReportScreen)
            assert app.screen.exported == {}

    asyncio.run(main())
    assert not (tmp_path / "reports").exists()


def test_text_charts_are_plotext_plots_that_fit_their_size() -> None:
    from stormdb_tui.report import plots

    data = {"intervals": [{"t_s": i + 1.0, "tps": 100.0 + i, "latency_ms": {"p50": 1.0, "p99": 3.0 + i}}
                          for i in range(10)],
            "events": [{"t_s": 4.0, "type": "autovacuum"}]}
    text = plots.text_chart(lambda plt: plots.report_throughput(plt, data), 40, 10)
    lines = text.splitlines()
    assert len(lines) == 10 and all(len(line) <= 40 for line in lines)
    assert "\x1b" not in text  # no colour codes in Markdown
    assert "V" in text  # the autovacuum event, lettered as on the dashboard
    assert plots.text_chart(lambda plt: plots.report_latency(plt, {"intervals": []}), 30, 6).strip()


def test_warnings_are_shown_on_the_summary(tmp_path: Path) -> None:
    canned_report(tmp_path)
    path = tmp_path / "old.json"
    data = json.loads(path.read_text())
    data["warnings"] = ["vector: 100% of filtered searches returned fewer than 10 rows"]
    path.write_text(json.dumps(data))

    async def main() -> None:
        app = Host(Report.load(path))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert "warning: vector: 100% of filtered searches returned fewer than 10 rows" in screen_text(app)

    asyncio.run(main())
