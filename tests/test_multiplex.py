"""The multiplexed driver on a real server, driver and process choice, and the client's self-audit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import psycopg
import pytest

from stormdb_tui.config import RunSettings, build_config
from stormdb_tui.engine import audit
from stormdb_tui.engine.multiplex import auto_processes, choose_driver, resolve_processes
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.errors import ConfigError
from stormdb_tui.registry import discover

SCHEMA = "stormdb_test_mux"


@pytest.fixture(scope="module")
def tables(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.kv (k int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)")
        conn.execute(f"INSERT INTO {SCHEMA}.kv SELECT g, 0 FROM generate_series(1, 20) g")
        # Fails with a serialization failure a third of the time: retries must absorb it.
        conn.execute(
            f"CREATE FUNCTION {SCHEMA}.flaky(p float8) RETURNS int LANGUAGE plpgsql AS $$ "
            "BEGIN IF random() < p THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN 1; END $$"
        )
    yield dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _report(dsn, tmp_path, text, *, processes=1, driver="multiplex", **run):
    script = tmp_path / "mux.sql"
    script.write_text(text)
    options = run.pop("options", {})
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": SCHEMA, "scripts": [str(script)], **options},
            "run": {"workers": 4, "seed": 5, "driver": driver, "processes": processes, **run},
            "metrics": {"interval": 0.5},
        }
    )
    runner = Runner(make_plan(cfg, dsn=dsn, registry=discover()))
    return runner.run().data


def _sum(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT sum(v) FROM {SCHEMA}.kv").fetchone()[0]


KV = (
    "\\set k random(1, 20)\n"
    "BEGIN;\n"
    "UPDATE kv SET v = v + 1 WHERE k = :k;\n"
    "SELECT v AS got FROM kv WHERE k = :k \\gset\n"
    "\\if :got < 0\n  SELECT 1/0;\n\\endif\n"
    "END;\n"
)


@pytest.mark.parametrize(("driver", "processes"), [("multiplex", 1), ("multiplex", 2), ("threads", 1)])
@pytest.mark.parametrize("mode", ["prepared", "extended", "simple"])
def test_exact_transaction_counts_and_database_state(tables, tmp_path, driver, processes, mode):
    before = _sum(tables)
    report = _report(tables, tmp_path, KV, processes=processes, transactions=201, options={"query_mode": mode},
                     driver=driver)
    s = report["summary"]
    assert report["status"] == "completed" and report["run"]["driver"] == driver
    assert report["run"]["processes"] == processes
    assert s["transactions"] == 201 and s["errors"] == 0
    assert s["queries"] == 201 * 4
    assert _sum(tables) - before == 201
    assert sum(w["transactions"] for w in report["workers"]) == 201
    assert list(report["operations"]) == ["mux"]
    assert report["client"]["driver"] == driver and report["client"]["processes"] == processes
    assert report["client"]["cpu_per_tx_us"] > 0


def test_pipelines_and_aset(tables, tmp_path):
    before = _sum(tables)
    text = (
        "\\set k random(1, 20)\n"
        "\\startpipeline\nUPDATE kv SET v = v + 1 WHERE k = :k;\n\\syncpipeline\n"
        "UPDATE kv SET v = v + 1 WHERE k = :k;\n\\endpipeline\n"
        "SELECT 7 AS a, 8 AS b \\aset x_\n"
        "\\if :x_a + :x_b <> 15\n  SELECT 1/0;\n\\endif\n"
    )
    report = _report(tables, tmp_path, text, transactions=100)
    assert report["summary"]["errors"] == 0 and report["summary"]["transactions"] == 100
    assert _sum(tables) - before == 200


@pytest.mark.parametrize("driver", ["threads", "multiplex"])
def test_aset_with_the_simple_protocol(tables, tmp_path, driver):
    text = "SELECT 7 AS a, 8 AS b \\aset x_\n\\if :x_a + :x_b <> 15\n  SELECT 1/0;\n\\endif\n"
    report = _report(tables, tmp_path, text, transactions=50, options={"query_mode": "simple"}, driver=driver)
    assert report["run"]["driver"] == driver
    assert report["summary"]["errors"] == 0 and report["summary"]["transactions"] == 50


def test_errors_by_sqlstate_under_the_label_and_the_connection_survives(tables, tmp_path):
    report = _report(tables, tmp_path, "\\set k random(1, 2)\nBEGIN;\nSELECT 1 / (:k - 1);\nEND;\n", transactions=200)
    errors = {e["sqlstate"]: e for e in report["errors"]}
    assert set(errors) == {"22012"} and errors["22012"]["operation"] == "mux"
    assert errors["22012"]["count"] + report["summary"]["transactions"] == 200
    assert 40 < errors["22012"]["count"] < 160
    gset = _report(tables, tmp_path, "SELECT k FROM kv WHERE k < 3 \\gset\n", transactions=20)
    assert gset["summary"]["errors"] == 20 and "expected one row, got 2" in gset["errors"][0]["first_message"]


def test_serialization_failures_are_retried_up_to_max_tries(tables, tmp_path):
    text = "BEGIN;\nSELECT flaky(0.3);\nEND;\n"
    retried = _report(tables, tmp_path, text, transactions=200, max_tries=10)
    assert retried["summary"]["retries"] > 20
    assert retried["summary"]["errors"] == 0 and retried["summary"]["transactions"] == 200
    once = _report(tables, tmp_path, text, transactions=200, max_tries=1)
    assert once["summary"]["retries"] == 0
    counts = {e["sqlstate"]: e["count"] for e in once["errors"]}
    assert 20 < counts["40001"] < 110
    assert counts["40001"] + once["summary"]["transactions"] == 200


def test_open_model_one_schedule_latency_from_the_scheduled_start(tables, tmp_path):
    report = _report(tables, tmp_path, "SELECT pg_sleep(0.002);\n", rate=150, duration=2, processes=2)
    s = report["summary"]
    assert report["run"]["model"] == "open"
    assert 150 <= s["transactions"] <= 450  # 2 s at 150/s, Poisson
    assert s["service_ms"]["p50"] >= 2.0 and s["latency_ms"]["p50"] >= s["service_ms"]["p50"]


def test_latency_limit_skips_and_counts_late(tables, tmp_path):
    # 4 clients at 20 ms per transaction serve 200/s: 400/s piles up a backlog.
    report = _report(tables, tmp_path, "SELECT pg_sleep(0.02);\n", rate=400, duration=2, latency_limit=0.05)
    s = report["summary"]
    assert s["skipped"] > 50
    assert s["transactions"] < 500
    assert s["late"] >= 0


def test_think_time_paces_each_client(tables, tmp_path):
    report = _report(tables, tmp_path, "SELECT 1;\n", duration=2, think_time=0.1, workers=2)
    assert 10 <= report["summary"]["transactions"] <= 45  # 2 clients, ~10/s each


def test_warmup_is_excluded(tables, tmp_path):
    report = _report(tables, tmp_path, "SELECT 1;\n", duration=1, warmup=0.5)
    s = report["summary"]
    assert 0.9 <= s["elapsed_s"] <= 2.5
    assert sum(i["transactions"] for i in report["intervals"]) == s["transactions"]


def test_sleep_in_a_script_counts_in_the_latency(tables, tmp_path):
    report = _report(tables, tmp_path, "\\sleep 20 ms\nSELECT 1;\n", transactions=40)
    assert report["summary"]["latency_ms"]["p50"] >= 20.0


def test_a_refused_connection_is_a_clear_failure(tables, tmp_path):
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": SCHEMA, "scripts": ["select-only"]},
            "run": {"workers": 2, "duration": 1, "driver": "multiplex", "processes": 1, "connect_timeout": 1},
        }
    )
    plan = make_plan(cfg, dsn="host=/nonexistent port=1", registry=discover())
    report = Runner(plan).run().data
    assert report["status"] == "failed" and "could open only 0 of 2 connections" in report["message"]


def test_driver_choice_and_auto_processes():
    simple = make_plan(build_config({"workload": {"name": "simple"}}), dsn="host=/x", registry=discover()).workload
    tpcc = make_plan(build_config({"workload": {"name": "tpcc"}}), dsn="host=/x", registry=discover()).workload
    assert choose_driver(simple, RunSettings.parse({"workers": 8})) == "multiplex"
    assert choose_driver(simple, RunSettings.parse({"workers": 8, "driver": "threads"})) == "threads"
    assert choose_driver(tpcc, RunSettings.parse({"workers": 8})) == "threads"
    assert choose_driver(simple, RunSettings.parse({"workers": 8, "connections": 2})) == "threads"  # a shared pool waits on threads
    with pytest.raises(ConfigError, match="threaded driver"):
        choose_driver(tpcc, RunSettings.parse({"workers": 8, "driver": "multiplex"}))
    with pytest.raises(ConfigError, match="one connection per worker"):
        choose_driver(simple, RunSettings.parse({"workers": 8, "connections": 2, "driver": "multiplex"}))
    assert auto_processes(32, "multiplex", cores=16) == 16
    assert auto_processes(8, "multiplex", cores=16) == 8
    assert auto_processes(8, "multiplex", cores=2) == 2
    assert auto_processes(8, "threads", cores=16) == 1
    assert resolve_processes(RunSettings.parse({"workers": 8, "processes": "auto"}), "multiplex", cores=4) == 4
    assert resolve_processes(RunSettings.parse({"workers": 8, "processes": 3}), "multiplex", cores=4) == 3
    assert resolve_processes(RunSettings.parse({"workers": 8}), "threads", cores=4) == 1
    if hasattr(os, "sched_getaffinity"):
        assert auto_processes(64, "multiplex") == len(os.sched_getaffinity(0))


def test_assessment_rules():
    idle = {"wall_s": 1.0, "cpu_s": 0.1, "wait_s": 0.05, "cores": 2, "lag_us": [100] * 100}
    assert audit.assess([idle, idle], 1.0)["bound"] is False
    busy = dict(idle, cpu_s=0.95)
    verdict = audit.assess([busy], 1.0)
    assert verdict["bound"] and "cpu" in verdict["codes"] and "process" in verdict["codes"]
    starved = dict(idle, cpu_s=0.4, wait_s=0.55)  # wanted the core, got half of it
    verdict = audit.assess([starved, idle], 1.0)
    assert verdict["bound"] and verdict["codes"] == ["process"]
    assert "wanted a core 95% of the time" in verdict["reasons"][0]
    # Twenty threads queued at once want more than one core: said in cores, not as 400 %.
    crowded = dict(idle, cpu_s=0.9, wait_s=3.3)
    assert "threads wanted 4.2 cores" in audit.assess([crowded, idle], 1.0)["reasons"][-1]
    laggy = dict(idle, lag_us=[100] * 90 + [int(audit.LAG_LIMIT_MS * 1000) + 5000] * 10)
    assert audit.assess([laggy], 1.0)["codes"] == ["lag"]
    # A busy server on shared cores delays an idle client too: next to 800 ms queries that is not the limit.
    waiting = dict(laggy, wait_s=0.85, lag_us=[3000] * 90 + [50000] * 10)
    assert audit.assess([waiting], 1.0, latency_ms=800.0)["bound"] is False
    assert audit.assess([waiting], 1.0, latency_ms=5.0)["codes"] == ["process", "lag"]
    assert audit.assess([busy], 1.0, latency_ms=800.0)["codes"] == ["cpu"]  # its own CPU always counts
    tally = audit.ClientTally()
    for record in (busy, busy, idle):
        tally.add([record], 1.0)
    summary = tally.summary(transactions=1000)
    assert summary["saturated_share"] == pytest.approx(2 / 3, abs=1e-3) and summary["client_bound"]
    assert summary["cpu_per_tx_us"] == pytest.approx((0.95 * 2 + 0.1) * 1e6 / 1000)
    assert summary["lag_ms"]["p99"] == pytest.approx(0.2)


def test_a_run_the_server_saturates_is_not_flagged(tables, tmp_path):
    """CPU-heavy queries on every core: the idle client waits on the run queue, yet is not the limit."""
    report = _report(tables, tmp_path, "SELECT count(*) FROM generate_series(1, 400000);\n", duration=3,
                     workers=24, driver="multiplex", processes="auto")
    client = report["client"]
    assert report["summary"]["transactions"] > 10
    assert not client["client_bound"] and client["saturated_share"] <= 0.34, client


def _cli_report(cli_env, tmp_path, args, prefix=()):
    report = tmp_path / "r.json"
    cmd = [*prefix, sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "--report-json", str(report), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=cli_env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    return json.loads(report.read_text()), result.stdout


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
def test_a_client_starved_of_cpu_is_flagged_client_bound(tables, tmp_path, cli_env, dsn):
    # The client on one core, a CPU hog on the same core, and a script heavy in client-side work.
    script = tmp_path / "heavy.sql"
    script.write_text("".join(f"\\set x{i} random(1, 1000) * {i} + abs(-{i})\n" for i in range(100)) + "SELECT 1;\n")
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    try:
        data, stdout = _cli_report(
            cli_env, tmp_path,
            ["--dsn", dsn, "--workload", "simple", "--set", f"scripts={script}", "--set", f"schema={SCHEMA}",
             "--workers", "8", "--duration", "3s"],
            prefix=("taskset", "-c", "0"),
        )
    finally:
        hog.kill()
        hog.wait()
    client = data["client"]
    assert data["run"]["driver"] == "multiplex" and data["run"]["processes"] == 1  # auto: one usable core
    assert client["cores"] == 1
    assert client["client_bound"] and client["saturated_share"] >= 0.5, client
    assert "CLIENT-BOUND" in stdout and "more client processes" in stdout
    assert any(i["client"]["bound"] for i in data["intervals"])


def test_a_slow_python_transaction_on_threads_is_flagged(tmp_path, cli_env, dsn):
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "burner.py").write_text(
        "import time\n"
        "from stormdb_tui.workload import Workload\n\n"
        "class Burner(Workload):\n"
        "    name = 'burner'\n    title = 'CPU-heavy Python transactions'\n"
        "    description = 'Busy Python work around a trivial query.'\n    version = '1'\n\n"
        "    def transaction(self, ctx):\n"
        "        end = time.perf_counter() + 0.002\n"
        "        while time.perf_counter() < end:\n            pass\n"
        "        ctx.conn.execute('SELECT 1')\n"
        "        return 'burn'\n"
    )
    data, stdout = _cli_report(
        cli_env, tmp_path,
        ["--dsn", dsn, "--workload", "burner", "--plugin-path", str(plugin), "--workers", "4", "--duration", "3s"],
    )
    assert data["run"]["driver"] == "threads" and data["run"]["processes"] == 1
    assert data["client"]["client_bound"], data["client"]
    assert "CLIENT-BOUND" in stdout


@pytest.mark.parametrize("driver", ["multiplex", "threads"])
def test_a_server_bound_run_is_not_flagged(tables, tmp_path, driver):
    report = _report(tables, tmp_path, "SELECT pg_sleep(0.05);\n", duration=3, driver=driver, processes="auto")
    client = report["client"]
    assert report["summary"]["transactions"] > 50
    assert client["saturated_share"] <= 0.34 and not client["client_bound"], client
    assert client["lag_ms"]["p99"] is not None


def test_a_plugin_opts_into_the_multiplexed_driver_with_a_program(tables, tmp_path, cli_env, dsn):
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "counter.py").write_text(
        "from stormdb_tui.pgbench import Program, parse_script\n"
        "from stormdb_tui.workload import Workload\n\n"
        "class Counter(Workload):\n"
        "    name = 'counter'\n    title = 'hot-row counter'\n"
        "    description = 'One UPDATE on one of 20 rows per transaction.'\n    version = '1.0'\n\n"
        "    def program(self):\n"
        "        text = '\\\\set k random(1, 20)\\nUPDATE kv SET v = v + 1 WHERE k = :k;\\n'\n"
        "        return Program([parse_script(text, 'bump')], scale=self.scale)\n\n"
        f"    def session_sql(self):\n        return ['SET search_path TO {SCHEMA}']\n"
    )
    before = _sum(dsn)
    data, _ = _cli_report(
        cli_env, tmp_path,
        ["--dsn", dsn, "--workload", "counter", "--plugin-path", str(plugin), "--workers", "3", "--transactions", "90"],
    )
    assert data["run"]["driver"] == "multiplex" and data["summary"]["transactions"] == 90
    assert data["summary"]["errors"] == 0 and _sum(dsn) - before == 90
    assert list(data["operations"]) == ["bump"]


STRAIGHT = (
    "\\set k random(1, 20)\n"
    "\\set z random(0, 9)\n"
    "\\set bad 10 / :z\n"  # z = 0: the \set fails before anything is sent
    "BEGIN;\n"
    "UPDATE kv SET v = v + 1 WHERE k = :k;\n"
    "SELECT 1 / (:z - 1);\n"  # z = 1: the server fails the transaction after its update
    "END;\n"
)


def test_a_straight_script_keeps_every_rule_on_the_fast_path(tables, tmp_path, dsn):
    """Only \\set and SQL: the inline path counts, fails and retries exactly as the general one does."""
    from stormdb_tui.pgbench import parse_script

    assert parse_script(STRAIGHT, "s.sql").straight and not parse_script(KV, "kv.sql").straight
    before = _sum(dsn)
    report = _report(tables, tmp_path, STRAIGHT, duration=1.5)  # a closed model with no quota: the fast path
    s = report["summary"]
    errors = {e["sqlstate"]: e["count"] for e in report["errors"]}
    assert s["transactions"] > 200 and set(errors) == {"22012", "XXCLI"}, errors
    # Each kind is about a tenth of the attempts; committed transactions are exactly the rows' increments.
    attempts = s["transactions"] + s["errors"]
    assert all(0.04 < n / attempts < 0.2 for n in errors.values()), (errors, attempts)
    assert _sum(dsn) - before == s["transactions"]
    assert s["queries"] == 4 * s["transactions"]
