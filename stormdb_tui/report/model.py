"""The run report: built once, rendered as JSON (the source of truth), Markdown and in the TUI.

The JSON's stable core is described in DESIGN section 7; keys may be added,
never renamed without bumping :data:`SCHEMA_VERSION`. Files are written
atomically (a temporary file in the same folder, then a rename), so a
reader never sees half a report.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stormdb_tui import TOOL_NAME, __version__
from stormdb_tui.db import sqlstate_class
from stormdb_tui.errors import ConfigError
from stormdb_tui.report.journal import is_journal, read_journal

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
        """Read a saved JSON report or a run journal; a one-line located error for anything else.

        The size is checked before reading and nesting depth is bounded by
        the parser, so a hostile file costs little memory and never a traceback.
        """
        where = os.fspath(path)
        if is_journal(where):
            return report_from_journal(where)
        try:
            size = os.path.getsize(where)
            if os.path.isdir(where):
                raise ConfigError("is a directory, not a report file", file=where)
            if size > MAX_REPORT_BYTES:
                raise ConfigError(f"too large for a report ({size:,} bytes, at most {MAX_REPORT_BYTES:,})", file=where)
            with open(where, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise ConfigError("no such report file", file=where) from None
        except UnicodeDecodeError:
            raise ConfigError("not a JSON report: binary content (not UTF-8 text)", file=where) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", file=where) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not a JSON report: {exc.msg}", file=where, line=exc.lineno) from None
        except RecursionError:
            raise ConfigError("not a report: nested too deeply", file=where) from None
        # A wrong file is a usage error (exit 2), like a bad config, not a failed run.
        if not isinstance(data, dict) or "schema_version" not in data:
            raise ConfigError("not a stormdb-tui report (no schema_version)", file=where)
        version = data["schema_version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise ConfigError("not a stormdb-tui report", file=where, expected="an integer schema_version", found=version)
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"report schema_version {version} is newer than this tool understands ({SCHEMA_VERSION})",
                file=where, hint="upgrade stormdb-tui",
            )
        for key, kind in REQUIRED_SECTIONS.items():
            if not isinstance(data.get(key), kind):
                raise ConfigError("not a complete stormdb-tui report", file=where, path=key,
                                  expected=f"a {kind.__name__}", found=type(data.get(key)).__name__)
        for key, kind in OPTIONAL_SECTIONS.items():
            if data.get(key) is not None and not isinstance(data[key], kind):
                raise ConfigError("not a well-formed stormdb-tui report", file=where, path=key,
                                  expected=f"a {kind.__name__}", found=type(data[key]).__name__)
        return cls(data)


MAX_REPORT_BYTES = 512 * 1024 * 1024
REQUIRED_SECTIONS: dict[str, type] = {"status": str, "workload": dict, "run": dict, "summary": dict, "operations": dict}
"""What every renderer reads; a file without them is rejected at load, not halfway through a render."""
OPTIONAL_SECTIONS: dict[str, type] = {
    "intervals": list, "workers": list, "errors": list, "notes": list, "events": list, "hung": list, "server": dict,
}
"""Older reports may lack these; when present they must have the right shape."""


def report_from_journal(path: str | os.PathLike[str]) -> Report:
    """A report with status ``crashed`` from a run journal: every complete interval, the last totals."""
    where = os.fspath(path)
    header, records, notes = read_journal(where)
    last = records[-1]["totals"] if records else {}
    intervals = [r["interval"] for r in records]
    elapsed = float(last.get("elapsed_s") or (intervals[-1].get("t_s") if intervals else 0.0) or 0.0)
    message = (
        f"the run did not finish; this report is its journal up to interval {len(intervals)}"
        + (f" (t = {elapsed:.1f} s)" if intervals else " (no interval was completed)")
    )
    done = int(last.get("transactions") or 0)
    result = RunResult(
        status="crashed",
        message=message,
        stop_reason=None,
        started_at=_parse_time(header.get("started_at")),
        ended_at=None,
        config=_mapping(header.get("config")),
        target=_mapping(header.get("target")),
        server=_mapping(header.get("server")),
        workload=_mapping(header.get("workload")),
        run=_mapping(header.get("run")),
        elapsed_s=elapsed,
        transactions=done,
        errors_total=int(last.get("errors") or 0),
        counters=_mapping(last.get("counters")),
        operations={str(label): _figures(op, str(label)) for label, op in _mapping(last.get("operations")).items()},
        overall=_figures({"count": done, "errors": last.get("errors") or 0,
                          "tps": done / elapsed if elapsed > 0 else 0.0,
                          "latency_ms": last.get("latency_ms"), "service_ms": last.get("service_ms")}),
        intervals=intervals,
        workers=[],
        latency_histogram=None,
        pg=None,
        events=[],
        errors=[_error_kind(e) for e in last.get("error_kinds") or [] if isinstance(e, Mapping)],
        notes=[*notes, f"read from the run journal {os.path.abspath(where)}"],
    )
    report = build_report(result)
    report.data["journal"] = {"path": os.path.abspath(where), "intervals": len(intervals), "pid": header.get("pid")}
    report.data["pg_note"] = "server totals were not kept (the run did not finish); the intervals hold what was sampled"
    return report


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _figures(op: Any, label: str = "*") -> OperationFigures:
    op = _mapping(op)
    service = op.get("service_ms")
    return OperationFigures(int(op.get("count") or 0), int(op.get("errors") or 0), float(op.get("tps") or 0.0),
                            _mapping(op.get("latency_ms")), service if isinstance(service, Mapping) else None,
                            label=label)


def _error_kind(kind: Mapping[str, Any]) -> ErrorFigures:
    return ErrorFigures(str(kind.get("operation") or ""), str(kind.get("sqlstate") or ""),
                        int(kind.get("count") or 0), str(kind.get("first_message") or ""))


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


@dataclass(frozen=True)
class OperationFigures:
    """Counts and latency summaries (ms) of one operation label, or of all of them (label ``*``).

    The engine's live snapshot and the finished report use the same record.
    """

    count: int
    errors: int
    tps: float
    latency_ms: Mapping[str, float | None]
    service_ms: Mapping[str, float | None] | None = None
    label: str = "*"


@dataclass(frozen=True)
class ErrorFigures:
    """One kind of failure: where, which SQLSTATE, how often, and the first message seen."""

    operation: str
    sqlstate: str
    count: int
    first_message: str


@dataclass(frozen=True)
class RunResult:
    """Everything a finished run measured, as plain values: what :func:`build_report` lays out.

    The engine fills it once at the end of a run; the report never reaches
    back into the engine's live objects.
    """

    status: str
    message: str | None
    stop_reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    config: Mapping[str, Any]
    target: Mapping[str, Any]
    server: Mapping[str, Any]
    workload: Mapping[str, Any]
    run: Mapping[str, Any]
    elapsed_s: float
    transactions: int
    errors_total: int
    counters: Mapping[str, int]
    operations: Mapping[str, OperationFigures]
    overall: OperationFigures
    intervals: Sequence[Mapping[str, Any]]
    workers: Sequence[Mapping[str, Any]]
    latency_histogram: Mapping[str, Any] | None
    pg: Mapping[str, Any] | None
    events: Sequence[Mapping[str, Any]]
    errors: Sequence[ErrorFigures]
    notes: Sequence[str] = field(default_factory=tuple)
    hung: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """Workers found inside one call past run.transaction_timeout, or abandoned at the end."""
    client: Mapping[str, Any] | None = None
    """The load generator's own figures (CPU per transaction, saturated intervals, lag)."""
    waits: Mapping[str, Any] = field(default_factory=dict)
    """``schedule_lag_ms`` and ``pool_wait_ms`` summaries (None when not measured)."""


def _latency(summary: Mapping[str, Any] | None) -> dict[str, Any]:
    summary = summary or {}
    out = {key: summary.get(key) for key in LATENCY_KEYS}
    # Extra percentiles from metrics.percentiles (p99_99) follow the standard ones.
    out.update((k, v) for k, v in summary.items() if k.startswith("p") and k not in out)
    return out


def _operation(figures: OperationFigures) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "count": figures.count,
        "errors": figures.errors,
        "tps": round(figures.tps, 3),
        "latency_ms": _latency(figures.latency_ms),
    }
    if figures.service_ms is not None:
        entry["service_ms"] = _latency(figures.service_ms)
    return entry


def build_report(result: RunResult) -> Report:
    """Lay a finished run out as the report's JSON document (DESIGN section 7)."""
    elapsed = result.elapsed_s
    counters = result.counters
    summary = {
        "elapsed_s": round(elapsed, 3),
        "transactions": result.transactions,
        "tps": round(result.transactions / elapsed, 3) if elapsed > 0 else 0.0,
        "queries": counters.get("queries", 0),
        "qps": round(counters.get("queries", 0) / elapsed, 3) if elapsed > 0 else 0.0,
        "errors": result.errors_total,
        "retries": counters.get("retries", 0),
        "rollbacks": counters.get("rollbacks", 0),
        "reconnects": counters.get("reconnects", 0),
        "latency_ms": _latency(result.overall.latency_ms),
    }
    run = result.run
    rate = run.get("rate")
    if result.overall.service_ms is not None:  # open model, or a pool smaller than the workers
        summary["service_ms"] = _latency(result.overall.service_ms)
    summary.update({k: _latency(v) for k, v in result.waits.items() if v is not None})
    if rate:
        summary["skipped"] = counters.get("skipped", 0)
    if rate or run.get("latency_limit_s"):
        summary["late"] = counters.get("late", 0)
    if counters.get("reconnect_failures"):
        summary["reconnect_failures"] = counters["reconnect_failures"]
    server = result.server
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "status": str(result.status),
        "message": result.message or None,
        "stop_reason": result.stop_reason,
        "started_at": result.started_at.isoformat() if result.started_at else None,
        "ended_at": result.ended_at.isoformat() if result.ended_at else None,
        "config": dict(result.config),
        "target": dict(result.target),
        "server": {
            "version": server.get("version"),
            "version_num": server.get("version_num"),
            "database": server.get("database"),
            # one settings list: the engine's, the monitor's and every non-default one
            "settings": _merged_settings(server.get("settings", {}), result.pg),
        },
        "workload": dict(result.workload),
        "run": dict(result.run),
        "summary": summary,
        "operations": {label: _operation(figures) for label, figures in result.operations.items()},
        "intervals": list(result.intervals),
        "workers": list(result.workers),
        "latency_histogram": dict(result.latency_histogram) if result.latency_histogram else None,
        "pg": {k: v for k, v in result.pg.items() if k != "settings"} if result.pg is not None else None,
        "events": list(result.events),
        "errors": [
            {
                "operation": kind.operation,
                "sqlstate": kind.sqlstate,
                "class": sqlstate_class(kind.sqlstate),
                "count": kind.count,
                "first_message": kind.first_message,
            }
            for kind in sorted(result.errors, key=lambda k: -k.count)
        ],
        "notes": list(result.notes),
        "hung": [dict(entry) for entry in result.hung],
        "warnings": [*(result.pg or {}).get("warnings", []), *_workload_warnings(result.workload.get("summary"))],
        "client": dict(result.client) if result.client is not None else None,
    }
    if data["pg"] is None:
        data["pg_note"] = "server statistics were not collected (enable with --pg-stats)"
    data["agreement"] = (data["pg"] or {}).get("agreement") or {
        "checked": False, "status": "unchecked",
        "line": "client/server agreement: not checked (server statistics were off; --pg-stats)"}
    if data["agreement"].get("warning"):
        data["warnings"].insert(0, data["agreement"]["warning"])
    return Report(data)


def _merged_settings(engine: Mapping[str, Any], pg: Mapping[str, Any] | None) -> dict[str, Any]:
    monitor = {k: v for k, v in ((pg or {}).get("settings") or {}).items()
               if k not in ("server_version", "server_version_num")}
    return dict(sorted({**engine, **monitor}.items()))


def _workload_warnings(summary: Any) -> list[str]:
    """A workload's own warnings (``summary()["warnings"]``: low recall, short results) for the report."""
    warnings = summary.get("warnings") if isinstance(summary, Mapping) else None
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def default_report_path(data: Mapping[str, Any], kind: str) -> str:
    """``reports/<workload>-<start time>.json`` (or ``.md``) in the working directory."""
    name = str((data.get("workload") or {}).get("name") or "report")
    try:
        stamp = datetime.fromisoformat(str(data.get("started_at") or "")).strftime("%Y%m%d-%H%M%S")
    except ValueError:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return f"reports/{safe}-{stamp}.{'json' if kind == 'json' else 'md'}"
