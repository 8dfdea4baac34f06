"""The report's ``pg`` section: start/end deltas and per-transaction figures.

``summarize`` builds the JSON-ready dict once from the monitor's first and last
polls; :func:`stormdb_tui.report.server.render_pg_markdown` renders that dict
(and only that dict, so a report re-rendered from its JSON file reads the same).
"""

from __future__ import annotations

from typing import Any

from stormdb_tui.monitor.queries import describe_change
from stormdb_tui.monitor.sample import delta, io_deltas

DELTA_COLUMNS = {
    "commits": "xact_commit",
    "rollbacks": "xact_rollback",
    "blks_read": "blks_read",
    "blks_hit": "blks_hit",
    "tup_returned": "tup_returned",
    "tup_fetched": "tup_fetched",
    "tup_inserted": "tup_inserted",
    "tup_updated": "tup_updated",
    "tup_deleted": "tup_deleted",
    "temp_files": "temp_files",
    "temp_bytes": "temp_bytes",
    "deadlocks": "deadlocks",
    "conflicts": "conflicts",
    "wal_records": "wal_records",
    "wal_fpi": "wal_fpi",
    "wal_bytes": "wal_lsn",
    "checkpoints_timed": "ckpt_timed",
    "checkpoints_req": "ckpt_req",
    "buffers_checkpoint": "buf_ckpt",
    "buffers_clean": "buf_clean",
    "buffers_backend": "buf_backend",
}

SCOPE = (
    "Transaction, tuple, block and temp-file counts are for the target database; WAL, checkpoints and "
    "buffers written are server-wide. Both include any other sessions' work during the run."
)


def summarize(
    *,
    settings: dict[str, Any],
    first: dict[str, Any] | None,
    last: dict[str, Any] | None,
    transactions: int,
    interval: float,
    elapsed: float,
    events: list[dict[str, Any]],
    started_at: float,
    peaks: dict[str, Any],
    top_statements: list[dict[str, Any]],
    notes: list[str],
    poll_ms: list[float],
    monitor_server_ms: float | None,
    parts: list[str],
    waits: dict[str, Any] | None = None,
    config_start: dict[str, dict[str, str]] | None = None,
    drift: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``pg`` section of the report (JSON-ready)."""
    deltas: dict[str, Any] = {}
    if first is not None and last is not None:
        for key, column in DELTA_COLUMNS.items():
            deltas[key] = delta(first, last, column)
        writes = [deltas[k] for k in ("buffers_checkpoint", "buffers_clean", "buffers_backend") if deltas[k] is not None]
        deltas["buffers_written"] = sum(writes) if writes else None
    hit, read = deltas.get("blks_hit"), deltas.get("blks_read")
    ratio = hit / (hit + read) if hit is not None and read is not None and hit + read else None

    def per_txn(key: str) -> float | None:
        value = deltas.get(key)
        return round(value / transactions, 3) if value is not None and transactions > 0 else None

    ordered = sorted(poll_ms)
    return {
        "version": settings.get("server_version"),
        "version_num": settings.get("server_version_num"),
        "settings": dict(settings),
        "interval_s": interval,
        "elapsed_s": round(elapsed, 3),
        "sources": parts,
        "scope": SCOPE,
        "deltas": deltas,
        "cache_hit_ratio": ratio,
        "per_transaction": {
            "transactions": transactions,
            "wal_bytes": per_txn("wal_bytes"),
            "wal_records": per_txn("wal_records"),
            "blks_read": per_txn("blks_read"),
            "blks_hit": per_txn("blks_hit"),
            "buffers_written": per_txn("buffers_written"),
        },
        "waits": waits,
        "extensions": dict((config_start or {}).get("extensions") or {}),
        "settings_drift": [{k: v for k, v in d.items() if k != "t"}
                           | {"t_s": round(d["t"] - started_at, 3), "text": describe_change(d)}
                           for d in drift or []],
        "warnings": _drift_warnings(drift or [], started_at),
        "io": io_deltas((first or {}).get("io"), (last or {}).get("io")),
        "peaks": dict(peaks),
        "top_statements": top_statements,
        "events": [{**e, "t_s": round(e["t"] - started_at, 3)} for e in events],
        "notes": list(notes),
        "monitor": {
            "polls": len(poll_ms),
            "poll_ms_mean": round(sum(ordered) / len(ordered), 3) if ordered else None,
            "poll_ms_p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3) if ordered else None,
            "poll_ms_max": round(ordered[-1], 3) if ordered else None,
            "server_ms_mean": round(monitor_server_ms, 3) if monitor_server_ms is not None else None,
        },
    }


def _drift_warnings(drift: list[dict[str, Any]], started_at: float) -> list[str]:
    if not drift:
        return []
    changes = "; ".join(f"{describe_change(d)} at {d['t'] - started_at:.1f} s" for d in drift)
    return [f"server configuration changed during the run, so its figures mix two configurations: {changes}"]


AGREEMENT_TOLERANCE = 0.01
"""Share of the expected commits the server may differ by before the report warns."""
AGREEMENT_SLACK = 20
"""Commits the client cannot see at all (the odd catalog read, a session's first statements)."""
AGREEMENT_PER_SETUP = 20
"""Commits each worker's setup on a connection may run (``start_worker``: each PREPARE, SET or read
is a transaction of its own; the simple workload's setup measured 12)."""


def agreement(
    *,
    client_commits: int,
    server_commits: float | None,
    monitor_commits: int,
    others_peak: int = 0,
    autovacuum: bool = False,
    setups: int = 0,
) -> dict[str, Any]:
    """The client-and-server agreement check: our commit count against the database's ``xact_commit``.

    Both cover the same window: from the monitor's first poll (before the
    load connections open) to its last (after they closed and flushed their
    statistics), so warm-up commits are on both sides. The monitor's own
    polls are transactions in the database too and are expected.
    """
    if server_commits is None:
        return {"checked": False, "status": "unchecked", "line": "client/server agreement: not checked "
                "(pg_stat_database.xact_commit was not readable)"}
    expected = client_commits + monitor_commits
    difference = int(server_commits - expected)
    share = difference / expected if expected else None
    others = bool(others_peak) or autovacuum
    slack = AGREEMENT_SLACK + AGREEMENT_PER_SETUP * setups
    large = abs(difference) > max(slack, AGREEMENT_TOLERANCE * expected)
    line = (
        f"client/server agreement: the client counted {client_commits:,} commits, the server "
        f"{int(server_commits):,} (xact_commit, {monitor_commits:,} of them the monitor's own queries): "
        f"difference {difference:+,}" + (f" ({share:+.2%})" if share is not None else "")
        + f"; other sessions active: {'yes' if others else 'no'}"
    )
    out: dict[str, Any] = {
        "checked": True,
        "status": "warning" if large else "ok",
        "client_commits": client_commits,
        "server_commits": int(server_commits),
        "monitor_commits": monitor_commits,
        "difference": difference,
        "difference_share": round(share, 5) if share is not None else None,
        "other_sessions": others,
        "other_sessions_peak": others_peak,
        "autovacuum": autovacuum,
        "tolerance": max(slack, round(AGREEMENT_TOLERANCE * expected)),
        "line": line,
    }
    if large:
        why = ("other sessions (or autovacuum) were active in this database and their commits count too"
               if others and difference > 0 else
               "no other session explains it: the client's counts may be wrong, or transactions were lost")
        out["warning"] = (
            f"client and server disagree by {difference:+,} commits"
            + (f" ({share:+.1%})" if share is not None else "") + f": {why}"
        )
    return out
