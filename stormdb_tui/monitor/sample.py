"""From two raw polls to one interval sample, and the server events between them.

Pure functions over the dict rows :mod:`stormdb_tui.monitor.queries` returns, so the
arithmetic (rates, counter resets, event edges) is testable without a server.
The sample keys are documented in :mod:`stormdb_tui.monitor.poller`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stormdb_tui.monitor.queries import IO_FIELDS, connection_limit

RATE_COLUMNS = {
    "commits_s": "xact_commit",
    "rollbacks_s": "xact_rollback",
    "tup_returned_s": "tup_returned",
    "tup_fetched_s": "tup_fetched",
    "tup_inserted_s": "tup_inserted",
    "tup_updated_s": "tup_updated",
    "tup_deleted_s": "tup_deleted",
    "blks_read_s": "blks_read",
    "blks_hit_s": "blks_hit",
    "temp_bytes_s": "temp_bytes",
    "wal_records_s": "wal_records",
    "wal_fpi_s": "wal_fpi",
    "wal_bytes_s": "wal_lsn",
    "buffers_checkpoint_s": "buf_ckpt",
}
COUNT_COLUMNS = {"temp_files": "temp_files", "deadlocks": "deadlocks", "conflicts": "conflicts"}
CUMULATIVE_COLUMNS = {"checkpoints_timed": "ckpt_timed", "checkpoints_req": "ckpt_req"}
WRITE_COLUMNS = ("buf_ckpt", "buf_clean", "buf_backend")

_AUTOVAC_RE = re.compile(r"^autovacuum: (VACUUM ANALYZE|VACUUM|ANALYZE|BRIN summarize) (\S+)")


def delta(prev: dict[str, Any], cur: dict[str, Any], column: str) -> float | None:
    """Counter increase between two polls; None when unknown or when the counter was reset."""
    a, b = prev.get(column), cur.get(column)
    if a is None or b is None or b < a:
        return None
    return b - a


def compute_sample(
    prev: dict[str, Any], cur: dict[str, Any], first: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """The per-interval sample for the polls ``prev`` -> ``cur`` (``first`` anchors cumulative counts)."""
    dt = max(cur["t"] - prev["t"], 1e-6)
    sample: dict[str, Any] = {"t": cur["t"], "interval_s": round(dt, 4)}
    hit, read = delta(prev, cur, "blks_hit"), delta(prev, cur, "blks_read")
    sample["cache_hit_ratio"] = hit / (hit + read) if hit is not None and read is not None and hit + read else None
    for key, column in RATE_COLUMNS.items():
        d = delta(prev, cur, column)
        sample[key] = None if d is None else d / dt
    for key, column in COUNT_COLUMNS.items():
        sample[key] = delta(prev, cur, column)
    for key, column in CUMULATIVE_COLUMNS.items():
        sample[key] = delta(first, cur, column)
    writes = [d for d in (delta(prev, cur, c) for c in WRITE_COLUMNS) if d is not None]
    sample["buffers_written_s"] = sum(writes) / dt if writes else None
    sample["checkpoint_in_progress"] = cur.get("ckpt_running")
    sample["connections"] = connections(cur, settings)
    sample["lock_waits"] = {"waiting": cur.get("lock_waiting"), "longest_wait_s": cur.get("lock_longest_s")}
    sample["autovacuum"] = autovacuum_workers(cur)
    sample["io"] = io_rates(prev.get("io"), cur.get("io"), dt)
    return sample


def io_deltas(prev: dict[str, Any] | None, cur: dict[str, Any] | None) -> dict[str, dict[str, int]] | None:
    """pg_stat_io counter increases per backend type (and ``wal``); None without pg_stat_io.

    A backend type whose counters went backwards (stats reset) is left out;
    one with no activity in the window too, to keep the series small.
    """
    if prev is None or cur is None:
        return None
    out: dict[str, dict[str, int]] = {}
    for kind, values in cur.items():
        before = prev.get(kind, [0] * len(IO_FIELDS))
        diffs = [int(b - a) for a, b in zip(before, values, strict=True)]
        if any(d < 0 for d in diffs) or not any(diffs):
            continue
        out[kind] = dict(zip(IO_FIELDS, diffs, strict=True))
    return out


def io_rates(prev: dict[str, Any] | None, cur: dict[str, Any] | None, dt: float) -> dict[str, Any] | None:
    """Per-second pg_stat_io rates per backend type, plus their ``total`` (relations only, no WAL)."""
    deltas = io_deltas(prev, cur)
    if deltas is None:
        return None
    rates: dict[str, Any] = {
        kind: {f"{k}_s": round(v / dt, 2) for k, v in counts.items()} for kind, counts in deltas.items()
    }
    total = {f"{k}_s": round(sum(c[k] for kind, c in deltas.items() if kind != "wal") / dt, 2) for k in IO_FIELDS}
    rates["total"] = total
    return rates


def connections(row: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Client connections: by state and wait event type (ours + others), and the limit."""
    try:
        max_conn: int | None = int(settings.get("max_connections", ""))
    except ValueError:
        max_conn = None
    return {
        "by_state": dict(row.get("conn_states") or {}),
        "by_wait_event_type": dict(row.get("conn_waits") or {}),
        "ours": row.get("conn_ours"),
        "others": row.get("conn_others"),
        "others_here": row.get("conn_others_here"),
        "total": row.get("conn_total"),
        "max_connections": max_conn,
        "limit": connection_limit(settings),
    }


def autovacuum_workers(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Autovacuum workers in the target database: table (schema.name), phase and pid."""
    workers = []
    for w in row.get("autovac") or ():
        match = _AUTOVAC_RE.match(w.get("query") or "")
        table = w.get("relation") or (match.group(2) if match else None)
        phase = w.get("phase") or (match.group(1).lower() if match else None)
        workers.append({"table": table, "phase": phase, "pid": w.get("pid"),
                        "kind": match.group(1) if match else None})
    return workers


class EventDetector:
    """Edge detection for checkpoints, autovacuum starts and the connection limit."""

    def __init__(self, *, schemas: Sequence[str] = (), limit: int | None = None) -> None:
        self.schemas = {s.lower() for s in schemas}
        self.limit = limit
        self._redo: str | None = None
        self._running = False
        self._vacuums: set[tuple[Any, Any]] = set()
        self._at_limit = False

    def prime(self, row: dict[str, Any]) -> None:
        """Remember the state at start so pre-existing activity is not reported as new."""
        self._redo = row.get("redo_lsn")
        self._running = bool(row.get("ckpt_running"))
        self._vacuums = {(w["pid"], w["table"]) for w in autovacuum_workers(row)}
        total = row.get("conn_total")
        self._at_limit = bool(self.limit is not None and total is not None and total >= self.limit)

    def detect(self, prev: dict[str, Any], cur: dict[str, Any], sample: dict[str, Any]) -> list[dict[str, Any]]:
        """Events between ``prev`` and ``cur``, stamped with the current poll's time."""
        t = cur["t"]
        events: list[dict[str, Any]] = []
        running = bool(cur.get("ckpt_running"))
        if running and not self._running:
            events.append({"type": "checkpoint", "phase": "start", "detail": "checkpoint started", "t": t})
        self._running = running
        events.extend(self._checkpoint_end(prev, cur, t))
        for w in sample["autovacuum"]:
            key = (w["pid"], w["table"])
            if key in self._vacuums or not self._watched(w["table"]):
                continue
            what = f"{w['kind'] or 'autovacuum'} {w['table'] or '(hidden table)'}"
            events.append({"type": "autovacuum", "detail": f"autovacuum started: {what}", "t": t,
                           "table": w["table"]})
        self._vacuums = {(w["pid"], w["table"]) for w in sample["autovacuum"]}
        total = cur.get("conn_total")
        at_limit = bool(self.limit is not None and total is not None and total >= self.limit)
        if at_limit and not self._at_limit:
            events.append({"type": "connection_limit", "t": t,
                           "detail": f"{total} client connections reached the limit of {self.limit}"})
        self._at_limit = at_limit
        return events

    def _checkpoint_end(self, prev: dict[str, Any], cur: dict[str, Any], t: float) -> list[dict[str, Any]]:
        redo = cur.get("redo_lsn")
        req, timed = delta(prev, cur, "ckpt_req"), delta(prev, cur, "ckpt_timed")
        kind = "requested" if req else "timed" if timed else None
        if redo is not None:
            completed = self._redo is not None and redo != self._redo
            self._redo = redo
        else:  # no pg_control_checkpoint(): counters only (a skipped timed checkpoint counts too)
            completed = bool(req or timed)
        if not completed:
            return []
        buffers = delta(prev, cur, "buf_ckpt")
        detail = "checkpoint completed" + (f" ({kind})" if kind else "")
        if buffers:
            detail += f", {int(buffers)} buffers written"
        return [{"type": "checkpoint", "phase": "end", "detail": detail, "t": t}]

    def _watched(self, table: str | None) -> bool:
        if not self.schemas:
            return True
        if not table or "." not in table:
            return table is None  # hidden from us: report rather than miss it
        return table.split(".", 1)[0].lower() in self.schemas
