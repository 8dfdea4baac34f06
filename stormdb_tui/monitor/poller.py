"""Server-side truth: a thread that polls PostgreSQL's statistics during a run.

The monitor has its own connection (``application_name`` ``stormdb-tui:monitor``,
outside the load pool) and runs one prepared statement per interval (see
:mod:`stormdb_tui.monitor.queries`), turning cumulative counters into per-interval
rates. The engine's sampler calls :meth:`PgMonitor.take` once per interval and
gets the newest finished sample; it never waits for the server.

Per-interval sample keys (stable: the TUI and the report read them)::

    t                     time.monotonic() when the poll finished
    interval_s            seconds since the previous poll
    cache_hit_ratio       blks_hit / (blks_hit + blks_read) this interval; None with no reads
    commits_s rollbacks_s tup_returned_s tup_fetched_s tup_inserted_s tup_updated_s tup_deleted_s
    blks_read_s blks_hit_s temp_bytes_s           per second, target database (pg_stat_database)
    temp_files deadlocks conflicts                 counts this interval, target database
    wal_records_s wal_fpi_s wal_bytes_s            per second, whole server
    checkpoints_timed checkpoints_req              cumulative since the monitor started
    checkpoint_in_progress                         bool, or None when not derivable
    buffers_checkpoint_s                           buffers written by the checkpointer, per second
    buffers_written_s                              by checkpointer + bgwriter + backends, per second
    connections  {by_state {state: n}, by_wait_event_type {type: n}, ours, others,
                  others_here, total,              client backends, whole server; the monitor's
                  max_connections, limit}          own session is left out of by_state/by_wait/ours,
                                                   others are not this tool's (others_here: in
                                                   the target database)
    lock_waits   {waiting, longest_wait_s}
    autovacuum   [{table, phase, pid}]             workers in the target database
    waits        {samples, session_samples, sessions_avg, by_type {type: share},
                  top [{type, event, count, share}]}  our load sessions' wait events this
                                                   interval (see :mod:`stormdb_tui.monitor.waits`);
                                                   None when wait sampling is off
    io           {BACKEND_TYPE: {reads_s, writes_s, extends_s, fsyncs_s, hits_s}, wal {…}, total {…}}
                                                   pg_stat_io per second (16+, else None); ``wal``
                                                   is WAL writes/syncs (18+), ``total`` relations only
    events       [{type, detail, t, ...}]          since the previous take()

A rate or count is None when its source is unavailable (see the notes). Event
types are ``checkpoint`` (with ``phase`` ``start`` or ``end``), ``autovacuum``
(a worker starting on a table in one of the workload's schemas, ``table``)
and ``connection_limit`` (client connections reaching ``max_connections``
minus the reserved slots).

Backends flush their statistics at most about once a second, so database
counters lag the load by up to a second and arrive in steps: backends that
started together flush together, and a one-second interval can show none of
its commits while the next shows two seconds' worth. The run's totals are
exact (the last poll waits for the load sessions to exit and flush). WAL
bytes come from the WAL insert position and are exact at every poll.

The measured window starts at :meth:`PgMonitor.mark` (a poll when measuring
begins), so the report's deltas and per-transaction figures exclude the
warm-up, and event times are given from that poll, on the time series' clock. Stop the monitor after the load connections are
closed: a backend flushes its last counters when it exits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stormdb_tui.db import connect, first_line
from stormdb_tui.monitor import queries as pg_queries
from stormdb_tui.monitor.sample import EventDetector, compute_sample, delta
from stormdb_tui.monitor.summary import agreement, summarize
from stormdb_tui.monitor.waits import WaitSampler

__all__ = ["PgMonitor"]


class PgMonitor:
    """Polls server statistics on its own connection in a daemon thread."""

    def __init__(
        self,
        conninfo: str,
        *,
        interval: float = 1.0,
        statements: bool = True,
        schemas: Sequence[str] = (),
        app_prefix: str = "stormdb-tui",
        wait_rate: float = 10.0,
    ) -> None:
        self.conninfo = conninfo
        self.interval = max(0.05, float(interval))
        self.statements = statements
        self.schemas = tuple(schemas)
        self.app_prefix = app_prefix
        self.wait_rate = max(0.0, float(wait_rate))
        self._waits: WaitSampler | None = None
        self.notes: list[str] = []
        self.settings: dict[str, Any] = {}
        self._conn: psycopg.Connection | None = None
        self._features: pg_queries.Features | None = None
        self._sql = ""
        self._first: dict[str, Any] | None = None
        self._prev: dict[str, Any] | None = None
        self._pgss_start: dict[tuple, tuple] | None = None
        self._config_start: dict[str, dict[str, str]] | None = None
        self._config_last: dict[str, dict[str, str]] | None = None
        self._drift: list[dict[str, Any]] = []
        self.statement_deltas: list[dict[str, Any]] = []
        """Per-statement pg_stat_statements deltas of the run, filled by :meth:`stop`."""
        self._detector: EventDetector | None = None
        self._events: list[dict[str, Any]] = []
        self._peaks = {"connections_total": 0, "lock_waiting": 0, "longest_lock_wait_s": 0.0}
        self._poll_ms: list[float] = []
        self._errors = 0
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._pending_events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._last_take: float | None = None
        self._stopped: dict[str, Any] | None = None
        self._poll_lock = threading.Lock()
        """Held over a poll and its bookkeeping, so :meth:`mark` and the thread never interleave."""
        self._window: dict[str, Any] | None = None
        self._run_polls = 0
        self._others_peak = 0
        self._autovacuum_seen = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, capture settings and baselines, start polling.

        A missing view, extension or privilege becomes a note; only failing to
        connect at all raises (:class:`~stormdb_tui.errors.DatabaseError`).
        """
        self._conn = self._connect()
        features, notes = pg_queries.probe(self._conn, self.app_prefix)
        self._features = features
        self.notes.extend(notes)
        self.settings = pg_queries.read_settings(self._conn)
        try:
            self._config_start = self._config_last = pg_queries.read_config(self._conn)
            self.settings = {**self.settings, **self._config_start["settings"]}
        except psycopg.Error as exc:
            self.notes.append(f"non-default settings unreadable: no settings drift guard ({first_line(exc)})")
        self._sql = pg_queries.compose(features.parts, self.app_prefix)
        if self.statements:
            note = pg_queries.probe_statements(self._conn, features)
            if note:
                self.notes.append(note)
            else:
                self._pgss_start = pg_queries.statements_snapshot(self._conn, features)
        self._detector = EventDetector(
            schemas=self.schemas, limit=pg_queries.connection_limit(self.settings)
        )
        self._first = self._prev = self._poll()
        if self._first is not None:
            self._detector.prime(self._first)
        self._started_at = time.monotonic()
        if self.wait_rate > 0:
            self._waits = WaitSampler(self.conninfo, rate=self.wait_rate)
            self._waits.start()
        self._thread = threading.Thread(target=self._run, name="stormdb-pg-monitor", daemon=True)
        self._thread.start()

    def mark_measuring(self) -> None:
        """The measured window starts: statement and wait baselines restart here (warm-up left out).

        The other counters keep their start-of-run baseline, as the report's
        server deltas always have.
        """
        if self._waits is not None:
            self._waits.reset()
        if self._pgss_start is None or self._features is None or self._conn is None:
            return
        try:
            self._pgss_start = pg_queries.statements_snapshot(self._conn, self._features)
        except psycopg.Error as exc:
            self.notes.append(f"pg_stat_statements baseline at the measurement start failed: {first_line(exc)}")

    def mark(self) -> float | None:
        """Open the measured window: poll now and count every later delta from this poll.

        Called when measuring starts (after any warm-up), so the report's server
        deltas, per-transaction figures and the first interval's rates cover the
        measured window only. Returns the poll's ``time.monotonic()`` (None if it failed).
        """
        with self._poll_lock:
            cur = self._poll()
            if cur is None:
                return None
            if self._prev is not None and self._first is not None and self._detector is not None:
                self._handle(self._prev, cur)  # keep events and peaks between the last poll and now
            elif self._first is None:
                self._first = cur
            self._prev = cur
            self._window = cur
            with self._lock:
                self._latest = None  # its window began before the measured start
        self._last_take = cur["t"]
        self.mark_measuring()
        return cur["t"]

    def take(self, final: bool = False) -> dict[str, Any] | None:
        """The newest sample not yet taken, with every event since the previous take (or None).

        ``final``: the run's last (usually partial) interval. With no fresh
        sample, poll now, so that interval gets server figures rated over its
        real length rather than none.
        """
        self._last_take = now = time.monotonic()
        # A server that stopped answering must not hold the run's end: the extra poll is made
        # only while the poller's own polls still succeed and it is not stuck in one.
        answering = self._prev is not None and now - self._prev["t"] < 2 * self.interval + 1.0
        if final and answering and self._poll_lock.acquire(timeout=1.0):
            try:
                prev = self._prev
                cur = None if self._latest is not None or prev is None else self._poll()
                if prev is not None and cur is not None:
                    self._publish(self._handle(prev, cur))
                    self._prev = cur
            finally:
                self._poll_lock.release()
        with self._lock:
            sample, events = self._latest, self._pending_events
            self._latest = None
            if sample is None:
                return None
            self._pending_events = []
        return {**sample, "events": events}

    def _publish(self, sample: dict[str, Any]) -> None:
        with self._lock:
            self._latest = sample
            self._pending_events.extend(sample.pop("events"))

    def stop(self, transactions: int, client: dict[str, Any] | None = None) -> dict[str, Any]:
        """Stop polling, read final counters and return the report's ``pg`` section.

        ``client`` holds the client's own counts over the whole run
        (``commits``: transactions it saw commit, warm-up included), checked
        against ``xact_commit`` in the ``agreement`` entry.
        """
        if self._stopped is not None:
            return self._stopped
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval * 3))
        if self._waits is not None:  # before the settle: its session would count as one of ours
            self._waits.stop()
        last = self._settle() if self._conn is not None else None
        if last is not None and self._prev is not None:
            self._handle(self._prev, last)
        if self._conn is not None and not self._conn.closed:
            self._events.extend(self._config_check(time.monotonic()))  # a change the poll could not see
        top, monitor_server_ms = self._top_statements()
        if self._conn is not None:
            self._conn.close()
        window = self._window or self._first
        end = last or self._prev
        origin = window["t"] if window is not None else self._started_at
        pg = summarize(
            settings=self.settings,
            first=window,
            last=end,
            transactions=transactions,
            interval=self.interval,
            elapsed=end["t"] - window["t"] if window is not None and end is not None else 0.0,
            events=self._events,
            started_at=origin,
            peaks=self._peaks,
            top_statements=top,
            notes=self.notes,
            poll_ms=self._poll_ms,
            monitor_server_ms=monitor_server_ms,
            parts=list(self._features.parts) if self._features else [],
            waits=self._waits.summary() if self._waits is not None else None,
            config_start=self._config_start,
            drift=self._drift,
        )
        if client is not None:
            pg["agreement"] = agreement(
                client_commits=int(client.get("commits", 0)),
                server_commits=delta(self._first, end, "xact_commit") if self._first and end else None,
                monitor_commits=max(self._run_polls - 1, 0) + (self._waits.commits if self._waits else 0),
                others_peak=self._others_peak,
                autovacuum=self._autovacuum_seen,
                setups=int(client.get("setups", 0)),
            )
        self._stopped = pg
        return pg

    # -- polling -----------------------------------------------------------------------------

    def _run(self) -> None:
        deadline = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, deadline - time.monotonic())):
            deadline = self._next_deadline(deadline)
            with self._poll_lock:
                cur = self._poll()
                if cur is None:
                    continue
                if self._first is None or self._prev is None:  # the baseline poll at start failed
                    self._first = self._prev = cur
                    assert self._detector is not None
                    self._detector.prime(cur)
                    continue
                self._publish(self._handle(self._prev, cur))
                self._prev = cur

    def _next_deadline(self, deadline: float) -> float:
        """When to poll next: half an interval after the sampler's last take().

        Polling in the middle of the sampler's interval puts exactly one fresh
        sample in each of its intervals despite timer jitter; before the first
        take the monitor keeps its own cadence. It never bursts to catch up.
        """
        last_take = self._last_take
        target = deadline + self.interval if last_take is None else last_take + self.interval / 2
        floor = max(time.monotonic(), deadline + self.interval / 2)  # never two polls back to back
        while target <= floor:
            target += self.interval
        return target

    def _handle(self, prev: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
        """Turn two polls into a sample; record events and peaks."""
        assert self._first is not None and self._detector is not None
        sample = compute_sample(prev, cur, self._first, self.settings)
        sample["waits"] = self._waits.swap() if self._waits is not None else None
        events = self._detector.detect(prev, cur, sample)
        if cur.get("config_hash") != prev.get("config_hash") and cur.get("config_hash") is not None:
            events.extend(self._config_check(cur["t"]))
        self._events.extend(events)
        sample["events"] = events
        conns, locks = sample["connections"], sample["lock_waits"]
        peaks = self._peaks
        peaks["connections_total"] = max(peaks["connections_total"], conns.get("total") or 0)
        peaks["lock_waiting"] = max(peaks["lock_waiting"], locks.get("waiting") or 0)
        peaks["longest_lock_wait_s"] = max(peaks["longest_lock_wait_s"], locks.get("longest_wait_s") or 0.0)
        self._others_peak = max(self._others_peak, conns.get("others_here") or 0)
        self._autovacuum_seen = self._autovacuum_seen or bool(sample["autovacuum"])
        return sample

    def _config_check(self, t: float) -> list[dict[str, Any]]:
        """Settings and extension changes since the last check, as events (and kept for the report)."""
        if self._config_last is None or self._conn is None:
            return []
        try:
            now = pg_queries.read_config(self._conn)
        except psycopg.Error:
            return []
        changes = pg_queries.config_changes(self._config_last, now)
        self._config_last = now
        events = []
        for change in changes:
            self._drift.append({**change, "t": t})
            events.append({"type": "settings", "t": t, "detail": pg_queries.describe_change(change) + " (changed during the run)"})
        return events

    def _settle(self, limit: float = 0.5) -> dict[str, Any] | None:
        """The final poll, taken once our load sessions have gone (or ``limit`` seconds passed).

        A backend flushes its last counters as it exits, just after it leaves
        pg_stat_activity, so a short pause follows their disappearance.
        """
        deadline = time.monotonic() + limit
        row = self._poll()
        while row is not None and row.get("conn_ours") and time.monotonic() < deadline:
            time.sleep(0.05)
            row = self._poll()
        time.sleep(0.05)
        return self._poll() or row

    def _connect(self) -> psycopg.Connection:
        """The monitor's session; a hung catalog or lock never stalls it for more than a few polls."""
        conn = connect(self.conninfo, role="monitor")
        timeout_ms = int(max(2.0, self.interval * 3) * 1000)
        conn.execute(f"SET statement_timeout = {timeout_ms}; SET lock_timeout = {timeout_ms}")
        return conn

    def _poll(self) -> dict[str, Any] | None:
        """One round trip; None (and a note, once per kind) when it fails. Reconnects lazily."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            started = time.perf_counter()
            with self._conn.cursor(row_factory=dict_row) as cur:
                cur.execute(self._sql, prepare=True)
                row = cur.fetchone()
            self._poll_ms.append((time.perf_counter() - started) * 1000.0)
            self._run_polls += 1  # each poll is a transaction of its own in the target database
        except Exception as exc:  # the monitor must never take the run down
            self._errors += 1
            message = f"monitor poll failed: {first_line(exc)}"
            if message not in self.notes:
                self.notes.append(message)
            if self._conn is not None and not self._conn.closed and self._conn.broken:
                self._conn.close()
            return None
        if row is None:
            return None
        row["t"] = time.monotonic()
        return row

    def _top_statements(self) -> tuple[list[dict[str, Any]], float | None]:
        """Top statements of this run by total time (pg_stat_statements deltas).

        Every statement's delta (the monitor's own left out) is kept in
        :attr:`statement_deltas` for the per-operation cost.
        """
        features = self._features
        if self._pgss_start is None or features is None or self._conn is None or self._conn.closed:
            return [], None
        width = len(pg_queries.STATEMENT_COUNTERS)
        try:
            end = pg_queries.statements_snapshot(self._conn, features)
            merged: dict[int, list[float]] = {}
            for key, values in end.items():
                before = self._pgss_start.get(key, (0.0,) * width)
                if values[0] - before[0] <= 0:
                    continue
                acc = merged.setdefault(key[1], [0.0] * width)
                for i in range(width):
                    acc[i] += values[i] - before[i]
            texts = pg_queries.statement_texts(self._conn, features, sorted(merged))
        except psycopg.Error as exc:
            self.notes.append(f"pg_stat_statements could not be read at the end: {first_line(exc)}")
            return [], None
        monitor_ms, monitor_calls = None, 0.0
        rows_out: list[dict[str, Any]] = []
        for qid, sums in merged.items():
            text = texts.get(qid, "")
            calls, ms = sums[0], sums[1]
            if pg_queries.is_monitor_statement(text):  # our own: the poll is the one run every interval
                if calls > monitor_calls:
                    monitor_ms, monitor_calls = ms / calls, calls
                continue
            entry = dict(zip(pg_queries.STATEMENT_COUNTERS, sums, strict=True))
            rows_out.append({"queryid": qid, "query": text, **entry})
        self.statement_deltas = rows_out
        total_ms = sum(r["total_ms"] for r in rows_out) or 1.0
        top = []
        for r in sorted(rows_out, key=lambda r: r["total_ms"], reverse=True)[:10]:
            calls = r["calls"]
            top.append({"queryid": r["queryid"], "query": " ".join(r["query"].split())[:500], "calls": int(calls),
                        "total_ms": round(r["total_ms"], 3), "mean_ms": round(r["total_ms"] / calls, 4),
                        "rows": int(r["rows"]), "share": round(r["total_ms"] / total_ms, 4),
                        "shared_blks_hit": int(r["shared_blks_hit"]), "shared_blks_read": int(r["shared_blks_read"]),
                        "wal_bytes": int(r["wal_bytes"])})
        return top, monitor_ms
