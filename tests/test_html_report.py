"""The HTML report: one self-contained file, the same from a run and from its saved JSON, opens offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stormdb_tui.report.html import Axes, Marker, Series, bar_chart, line_chart, nice_ticks, render_html

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("summary", "timeline", "histogram", "operations", "server", "waits")


class Outline(HTMLParser):
    """Tags, ids and every URL-bearing attribute of a page, and whether its elements nest properly."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "line", "rect", "circle", "polyline", "path"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.urls: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href", "xlink:href", "action", "data") and value:
                self.urls.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def outline(text: str) -> Outline:
    parser = Outline()
    parser.feed(text)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert parser.stack == [], parser.stack
    return parser


def _data(**extra) -> dict:
    intervals = [
        {"t_s": i + 1.0, "duration_s": 1.0, "tps": 100.0 + i, "errors": 1 if i == 4 else 0,
         "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0 + i, "p99_9": 4.0, "max": 9.0},
         "operations": {"a": {"latency_ms": {"p99": 3.0}}, "b": {"latency_ms": {"p99": 5.0}}},
         "pg": {"cache_hit_ratio": 0.99, "wal_bytes_s": 1e6, "buffers_written_s": 100.0,
                "connections": {"total": 5, "ours": 2}, "lock_waits": {"waiting": 0}},
         "client": {"bound": i == 3}}
        for i in range(10)
    ]
    data = {
        "schema_version": 1, "status": "completed", "run_id": "20260101T000000Z-abcd",
        "workload": {"name": "simple", "options": {"scale": 1, "note": "<script>alert(1)</script>"}},
        "run": {"workers": 2, "model": "closed"},
        "summary": {"tps": 100.0, "qps": 300.0, "transactions": 1000, "errors": 1, "elapsed_s": 10.0,
                    "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 9.0}},
        "operations": {"a & b": {"count": 1000, "errors": 1, "tps": 100.0, "latency_ms": {"p50": 1.0}}},
        "intervals": intervals,
        "events": [{"t_s": 3.5, "type": "checkpoint", "detail": "checkpoint started"},
                   {"t_s": 6.0, "type": "autovacuum", "detail": "autovacuum started: pgbench_accounts"}],
        "latency_histogram": {"edges_ms": [0.5, 1, 2, 5, 10], "counts": {"*": [10, 500, 400, 80, 10]}},
        "pg": {"deltas": {"xact_commit": 1000}, "per_transaction": {"xact_commit": 1.0},
               "waits": {"samples": 100, "rate": 10,
                         "top": [{"type": "CPU", "event": "CPU", "share": 0.6, "count": 60},
                                 {"type": "Client", "event": "ClientRead", "share": 0.4, "count": 40}],
                         "by_type": {"CPU": 0.6, "Client": 0.4}}},
    }
    data.update(extra)
    return data


def test_page_structure_and_nothing_to_fetch() -> None:
    text = render_html(_data())
    page = outline(text)
    assert text.startswith("<!DOCTYPE html>")
    for ident in SECTIONS:
        assert ident in page.ids, ident
    for chart in ("chart-tps", "chart-latency", "chart-ops", "chart-histogram", "chart-cache", "chart-wal",
                  "chart-connections", "chart-waits"):
        assert chart in page.ids, chart
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert page.urls == []
    # The only URL on the page is the SVG namespace, which is a name, never fetched.
    assert {u for u in _urls(text)} <= {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in text


def _urls(text: str) -> list[str]:
    import re

    return re.findall(r"https?://[^\s\"'<>]+", text)


def test_events_and_client_bound_intervals_are_marked() -> None:
    text = render_html(_data())
    # Two event markers on each of the two main time charts and three server charts.
    assert text.count('class="marker"') == 2 * 6
    assert "3.5 s: checkpoint: checkpoint started" in text
    assert text.count('class="span"') == 6  # the one client-bound interval, shaded on each time chart
    assert "client-bound interval" in text


def test_values_are_escaped() -> None:
    text = render_html(_data())
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a &amp; b" in text


def test_a_report_without_intervals_or_server_figures_still_renders() -> None:
    data = _data(intervals=[], events=[], latency_histogram=None, pg=None,
                 pg_note="server statistics were not collected (enable with --pg-stats)")
    page = outline(render_html(data))
    assert "svg" not in page.tags
    text = "".join(page.text)
    assert "No interval was recorded." in text and "server statistics were not collected" in text


def test_chart_helpers() -> None:
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    svg = line_chart([Series("s", [(0, 1.0), (1, None), (2, 3.0), (3, 4.0)])], markers=[Marker(1.5, "m")],
                     axes=Axes(y_label="ms"))
    page = outline(svg)
    assert page.tags.count("polyline") == 1 and page.tags.count("circle") == 1  # the gap breaks the line
    log = line_chart([Series("s", [(0, 0.5), (1, 50.0)])], axes=Axes(log_y=True))
    assert ">0.1<" in log and ">100<" in log  # decade ticks
    bars = bar_chart(["x", "y"], [Series("a", [(0, 1.0), (1, 2.0)]), Series("b", [(0, 3.0)])])
    assert outline(bars).tags.count("rect") == 3
    assert "no data" in line_chart([Series("s", [])], caption="empty")


@pytest.fixture(scope="module")
def run_report(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short real run with server statistics, written as JSON and HTML."""
    folder = tmp_path_factory.mktemp("html")
    setup = subprocess.run([sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert setup.returncode == 0, setup.stderr
    result = subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-w", "simple", "--set", "script=mixed",
         "--dsn", dsn, "--duration", "3", "--workers", "2", "--interval", "0.5", "--pg-stats",
         "--report-json", str(folder / "r.json"), "--report-html", str(folder / "r.html")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env=dict(os.environ, STORMDB_RUNS_DIR=str(folder / "runs")),
    )
    assert result.returncode == 0, result.stderr
    assert f"html report written to {folder / 'r.html'}" in result.stderr
    return folder


def test_a_runs_html_is_the_same_as_one_rendered_from_its_json(run_report: Path, run_cli) -> None:
    out = run_report / "again.html"
    result = run_cli("report", str(run_report / "r.json"), "--html", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == (run_report / "r.html").read_text()
    page = outline(out.read_text())
    data = json.loads((run_report / "r.json").read_text())
    for ident in SECTIONS:
        assert ident in page.ids
    assert {"chart-tps", "chart-latency", "chart-histogram", "chart-cache", "chart-waits"} <= set(page.ids)
    text = "".join(page.text)
    for label in data["operations"]:
        assert label in text
    assert data["run_id"] in text
    assert f"{data['summary']['transactions']:,}" in text


def test_report_html_of_a_bad_file_exits_2(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = run_cli("report", str(bad), "--html", str(tmp_path / "x.html"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.html").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_opens_in_a_headless_browser_offline(run_report: Path, tmp_path: Path) -> None:
    page = run_report / "r.html"
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             # Any request leaving the machine fails: the page must not need one.
             "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") >= 5 and 'id="chart-tps"' in dom.stdout and "<polyline" in dom.stdout
    shot = tmp_path / "shot.png"
    result = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    log = dom.stderr + result.stderr
    for bad in ("Uncaught", "Refused to", "ERR_PROXY", "net::ERR", ":CONSOLE("):
        assert bad not in log, [line for line in log.splitlines() if bad in line][:5]
