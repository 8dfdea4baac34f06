"""Broken workload code and servers that stop answering: contained, reported, and the exit status says so.

Drop-in plugin workloads (loaded by path, as a user's would be) raise or
hang; a throwaway cluster is frozen with SIGSTOP. Every run goes through the
real CLI in a subprocess, against a real server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from pgcluster import Cluster

ROOT = Path(__file__).resolve().parent.parent

PLUGINS = {
    "boom": """
        from stormdb_tui.workload import Workload

        class Boom(Workload):
            name = "boom"
            version = "1"

            def transaction(self, ctx):
                ctx.label = "boom"
                ctx.conn.execute("SELECT 1")
                return {}["missing"]  # line 10: every call raises KeyError
    """,
    "flaky": """
        from stormdb_tui.workload import Workload

        class Flaky(Workload):
            name = "flaky"
            version = "1"

            def transaction(self, ctx):
                ctx.label = "flaky"
                ctx.conn.execute("SELECT 1")
                roll = ctx.rng.random()
                if roll < 0.15:
                    raise ValueError("bad luck")
                if roll < 0.30:
                    raise KeyError("worse luck")
                return "flaky"
    """,
    "sleepy": """
        import time
        from stormdb_tui.workload import Workload

        class Sleepy(Workload):
            name = "sleepy"
            version = "1"

            def transaction(self, ctx):
                ctx.label = "sleepy"
                if ctx.worker_id < 2:
                    time.sleep(3600)  # stuck in Python: no socket to shut, the thread is abandoned
                ctx.conn.execute("SELECT 1")
                return "sleepy"
    """,
    "dbhang": """
        from stormdb_tui.workload import Workload

        class DbHang(Workload):
            name = "dbhang"
            version = "1"

            def transaction(self, ctx):
                ctx.label = "dbhang"
                ctx.conn.execute("SELECT pg_sleep(3600)")
                return "dbhang"
    """,
    "nothing": """
        from stormdb_tui.workload import Workload

        class Nothing(Workload):
            name = "nothing"
            version = "1"

            def transaction(self, ctx):
                ctx.label = "nothing"
                ctx.conn.execute("SELECT * FROM no_such_table_here")
                return "nothing"
    """,
}


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("broken-plugins")
    for name, code in PLUGINS.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code).lstrip())
    return folder


def _run(dsn: str, plugins: Path, workload: str, out: Path, *extra: str, timeout: float = 120):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "-q", "--plugin-path", str(plugins),
         "--workload", workload, "--dsn", dsn, "--report-json", str(out), *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result, time.monotonic() - started


def test_raising_workload_backs_off_and_stops_early(dsn, plugin_dir, tmp_path):
    out = tmp_path / "r.json"
    result, _ = _run(dsn, plugin_dir, "boom", out, "--duration", "60", "--workers", "2")
    assert result.returncode == 1, result.stderr
    data = json.loads(out.read_text())
    assert data["status"] == "failed"
    assert "every worker failed repeatedly" in data["message"] and "KeyError" in data["message"]
    assert data["summary"]["elapsed_s"] < 30  # stopped early, not at the end of the 60 s
    # Backed off: a few dozen failures, not the hot loop's millions.
    assert 2 * 8 <= data["summary"]["errors"] < 200
    (kind,) = data["errors"]
    assert kind["sqlstate"] == "py:KeyError" and kind["class"] == "workload_error"
    assert "boom.py:10" in kind["first_message"]
    assert "every worker failed repeatedly" in result.stderr


def test_error_kinds_are_counted_per_type_and_max_error_rate_fails(dsn, plugin_dir, tmp_path):
    out = tmp_path / "r.json"
    result, _ = _run(dsn, plugin_dir, "flaky", out, "--duration", "3", "--workers", "2", "--seed", "7")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    kinds = {e["sqlstate"]: e for e in data["errors"]}
    assert set(kinds) == {"py:ValueError", "py:KeyError"}
    assert "flaky.py:12" in kinds["py:ValueError"]["first_message"]
    assert sum(k["count"] for k in kinds.values()) == data["summary"]["errors"]

    strict = tmp_path / "strict.json"
    result, _ = _run(dsn, plugin_dir, "flaky", strict, "--duration", "3", "--workers", "2", "--seed", "7",
                     "--set", "run.max_error_rate=0.05")
    assert result.returncode == 1
    data = json.loads(strict.read_text())
    assert data["status"] == "failed" and "run.max_error_rate" in data["message"]


def test_every_transaction_failing_in_the_database_fails_the_run(dsn, plugin_dir, tmp_path):
    out = tmp_path / "r.json"
    result, _ = _run(dsn, plugin_dir, "nothing", out, "--duration", "2", "--workers", "1")
    assert result.returncode == 1
    data = json.loads(out.read_text())
    assert data["status"] == "failed" and "no transaction committed" in data["message"]
    assert "42P01" in data["message"]


@pytest.mark.parametrize("workload, stuck", [("sleepy", 2), ("dbhang", 3)])
def test_hung_transactions_are_reported_and_abandoned_on_time(dsn, plugin_dir, tmp_path, workload, stuck):
    out = tmp_path / "r.json"
    result, took = _run(dsn, plugin_dir, workload, out, "--duration", "4", "--workers", "3",
                        "--set", "run.transaction_timeout=1.5", "--set", "run.stop_grace=2")
    assert result.returncode == 1, result.stderr
    data = json.loads(out.read_text())
    assert data["status"] == "failed"
    noun = "workers were" if stuck > 1 else "worker was"
    assert f"{stuck} {noun} still inside `transaction` after 2 s" in data["message"]
    hung = data["hung"]
    assert len(hung) == stuck and all(h["inside"] == "transaction" and h["abandoned"] for h in hung)
    assert any(h["seconds"] and h["seconds"] > 1.5 for h in hung)  # seen as hung while the run went on
    assert any(e.get("type") == "hung" for e in data["events"])
    # Ended on time: 4 s measured + 2 s grace + a little to shut sockets, not 3600 s.
    assert data["summary"]["elapsed_s"] < 4 + 2 + 5
    if workload == "sleepy":
        assert data["summary"]["transactions"] > 0  # the third worker kept going


def _cluster_pids(cluster: Cluster) -> list[int]:
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(entry))
    return [postmaster, *children]


@pytest.mark.parametrize("target", ["unix", pytest.param("tcp", marks=pytest.mark.slow)])
def test_frozen_server_run_ends_on_time_with_the_outage_visible(tmp_path, target):
    cluster = Cluster()
    frozen: list[int] = []
    try:
        dsn = cluster.dsn if target == "unix" else cluster.tcp_dsn
        setup = subprocess.run([sys.executable, "-m", "stormdb_tui", "setup", "-w", "simple", "--dsn", dsn],
                               capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert setup.returncode == 0, setup.stderr
        out = tmp_path / "r.json"

        def freeze() -> None:
            time.sleep(5)  # start-up plus a few measured intervals
            for pid in _cluster_pids(cluster):
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)

        thread = threading.Thread(target=freeze)
        thread.start()
        result, took = _run(dsn, tmp_path, "simple", out, "--set", "script=select-only", "--duration", "8",
                            "--workers", "2", "--interval", "0.5", "--pg-stats", "--set", "run.stop_grace=3",
                            timeout=90)
        thread.join()
        assert result.returncode == 1, result.stderr
        data = json.loads(out.read_text())
        assert data["status"] == "failed"
        assert "still inside `transaction` after 3 s" in data["message"]
        intervals = data["intervals"]
        assert intervals[0]["transactions"] > 0
        assert intervals[-1]["transactions"] == 0 and intervals[-2]["transactions"] == 0
        assert any("no transaction completed from" in note for note in data["notes"])
        # Bounded: the measured window, the grace, the monitor's bounded stop; never the frozen server's mercy.
        assert took < 8 + 3 + 40
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        cluster.destroy()


def test_hung_workers_in_worker_processes_are_named_and_abandoned(dsn, plugin_dir, tmp_path):
    out = tmp_path / "r.json"
    result, _ = _run(dsn, plugin_dir, "dbhang", out, "--duration", "4", "--workers", "2", "--processes", "2",
                     "--set", "run.stop_grace=2", "--set", "run.transaction_timeout=1.5")
    assert result.returncode == 1, result.stderr
    data = json.loads(out.read_text())
    assert data["status"] == "failed"
    assert "2 workers were still inside `transaction` after 2 s (workers 0, 1; abandoned)" in data["message"]
    assert sorted(h["worker"] for h in data["hung"]) == [0, 1]
    # Seen while the run went on, from the children's interval replies, not only at the end.
    hung_events = [e for e in data["events"] if e.get("type") == "hung"]
    assert sorted(e["worker"] for e in hung_events) == [0, 1]
    assert all(e["t_s"] < 4.5 for e in hung_events)
    assert all(h["seconds"] and h["seconds"] > 1.5 for h in data["hung"])


def test_raising_workload_in_worker_processes_stops_early(dsn, plugin_dir, tmp_path):
    out = tmp_path / "r.json"
    result, _ = _run(dsn, plugin_dir, "boom", out, "--duration", "60", "--workers", "2", "--processes", "2")
    assert result.returncode == 1, result.stderr
    data = json.loads(out.read_text())
    assert data["status"] == "failed"
    assert "every worker failed repeatedly" in data["message"] and "KeyError" in data["message"]
    assert data["summary"]["elapsed_s"] < 30  # noticed during the run, not after the 60 s
