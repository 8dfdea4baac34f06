"""The run report: built once, rendered as JSON (the source of truth), Markdown and in the TUI.

The JSON's stable core is described in DESIGN section 7; keys may be added,
never renamed without bumping :data:`SCHEMA_VERSION`. Files are written
atomically (a temporary file in the same folder, then a rename), so a
reader never sees half a report.
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stormdb_tui import TOOL_NAME, __version__
from stormdb_tui.errors import ConfigError, StormError

if TYPE_CHECKING:
    from stormdb_tui.engine.runner import Runner

SCHEMA_VERSION = 1
LATENCY_KEYS = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean", "stddev")


class Report:
    """A finished (or interrupted, or failed) run as a JSON-ready mapping."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def status(self) -> str:
        return self.data.get("status", "unknown")

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False, default=str) + "\n"

    def to_markdown(self) -> str:
        from stormdb_tui.report.markdown import render_markdown

        return render_markdown(self.data)

    def write_json(self, path: str | os.PathLike[str]) -> str:
        return write_atomic(path, self.to_json())

    def write_markdown(self, path: str | os.PathLike[str]) -> str:
        return write_atomic(path, self.to_markdown())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Report:
        """Read a saved JSON report; a one-line error for anything that is not one."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise ConfigError("no such report file", file=os.fspath(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", file=os.fspath(path)) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not a JSON report: {exc.msg}", file=os.fspath(path), line=exc.lineno) from None
        # A wrong file is a usage error (exit 2), like a bad config, not a failed run.
        if not isinstance(data, dict) or "schema_version" not in data:
            raise ConfigError("not a stormdb-tui report (no schema_version)", file=os.fspath(path))
        version = data["schema_version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise ConfigError("not a stormdb-tui report", file=os.fspath(path), expected="an integer schema_version", found=version)
        if version > SCHEMA_VERSION:
            raise StormError(
                f"{os.fspath(path)}: report schema_version {data['schema_version']} is newer than this "
                f"tool understands ({SCHEMA_VERSION}); upgrade stormdb-tui"
            )
        return cls(data)


def write_atomic(path: str | os.PathLike[str], text: str) -> str:
    """Write ``text`` to ``path`` via a temporary file and a rename; returns the absolute path."""
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stormdb-", suffix=".tmp", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide the report from the team
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def _latency(summary: Mapping[str, Any] | None) -> dict[str, Any]:
    summary = summary or {}
    out = {key: summary.get(key) for key in LATENCY_KEYS}
    # Extra percentiles from metrics.percentiles (p99_99) follow the standard ones.
    out.update((k, v) for k, v in summary.items() if k.startswith("p") and k not in out)
    return out


def build_report(runner: Runner, elapsed: float, pg: Mapping[str, Any] | None, workload_extra: Mapping[str, Any]) -> Report:
    """Assemble the report from a finished runner."""
    cfg = runner.cfg
    snap = runner.snapshot
    agg = runner.aggregator
    labels, overall = agg.label_stats(elapsed)
    counters = agg.counters
    operations: dict[str, Any] = {}
    for stats in labels:
        entry: dict[str, Any] = {
            "count": stats.count,
            "errors": stats.errors,
            "tps": round(stats.tps, 3),
            "latency_ms": _latency(stats.latency_ms),
        }
        if stats.service_ms is not None:
            entry["service_ms"] = _latency(stats.service_ms)
        operations[stats.label] = entry
    totals = {
        "elapsed_s": elapsed,
        "operations": operations,
        "rollbacks": counters.get("rollbacks", 0),
        "transactions": agg.transactions,
    }
    workload = runner.workload
    try:
        workload_summary = dict(workload.summary(totals) or {})
    except Exception as exc:  # a plugin's summary must not lose the report
        workload_summary = {"error": f"summary failed: {exc}"}
    workload_summary.update(workload_extra)
    rate = cfg.run.get("rate")
    summary = {
        "elapsed_s": round(elapsed, 3),
        "transactions": agg.transactions,
        "tps": round(agg.transactions / elapsed, 3) if elapsed > 0 else 0.0,
        "queries": counters.get("queries", 0),
        "qps": round(counters.get("queries", 0) / elapsed, 3) if elapsed > 0 else 0.0,
        "errors": agg.error_count,
        "retries": counters.get("retries", 0),
        "rollbacks": counters.get("rollbacks", 0),
        "reconnects": counters.get("reconnects", 0),
        "latency_ms": _latency(overall.latency_ms),
    }
    if overall.service_ms is not None:  # open model, or a pool smaller than the workers
        summary["service_ms"] = _latency(overall.service_ms)
    summary.update({k: _latency(v) for k, v in agg.waits().items() if v is not None})
    if rate:
        summary["skipped"] = counters.get("skipped", 0)
    if rate or cfg.run.get("latency_limit"):
        summary["late"] = counters.get("late", 0)
    if counters.get("reconnect_failures"):
        summary["reconnect_failures"] = counters["reconnect_failures"]
    setup = None
    if runner.setup_result is not None:
        res = runner.setup_result
        setup = {"rows": res.rows, "seconds": round(res.elapsed_s, 3), "rows_per_s": round(res.rows_per_s, 1)}
    server = runner.server or {}
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "status": runner.status,
        "message": runner.message or None,
        "stop_reason": runner.stop_reason,
        "started_at": runner.started_at.isoformat() if runner.started_at else None,
        "ended_at": runner.ended_at.isoformat() if runner.ended_at else None,
        "config": cfg.echo(),
        "target": {"source": runner.plan.target.source, "conninfo": runner.plan.target.redacted},
        "server": {
            "version": server.get("version"),
            "version_num": server.get("version_num"),
            "database": server.get("database"),
            "settings": server.get("settings", {}),
        },
        "workload": {
            "name": workload.name,
            "version": workload.version,
            "options": {k: v for k, v in workload.opts.items()},
            "summary": workload_summary,
            "setup": setup,
        },
        "run": {
            "workers": runner.workers,
            "connections": runner.group.pool_size if runner.group is not None else cfg.run.get("connections") or runner.workers,
            "connections_configured": cfg.run.get("connections"),
            "processes": cfg.run.get("processes", 1),
            "duration_s": runner.duration,
            "transactions_limit": cfg.run.get("transactions"),
            "warmup_s": runner.warmup,
            "think_time_s": cfg.run.get("think_time"),
            "rate": rate,
            "model": "open" if rate else "closed",
            "arrival": cfg.run.get("arrival") if rate else None,
            "schedule": cfg.run.get("schedule", "shared") if rate else None,
            "latency_limit_s": cfg.run.get("latency_limit"),
            "seed": runner.seed,
            "interval_s": runner.interval,
        },
        "summary": summary,
        "operations": operations,
        "intervals": [sample.as_dict() for sample in agg.intervals],
        "workers": runner.group.worker_stats(elapsed) if runner.group is not None else [],
        "latency_histogram": latency_histogram(agg.cum_all, agg.cum),
        "pg": dict(pg) if pg is not None else None,
        "events": list(snap.events),
        "errors": [
            {
                "operation": kind.label,
                "sqlstate": kind.sqlstate,
                "class": _class_of(kind.sqlstate),
                "count": kind.count,
                "first_message": kind.first_message,
            }
            for kind in sorted(agg.errors.values(), key=lambda k: -k.count)
        ],
        "notes": list(runner.plan.notes),
    }
    if data["pg"] is None:
        data["pg_note"] = "server statistics were not collected (enable with --pg-stats)"
    data["agreement"] = (data["pg"] or {}).get("agreement") or {
        "checked": False, "status": "unchecked",
        "line": "client/server agreement: not checked (server statistics were off; --pg-stats)"}
    data["warnings"] = [data["agreement"]["warning"]] if data["agreement"].get("warning") else []
    return Report(data)


def latency_histogram(overall: Any, labels: Mapping[str, Any]) -> dict[str, Any] | None:
    """Transaction counts in 1-2-5 latency buckets, overall and per label (for histogram plots).

    Percentiles say where the tail is; the buckets show its shape (two humps
    mean two populations, e.g. cache hits and misses). ``edges_ms`` are the
    buckets' upper bounds; ``counts`` has one list per label and ``"*"``.
    """
    if overall is None or overall.get_total_count() == 0:
        return None
    edges_us: list[int] = []
    decade = 1
    top = overall.get_max_value()
    while not edges_us or edges_us[-1] < top:
        edges_us.extend(decade * m for m in (1, 2, 5))
        decade *= 10
    low = overall.get_min_value()
    first = max(0, next(i for i, e in enumerate(edges_us) if e >= low) - 1)
    edges_us = edges_us[first:]

    def counts(hist: Any) -> list[int]:
        # Walk the raw counts array: hdrh's iterators cost seconds on a wide histogram.
        out = [0] * len(edges_us)
        last = len(edges_us) - 1
        value_at = hist.get_value_from_index
        for index, count in enumerate(hist.counts):
            if count:
                out[min(bisect.bisect_left(edges_us, value_at(index)), last)] += count
        return out

    result = {"*": counts(overall)}
    for label, hist in labels.items():
        if hist.get_total_count():
            result[label] = counts(hist)
    return {"edges_ms": [e / 1000.0 for e in edges_us], "counts": result}


def _class_of(sqlstate: str) -> str:
    from stormdb_tui.db import sqlstate_class

    return sqlstate_class(sqlstate)
