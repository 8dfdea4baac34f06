"""The benchmark harness's own logic: case matrix, percentiles, ratios, the Markdown it writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not an installed package

from benchmarks import harness, measure  # noqa: E402
from benchmarks.results import render_markdown  # noqa: E402


def test_quick_and_full_case_matrices():
    quick = harness.cases_of(harness.parse_args([]))
    assert quick == [("select-only", 1, "unix"), ("select-only", 8, "unix"), ("tpcb-like", 1, "unix"), ("tpcb-like", 8, "unix")]
    full = harness.cases_of(harness.parse_args(["--full"]))
    assert len(full) == 2 * 4 * 2
    assert {t for _, _, t in full} == {"unix", "tcp"}
    assert {c for _, c, _ in full} == {1, 4, 8, 16}
    assert harness.cases_of(harness.parse_args(["--cases", "none"])) == []
    picked = harness.cases_of(harness.parse_args(["--cases", "tpcb-like:16", "--transports", "tcp"]))
    assert picked == [("tpcb-like", 16, "tcp")]
    with pytest.raises(SystemExit):
        harness.cases_of(harness.parse_args(["--cases", "select:8"]))


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert measure.percentile(values, 50) == 50
    assert measure.percentile(values, 99) == 99
    assert measure.percentile(values, 100) == 100
    assert measure.percentile([7], 99) == 7
    assert measure.percentile([], 50) is None


def test_medians_and_ratios_ignore_missing_runs():
    assert harness.median([3.0, None, 1.0, 2.0]) == 2.0
    assert harness.median([None]) is None
    assert harness.ratio(8.0, 10.0) == pytest.approx(0.8)
    assert harness.ratio(8.0, None) is None and harness.ratio(None, 2.0) is None


def test_alternation_keeps_order_and_survives_a_failed_run():
    calls = []

    def ok(tag):
        def run():
            calls.append(tag)
            if tag == "b" and calls.count("b") == 2:
                raise RuntimeError("server went away")
            return tag
        return run

    a, b = harness.alternate(3, ok("a"), ok("b"), "test")
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert a == ["a", "a", "a"] and b == ["b", "b"]


def test_markdown_has_every_section_and_the_ratios():
    row = {
        "script": "select-only", "clients": 8, "transport": "unix", "runs": 3, "runs_ours": 3,
        "tps": {"pgbench": 40000.0, "ours": 36000.0, "ratio": 0.9},
        "cpu_ms_per_ktx": {"pgbench": 6.0, "ours": 12.0, "ratio": 2.0},
        "p50_ms": {"pgbench": 0.1, "ours": 0.09, "ratio": 0.9},
        "p99_ms": {"pgbench": 1.0, "ours": None, "ratio": None},
    }
    results = {
        "started": "now", "argv": ["--full"],
        "machine": {"nproc": 2, "cpu": "test cpu", "memory_gb": 4.0, "server": "PostgreSQL 15.0", "pgbench": "pgbench 15"},
        "settings": {"duration_s": 10.0, "repeats": 3, "pgbench_jobs": 1, "scale": 10},
        "cases": [row],
        "load": {"rows": 1_000_110, "pgbench_rows_s": 500_000.0, "ours_rows_s": 450_000.0, "ratio": 0.9,
                 "tpcc": {"warehouses": 1, "rows": 500_000, "wall_s": 5.0, "rows_s": 100_000.0}},
        "pg_stats": {"tps_without": 100.0, "tps_with": 98.0, "ratio": 0.98, "cpu_without": 1.0, "cpu_with": 1.1},
        "soak": {"duration_s": 600, "tps": 1.0, "start_mb": 40.0, "peak_1min_mb": 41.0, "peak_mb": 42.0},
    }
    text = render_markdown(results)
    assert "| select-only | 8 | unix | 40,000.0 | 36,000.0 | 0.90x | ≥ 0.80x | 6.0 | 12.0 | 2.00x |" in text
    for heading in ("## Machine", "## Load speed", "## Cost of --pg-stats", "## Memory", "TPC-C, 1 warehouse"):
        assert heading in text
    assert "test cpu" in text and "–" in text  # a missing figure shows as a dash, not None
    load_only = render_markdown({**results, "cases": []})
    assert "## Throughput" not in load_only and "## Load speed" in load_only
