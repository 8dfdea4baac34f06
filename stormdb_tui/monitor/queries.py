"""The monitor's SQL, chosen by ``server_version_num`` and kept in one place.

Everything the monitor asks the server lives here so a new PostgreSQL release
means reading one module. The per-interval poll is a single statement (one
round trip, prepared once): a ``pg_stat_activity`` CTE scanned once, and one
``LEFT JOIN LATERAL`` part per source. Each part is probed on its own at start;
a part that fails (missing view, function without privilege) is left out of
the poll and becomes a note, so the monitor degrades instead of crashing.

Version map:

- WAL bytes: ``pg_current_wal_insert_lsn()`` deltas on every version. The LSN
  moves in real time, whereas ``pg_stat_wal`` (14+) is flushed by each backend
  at most once a second, which would smear per-interval rates. Records and
  full-page images come from ``pg_stat_wal`` on 14+ (not available before).
- Checkpoints: ``pg_stat_bgwriter`` up to 16; ``pg_stat_checkpointer`` (plus
  ``pg_stat_bgwriter.buffers_clean`` and backend writes from ``pg_stat_io``)
  on 17+. Completion is detected by ``pg_control_checkpoint().redo_lsn``
  changing (timed checkpoints skipped on an idle server also bump the
  counters, so counters alone would give false events).
- I/O by backend type: ``pg_stat_io`` (16+): reads, writes, extends,
  fsyncs and buffer hits of relations, summed over objects and contexts per
  backend type. From 18 it also has WAL rows (``object = 'wal'``), where the
  write and sync counts that left ``pg_stat_wal`` now live; they are kept
  apart as ``wal`` so relation blocks and WAL writes are never added up.
- Lock waits: ``pg_stat_activity.wait_event_type = 'Lock'``; the longest wait
  from ``pg_locks.waitstart`` (14+, only read when something waits, because
  reading ``pg_locks`` takes every lock-manager partition lock) or
  ``state_change`` before 14. Without ``pg_read_all_stats`` other sessions'
  wait events are hidden, so ``pg_locks`` is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from stormdb_tui.db import first_line

MARK = "/* stormdb-tui monitor */"
"""Comment in the monitor's statements, so pg_stat_statements can tell them from the load.

It goes after the first keyword (:func:`marked`): PostgreSQL 18's
pg_stat_statements drops comments before a statement from the stored text,
but keeps those inside it.
"""


def marked(statement: str) -> str:
    """``statement`` with :data:`MARK` after its first keyword."""
    first, rest = statement.split(None, 1)
    return f"{first} {MARK} {rest}"

SETTING_NAMES = (
    "shared_buffers",
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_level",
    "wal_compression",
    "checkpoint_timeout",
    "checkpoint_completion_target",
    "max_wal_size",
    "work_mem",
    "effective_cache_size",
    "autovacuum",
    "track_io_timing",
    "shared_preload_libraries",
)


@dataclass
class Features:
    """What the server and our role allow; decides which parts the poll contains."""

    version_num: int
    privileged: bool = False  # superuser or pg_read_all_stats: sees other sessions' state
    parts: dict[str, str] = field(default_factory=dict)  # name -> FROM-item SQL that worked
    pgss_schema: str | None = None
    pgss_time_col: str = "total_exec_time"
    pgss_toplevel: bool = False
    pgss_wal: bool = False  # wal_bytes (pg_stat_statements 1.8, PostgreSQL 13+)


ACTIVITY_CTE = """WITH a AS (
  SELECT pid, state, wait_event_type, wait_event, datid, state_change,
         -- hidden from roles without pg_read_all_stats; a session with a database and a user is a client
         coalesce(backend_type, CASE WHEN datid IS NOT NULL AND usesysid IS NOT NULL
                                     THEN 'client backend' END) AS backend_type,
         -- the monitor's sessions (its poll, the wait sampler) are ours but not load
         coalesce(application_name LIKE {prefix} AND application_name NOT LIKE {monitors}, false) AS ours,
         coalesce(application_name LIKE {prefix}, false) AS tool,
         CASE WHEN backend_type = 'autovacuum worker' THEN query END AS query
  FROM pg_stat_activity)"""

DATABASE_PART = """SELECT xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched,
         tup_inserted, tup_updated, tup_deleted, conflicts, temp_files, temp_bytes, deadlocks
  FROM pg_stat_database WHERE datname = current_database()"""

LSN_PART = """SELECT ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
               ELSE pg_current_wal_insert_lsn() END) - '0/0'::pg_lsn)::bigint AS wal_lsn"""

WAL_PART = "SELECT wal_records, wal_fpi FROM pg_stat_wal"

BGWRITER_PART = """SELECT checkpoints_timed AS ckpt_timed, checkpoints_req AS ckpt_req,
         buffers_checkpoint AS buf_ckpt, buffers_clean AS buf_clean, buffers_backend AS buf_backend
  FROM pg_stat_bgwriter"""

# Backends' own writes moved out of pg_stat_bgwriter into pg_stat_io in 17.
IO_BACKEND_WRITES = """(SELECT sum(writes) FROM pg_stat_io
    WHERE object = 'relation' AND backend_type NOT IN ('checkpointer', 'background writer'))::bigint"""

CHECKPOINTER_PART = f"""SELECT c.num_timed AS ckpt_timed, c.num_requested AS ckpt_req,
         c.buffers_written AS buf_ckpt, b.buffers_clean AS buf_clean,
         {IO_BACKEND_WRITES} AS buf_backend
  FROM pg_stat_checkpointer c CROSS JOIN pg_stat_bgwriter b"""

IO_PART = """SELECT (SELECT json_object_agg(k, v) FROM (
    SELECT CASE WHEN object = 'wal' THEN 'wal' ELSE backend_type END AS k,
           json_build_array(sum(coalesce(reads, 0)), sum(coalesce(writes, 0)), sum(coalesce(extends, 0)),
                            sum(coalesce(fsyncs, 0)), sum(coalesce(hits, 0))) AS v
    FROM pg_stat_io GROUP BY 1) x) AS io"""
IO_FIELDS = ("reads", "writes", "extends", "fsyncs", "hits")
"""The order of the counters in each ``io`` array above."""

# Settings from the configuration (files, ALTER SYSTEM, ALTER DATABASE/ROLE, command line), not
# this session's own SETs or what the client sent at connect.
NON_DEFAULT = "source NOT IN ('default', 'override', 'session', 'client')"

# A new configuration reaches a session only by a reload (ALTER SYSTEM, the files), which moves
# pg_conf_load_time(); extensions are few rows. Both are cheap, unlike scanning pg_settings each poll.
CONFIG_PART = """SELECT pg_conf_load_time()::text || '|' || coalesce((SELECT string_agg(extname || '=' || extversion,
    ',' ORDER BY extname) FROM pg_extension), '') AS config_hash"""
"""Changes when the configuration is reloaded or an extension changes; the monitor then diffs :func:`read_config`."""

CONTROL_PART = "SELECT redo_lsn::text AS redo_lsn FROM pg_control_checkpoint()"

CONNECTIONS_PART = """SELECT
    (SELECT json_object_agg(s, n) FROM (
        SELECT coalesce(state, 'hidden') AS s, count(*) AS n FROM a
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1) x) AS conn_states,
    (SELECT json_object_agg(w, n) FROM (
        SELECT CASE WHEN state IS NULL THEN 'hidden' WHEN wait_event_type IS NULL THEN 'CPU'
                    ELSE wait_event_type END AS w, count(*) AS n FROM a
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
          AND state IS DISTINCT FROM 'idle' GROUP BY 1) x) AS conn_waits,
    count(*) FILTER (WHERE ours AND pid <> pg_backend_pid()) AS conn_ours,
    count(*) FILTER (WHERE NOT tool) AS conn_others,
    -- only sessions in this database add to its xact_commit, which the client's count is checked against
    count(*) FILTER (WHERE NOT tool AND datid = (SELECT oid FROM pg_database WHERE datname = current_database()))
      AS conn_others_here,
    count(*) AS conn_total
  FROM a WHERE backend_type = 'client backend'"""

# The checkpointer sleeps in CheckpointWriteDelay between paced writes and waits on
# IO while writing/syncing; idle it waits in CheckpointerMain.
CHECKPOINTER_BUSY_PART = """SELECT bool_or(wait_event = 'CheckpointWriteDelay' OR wait_event_type = 'IO')
         AS ckpt_running
  FROM a WHERE backend_type = 'checkpointer'"""

LOCKS_PART_14 = """SELECT n AS lock_waiting,
         CASE WHEN n > 0 THEN (SELECT extract(epoch FROM clock_timestamp() - min(waitstart))::float8
                               FROM pg_locks WHERE NOT granted) END AS lock_longest_s
  FROM (SELECT count(*) AS n FROM a WHERE wait_event_type = 'Lock') q"""

LOCKS_PART_OLD = """SELECT count(*) AS lock_waiting,
         extract(epoch FROM max(clock_timestamp() - state_change))::float8 AS lock_longest_s
  FROM a WHERE wait_event_type = 'Lock'"""

LOCKS_PART_UNPRIVILEGED_14 = """SELECT count(DISTINCT pid) AS lock_waiting,
         extract(epoch FROM clock_timestamp() - min(waitstart))::float8 AS lock_longest_s
  FROM pg_locks WHERE NOT granted"""

LOCKS_PART_UNPRIVILEGED_OLD = """SELECT count(DISTINCT pid) AS lock_waiting, NULL::float8 AS lock_longest_s
  FROM pg_locks WHERE NOT granted"""

AUTOVACUUM_PART = """SELECT CASE WHEN EXISTS (SELECT 1 FROM a WHERE backend_type = 'autovacuum worker') THEN (
    SELECT json_agg(json_build_object(
             'pid', a.pid, 'query', a.query, 'phase', p.phase,
             'relation', CASE WHEN c.oid IS NOT NULL THEN n.nspname || '.' || c.relname END))
    FROM a
    LEFT JOIN pg_stat_progress_vacuum p ON p.pid = a.pid
    LEFT JOIN pg_class c ON c.oid = p.relid
    LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.backend_type = 'autovacuum worker'
      AND a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())) END AS autovac"""

PART_COLUMNS = {
    "database": ("xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
                 "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes",
                 "deadlocks"),
    "lsn": ("wal_lsn",),
    "wal": ("wal_records", "wal_fpi"),
    "checkpoints": ("ckpt_timed", "ckpt_req", "buf_ckpt", "buf_clean", "buf_backend"),
    "io": ("io",),
    "config": ("config_hash",),
    "control": ("redo_lsn",),
    "connections": ("conn_states", "conn_waits", "conn_ours", "conn_others", "conn_others_here", "conn_total"),
    "checkpointer_busy": ("ckpt_running",),
    "locks": ("lock_waiting", "lock_longest_s"),
    "autovacuum": ("autovac",),
}
"""The columns each part contributes; a part left out yields None for all of them."""

PART_NOTES = {
    "database": "pg_stat_database unreadable: no transaction, tuple, cache hit or temp-file rates",
    "lsn": "WAL position unreadable: no WAL bytes",
    "wal": "pg_stat_wal unreadable: no WAL records or full-page images",
    "checkpoints": "checkpoint statistics unreadable: no checkpoint counters or buffers written",
    "io": "pg_stat_io unreadable: no I/O by backend type",
    "config": "pg_settings/pg_extension unreadable: settings changes during the run are found only at the end",
    "control": "pg_control_checkpoint() not callable: checkpoint events come from counters only",
    "connections": "pg_stat_activity unreadable: no connection breakdown",
    "checkpointer_busy": "checkpointer state unreadable: no checkpoint-start events",
    "locks": "lock information unreadable: no lock waits",
    "autovacuum": "autovacuum progress unreadable: no autovacuum list or events",
}


def candidate_parts(version_num: int, privileged: bool) -> dict[str, str]:
    """The parts to try on this server version, in poll order."""
    parts = {"database": DATABASE_PART, "lsn": LSN_PART}
    if version_num >= 140000:
        parts["wal"] = WAL_PART
    parts["checkpoints"] = CHECKPOINTER_PART if version_num >= 170000 else BGWRITER_PART
    if version_num >= 160000:
        parts["io"] = IO_PART
    parts["config"] = CONFIG_PART
    parts["control"] = CONTROL_PART
    parts["connections"] = CONNECTIONS_PART
    if privileged:
        parts["checkpointer_busy"] = CHECKPOINTER_BUSY_PART
        parts["locks"] = LOCKS_PART_14 if version_num >= 140000 else LOCKS_PART_OLD
    else:
        parts["locks"] = LOCKS_PART_UNPRIVILEGED_14 if version_num >= 140000 else LOCKS_PART_UNPRIVILEGED_OLD
    parts["autovacuum"] = AUTOVACUUM_PART
    return parts


def compose(parts: dict[str, str], app_prefix: str) -> str:
    """One SELECT over all ``parts``: the statement polled every interval."""
    def like(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return sql.Literal(escaped + "%").as_string(None)

    cte = ACTIVITY_CTE.format(prefix=like(app_prefix), monitors=like(f"{app_prefix}:monitor"))
    joins = "\n".join(f"LEFT JOIN LATERAL ({body}) AS p_{name} ON true" for name, body in parts.items())
    return marked(f"{cte}\nSELECT * FROM (SELECT 1 AS one) AS base\n{joins}")


def probe(conn: psycopg.Connection, app_prefix: str) -> tuple[Features, list[str]]:
    """Find which parts this server and role can run; return them and notes for the rest."""
    notes: list[str] = []
    version_num = int(conn.info.server_version)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')")
        row = cur.fetchone()
        privileged = bool(row and row[0])
    if not privileged:
        notes.append(
            "monitor role is not a member of pg_read_all_stats: other sessions' states, wait events and "
            "autovacuum tables are hidden (shown as 'hidden'); lock waits come from pg_locks"
        )
    if version_num < 140000:
        notes.append("PostgreSQL before 14 has no pg_stat_wal: WAL records and full-page images are not reported")
    features = Features(version_num=version_num, privileged=privileged)
    for name, body in candidate_parts(version_num, privileged).items():
        try:
            with conn.cursor() as cur:
                cur.execute(compose({name: body}, app_prefix))
                cur.fetchall()
            features.parts[name] = body
        except psycopg.Error as exc:
            notes.append(f"{PART_NOTES[name]} ({first_line(exc)})")
    return features, notes


def read_settings(conn: psycopg.Connection) -> dict[str, Any]:
    """Server version and the settings that matter for reading a benchmark, captured once."""
    with conn.cursor() as cur:
        cur.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
                    (list(SETTING_NAMES),))
        rows = cur.fetchall()
        cur.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
        version, version_num = cur.fetchone() or (None, None)
    settings = {name: _with_unit(setting, unit) for name, setting, unit in rows}
    return {"server_version": version, "server_version_num": version_num, **settings}


def read_config(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """Non-default settings (value, with `` (pending restart)`` when so) and extension versions, now."""
    with conn.cursor() as cur:
        cur.execute(marked(f"SELECT name, setting, unit, pending_restart FROM pg_settings WHERE {NON_DEFAULT}"))
        settings = {name: _with_unit(setting, unit) + (" (pending restart)" if pending else "")
                    for name, setting, unit, pending in cur.fetchall()}
        cur.execute(marked("SELECT extname, extversion FROM pg_extension"))
        extensions: dict[str, str] = dict(cur.fetchall())
    return {"settings": settings, "extensions": extensions}


def config_changes(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """What differs between two :func:`read_config` results: [{kind, name, before, after}]."""
    changes = []
    for kind in ("settings", "extensions"):
        a, b = before.get(kind, {}), after.get(kind, {})
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                changes.append({"kind": "setting" if kind == "settings" else "extension", "name": name,
                                "before": a.get(name), "after": b.get(name)})
    return changes


def describe_change(change: dict[str, Any]) -> str:
    def show(value: str | None) -> str:
        return "(default)" if value is None and change["kind"] == "setting" else (value or "(none)")

    return f"{change['kind']} {change['name']}: {show(change['before'])} -> {show(change['after'])}"


def connection_limit(settings: dict[str, Any]) -> int | None:
    """Client connections available to ordinary roles (the point where new logins start failing)."""
    try:
        limit = int(settings["max_connections"])
    except (KeyError, ValueError):
        return None
    for name in ("superuser_reserved_connections", "reserved_connections"):
        try:
            limit -= int(settings.get(name, 0))
        except ValueError:
            pass
    return limit


def probe_statements(conn: psycopg.Connection, features: Features) -> str | None:
    """Set up pg_stat_statements access; returns a note when it is unusable (None when usable)."""
    with conn.cursor() as cur:
        cur.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                    "WHERE e.extname = 'pg_stat_statements'")
        row = cur.fetchone()
        if row is None:
            return "pg_stat_statements is not installed in this database: no top statements"
        schema = row[0]
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0",
                    (f"{_ident(schema)}.pg_stat_statements",))
        columns = {r[0] for r in cur.fetchall()}
    features.pgss_schema = schema
    features.pgss_time_col = "total_exec_time" if "total_exec_time" in columns else "total_time"
    features.pgss_toplevel = "toplevel" in columns
    features.pgss_wal = "wal_bytes" in columns
    try:
        statements_snapshot(conn, features)
    except psycopg.Error as exc:
        features.pgss_schema = None
        return f"pg_stat_statements is installed but not readable: no top statements ({first_line(exc)})"
    return None


STATEMENT_COUNTERS = ("calls", "total_ms", "rows", "shared_blks_hit", "shared_blks_read", "wal_bytes")
"""The order of the counters in each value :func:`statements_snapshot` returns."""


def statements_snapshot(conn: psycopg.Connection, features: Features) -> dict[tuple, tuple]:
    """Counters of every statement in this database, without texts (cheap).

    Key ``(userid, queryid, toplevel)``; value in :data:`STATEMENT_COUNTERS` order.
    """
    toplevel = "toplevel" if features.pgss_toplevel else "true"
    wal = "wal_bytes" if features.pgss_wal else "0"
    query = marked(f"SELECT userid, queryid, {toplevel}, calls, {features.pgss_time_col}, rows, "
             f"shared_blks_hit, shared_blks_read, {wal} "
             f"FROM {_ident(features.pgss_schema or 'public')}.pg_stat_statements(false) "
             "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
             "AND queryid IS NOT NULL")
    with conn.cursor() as cur:
        cur.execute(query)
        return {(r[0], r[1], r[2]): tuple(float(v) for v in r[3:]) for r in cur.fetchall()}


def statement_texts(conn: psycopg.Connection, features: Features, queryids: list[int]) -> dict[int, str]:
    """Texts for the given query ids only (reading texts means reading the whole query file)."""
    if not queryids:
        return {}
    query = marked(f"SELECT DISTINCT ON (queryid) queryid, query "
             f"FROM {_ident(features.pgss_schema or 'public')}.pg_stat_statements(true) "
             "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
             "AND queryid = ANY(%s)")
    with conn.cursor() as cur:
        cur.execute(query, (queryids,))
        return {qid: text for qid, text in cur.fetchall()}


def is_monitor_statement(text: str) -> bool:
    """True for the monitor's own statements in pg_stat_statements.

    pg_stat_statements keeps the first text seen for a query id, so a statement
    first run without the leading comment is also recognised by its shape.
    """
    return MARK in text or (
        "pg_stat_statements(" in text and "WHERE datname = current_database()" in text
    ) or (  # texts first stored with a leading mark, which 18 drops: the poll and the wait sampler
        "pg_stat_activity" in text
        and (text.startswith("WITH a AS (\n  SELECT pid, state, wait_event_type") or "wait_event_type IS NULL THEN" in text)
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _with_unit(setting: str, unit: str | None) -> str:
    if not unit:
        return setting
    if unit in ("8kB", "kB") and setting.isdigit():  # as SHOW prints them: 4MB, not 4096kB
        kb = int(setting) * (8 if unit == "8kB" else 1)
        return f"{kb // 1024}MB" if kb and kb % 1024 == 0 else f"{kb}kB"
    return f"{setting}{unit}"


