"""Numbers a DBA can put in a capacity plan: each test pins a path that once reported a wrong figure.

All against the real PostgreSQL the fixtures start. The workloads defined
here are real ones (they run SQL on the server); they only make a chosen
worker slow or a connection fail, so the engine's bookkeeping can be checked.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from stormdb_tui.config import build_config
from stormdb_tui.db import Target
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.processes import ProcessGroup
from stormdb_tui.engine.runner import Runner, RunPlan
from stormdb_tui.errors import ConfigError
from stormdb_tui.frontends.headless import summary_text
from stormdb_tui.registry import discover
from stormdb_tui.workload import Option, Workload

SCHEMA = "stormdb_test_truth"
CONNECTION_LABEL = "(connection)"  # the engine's pseudo-operation for a failed reconnect


class SlowWorkerZero(Workload):
    """Worker 0's transactions sleep on the server; the others' do not."""

    name = "slow_worker_zero"
    version = "1"
    operations = ("tx",)
    options = (Option("sleep_s", "float", 0.15, "worker 0's server-side sleep", minimum=0),)

    def transaction(self, ctx):
        ctx.label = "tx"
        ctx.conn.execute("SELECT pg_sleep(%s)", (self.opts["sleep_s"] if ctx.worker_id == 0 else 0.0,))
        return "tx"


class EveryOtherSlow(Workload):
    """Every second transaction of each worker sleeps ``sleep_s`` on the server."""

    name = "every_other_slow"
    version = "1"
    operations = ("tx",)
    options = (Option("sleep_s", "float", 0.03, "sleep of the slow transactions", minimum=0),)

    def start_worker(self, ctx):
        ctx.state["n"] = 0

    def transaction(self, ctx):
        ctx.label = "tx"
        ctx.state["n"] += 1
        ctx.conn.execute("SELECT pg_sleep(%s)", (self.opts["sleep_s"] if ctx.state["n"] % 2 else 0.0,))
        return "tx"


class LosesItsConnection(Workload):
    """The first transaction ends its own backend; the first reconnect's setup fails on the server."""

    name = "loses_its_connection"
    version = "1"
    operations = ("tx",)

    def start_worker(self, ctx):
        calls = ctx.state["starts"] = ctx.state.get("starts", 0) + 1
        if calls == 2:
            ctx.conn.execute("SELECT 1 / 0")  # division_by_zero (22012), raised by the server

    def transaction(self, ctx):
        ctx.label = "tx"
        if not ctx.state.get("terminated"):
            ctx.state["terminated"] = True
            ctx.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        ctx.conn.execute("SELECT 1")
        return "tx"


def _cfg(workload: str, run: dict, **options):
    return build_config({
        "workload": {"name": workload, **options},
        "run": {"workers": 2, "duration": 2, **run},
        "metrics": {"interval": 0.5},
        "monitoring": {"interval": 0.5},
    })


def _custom_plan(dsn: str, workload_cls: type[Workload], run: dict, monitor: bool = False, **options) -> RunPlan:
    cfg = _cfg("simple", run)  # validates the run section like any config
    workload = workload_cls(options, dict(cfg.run))
    return RunPlan(cfg, workload, Target(dsn, "dsn", dsn), monitor=monitor)


def _simple_plan(dsn: str, monitor: bool = False, **run) -> RunPlan:
    cfg = _cfg("simple", run, scale=1, schema=SCHEMA, script="select-only")
    plan = make_plan(cfg, dsn=dsn, registry=discover())
    plan.monitor = monitor
    return plan


@pytest.fixture(scope="module")
def loaded(dsn):
    plan = _simple_plan(dsn, duration=1)
    plan.setup = True
    Runner(plan).prepare()
    return dsn


# -- section 1: pgbench's semantics ---------------------------------------------------------


def test_open_model_shares_one_schedule_per_process(dsn):
    """A busy worker does not hold arrivals back while the others idle (pgbench -R's one schedule)."""
    lags = {}
    for mode in ("per_worker", "shared"):
        plan = _custom_plan(dsn, SlowWorkerZero, {"workers": 4, "rate": 40, "duration": 3, "schedule": mode})
        report = Runner(plan).run().data
        assert report["status"] == "completed", report["message"]
        assert report["run"]["schedule"] == mode
        lag = report["summary"]["schedule_lag_ms"]
        lags[mode] = lag
        # pgbench -P reports lag beside latency per interval; so do we.
        measured = [i for i in report["intervals"] if i["transactions"]]
        assert measured and all(i["lag_ms"] is not None and i["service_ms"] is not None for i in measured)
        svc, latency = report["summary"]["service_ms"], report["summary"]["latency_ms"]
        assert svc["mean"] <= latency["mean"]
    # Per worker, worker 0 gets 10 arrivals/s it can serve at most ~6.7/s: its queue grows.
    assert lags["per_worker"]["max"] > 300
    assert lags["shared"]["p99"] * 3 < lags["per_worker"]["p99"]


def test_latency_limit_counts_late_transactions_in_the_closed_model(dsn):
    plan = _custom_plan(dsn, EveryOtherSlow, {"workers": 2, "transactions": 40, "latency_limit": 0.02})
    report = Runner(plan).run().data
    s = report["summary"]
    assert s["transactions"] == 40
    assert s["late"] == 20  # exactly the transactions that slept 30 ms
    assert "late (over" in _markdown(report)


def _markdown(data: dict) -> str:
    from stormdb_tui.report.model import Report

    return Report(data).to_markdown()


def test_spec_timing_with_a_rate_is_refused(run_cli, dsn):
    proc = run_cli("run", "--no-ui", "--dsn", dsn, "--workload", "tpcc", "--set", "spec_timing=true", "--rate", "10",
                   "--duration", "2")
    assert proc.returncode == 2, proc.stderr
    assert "spec_timing" in proc.stderr and "rate" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- section 2: edge cases -------------------------------------------------------------------


def test_a_stop_during_warmup_measures_nothing(loaded):
    plan = _simple_plan(loaded, warmup=30, duration=5)
    runner = Runner(plan)
    threading.Timer(1.5, runner.request_stop).start()
    report = runner.run().data
    assert report["status"] == "interrupted"
    assert "warm-up" in report["message"] and "nothing was measured" in report["message"]
    assert report["summary"]["transactions"] == 0 and report["summary"]["tps"] == 0.0
    assert report["intervals"] == []


@pytest.mark.parametrize("duration", [0, 0.5])
def test_a_window_under_one_second_is_refused(loaded, duration):
    with pytest.raises(ConfigError, match="at least 1 s"):
        _simple_plan(loaded, duration=duration)
    _simple_plan(loaded, duration=duration, transactions=10)  # a count ends the run instead


def test_children_confirm_their_workers_before_the_run_starts(loaded):
    plan = _simple_plan(loaded, workers=4, processes=2)
    group = ProcessGroup(plan.workload, loaded, 4, plan.config.settings(), processes=2, seed=1)
    group.open()
    try:
        group.measuring = True
        group.start()
        assert group.alive() == 4  # at once: a zero here ended runs as "completed" after 0.25 s
    finally:
        group.stop()
        group.join(10)
        group.close()


def _load_sessions(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stormdb-tui:load'"
        ).fetchone()[0]


@pytest.mark.parametrize("isolate", [False, True], ids=["headless", "workbench"])
def test_connections_are_honoured_by_both_front_ends(loaded, isolate):
    plan = _simple_plan(loaded, workers=4, connections=2, duration=3)
    plan.isolate_workers = isolate  # the workbench runs the workers in a child process
    runner = Runner(plan)
    seen = []

    def watch():
        while runner.status != "running" or runner.phase != "measuring":
            time.sleep(0.05)
        time.sleep(0.5)
        seen.append(_load_sessions(loaded))

    watcher = threading.Thread(target=watch)
    watcher.start()
    report = runner.run().data
    watcher.join()
    assert seen == [2], seen
    assert report["run"]["connections"] == 2
    assert "pool_wait_ms" in report["summary"]


@pytest.mark.parametrize("processes", [1, 2])
def test_fewer_transactions_than_workers_runs_exactly_that_many(loaded, processes):
    plan = _simple_plan(loaded, workers=8, processes=processes, transactions=3)
    report = Runner(plan).run().data
    assert report["summary"]["transactions"] == 3
    assert sum(w["transactions"] for w in report["workers"]) == 3


def test_a_late_swap_reply_is_neither_shifted_nor_dropped(loaded, monkeypatch):
    from stormdb_tui.engine import processes

    plan = _simple_plan(loaded, workers=2, processes=2)
    group = ProcessGroup(plan.workload, loaded, 2, plan.config.settings(), processes=2, seed=1)
    group.open()
    counted = 0
    try:
        group.measuring = True
        group.start()
        time.sleep(0.5)
        group.reply_timeout = 0.0  # this swap's replies come after the parent gave up on them
        monkeypatch.setattr(processes, "REPLY_TIMEOUT_S", 0.0)
        counted += sum(h.get_total_count() for h in group.swap(measuring=True).hists.values())
        monkeypatch.setattr(processes, "REPLY_TIMEOUT_S", 30.0)
        group.reply_timeout = 30.0
        time.sleep(0.3)
        counted += sum(h.get_total_count() for h in group.swap(measuring=True).hists.values())
        group.stop()
        group.join(10)
        counted += sum(h.get_total_count() for h in group.swap(measuring=True).hists.values())
    finally:
        group.close()
    executed = sum(row["transactions"] for row in group.worker_stats(1.0))
    assert executed > 0
    assert counted == executed


def test_pool_wait_is_part_of_latency_and_has_its_own_percentiles(loaded):
    plan = _simple_plan(loaded, workers=4, connections=1, duration=2)
    report = Runner(plan).run().data
    s = report["summary"]
    latency, service, wait = s["latency_ms"], s["service_ms"], s["pool_wait_ms"]
    assert wait["p50"] > 0 and wait["p99"] >= wait["p50"]
    # Four workers share one connection: a request waits for about three others' service.
    assert latency["mean"] > service["mean"] * 2
    assert latency["mean"] == pytest.approx(service["mean"] + wait["mean"], rel=0.15, abs=0.02)
    assert "pool wait" in _markdown(report)


def test_a_failed_reconnect_is_a_connection_error_not_an_operations(dsn):
    plan = _custom_plan(dsn, LosesItsConnection, {"workers": 1, "duration": 2})
    report = Runner(plan).run().data
    kinds = {(e["operation"], e["sqlstate"]): e["count"] for e in report["errors"]}
    assert kinds.get((CONNECTION_LABEL, "22012")) == 1
    assert report["operations"]["tx"]["errors"] == 1  # the transaction whose connection was lost
    assert report["summary"]["errors"] == 1
    assert report["summary"]["reconnect_failures"] == 1
    assert CONNECTION_LABEL not in report["operations"]
    assert all(CONNECTION_LABEL not in i["operations"] for i in report["intervals"])


def test_server_window_event_clock_and_partial_intervals(loaded):
    """Server deltas cover the measured window; events sit on the time series' clock; no interval lacks pg."""
    plan = _simple_plan(loaded, monitor=True, warmup=3, duration=3.3, workers=2)
    runner = Runner(plan)
    issued = []

    def checkpoint():
        while runner.phase != "measuring":
            time.sleep(0.02)
        time.sleep(1.5)
        with psycopg.connect(loaded, autocommit=True) as conn:
            issued.append(time.monotonic())
            conn.execute("CHECKPOINT")

    thread = threading.Thread(target=checkpoint)
    thread.start()
    report = runner.run().data
    thread.join()
    s, pg = report["summary"], report["pg"]
    assert report["status"] == "completed"
    # The server's window ends once the pool has closed (a backend's last counters arrive as it
    # exits), which takes a second or so on a busy machine; the 3 s warm-up leaking in would not fit.
    assert s["elapsed_s"] - 0.6 <= pg["elapsed_s"] <= s["elapsed_s"] + 1.5
    # select-only: one commit a transaction. The warm-up's (as many again) are not in the window.
    assert pg["deltas"]["commits"] < 1.5 * s["transactions"]
    assert pg["per_transaction"]["transactions"] == s["transactions"]
    # The CHECKPOINT's first event is seen within a poll or two of when it was issued (the
    # monitor's clock put it a whole warm-up later); its end comes when the writes are done.
    actual = issued[0] - runner.aggregator.origin
    for events in (pg["events"], report["events"]):
        times = sorted(e["t_s"] for e in events if e["type"] == "checkpoint")
        assert times and abs(times[0] - actual) < 1.2, (actual, times)
        assert all(actual - 1.2 < t <= s["elapsed_s"] + 0.6 for t in times), (actual, times)
    # Every interval has server figures, the last (0.3 s) one included, each over its own window.
    assert all(i["pg"] is not None for i in report["intervals"])
    first = report["intervals"][0]["pg"]
    assert first["t"] - first["interval_s"] >= runner.aggregator.origin - 0.05
    assert runner.snapshot.pg is not None
    # The two sides agree; a CHECKPOINT from another session is within the slack.
    check = report["agreement"]
    assert check["checked"] and check["status"] == "ok", check


def test_a_disagreement_between_client_and_server_is_a_warning(loaded):
    plan = _simple_plan(loaded, monitor=True, duration=2, workers=1)
    runner = Runner(plan)

    def other_session():
        while runner.phase != "measuring":
            time.sleep(0.02)
        with psycopg.connect(loaded, autocommit=True) as conn:
            for _ in range(2000):
                conn.execute("SELECT 1")
            while runner.phase == "measuring":  # stay visible to the monitor's polls
                time.sleep(0.05)

    thread = threading.Thread(target=other_session)
    thread.start()
    report = runner.run().data
    thread.join()
    check = report["agreement"]
    assert check["status"] == "warning" and check["other_sessions"] is True
    assert check["difference"] >= 1900
    assert report["warnings"] == [check["warning"]]
    assert "Warning:" in _markdown(report) and "client/server agreement" in _markdown(report)
    from stormdb_tui.report.model import Report

    text = summary_text(Report(report))
    assert "warning: client and server disagree" in text and "client/server agreement" in text
    assert runner.snapshot.agreement is not None and runner.snapshot.agreement["status"] == "warning"


def test_the_monitors_own_sessions_are_expected_commits_not_other_sessions(loaded):
    """A slow run beside a fast wait sampler: the sampler's queries are counted, its session is not 'other'."""
    cfg = build_config({
        "workload": {"name": "simple", "scale": 1, "schema": SCHEMA, "script": "select-only"},
        "run": {"workers": 1, "duration": 3, "rate": 20},
        "metrics": {"interval": 0.5},
        "monitoring": {"interval": 0.5, "wait_sample_rate": 50},
    })
    plan = make_plan(cfg, dsn=loaded, registry=discover())
    plan.monitor = True
    report = Runner(plan).run().data
    check = report["agreement"]
    # About 60 transactions against 150 sampler queries: uncounted, they would be a warning.
    assert check["monitor_commits"] >= 100 and check["client_commits"] < check["monitor_commits"], check
    # Autovacuum may visit the shared test database during the run: it is another session
    # by right. The sampler's session must not be one.
    assert check["status"] == "ok" and check["other_sessions_peak"] == 0, check
    assert check["other_sessions"] is check["autovacuum"], check


def test_the_report_says_when_the_agreement_was_not_checked(loaded):
    report = Runner(_simple_plan(loaded, duration=1)).run().data
    assert report["agreement"]["checked"] is False and "not checked" in report["agreement"]["line"]


def test_agreement_allows_for_setup_and_flags_an_unexplained_gap():
    from stormdb_tui.monitor.summary import agreement

    ok = agreement(client_commits=10_000, server_commits=10_000 + 30 + 8, monitor_commits=30, setups=4)
    assert ok["status"] == "ok" and ok["difference"] == 8
    missing = agreement(client_commits=10_000, server_commits=9_000 + 30, monitor_commits=30, setups=4)
    assert missing["status"] == "warning" and missing["difference"] == -1000
    assert "no other session explains it" in missing["warning"]
    extra = agreement(client_commits=10_000, server_commits=12_000, monitor_commits=30, others_peak=1)
    assert extra["status"] == "warning" and "other sessions" in extra["warning"]
