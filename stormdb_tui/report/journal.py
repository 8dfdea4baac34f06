"""The run journal: what a run has measured so far, safe against a kill at any moment.

A journal is a JSON Lines file. Its first line is the run's header (config
echo with secrets redacted, target, server, workload, run settings, start
time); every following line is one interval, carrying exactly the entry the
report's ``intervals`` list will hold, plus the run's cumulative totals at
the end of that interval (so a journal read after a crash has exact
cumulative percentiles, not an average of per-interval ones).

Durability: each line is written with one ``write`` call and flushed, so a
killed process (SIGKILL, the OOM killer) loses nothing that was written; it
is also ``fsync``-ed, so a power cut loses at most the last interval. One
fsync per interval (1 s by default) runs on the sampler thread, never on a
worker's path; its cost was measured (see docs/reliability.md).

When a write fails (full disk, a vanished folder) the journal truncates
itself back to its last complete line, closes and reports the error once;
the run goes on and its report is still written where it can be.

:func:`read_journal` reads one back; ``Report.load`` makes it a report with
status ``crashed``: every complete interval, the totals as of the last one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from stormdb_tui import TOOL_NAME, __version__
from stormdb_tui.errors import ConfigError, StormError

JOURNAL_VERSION = 1
JOURNAL_SUFFIX = ".journal.jsonl"
MAX_JOURNAL_BYTES = 512 * 1024 * 1024
"""A day of 1 s intervals is well under 200 MB; anything larger is not one of ours."""
MAX_LINE_BYTES = 16 * 1024 * 1024


class JournalWriteError(StormError):
    """The journal could not be written; the message names the path."""


class Journal:
    """An open journal: :meth:`append` one interval at a time, then :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str], header: Mapping[str, Any], *, fsync: bool = True) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.fsync = fsync
        self.intervals = 0
        self._good = 0
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            # Exclusive create: two runs must never interleave into one journal.
            self._handle: Any = open(self.path, "x", encoding="utf-8")
        except OSError as exc:
            raise JournalWriteError(f"cannot create the run journal {self.path}: {exc.strerror or exc}") from None
        line = {"journal": JOURNAL_VERSION, "tool": {"name": TOOL_NAME, "version": __version__}, **header}
        try:
            self._write(line)
        except JournalWriteError:
            self._discard()
            raise

    @property
    def closed(self) -> bool:
        return self._handle is None

    def append(self, interval: Mapping[str, Any], totals: Mapping[str, Any]) -> None:
        """Write one interval line; raises :class:`JournalWriteError` (once) when it cannot."""
        if self._handle is None:
            return
        self._write({"interval": interval, "totals": totals})
        self.intervals += 1

    def _write(self, record: Mapping[str, Any]) -> None:
        text = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        handle = self._handle
        try:
            handle.write(text)
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
            self._good = handle.tell()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self._truncate()
            raise JournalWriteError(f"could not write the run journal {self.path}: {reason}") from None

    def _truncate(self) -> None:
        """Cut a partly written line off, so the file ends on its last complete interval."""
        handle, self._handle = self._handle, None
        try:
            os.truncate(self.path, self._good)
        except OSError:
            pass
        try:
            handle.close()
        except (OSError, ValueError):
            pass  # close flushes the buffer again, into the same full disk
        if self._good == 0:
            self._remove()

    def _discard(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except (OSError, ValueError):
                pass
            self._handle = None
        self._remove()

    def _remove(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def close(self, *, remove: bool = False) -> None:
        """Close; ``remove`` deletes the file (the finished report has replaced it)."""
        if self._handle is not None:
            try:
                self._handle.close()
            except (OSError, ValueError):
                pass
            self._handle = None
        if remove:
            self._remove()


def journal_path(report_paths: Mapping[str, Any], runs_dir: str | os.PathLike[str], workload: str,
                 started: datetime) -> str:
    """Where a run's journal goes: ``report.journal``, else beside the JSON (or Markdown) report,
    else ``runs_dir/<start time>-<workload>-<pid>.journal.jsonl``."""
    explicit = report_paths.get("journal")
    if explicit:
        return os.path.abspath(os.path.expanduser(str(explicit)))
    for key in ("json", "markdown"):
        target = report_paths.get(key)
        if target:
            path = Path(os.path.expanduser(str(target)))
            stem = path.name[: -len(path.suffix)] if path.suffix else path.name
            return str((path.parent / (stem + JOURNAL_SUFFIX)).absolute())
    stamp = started.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in workload) or "run"
    return str(Path(runs_dir).expanduser().absolute() / f"{stamp}-{safe}-{os.getpid()}{JOURNAL_SUFFIX}")


def is_journal(path: str | os.PathLike[str]) -> bool:
    """True when the file starts like a journal (its first line is a header object)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    return head.lstrip().startswith(b'{"journal"')


def read_journal(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(header, interval records, notes) from a journal; a located error for anything else.

    A last line cut off by the kill is dropped with a note; a file that is
    not a journal, or from a newer journal version, is a ConfigError.
    :meth:`stormdb_tui.report.model.Report.load` turns the pieces into a report.
    """
    return _read(os.fspath(path))


def _read(where: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    try:
        size = os.path.getsize(where)
        if size > MAX_JOURNAL_BYTES:
            raise ConfigError(f"too large for a run journal ({size:,} bytes, at most {MAX_JOURNAL_BYTES:,})", file=where)
        handle = open(where, "rb")
    except FileNotFoundError:
        raise ConfigError("no such journal file", file=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=where) from None
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    with handle:
        for number, raw in enumerate(_lines(handle, where), start=1):
            complete = raw.endswith(b"\n")
            try:
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                if header is None:
                    raise ConfigError(f"not a run journal: {_why(exc)}", file=where, line=number) from None
                # The kill cut the last line short; every line before it is whole.
                what = "an unfinished last line" if not complete else f"an unreadable line ({_why(exc)})"
                notes.append(f"journal line {number}: {what}; the intervals before it are kept")
                break
            if header is None:
                version = record.get("journal")
                if not isinstance(version, int) or isinstance(version, bool):
                    raise ConfigError("not a run journal (no journal version in its first line)", file=where, line=1)
                if version > JOURNAL_VERSION:
                    raise ConfigError(
                        f"journal version {version} is newer than this tool understands ({JOURNAL_VERSION})",
                        file=where, line=1, hint="upgrade stormdb-tui",
                    )
                header = record
                continue
            if not isinstance(record.get("interval"), dict) or not isinstance(record.get("totals"), dict):
                notes.append(f"journal line {number}: not an interval line; the intervals before it are kept")
                break
            records.append(record)
    if header is None:
        raise ConfigError("empty file, not a run journal", file=where)
    return header, records, notes


def _lines(handle: Any, where: str) -> Any:
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            raise ConfigError(f"a line longer than {MAX_LINE_BYTES:,} bytes: not a run journal", file=where)
        yield raw


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def totals_from_snapshot(snapshot: Any) -> dict[str, Any]:
    """The cumulative figures a journal line carries, from the engine's RunSnapshot."""
    overall = snapshot.overall
    ops = {
        s.label: {"count": s.count, "errors": s.errors, "tps": round(s.tps, 3), "latency_ms": dict(s.latency_ms),
                  **({"service_ms": dict(s.service_ms)} if s.service_ms is not None else {})}
        for s in snapshot.labels
    }
    return {
        "elapsed_s": round(snapshot.elapsed_s, 3),
        "transactions": snapshot.transactions,
        "errors": snapshot.errors,
        "counters": {"retries": snapshot.retries, "rollbacks": snapshot.rollbacks,
                     "queries": round(snapshot.qps * snapshot.elapsed_s)},
        "latency_ms": dict(overall.latency_ms) if overall is not None else {},
        "service_ms": dict(overall.service_ms) if overall is not None and overall.service_ms else None,
        "operations": ops,
        "error_kinds": [{"operation": k.label, "sqlstate": k.sqlstate, "count": k.count,
                         "first_message": k.first_message} for k in snapshot.error_kinds],
    }
