"""The fault suite: provoke each fault against a server the test controls and read the report.

Each test uses a throwaway cluster (tests/pgcluster.py) so it may stop,
kill and misconfigure it freely.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from pgcluster import Cluster

from stormdb_tui.config import build_config
from stormdb_tui.db import Target
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner, RunPlan
from stormdb_tui.workload import Workload

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "pgbench"


@pytest.fixture(scope="module")
def cluster():
    server = Cluster()
    plan = make_plan(build_config({"workload": {"name": "simple", "scale": 1}}), dsn=server.dsn)
    plan.setup = True
    Runner(plan).prepare()
    yield server
    server.destroy()


def _simple_plan(dsn: str, **run) -> RunPlan:
    script = run.pop("script", "select-only")
    cfg = build_config(
        {
            "workload": {"name": "simple", "scale": 1, "script": script},
            "run": {"workers": 4, "duration": 6, **run},
            "metrics": {"interval": 0.5},
        }
    )
    return make_plan(cfg, dsn=dsn)


def _wait_for_load(cluster) -> None:
    """Worker processes (processes: auto) take a moment to start: wait until their connections work."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not cluster.sql(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'stormdb-tui:load' AND state = 'active'"
    ):
        time.sleep(0.1)


def test_server_restart_mid_run(cluster):
    runner = Runner(_simple_plan(cluster.dsn, duration=8, script="tpcb-like"))

    def outage():
        _wait_for_load(cluster)
        time.sleep(1.5)
        cluster.stop("immediate")
        time.sleep(2)
        cluster.start()

    thread = threading.Thread(target=outage)
    thread.start()
    report = runner.run().data
    thread.join()
    assert report["status"] == "completed"
    classes = {e["class"] for e in report["errors"]}
    assert classes & {"connection_exception", "operator_intervention"}, report["errors"]
    assert report["summary"]["reconnects"] >= 1
    series = report["intervals"]
    outage_intervals = [i for i in series if 2.5 <= i["t_s"] <= 4.0]
    assert outage_intervals and min(i["transactions"] for i in outage_intervals) == 0
    assert sum(i["transactions"] for i in series if i["t_s"] > 5.5) > 0, "workers did not come back"
    assert all(w["transactions"] > 0 for w in report["workers"])


@pytest.mark.parametrize("driver", ["multiplex", "threads"])
def test_backend_killed_mid_transaction(cluster, driver):
    runner = Runner(_simple_plan(cluster.dsn, duration=4, driver=driver))
    killed = []

    def kill_one():
        _wait_for_load(cluster)
        time.sleep(0.5)
        rows = cluster.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'stormdb-tui:load' ORDER BY pid LIMIT 1"
        )
        killed.extend(rows)

    thread = threading.Thread(target=kill_one)
    thread.start()
    report = runner.run().data
    thread.join()
    assert killed == [(True,)]
    assert report["status"] == "completed"
    assert 1 <= report["summary"]["errors"] <= 2
    assert report["summary"]["reconnects"] == 1
    assert all(w["transactions"] > 0 for w in report["workers"])
    late = [i for i in report["intervals"] if i["t_s"] >= 3.0]
    assert all(i["transactions"] > 0 for i in late)


class Sleeper(Workload):
    """Sleeps server-side or takes a lock, so timeouts can be provoked."""

    name = "sleeper"
    version = "1"

    def start_worker(self, ctx):
        ctx.conn.execute("SET statement_timeout = '100ms'")
        ctx.conn.execute("SET lock_timeout = '50ms'")

    def transaction(self, ctx):
        if ctx.rng.random() < 0.5:
            ctx.label = "sleep"
            ctx.conn.execute("SELECT pg_sleep(0.3)")
        else:
            ctx.label = "lock"
            with ctx.conn.transaction():
                ctx.conn.execute("LOCK TABLE fault_locked IN ACCESS EXCLUSIVE MODE")
        return ctx.label


def test_statement_and_lock_timeouts_are_counted(cluster):
    cluster.sql("CREATE TABLE IF NOT EXISTS fault_locked (id int)")
    holder = psycopg.connect(cluster.dsn)
    holder.execute("LOCK TABLE fault_locked IN ACCESS EXCLUSIVE MODE")
    try:
        cfg = build_config({"run": {"workers": 2, "transactions": 20}})
        report = Runner(RunPlan(cfg, Sleeper(), Target(cluster.dsn, "dsn"))).run().data
    finally:
        holder.rollback()
        holder.close()
    states = {e["sqlstate"]: e for e in report["errors"]}
    assert states["57014"]["class"] == "operator_intervention" and states["57014"]["operation"] == "sleep"
    assert states["55P03"]["class"] == "object_not_in_prerequisite_state" and states["55P03"]["operation"] == "lock"
    assert report["summary"]["errors"] == 20
    # Every transaction failed: the errors are all counted, and the run is not a success.
    assert report["status"] == "failed" and "no transaction committed" in report["message"]


def test_too_few_connections_is_a_clear_error(cluster):
    plan = _simple_plan(cluster.dsn, workers=60, duration=2, connect_timeout=3)
    started = time.monotonic()
    report = Runner(plan).run().data
    assert time.monotonic() - started < 20
    assert report["status"] == "failed"
    assert "could open only" in report["message"] and "too many clients" in report["message"]


def test_unwritable_report_path_still_finishes(cluster, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    good = tmp_path / "ok.md"
    result = _cli(
        "run", "--no-ui", "--workload", "simple", "--set", "script=select-only", "--dsn", cluster.dsn,
        "--duration", "1", "--workers", "1", "--report-json", str(blocker / "r.json"), "--report-md", str(good),
    )
    assert result.returncode == 1
    assert "could not write the json report to" in result.stderr
    assert "transactions:" in result.stdout
    assert good.exists() and "| select-only |" in good.read_text()


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stormdb_tui", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, **kwargs)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_mid_run_writes_interrupted_report(cluster, tmp_path, signum, code):
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "--workload", "simple", "--set", "script=select-only",
         "--dsn", cluster.dsn, "--duration", "60", "--workers", "2", "--report-json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_progress(proc, 3)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    data = json.loads(out.read_text())
    assert data["status"] == "interrupted"
    assert data["summary"]["transactions"] > 0
    assert len(data["intervals"]) >= 3
    assert sum(i["transactions"] for i in data["intervals"]) == data["summary"]["transactions"]
    assert "Traceback" not in stderr


def _wait_for_progress(proc: subprocess.Popen, lines: int) -> None:
    seen = 0
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while seen < lines and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("progress:"):
            seen += 1
    assert seen >= lines, "the run never reported progress"


def test_second_sigint_exits_at_once(cluster, tmp_path):
    plugin = tmp_path / "slow.py"
    plugin.write_text(
        "from stormdb_tui.workload import Workload\n"
        "class Slow(Workload):\n    name = 'slow'\n    version = '1'\n"
        "    def transaction(self, ctx):\n        ctx.label = 'slow'\n"
        "        ctx.conn.execute('SELECT pg_sleep(30)')\n        return 'slow'\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "--plugin-path", str(tmp_path), "--workload", "slow",
         "--dsn", cluster.dsn, "--duration", "60", "--workers", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None, "the first SIGINT should wait for the in-flight transaction"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert time.monotonic() - started < 5


def test_rebuild_drops_only_owned_objects(cluster):
    cluster.sql("CREATE TABLE IF NOT EXISTS public.keep_me (id int)")
    cluster.sql("INSERT INTO public.keep_me VALUES (1)")
    cluster.sql("CREATE SCHEMA IF NOT EXISTS other_app")
    cluster.sql("CREATE TABLE IF NOT EXISTS other_app.orders (id int)")
    plan = _simple_plan(cluster.dsn)
    plan.rebuild = True
    Runner(plan).prepare()
    assert cluster.sql("SELECT count(*) FROM public.keep_me") == [(1,)]
    assert cluster.sql("SELECT to_regclass('other_app.orders') IS NOT NULL") == [(True,)]
    assert cluster.sql(f"SELECT count(*) FROM {SCHEMA}.pgbench_accounts") == [(100_000,)]


def test_password_never_printed(cluster, tmp_path):
    secret = "s3cr3t-Pa55"
    dsn = f"postgresql://postgres:{secret}@127.0.0.1:{cluster.port}/postgres"
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    result = _cli(
        "run", "--no-ui", "--workload", "simple", "--set", "script=select-only", "--dsn", dsn, "--duration", "1",
        "--workers", "1", "--report-json", str(out), "--report-md", str(md),
    )
    assert result.returncode == 0, result.stderr
    bad = _cli("run", "--no-ui", "--workload", "simple", "--dsn", dsn.replace(str(cluster.port), "1"), "--duration", "1")
    for text in (result.stdout, result.stderr, out.read_text(), md.read_text(), bad.stdout, bad.stderr):
        assert secret not in text
    assert "***" in out.read_text()


def test_password_from_environment(cluster, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database:\n  host: 127.0.0.1\n  port: {cluster.port}\n  user: postgres\n  dbname: postgres\n"
        "  password_env: STORMDB_FAULT_PW\nworkload:\n  name: simple\n  script: select-only\nrun:\n  duration: 1\n  workers: 1\n"
    )
    import os

    env = dict(os.environ, STORMDB_FAULT_PW="from-env-pw")
    result = _cli("run", "--no-ui", "-c", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert "from-env-pw" not in result.stdout + result.stderr
    missing = _cli("run", "--no-ui", "-c", str(config), env={k: v for k, v in env.items() if k != "STORMDB_FAULT_PW"})
    assert missing.returncode == 1 and "STORMDB_FAULT_PW" in missing.stderr


@pytest.mark.slow
def test_256_workers_against_max_connections_300():
    """Endurance at width: 256 workers on a server allowing 300 connections run without client errors."""
    server = Cluster(settings={"max_connections": "300", "shared_buffers": "128MB"})
    try:
        plan = make_plan(build_config({"workload": {"name": "simple", "scale": 1}}), dsn=server.dsn)
        plan.setup = True
        Runner(plan).prepare()
        cfg = build_config(
            {
                "workload": {"name": "simple", "scale": 1, "script": "select-only"},
                "run": {"workers": 256, "duration": 60, "warmup": 5, "connect_timeout": 60},
            }
        )
        report = Runner(make_plan(cfg, dsn=server.dsn)).run().data
    finally:
        server.destroy()
    assert report["status"] == "completed", report["message"]
    assert report["summary"]["errors"] == 0
    assert all(w["transactions"] > 0 for w in report["workers"])
    assert len(report["workers"]) == 256
