"""The server monitor against real servers: provoke what it measures, then look for it.

Every DB test runs on the shared server (``STORMDB_TEST_DSN``) and on a
throwaway PostgreSQL 15 cluster started here from the system binaries (with
pg_stat_statements preloaded and a tiny ``max_connections``); the PostgreSQL 15
leg skips when the binaries are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from stormdb_tui.monitor import queries as pg_queries
from stormdb_tui.monitor.poller import PgMonitor
from stormdb_tui.monitor.sample import EventDetector, compute_sample
from stormdb_tui.report.server import render_pg_markdown

PG15_BIN = "/usr/lib/postgresql/15/bin"
SAMPLE_KEYS = {
    "t", "interval_s", "cache_hit_ratio", "commits_s", "rollbacks_s", "tup_returned_s", "tup_fetched_s",
    "tup_inserted_s", "tup_updated_s", "tup_deleted_s", "temp_files", "temp_bytes_s", "deadlocks",
    "conflicts", "blks_read_s", "blks_hit_s", "wal_records_s", "wal_fpi_s", "wal_bytes_s",
    "checkpoints_timed", "checkpoints_req", "checkpoint_in_progress", "buffers_checkpoint_s",
    "buffers_written_s", "connections", "lock_waits", "autovacuum", "io", "waits", "events",
}
INTERVAL = 0.2


@pytest.fixture(scope="module")
def pg15_dsn() -> Iterator[str]:
    """A private PostgreSQL 15: pg_stat_statements preloaded, max_connections 10, fast autovacuum."""
    if not os.path.exists(f"{PG15_BIN}/initdb"):
        pytest.skip("PostgreSQL 15 binaries are not installed")
    from pgcluster import Cluster

    cluster = Cluster(PG15_BIN, settings={
        "shared_preload_libraries": "'pg_stat_statements'",
        "max_connections": "10",
        "superuser_reserved_connections": "3",
        "autovacuum_naptime": "1",
        "shared_buffers": "16MB",
    })
    try:
        cluster.sql("CREATE EXTENSION pg_stat_statements")
        yield cluster.dsn
    finally:
        cluster.destroy()


@pytest.fixture(params=["target", "pg15"])
def server(request: pytest.FixtureRequest) -> str:
    """The test target (STORMDB_TEST_DSN or the embedded 16), then the private 15."""
    return request.getfixturevalue("dsn" if request.param == "target" else "pg15_dsn")


def collect(mon: PgMonitor, pred: Callable[[list[dict]], bool], timeout: float = 5.0) -> list[dict]:
    """Take samples (as the engine's sampler would) until ``pred`` holds or time runs out."""
    samples: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = mon.take()
        if s is not None:
            samples.append(s)
            if pred(samples):
                break
        time.sleep(INTERVAL / 2)
    return samples


def events_of(samples: list[dict], kind: str) -> list[dict]:
    return [e for s in samples for e in s["events"] if e["type"] == kind]


@pytest.fixture
def table(server: str) -> Iterator[str]:
    name = f"mon_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def test_samples_carry_every_documented_key(server: str) -> None:
    mon = PgMonitor(server, interval=INTERVAL)
    with psycopg.connect(server, autocommit=True, application_name="stormdb-tui:load") as load:
        load.execute("SELECT 1")
        mon.start()
        samples = collect(mon, lambda s: len(s) >= 2)
        pg = mon.stop(transactions=10)
    assert len(samples) >= 2
    s = samples[-1]
    assert set(s) == SAMPLE_KEYS
    conns = s["connections"]
    assert conns["ours"] >= 1 and conns["by_state"].get("idle", 0) >= 1  # the idle "load" session
    assert conns["total"] >= conns["ours"] + 1  # the monitor's own session counts toward the limit
    assert conns["max_connections"] > conns["limit"] > 0
    assert s["wal_bytes_s"] is not None and s["checkpoints_req"] is not None and s["commits_s"] is not None
    assert isinstance(s["lock_waits"]["waiting"], int)  # server-wide: other sessions may be waiting
    assert pg["settings"]["max_connections"] and pg["version_num"] >= 150000
    assert pg["monitor"]["polls"] >= 3 and pg["monitor"]["poll_ms_mean"] > 0
    assert pg["per_transaction"]["transactions"] == 10
    assert "## Server statistics" in render_pg_markdown(pg)


def test_every_sampler_interval_gets_a_fresh_sample(dsn: str) -> None:
    """The monitor polls half an interval after each take(), so no interval comes back empty."""
    mon = PgMonitor(dsn, interval=INTERVAL)
    mon.start()
    time.sleep(INTERVAL * 0.8)  # an arbitrary phase against the monitor's own timer
    got, tick = [], time.monotonic()
    for _ in range(12):
        tick += INTERVAL
        time.sleep(max(0.0, tick - time.monotonic()))
        got.append(mon.take())
    mon.stop(transactions=0)
    assert all(s is not None for s in got[1:]), [s is not None for s in got]
    assert all(0.5 * INTERVAL < s["interval_s"] < 1.5 * INTERVAL for s in got[2:]), [s["interval_s"] for s in got[1:]]


def test_checkpoint_shows_up_as_an_event(server: str) -> None:
    mon = PgMonitor(server, interval=INTERVAL)
    mon.start()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    samples = collect(mon, lambda s: any(e.get("phase") == "end" for e in events_of(s, "checkpoint")))
    pg = mon.stop(transactions=0)
    ends = [e for e in events_of(samples, "checkpoint") if e["phase"] == "end"]
    assert ends, "CHECKPOINT did not produce a checkpoint event"
    assert any(e["type"] == "checkpoint" for e in pg["events"])
    assert pg["deltas"]["checkpoints_req"] >= 1
    assert "checkpoint completed" in render_pg_markdown(pg)


def test_held_lock_makes_a_waiting_session(server: str, table: str) -> None:
    with psycopg.connect(server, autocommit=True) as holder, psycopg.connect(server, autocommit=True) as waiter:
        holder.execute(f"CREATE TABLE {table} (id int)")
        mon = PgMonitor(server, interval=INTERVAL)
        mon.start()
        with holder.transaction():
            holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            blocked = threading.Thread(target=lambda: waiter.execute(f"SELECT count(*) FROM {table}"))
            blocked.start()
            samples = collect(mon, lambda s: (s[-1]["lock_waits"]["longest_wait_s"] or 0) > 0.2)
        blocked.join(timeout=10)
        pg = mon.stop(transactions=0)
    waits = [s["lock_waits"] for s in samples]
    assert any((w["waiting"] or 0) >= 1 for w in waits), waits
    assert max(w["longest_wait_s"] or 0 for w in waits) > 0.2
    assert pg["peaks"]["lock_waiting"] >= 1
    assert not blocked.is_alive()


def test_writes_raise_wal_bytes(server: str, table: str) -> None:
    mon = PgMonitor(server, interval=INTERVAL)
    mon.start()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} AS SELECT g, repeat('w', 200) AS pad FROM generate_series(1, 20000) g")
        size = conn.execute(f"SELECT pg_relation_size('{table}')").fetchone()[0]
    samples = collect(mon, lambda s: sum((x["wal_bytes_s"] or 0) * x["interval_s"] for x in s) >= size, timeout=20)
    pg = mon.stop(transactions=4)
    # The table's pages went through WAL, so the intervals together logged at least its size.
    assert sum((x["wal_bytes_s"] or 0) * x["interval_s"] for x in samples) >= size
    assert max(x["wal_bytes_s"] or 0 for x in samples) > 0
    assert pg["deltas"]["wal_bytes"] >= size
    assert pg["per_transaction"]["wal_bytes"] == pytest.approx(pg["deltas"]["wal_bytes"] / 4, rel=1e-3)


def test_reading_a_fresh_table_shows_block_reads(server: str, table: str) -> None:
    """What this proves: reads that miss shared buffers appear as blks_read and lower the ratio.

    CREATE TABLE AS writes through a 16 MB ring, so of a ~25 MB table the early
    pages are no longer in shared buffers. Whether they come from the OS cache
    or the disk is invisible to PostgreSQL, and to us.
    """
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} AS SELECT g, repeat('r', 200) AS pad FROM generate_series(1, 100000) g")
    mon = PgMonitor(server, interval=INTERVAL)
    mon.start()
    with psycopg.connect(server, autocommit=True) as reader:  # closing flushes its counters
        reader.execute(f"SELECT count(*) FROM {table}")
    samples = collect(mon, lambda s: (s[-1]["blks_read_s"] or 0) * s[-1]["interval_s"] >= 200)
    pg = mon.stop(transactions=1)
    cold = [x for x in samples if (x["blks_read_s"] or 0) * x["interval_s"] >= 200]
    assert cold, [x["blks_read_s"] for x in samples]
    assert cold[0]["cache_hit_ratio"] is not None and cold[0]["cache_hit_ratio"] < 0.95
    assert pg["deltas"]["blks_read"] >= 200 and pg["cache_hit_ratio"] < 1.0


def test_unprivileged_role_degrades_with_notes(server: str) -> None:
    role = f"stormdb_mon_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        try:
            mon = PgMonitor(psycopg.conninfo.make_conninfo(server, user=role), interval=INTERVAL)
            mon.start()
            samples = collect(mon, lambda s: len(s) >= 2)
            pg = mon.stop(transactions=1)
        finally:
            admin.execute(f"DROP ROLE {role}")
    assert any("pg_read_all_stats" in n for n in pg["notes"]), pg["notes"]
    assert samples and samples[-1]["checkpoint_in_progress"] is None
    assert samples[-1]["connections"]["by_state"].get("hidden", 0) >= 1  # the admin session
    assert samples[-1]["wal_bytes_s"] is not None and samples[-1]["commits_s"] is not None
    assert "pg_read_all_stats" in render_pg_markdown(pg)


def test_pg15_top_statements_are_the_runs_own(pg15_dsn: str) -> None:
    mon = PgMonitor(pg15_dsn, interval=INTERVAL)
    mon.start()
    with psycopg.connect(pg15_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS mon_pgss_probe AS SELECT generate_series(1, 1000) g")
        for i in range(300):
            conn.execute("SELECT sum(g) FROM mon_pgss_probe WHERE g < %s", (i,), prepare=True)
    time.sleep(INTERVAL * 2)
    pg = mon.stop(transactions=300)
    probe = [s for s in pg["top_statements"] if "mon_pgss_probe WHERE" in s["query"]]
    assert probe and probe[0]["calls"] == 300, pg["top_statements"]
    assert probe[0]["mean_ms"] > 0 and probe[0]["total_ms"] >= probe[0]["mean_ms"] * 299
    assert not any(pg_queries.is_monitor_statement(s["query"]) for s in pg["top_statements"])
    assert pg["monitor"]["server_ms_mean"] is not None
    assert "mon_pgss_probe" in render_pg_markdown(pg)


def test_pg15_connection_limit_event(pg15_dsn: str) -> None:
    mon = PgMonitor(pg15_dsn, interval=INTERVAL)
    mon.start()  # max_connections 10 - 3 reserved: the limit is 7 client backends
    conns = [psycopg.connect(pg15_dsn, autocommit=True) for _ in range(6)]
    try:
        samples = collect(mon, lambda s: bool(events_of(s, "connection_limit")))
    finally:
        for c in conns:
            c.close()
    pg = mon.stop(transactions=0)
    hits = events_of(samples, "connection_limit")
    assert len(hits) == 1 and "limit of 7" in hits[0]["detail"]
    assert pg["peaks"]["connections_total"] >= 7


def test_pg15_autovacuum_on_a_workload_table_is_an_event(pg15_dsn: str) -> None:
    with psycopg.connect(pg15_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS mon_av CASCADE; CREATE SCHEMA mon_av")
        # Throttled to a crawl so the vacuum lasts seconds and a 0.2 s poll sees it. No vacuum for
        # the inserts (PostgreSQL 13+): one started before the monitor is not a new event.
        conn.execute("CREATE TABLE mon_av.t (g int, pad text) WITH (autovacuum_vacuum_threshold = 0, "
                     "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, "
                     "autovacuum_vacuum_cost_limit = 1, autovacuum_analyze_threshold = 1000000000, "
                     "autovacuum_vacuum_insert_threshold = -1)")
        conn.execute("INSERT INTO mon_av.t SELECT g, repeat('a', 100) FROM generate_series(1, 20000) g")
    mon = PgMonitor(pg15_dsn, interval=INTERVAL, schemas=["mon_av"])
    mon.start()
    with psycopg.connect(pg15_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM mon_av.t")
    samples = collect(mon, lambda s: bool(events_of(s, "autovacuum")), timeout=10)
    pg = mon.stop(transactions=0)
    av = events_of(samples, "autovacuum")
    assert av and av[0]["table"] == "mon_av.t", [s["autovacuum"] for s in samples]
    assert any(w["table"] == "mon_av.t" and w["phase"] for s in samples for w in s["autovacuum"])
    assert any(e["type"] == "autovacuum" for e in pg["events"])


def test_pg15_revoked_views_become_notes(pg15_dsn: str) -> None:
    with psycopg.connect(pg15_dsn, autocommit=True) as admin:
        admin.execute("CREATE ROLE mon_limited LOGIN; GRANT pg_read_all_stats TO mon_limited")
        admin.execute("REVOKE SELECT ON pg_stat_bgwriter FROM PUBLIC; "
                      "REVOKE EXECUTE ON FUNCTION pg_control_checkpoint() FROM PUBLIC")
        try:
            mon = PgMonitor(psycopg.conninfo.make_conninfo(pg15_dsn, user="mon_limited"), interval=INTERVAL)
            mon.start()
            admin.execute("CHECKPOINT")
            samples = collect(mon, lambda s: len(s) >= 2)
            pg = mon.stop(transactions=0)
        finally:
            admin.execute("GRANT SELECT ON pg_stat_bgwriter TO PUBLIC; "
                          "GRANT EXECUTE ON FUNCTION pg_control_checkpoint() TO PUBLIC; DROP ROLE mon_limited")
    notes = " ".join(pg["notes"])
    assert "checkpoint statistics unreadable" in notes and "pg_control_checkpoint" in notes
    assert samples[-1]["checkpoints_req"] is None and samples[-1]["buffers_written_s"] is None
    assert samples[-1]["cache_hit_ratio"] is None or 0 <= samples[-1]["cache_hit_ratio"] <= 1
    assert "pg_read_all_stats" not in notes


def test_pg17_checkpointer_part_runs_against_the_documented_view(dsn: str) -> None:
    """No 17 server here: run the 17+ part on 16 against a temporary view with 17's documented columns.

    That checks the SQL and the column names we rely on; pg_stat_io (16+) is the real one.
    """
    with psycopg.connect(dsn) as conn:  # one transaction: the temp view dies with it
        if conn.info.server_version < 160000 or conn.info.server_version >= 170000:
            pytest.skip("needs a 16 server (pg_stat_io, no pg_stat_checkpointer)")
        conn.execute("CREATE TEMP VIEW pg_stat_checkpointer AS SELECT 3::bigint AS num_timed, "
                     "2::bigint AS num_requested, 0::bigint AS restartpoints_timed, 0::bigint AS restartpoints_req, "
                     "0::bigint AS restartpoints_done, 1.0::float8 AS write_time, 1.0::float8 AS sync_time, "
                     "40::bigint AS buffers_written, now() AS stats_reset")
        row = conn.execute(pg_queries.compose({"checkpoints": pg_queries.CHECKPOINTER_PART}, "x")).fetchone()
        conn.rollback()
    assert row[1:4] == (3, 2, 40) and row[4] >= 0 and row[5] >= 0  # ckpt_timed, req, buf_ckpt, clean, backend
    assert "pg_stat_checkpointer" in pg_queries.candidate_parts(170000, True)["checkpoints"]
    assert "pg_stat_bgwriter" in pg_queries.candidate_parts(160000, True)["checkpoints"]


def test_counter_reset_and_counters_only_checkpoints() -> None:
    settings = {"max_connections": "10", "superuser_reserved_connections": "3"}
    first = {"t": 0.0, "blks_hit": 100, "blks_read": 0, "ckpt_req": 5, "ckpt_timed": 1, "buf_ckpt": 10,
             "wal_lsn": 1000, "conn_total": 2}
    cur = {"t": 1.0, "blks_hit": 50, "blks_read": 10, "ckpt_req": 6, "ckpt_timed": 1, "buf_ckpt": 30,
           "wal_lsn": 9192, "conn_total": 7}
    s = compute_sample(first, cur, first, settings)
    assert s["blks_hit_s"] is None and s["cache_hit_ratio"] is None  # reset: no made-up rate
    assert s["wal_bytes_s"] == 8192 and s["checkpoints_req"] == 1 and s["buffers_written_s"] == 20
    det = EventDetector(limit=pg_queries.connection_limit(settings))
    det.prime(first)
    kinds = [e["type"] for e in det.detect(first, cur, s)]
    assert kinds == ["checkpoint", "connection_limit"]
    assert det.detect(cur, {**cur, "t": 2.0}, compute_sample(cur, {**cur, "t": 2.0}, first, settings)) == []


def test_render_without_monitoring() -> None:
    assert "monitoring was off" in render_pg_markdown(None)


def test_monitor_does_not_import_textual_or_rich() -> None:
    code = "import sys, stormdb_tui.monitor.poller; print(any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_io_rates_skip_reset_and_idle_backend_types() -> None:
    from stormdb_tui.monitor.sample import io_rates

    prev = {"client backend": [10, 4, 2, 0, 100], "checkpointer": [0, 50, 0, 5, 0], "wal": [0, 7, 0, 7, 0],
            "autovacuum worker": [3, 3, 3, 3, 3]}
    cur = {"client backend": [30, 6, 4, 0, 300], "checkpointer": [0, 10, 0, 1, 0], "wal": [0, 9, 0, 9, 0],
           "autovacuum worker": [3, 3, 3, 3, 3]}
    rates = io_rates(prev, cur, 2.0)
    assert rates is not None
    assert rates["client backend"] == {"reads_s": 10.0, "writes_s": 1.0, "extends_s": 1.0, "fsyncs_s": 0.0,
                                       "hits_s": 100.0}
    assert "checkpointer" not in rates and "autovacuum worker" not in rates  # reset, idle
    assert rates["wal"]["writes_s"] == 1.0
    assert rates["total"]["writes_s"] == 1.0  # WAL writes are not relation blocks
    assert io_rates(None, cur, 1.0) is None


def test_server_pane_shows_io_when_sampled() -> None:
    from stormdb_tui.tui.widgets.panes import render_server

    sample = {"cache_hit_ratio": 0.99, "io": {"total": {"reads_s": 12.0, "writes_s": 3.0, "extends_s": 1.0,
                                                        "fsyncs_s": 0.0, "hits_s": 900.0}}}
    assert "blocks/s" in render_server(sample).plain and "rd 12 wr 3 ext 1" in render_server(sample).plain
    assert "blocks/s" not in render_server({"cache_hit_ratio": 0.99}).plain


def test_wait_profile_shows_lock_waits_of_our_sessions(server: str, table: str) -> None:
    """One session holds a row lock, two of ours queue behind it, one outsider sleeps: the profile says so."""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
        admin.execute(f"INSERT INTO {table} VALUES (1, 0)")
    holder = psycopg.connect(server, application_name="stormdb-tui:load")
    holder.execute(f"UPDATE {table} SET v = v + 1 WHERE id = 1")  # stays idle in transaction

    def wait_for_lock() -> None:
        with psycopg.connect(server, autocommit=True, application_name="stormdb-tui:load") as c:
            c.execute("SET lock_timeout = '20s'")
            c.execute(f"UPDATE {table} SET v = v + 1 WHERE id = 1")

    def outsider() -> None:
        with psycopg.connect(server, autocommit=True, application_name="someone-else") as c:
            c.execute("SELECT pg_sleep(2)")

    threads = [threading.Thread(target=wait_for_lock) for _ in range(2)] + [threading.Thread(target=outsider)]
    for t in threads:
        t.start()
    mon = PgMonitor(server, interval=INTERVAL, wait_rate=20)
    try:
        with psycopg.connect(server, autocommit=True) as admin:  # both waiters queued before sampling starts
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] < 2:
                time.sleep(0.05)
        mon.start()
        samples = collect(mon, lambda ss: sum((s["waits"] or {}).get("samples", 0) for s in ss) >= 20)
    finally:
        pg = mon.stop(0)  # before the lock goes: later samples would find nobody waiting
        holder.commit()
        holder.close()
        for t in threads:
            t.join()
    waits = pg["waits"]
    assert waits["samples"] >= 20 and waits["rate"] == 20
    assert waits["session_samples"] > 0
    top = {(w["type"], w["event"]): w["share"] for w in waits["top"]}
    lock_share = sum(v for (wtype, _e), v in top.items() if wtype == "Lock")
    assert lock_share >= 0.5, top  # two of our three sessions wait on the row lock
    assert ("Lock", "transactionid") in top
    assert ("Client", "ClientRead") in top  # the holder, idle in its transaction
    assert not any(e == "PgSleep" for (_t, e) in top)  # other applications are not ours
    assert 2.0 <= waits["sessions_avg"] <= 3.0
    interval = [s["waits"] for s in samples if s["waits"] and s["waits"]["samples"]]
    assert interval and all(abs(sum(w["by_type"].values()) - 1) < 0.01 for w in interval if w["session_samples"])
    md = render_pg_markdown(pg)
    assert "### Wait events of our sessions" in md and "| Lock | transactionid |" in md


def test_wait_sampling_off_at_rate_zero(dsn: str) -> None:
    mon = PgMonitor(dsn, interval=INTERVAL, wait_rate=0)
    mon.start()
    samples = collect(mon, lambda ss: len(ss) >= 2)
    pg = mon.stop(0)
    assert pg["waits"] is None and all(s["waits"] is None for s in samples)
    assert "Wait events" not in render_pg_markdown(pg)
