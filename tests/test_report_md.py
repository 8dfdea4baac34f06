"""Markdown report: says what ran, puts server events beside the interval they hit, no duplicated tables."""

from __future__ import annotations

from stormdb_tui.report.markdown import render_markdown

SETTINGS = {"shared_buffers": "128MB", "fsync": "on"}


def _report(pg: dict | None) -> dict:
    intervals = [
        {"t_s": float(t), "tps": 100.0, "errors": 0, "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0},
         "pg": {"cache_hit_ratio": 0.99, "wal_bytes_s": 1e6,
                "events": [{"type": "checkpoint", "detail": "checkpoint completed (requested)"}] if t == 2 else []}}
        for t in (1, 2, 3)
    ]
    return {
        "schema_version": 1,
        "status": "completed",
        "workload": {"name": "simple", "version": "1.0", "options": {"scale": 3, "script": "select-only",
                                                                    "mix": {"tpcb-like": 20.0}}},
        "run": {"workers": 2, "connections": 2, "model": "closed"},
        "summary": {"elapsed_s": 3.0, "transactions": 300, "tps": 100.0, "latency_ms": {"p50": 1.0}},
        "intervals": intervals,
        "server": {"version": "PostgreSQL 16.2 on x86_64", "settings": SETTINGS},
        "pg": pg,
    }


def test_options_and_events_are_shown():
    md = render_markdown(_report(None))
    assert "| options | scale=3, script=select-only, mix=tpcb-like:20 |" in md
    rows = [line for line in md.splitlines() if line.startswith("| 2.00 |")]
    assert len(rows) == 1 and rows[0].endswith("| checkpoint completed (requested) |")
    assert "server events" in md
    # Without a monitor section the server settings table is the only one.
    assert md.count("| shared_buffers | 128MB |") == 1


def test_settings_printed_once_when_the_monitor_has_its_own():
    pg = {"settings": {"server_version": "16.2", **SETTINGS}, "deltas": {}, "events": [], "notes": []}
    md = render_markdown(_report(pg))
    assert "## Server statistics" in md
    assert md.count("shared_buffers") == 1


def test_no_event_column_when_nothing_happened():
    data = _report(None)
    for item in data["intervals"]:
        item["pg"]["events"] = []
    assert "server events" not in render_markdown(data)


def test_warnings_come_first_and_settings_once_from_server():
    data = _report({"interval_s": 1.0, "deltas": {}, "events": [], "notes": []})
    data["warnings"] = ["server configuration changed during the run: setting work_mem: (default) -> 7MB at 2.0 s"]
    md = render_markdown(data)
    assert md.index("## Warnings") < md.index("## Summary")
    assert "- **warning:** server configuration changed during the run" in md
    assert md.count("| shared_buffers | 128MB |") == 1  # pg without settings: the server's list is printed
