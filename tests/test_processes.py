"""Worker processes: the same figures as threads, crashes reported, Ctrl-C stops every child."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from stormdb_tui.config import build_config
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.registry import discover

SCHEMA = "stormdb_test_procs"


def _plan(dsn: str, workload: dict | None = None, registry=None, **run):
    cfg = build_config(
        {
            "workload": workload or {"name": "simple", "scale": 1, "schema": SCHEMA, "script": "tpcb-like"},
            "run": {"workers": 4, "processes": 2, "duration": 2, "seed": 3, **run},
            "metrics": {"interval": 0.5},
        }
    )
    return make_plan(cfg, dsn=dsn, registry=registry or discover())


@pytest.fixture(scope="module")
def loaded(dsn):
    plan = _plan(dsn)
    plan.setup = True
    Runner(plan).prepare()
    return dsn


def test_transaction_count_is_split_exactly_over_processes(loaded):
    plan = _plan(loaded, workers=5, transactions=503, duration=0)
    report = Runner(plan).run().data
    assert report["status"] == "completed"
    assert report["summary"]["transactions"] == 503
    assert report["run"].get("processes", 2) == 2
    workers = report["workers"]
    assert [w["id"] for w in workers] == [0, 1, 2, 3, 4]
    assert sorted(w["transactions"] for w in workers) == [100, 100, 101, 101, 101]
    assert report["operations"]["tpcb-like"]["count"] == 503
    assert report["summary"]["queries"] == 503 * 7


def test_intervals_merge_every_child(loaded):
    runner = Runner(_plan(loaded, duration=2))
    report = runner.run().data
    assert report["status"] == "completed"
    assert len(report["intervals"]) >= 3
    assert sum(i["transactions"] for i in report["intervals"]) == report["summary"]["transactions"] > 0
    assert all(w["transactions"] > 0 for w in report["workers"])
    assert report["summary"]["latency_ms"]["p50"] > 0


def test_a_killed_child_fails_the_run_and_keeps_the_measurements(loaded):
    runner = Runner(_plan(loaded, duration=30))
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", runner.run()))
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and runner.aggregator.transactions == 0:
        time.sleep(0.2)
    victim = runner.group.children[1].process.pid
    os.kill(victim, signal.SIGKILL)
    thread.join(60)
    data = result["report"].data
    assert data["status"] == "failed"
    assert "worker process 1" in data["message"] and "signal 9" in data["message"]
    assert data["summary"]["transactions"] > 0
    assert data["summary"]["elapsed_s"] < 25


def test_a_path_loaded_plugin_runs_in_children(dsn, tmp_path):
    (tmp_path / "perf_probe.py").write_text(
        textwrap.dedent(
            '''
            from stormdb_tui.workload import Workload

            class Probe(Workload):
                name = "perf_probe"
                operations = ("probe",)

                def transaction(self, ctx):
                    ctx.label = "probe"
                    ctx.conn.execute("SELECT 1")
                    ctx.queries += 1
                    return "probe"
            '''
        )
    )
    registry = discover([str(tmp_path)])
    plan = _plan(dsn, workload={"name": "perf_probe"}, registry=registry, transactions=40, duration=0)
    report = Runner(plan).run().data
    assert report["status"] == "completed", report.get("message")
    assert report["summary"]["transactions"] == 40
    assert report["operations"]["probe"]["count"] == 40


def test_ctrl_c_stops_every_child(loaded, cli_env, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "--dsn", loaded, "--workload", "simple",
         "--set", f"schema={SCHEMA}", "--set", "script=select-only", "--workers", "4", "--processes", "2",
         "--duration", "60s", "--report-json", str(out)],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    time.sleep(4)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 2
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    assert proc.wait(60) == 130, proc.stderr.read().decode() if proc.stderr else ''
    data = json.loads(out.read_text())
    assert data["status"] == "interrupted"
    assert data["summary"]["transactions"] > 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if _running(pid)]


def _running(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "zombie" not in fh.read().lower()
    except OSError:
        return False


def test_ctrl_c_while_children_start_is_an_interruption(loaded, cli_env, tmp_path):
    """A Ctrl-C that reaches the children while they are still importing must not read as a crash."""
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "--dsn", loaded, "--workload", "simple",
         "--set", f"schema={SCHEMA}", "--set", "script=select-only", "--workers", "4", "--processes", "2",
         "--duration", "60s", "--report-json", str(out)],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    children: list[str] = []
    while time.monotonic() < deadline and len(children) < 2:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        time.sleep(0.01)
    assert len(children) >= 2
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(60)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert json.loads(out.read_text())["status"] == "interrupted"
