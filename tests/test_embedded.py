"""The embedded PostgreSQL 18: version, preloaded pg_stat_statements, and no server left behind.

These start their own embedded servers in temporary data directories (about
two seconds each), separate from the one the other tests share.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from stormdb_tui.embedded import HANDLES_FILE, MAJOR, start_embedded
from stormdb_tui.errors import DatabaseError

ROOT = Path(__file__).resolve().parent.parent

START = """
import sys, time
from stormdb_tui.embedded import start_embedded
target = start_embedded()
print(target.conninfo, flush=True)
if sys.argv[1:] == ["hold"]:
    time.sleep(600)
"""


def _postmasters(data_dir: Path) -> list[psutil.Process]:
    """Running postgres processes started on ``data_dir`` (the postmaster carries ``-D DIR``)."""
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and str(data_dir) in cmdline:
            found.append(proc)
    return found


def _wait_gone(data_dir: Path, timeout: float = 20.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in _postmasters(data_dir) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not left:
            return []
        time.sleep(0.2)
    return left


@pytest.fixture
def base():
    """A scratch XDG data home beside the test server's data directory.

    Not pytest's tmp_path: as root the server runs as another user, who cannot
    enter pytest's private (0700) temporary tree.
    """
    parent = Path(os.environ.get("STORMDB_TEST_DATA_DIR") or tempfile.gettempdir()).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="stormdb-embedded-", dir=parent))
    path.chmod(0o755)
    yield path
    for proc in _postmasters(path / "stormdb-tui" / f"pg{MAJOR}"):
        proc.kill()
    shutil.rmtree(path, ignore_errors=True)


def _env(xdg: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "STORMDB_DATA_DIR"}
    env["XDG_DATA_HOME"] = str(xdg)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_killed_process_does_not_leave_the_server_running(base):
    """SIGKILL leaves a stale pid in the handle list; the next clean run must still stop the server."""
    env = _env(base)
    data_dir = (base / "stormdb-tui" / f"pg{MAJOR}").resolve()
    old = base / "stormdb-tui" / "pg16"
    old.mkdir(parents=True)
    (old / "PG_VERSION").write_text("16\n")

    holder = subprocess.Popen([sys.executable, "-c", START, "hold"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert "host=" in line, holder.stderr.read() if holder.stderr else ""
    finally:
        holder.kill()
        holder.wait(timeout=10)
    time.sleep(0.5)
    assert _postmasters(data_dir), "the killed process's server should still be running before the next run"
    assert holder.pid in json.loads((data_dir / HANDLES_FILE).read_text())

    clean = subprocess.run([sys.executable, "-c", START], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert f"embedded PostgreSQL {MAJOR} in {data_dir}" in clean.stderr
    assert f"pid {holder.pid}" in clean.stderr  # it says it took the server over
    assert str(old) in clean.stderr and "left untouched" in clean.stderr
    assert (old / "PG_VERSION").read_text() == "16\n"
    assert _wait_gone(data_dir) == [], "a server was left running after the clean run"
    assert json.loads((data_dir / HANDLES_FILE).read_text()) == []


def test_sighup_stops_the_server(base):
    """A closed terminal (SIGHUP) exits through the normal shutdown, which stops the server."""
    env = _env(base)
    data_dir = (base / "stormdb-tui" / f"pg{MAJOR}").resolve()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormdb_tui", "run", "--no-ui", "--workload", "simple", "--set", "script=select-only",
         "--setup", "--set", "scale=1", "--duration", "60", "--workers", "1"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line or line.startswith("progress:"):
                break
        assert _postmasters(data_dir)
        proc.send_signal(signal.SIGHUP)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 129, stderr
    assert "Traceback" not in stderr
    assert _wait_gone(data_dir) == []


def test_data_dir_of_another_major_version_is_refused(tmp_path):
    (tmp_path / "PG_VERSION").write_text("16\n")
    with pytest.raises(DatabaseError, match=r"holds a PostgreSQL 16 data directory.*PostgreSQL 18"):
        start_embedded(tmp_path, quiet=True)


def test_embedded_server_is_18_with_statements_and_pgvector(conn):
    if os.environ.get("STORMDB_TEST_DSN"):
        pytest.skip("STORMDB_TEST_DSN points at another server")
    assert conn.info.server_version // 10000 == MAJOR
    assert "pg_stat_statements" in conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0] >= 0
    version = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    assert version is not None and tuple(int(x) for x in version[0].split(".")[:2]) >= (0, 8)
