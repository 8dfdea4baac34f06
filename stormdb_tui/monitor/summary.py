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
