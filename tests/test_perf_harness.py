"""The benchmark harness's own logic: case matrix, percentiles, ratios, the Markdown it writes."""

from __future__ import annotations

import os
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
    assert "| select-only | 8 | unix | 40,000.0 | 36,000.0 | 0.90x | ≥ 0.80x (CPU ≤ 2.0x) | 6.0 | 12.0 | 2.00x |" in text
    for heading in ("## Machine", "## Load speed", "## Cost of --pg-stats", "## Memory", "TPC-C, 1 warehouse"):
        assert heading in text
    assert "test cpu" in text and "–" in text  # a missing figure shows as a dash, not None
    load_only = render_markdown({**results, "cases": []})
    assert "## Throughput" not in load_only and "## Load speed" in load_only


# -- the speed rules: pgbench at its best, quiet pairs only, the goal matrix --------------

from benchmarks import speed  # noqa: E402


def _fake(value):
    class R:
        def __init__(self, tps):
            self.tps = tps
            self.cpu_ms_per_ktx = 10.0
    return lambda: R(value)


def test_goal_arguments_cover_the_issue_matrix():
    args = harness.parse_args(["--goals"])
    assert args.jobs == speed.client_cores() and args.repeats >= 5 and args.duration == 20.0
    assert args.open and args.processes_check
    cases = harness.cases_of(args)
    for script in ("select-only", "simple-update", "tpcb-like"):
        assert {c for s, c, _ in cases if s == script} == {1, 8, 32}
    assert ("zipf-gset", 8, "unix") in cases
    assert harness.parse_args(["--jobs", "3"]).jobs == 3
    assert harness.cases_of(harness.parse_args(["--cases", "simple-update:32,zipf-gset:1"])) == [
        ("simple-update", 32, "unix"), ("zipf-gset", 1, "unix")]


def test_help_explains_the_goal_run():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        harness.parse_args(["--help"])
    text = out.getvalue()
    assert "--goals" in text and "quiet machine" in text and "-j" in text and "32" in text


def test_the_zipf_script_is_valid_pgbench_for_both_tools():
    from stormdb_tui.pgbench import parse_script

    text = speed.zipf_script(10)
    assert "random_zipfian(1, 100000 * 10, 1.1)" in text and "\\gset" in text
    script = parse_script(text, "zipf-gset.sql")
    assert script.sql_count == 2


def test_pairs_log_the_load_and_busy_pairs_do_not_count():
    # Others' load in cores: the load average (here 9, from our own previous run) is logged, never decides.
    loads = iter([0.1, 1.5, 0.2, 0.05, 0.0, 0.25, 0.1])
    lines = []
    pair_list = speed.pairs(7, _fake(100.0), _fake(80.0), "t", cores=2, load=lambda: next(loads), log=lines.append,
                            load_avg=lambda: 9.0)
    assert [p["quiet"] for p in pair_list] == [True, False, True, True, True, True, True]
    assert sum("BUSY" in line for line in lines) == 1 and "others use 1.50 of 2 cores" in lines[1]
    assert "load average 9.00" in lines[0]
    cmp = speed.compare(pair_list, ("tps",), cores=2)
    assert cmp["refused"] is None and cmp["quiet_pairs"] == 6
    assert cmp["tps"]["ratio"] == pytest.approx(0.8)


def test_a_busy_machine_gets_no_ratio():
    loads = iter([1.0, 0.5, 0.1, 2.0, 1.7])
    pair_list = speed.pairs(5, _fake(100.0), _fake(90.0), "t", cores=2, load=lambda: next(loads), log=lambda _: None)
    cmp = speed.compare(pair_list, ("tps", "cpu_ms_per_ktx"), cores=2)
    assert cmp["refused"] and "only 1 of 5 pairs" in cmp["refused"] and cmp["load_max"] == 2.0
    assert cmp["tps"]["ratio"] is None and cmp["tps"]["ours"] == 90.0  # medians still shown
    indicative = speed.compare(pair_list, ("tps",), cores=2, min_pairs=1, allow_busy=True)
    assert indicative["tps"]["ratio"] == pytest.approx(0.9) and indicative["busy_pairs_counted"] == 4


def test_outside_load_reads_the_machine_and_settles():
    value = speed.outside_load(0.2)
    assert value is not None and 0.0 <= value <= (os.cpu_count() or 1) + 0.01
    readings = iter([1.0, 0.6, 0.1, 3.0])
    assert speed.settled_load(wait_s=30, measure=lambda: next(readings)) == 0.1  # waited for it to settle
    assert speed.settled_load(wait_s=0, measure=lambda: 1.2) == 1.2  # gave up: the last reading decides


def test_failed_runs_drop_their_pair():
    def boom():
        raise RuntimeError("x")

    pair_list = speed.pairs(5, _fake(1.0), boom, "t", cores=2, load=lambda: 0.0, log=lambda _: None)
    assert speed.compare(pair_list, ("tps",), cores=2)["refused"]


def test_open_model_rate_and_verdict():
    assert speed.open_rate(12_000.0) == 6_000.0 and speed.open_rate(None) is None
    row = {"mean_ms": {"ratio": 1.10}, "p99_ms": {"ratio": 1.6}}
    assert speed.open_verdict(row) == {"mean": True, "p99": False}
    assert speed.open_verdict({"mean_ms": {"ratio": None}, "p99_ms": {}}) == {"mean": None, "p99": None}


def test_processes_auto_verdict():
    assert speed.processes_verdict({1: 50.0, 2: 80.0, 3: 78.0}, auto=2)["ok"] is True
    bad = speed.processes_verdict({1: 50.0, 2: 60.0, 3: 80.0}, auto=2)
    assert bad["ok"] is False and bad["best"] == 3 and bad["auto_share_of_best"] == pytest.approx(0.75)
    assert speed.processes_verdict({}, auto=2)["ok"] is None
    assert speed.auto_processes_on(16, 32) == 16 and speed.auto_processes_on(16, 8) == 8
    assert speed.auto_processes_on(2, 8) == 2


def test_markdown_shows_refusals_open_model_and_the_processes_check():
    row = {"script": "select-only", "clients": 8, "transport": "unix", "runs": 1, "runs_ours": 1,
           "refused": "only 1 of 5 pairs ran on a quiet machine",
           **{k: {"pgbench": 1.0, "ours": 1.0, "ratio": None} for k in ("tps", "cpu_ms_per_ktx", "p50_ms", "p99_ms")}}
    results = {
        "started": "now", "argv": ["--goals"], "machine": {"nproc": 2}, "settings": {"duration_s": 20.0, "cores": 2},
        "cases": [row],
        "open_model": {"clients": 8, "rate": 6000.0, "capacity": 12000.0, "mean_ms": {"pgbench": 1.0, "ours": 1.1, "ratio": 1.1},
                       "p99_ms": {"pgbench": 2.0, "ours": 3.0, "ratio": 1.5}, "verdict": {"mean": True, "p99": True}},
        "processes_check": {"clients": 8, "medians": {1: 50.0, 2: 80.0}, "auto": 2, "best": 2, "ok": True,
                            "auto_share_of_best": 1.0, "on_16_cores": 16, "cores": 2, "busy": False},
    }
    text = render_markdown(results)
    assert "no ratio, only 1 of 5 pairs" in text
    assert "## Open model" in text and "6,000.0 tx/s" in text
    assert "## processes: auto" in text and "16-core machine it would pick 16" in text and "| 2 | 80 | auto best |" in text
