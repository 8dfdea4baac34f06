"""End to end in a real terminal: ``stormdb-tui run`` inside tmux, keys sent, the pane read back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

pytestmark = [
    pytest.mark.tui,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _capture(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_for(session: str, predicate, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _capture(session)
        if predicate(text):
            return text
        time.sleep(0.3)
    raise AssertionError(f"screen never matched; last screen:\n{text}")


def test_run_in_tmux_watch_stop_and_report(dsn, cli_env, tmp_path) -> None:
    schema = "tui_tmux"
    config = tmp_path / "tiny.yaml"
    report = tmp_path / "run.json"
    config.write_text(
        f"workload: {{name: simple, scale: 1, script: select-only, schema: {schema}}}\n"
        f"run: {{workers: 2, duration: 120s}}\n"
        f"report: {{json: {report}}}\n"
    )
    session = f"stormdb-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit"
    env_prefix = " ".join(f"{k}='{v}'" for k, v in cli_env.items() if k in ("PYTHONPATH", "PATH", "HOME"))
    command = (
        f"env {env_prefix} TERM=xterm-256color {sys.executable} -m stormdb_tui run -c {config} "
        f"--dsn '{dsn}'; echo $? > {exit_file}"
    )
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command], check=True)
    try:
        live = _wait_for(session, lambda t: "measuring" in t and "select-only" in t, 150)
        for title in ("Throughput", "Latency", "Server"):
            assert title in live
        # A short terminal keeps the error count on the status line; the pane opens with its key.
        assert "errors 0" in live
        assert "cache hit" in live  # server statistics are on in the UI by default
        _tmux("send-keys", "-t", session, "w")
        # At 30 rows the pane has room for its summary line; its bars need four rows more.
        shown = _wait_for(session, lambda t: "Workers" in t and "2 workers, tx/s each" in t, 10)
        assert "errors 0" in shown
        _tmux("send-keys", "-t", session, "s")
        done = _wait_for(session, lambda t: "Export JSON" in t, 120)  # the report screen
        assert "select-only" in done
        assert report.exists()  # the config's report path was written at the end of the run
        data = json.loads(report.read_text())
        assert data["status"] == "interrupted" and data["stop_reason"] == "stopped by user"
        assert data["summary"]["transactions"] > 0
        _tmux("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 30
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.read_text().strip() == "0"
    finally:
        _tmux("kill-session", "-t", session)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
