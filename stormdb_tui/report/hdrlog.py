"""HdrHistogram interval logs: every interval's exact latency histograms, per operation and overall.

The file is the standard HdrHistogram log (format 1.3, as the Java
``HistogramLogWriter`` writes it), so HdrHistogram's own tools read it
(``HistogramLogProcessor``, ``hdr-plot``, the Python and Go readers)::

    #[stormdb-tui 0.1.0 interval log: simple run 20260101T120000Z-1a2b3c4d]
    #[Values are latencies in microseconds; Interval_Max is in milliseconds]
    #[Histogram log format version 1.3]
    #[StartTime: 1767268800.000 (seconds since epoch), 2026-01-01 12:00:00 UTC]
    #[BaseTime: 1767268800.000 (seconds since epoch)]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    0.000,1.000,12.345,HISTFAAAA...
    Tag=tpcb-like,0.000,1.000,12.345,HISTFAAAA...

The untagged line of an interval is the overall histogram (what the tools
read when no tag is asked for); each operation has a ``Tag=`` line. Start
timestamps are seconds from ``BaseTime``, the start of the measured window.
Each payload is a V2 compressed histogram (cookie ``0x1c849314``, zlib,
base64).

Percentiles computed here follow the engine's definitions (a percentile is
the highest value equivalent to the bucket reaching its rank), so a merged
or re-read log gives the same figures as the report of the run.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from hdrh.histogram import HdrHistogram

from stormdb_tui import TOOL_NAME, __version__
from stormdb_tui.errors import ConfigError, StormError

LOG_FORMAT_VERSION = "1.3"
LOG_SUFFIX = ".hlog"
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
MAX_VALUE_UNIT_RATIO = 1000.0
"""Values are µs; the Interval_Max column is in ms, as HdrHistogram's tools expect by convention."""
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT = 3
OVERALL = "*"
"""The key of the overall histogram in mappings; it is the untagged line in the file."""
MAX_LOG_BYTES = 2 * 1024 * 1024 * 1024
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)

_TAG_UNSAFE = re.compile(r"[\s,=]")
_START_RE = re.compile(r"#\[StartTime: *([-\d.eE+]+)")
_BASE_RE = re.compile(r"#\[BaseTime: *([-\d.eE+]+)")


class HdrLogWriteError(StormError):
    """The interval log could not be written; the message names the path."""


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT)


def tag_for(label: str, taken: Iterable[str] = ()) -> str:
    """A log tag for an operation label: HdrHistogram tags hold no commas, spaces or line breaks."""
    base = _TAG_UNSAFE.sub("_", label) or "_"
    taken = set(taken)
    tag, n = base, 2
    while tag in taken:
        tag, n = f"{base}_{n}", n + 1
    return tag


def hdr_log_path(report_paths: Mapping[str, Any], fallback: str | os.PathLike[str]) -> str | None:
    """Where a run's interval log goes: ``report.hdr_log``, else beside the JSON, Markdown or HTML
    report, else ``fallback``; None when ``report.hdr_log`` is off."""
    explicit = report_paths.get("hdr_log")
    if explicit is not None and str(explicit).strip().lower() in ("off", "false", "no", "none", "0"):
        return None
    if explicit:
        return os.path.abspath(os.path.expanduser(str(explicit)))
    for key in ("json", "markdown", "html"):
        target = report_paths.get(key)
        if target:
            path = Path(os.path.expanduser(str(target)))
            stem = path.name[: -len(path.suffix)] if path.suffix else path.name
            return str((path.parent / (stem + LOG_SUFFIX)).absolute())
    return os.path.abspath(os.fspath(fallback))


class HdrLogWriter:
    """Writes one run's interval log, one interval at a time (each flushed: a killed run keeps its lines).

    ``tags`` maps operation labels to the tags used in the file; an
    operation seen once gets a line in every later interval, empty when it
    did not run, so every tag has one line per interval from its first on.
    """

    def __init__(self, path: str | os.PathLike[str], *, comment: str = "") -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.comment = comment
        self.tags: dict[str, str] = {}
        self.intervals = 0
        self.start_time_s: float | None = None
        self._handle: TextIO | None = None
        self._good = 0
        self.closed = False

    def start(self, start_time_s: float) -> None:
        """Create the file and write its header; ``start_time_s`` (epoch seconds) is the measured start."""
        self.start_time_s = start_time_s
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self._handle = open(self.path, "w", encoding="ascii", newline="\n")
        except OSError as exc:
            self.closed = True
            raise HdrLogWriteError(f"cannot create the interval log {self.path}: {exc.strerror or exc}") from None
        when = datetime.fromtimestamp(start_time_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines = []
        if self.comment:
            lines.append(f"#[{self.comment}]")
        lines += [
            "#[Values are latencies in microseconds; Interval_Max is in milliseconds]",
            f"#[Histogram log format version {LOG_FORMAT_VERSION}]",
            f"#[StartTime: {start_time_s:.3f} (seconds since epoch), {when}]",
            f"#[BaseTime: {start_time_s:.3f} (seconds since epoch)]",
            LEGEND,
        ]
        self._write("\n".join(lines) + "\n")

    def write(self, start_s: float, length_s: float, histograms: Mapping[str, HdrHistogram]) -> None:
        """One interval: ``start_s`` from the measured start; ``histograms`` per label, ``"*"`` overall."""
        if self.closed:
            return
        if self._handle is None:
            self.start(time.time() - start_s - length_s)
        for label in histograms:
            if label != OVERALL and label not in self.tags:
                self.tags[label] = tag_for(label, self.tags.values())
        empty: HdrHistogram | None = None
        lines = []
        overall = histograms.get(OVERALL)
        for label, tag in [(OVERALL, None), *self.tags.items()]:
            hist = histograms.get(label) if label != OVERALL else overall
            if hist is None:
                if empty is None:
                    empty = new_histogram()
                hist = empty
            lines.append(format_line(start_s, length_s, hist, tag))
        self._write("".join(lines))
        self.intervals += 1

    def _write(self, text: str) -> None:
        handle = self._handle
        if handle is None:
            return
        try:
            handle.write(text)
            handle.flush()
            self._good = handle.tell()
        except (OSError, ValueError) as exc:
            self.close()
            # Cut a partly written line off: the file keeps ending on its last whole interval.
            try:
                os.truncate(self.path, self._good)
            except OSError:
                pass
            reason = getattr(exc, "strerror", None) or str(exc)
            raise HdrLogWriteError(f"could not write the interval log {self.path}: {reason}") from None

    def close(self) -> None:
        handle, self._handle = self._handle, None
        self.closed = True
        if handle is not None:
            try:
                handle.close()
            except (OSError, ValueError):
                pass

    def describe(self) -> dict[str, Any]:
        """What the report's ``hdr_log`` key records about the file."""
        return {
            "path": self.path,
            "format": f"HdrHistogram interval log {LOG_FORMAT_VERSION}",
            "unit": "us",
            "intervals": self.intervals,
            "overall": "the untagged lines",
            "tags": dict(self.tags),
        }


def format_line(start_s: float, length_s: float, hist: HdrHistogram, tag: str | None = None) -> str:
    payload = hist.encode().decode("ascii")
    max_ms = hist.get_max_value() / MAX_VALUE_UNIT_RATIO if hist.get_total_count() else 0.0
    prefix = f"Tag={tag}," if tag else ""
    return f"{prefix}{start_s:.3f},{length_s:.3f},{max_ms:.3f},{payload}\n"


@dataclass
class LogInterval:
    """One line of a log: ``start_s`` is seconds from the log's StartTime."""

    tag: str | None
    start_s: float
    length_s: float
    max_ms: float
    histogram: HdrHistogram


@dataclass
class HdrLog:
    path: str
    start_time_s: float | None
    intervals: list[LogInterval] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def tags(self) -> list[str | None]:
        seen: dict[str | None, None] = {}
        for entry in self.intervals:
            seen.setdefault(entry.tag, None)
        return list(seen)

    def totals(self) -> dict[str | None, HdrHistogram]:
        """Every tag's intervals added into one histogram (None: the untagged overall one)."""
        out: dict[str | None, HdrHistogram] = {}
        for entry in self.intervals:
            if entry.tag not in out:
                out[entry.tag] = new_histogram()
            add_into(out[entry.tag], entry.histogram, self.path)
        return out


def add_into(target: HdrHistogram, hist: HdrHistogram, where: str = "") -> None:
    """Add counts exactly; a value beyond the target's range is a located error, not a crash."""
    try:
        target.add(hist)
    except IndexError:
        raise ConfigError(
            f"a histogram holds values beyond {HIGHEST_US:,} (1 h in µs): not a latency log in microseconds",
            file=where or None,
        ) from None


def read_log(path: str | os.PathLike[str]) -> HdrLog:
    """Every interval line of an HdrHistogram log; a located error for a file that is not one."""
    where = os.fspath(path)
    try:
        if os.path.isdir(where):
            raise ConfigError("is a directory, not an HdrHistogram log", file=where)
        size = os.path.getsize(where)
        if size > MAX_LOG_BYTES:
            raise ConfigError(f"too large for an interval log ({size:,} bytes)", file=where)
        handle = open(where, encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise ConfigError("no such HdrHistogram log", file=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=where) from None
    log = HdrLog(os.path.abspath(where), None)
    base: float | None = None
    first_stamp: float | None = None
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line:
                    continue
                if line.startswith("#"):
                    match = _START_RE.match(line)
                    if match:
                        log.start_time_s = float(match.group(1))
                        continue
                    match = _BASE_RE.match(line)
                    if match:
                        base = float(match.group(1))
                        continue
                    log.comments.append(line[1:].strip("[] "))
                    continue
                if line.startswith('"StartTimestamp"'):
                    continue
                tag: str | None = None
                if line.startswith("Tag="):
                    tag, _, line = line[4:].partition(",")
                fields = line.split(",")
                if len(fields) != 4:
                    raise ConfigError("not an HdrHistogram interval line", file=where, line=number,
                                      expected="[Tag=NAME,]start,length,max,histogram", found=raw.strip()[:60])
                try:
                    stamp, length, max_ms = float(fields[0]), float(fields[1]), float(fields[2])
                    hist = HdrHistogram.decode(fields[3].encode("ascii"))
                except Exception as exc:  # the codec raises several unrelated types for a damaged payload
                    raise ConfigError(f"unreadable interval line: {type(exc).__name__}: {exc}", file=where,
                                      line=number) from None
                if not all(math.isfinite(v) for v in (stamp, length, max_ms)):
                    raise ConfigError("a timestamp that is not a finite number", file=where, line=number)
                if first_stamp is None:
                    first_stamp = stamp
                log.intervals.append(LogInterval(tag, stamp, length, max_ms, hist))
        except UnicodeDecodeError:
            raise ConfigError("not an HdrHistogram log: binary content", file=where) from None
    if not log.intervals and log.start_time_s is None:
        raise ConfigError("not an HdrHistogram log (no StartTime and no interval line)", file=where)
    # Timestamps are relative to BaseTime; without one, HdrHistogram's rule: absolute when within a year.
    start = log.start_time_s
    if base is None:
        if start is None:
            start = first_stamp or 0.0
            base = 0.0
        else:
            base = start if first_stamp is not None and first_stamp < start - 365 * 86400 else 0.0
        log.start_time_s = start
    assert start is not None
    for entry in log.intervals:
        entry.start_s = entry.start_s + base - start
    return log


def buckets(hist: HdrHistogram) -> list[tuple[int, int]]:
    """(lowest equivalent value, count) of each non-empty bucket, in value order."""
    counts = hist.counts
    n = min(hist.counts_len, len(counts))
    lo = 0
    if hist.get_total_count() and 0 < hist.min_value <= hist.max_value:
        lo = min(max(hist.get_counts_array_index(hist.min_value), 0), n)
        n = min(hist.get_counts_array_index(hist.max_value) + 1, n)
    value_of = hist.get_value_from_index
    return [(value_of(i), c) for i, c in enumerate(counts[lo:n], lo) if c]


def _pkey(p: float) -> str:
    return "p" + f"{p:g}".replace(".", "_")


def summarize(hist: HdrHistogram, percentiles: Sequence[float] = PERCENTILES) -> dict[str, Any]:
    """count, percentiles, max, mean and stddev in ms, as the report states them (None when empty)."""
    total = hist.get_total_count()
    keys = [_pkey(p) for p in percentiles]
    out: dict[str, Any] = {"count": total}
    if not total:
        return {**out, **dict.fromkeys(keys), "max": None, "mean": None, "stddev": None}
    rows = buckets(hist)
    lowest, highest = hist.get_lowest_equivalent_value, hist.get_highest_equivalent_value
    medians = []
    for value, _ in rows:
        low = lowest(value)
        medians.append(low + ((highest(low) - low + 1) >> 1))
    mean = sum(m * c for m, (_, c) in zip(medians, rows, strict=True)) / total
    var = sum((m - mean) ** 2 * c for m, (_, c) in zip(medians, rows, strict=True)) / total
    targets = sorted((max(int(min(p, 100.0) * total / 100 + 0.5), 1), p, k) for p, k in zip(percentiles, keys, strict=True))
    found: dict[str, float] = {}
    seen = t = 0
    for value, count in rows:
        seen += count
        while t < len(targets) and seen >= targets[t][0]:
            _, p, key = targets[t]
            found[key] = round((highest(value) if p else lowest(value)) / 1000.0, 3)
            t += 1
        if t == len(targets):
            break
    for _, _, key in targets[t:]:
        found[key] = round(hist.get_max_value() / 1000.0, 3)
    out.update((k, found[k]) for k in keys)
    out["max"] = round(hist.get_max_value() / 1000.0, 3)
    out["mean"] = round(mean / 1000.0, 3)
    out["stddev"] = round(math.sqrt(var) / 1000.0, 3)
    return out


@dataclass
class MergedLog:
    """Logs added together: the i-th interval of every input added, per tag, into the i-th interval."""

    sources: list[str]
    start_time_s: float
    intervals: list[tuple[float, float, dict[str | None, HdrHistogram]]]
    totals: dict[str | None, HdrHistogram]

    def write(self, path: str | os.PathLike[str]) -> str:
        writer = HdrLogWriter(path, comment=f"{TOOL_NAME} {__version__} merged log of {len(self.sources)} logs: "
                              + " ".join(os.path.basename(s) for s in self.sources))
        writer.start(self.start_time_s)
        tags = [t for t in self.totals if t is not None]
        for start_s, length_s, hists in self.intervals:
            lines = []
            for tag in (None, *tags):
                hist = hists.get(tag)
                if hist is None:
                    hist = new_histogram()
                lines.append(format_line(start_s, length_s, hist, tag))
            writer._write("".join(lines))
            writer.intervals += 1
        writer.close()
        return writer.path

    def summary(self, percentiles: Sequence[float] = PERCENTILES) -> dict[str, dict[str, Any]]:
        """Per tag (``"*"`` for the untagged overall), figures of the added histograms."""
        return {(OVERALL if tag is None else tag): summarize(hist, percentiles) for tag, hist in self.totals.items()}


def merge_logs(logs: Sequence[HdrLog]) -> MergedLog:
    """Add logs exactly: histograms are added bucket by bucket, never percentiles averaged.

    Intervals are aligned by their position from each log's start (several
    load generators started together, or repetitions of one run), each
    merged interval stamped with the earliest start among its parts.
    """
    if not logs:
        raise ConfigError("nothing to merge: give at least one log")
    start = min((log.start_time_s or 0.0) for log in logs)
    merged: list[tuple[float, float, dict[str | None, HdrHistogram]]] = []
    totals: dict[str | None, HdrHistogram] = {}
    for log in logs:
        offset = (log.start_time_s or 0.0) - start
        # The lines of one interval share its start stamp; its position counts distinct stamps.
        position: dict[float, int] = {}
        for entry in log.intervals:
            i = position.setdefault(round(entry.start_s, 3), len(position))
            while len(merged) <= i:
                merged.append((math.inf, 0.0, {}))
            begin, length, hists = merged[i]
            if entry.tag not in hists:
                hists[entry.tag] = new_histogram()
            add_into(hists[entry.tag], entry.histogram, log.path)
            merged[i] = (min(begin, entry.start_s + offset), max(length, entry.length_s), hists)
            if entry.tag not in totals:
                totals[entry.tag] = new_histogram()
            add_into(totals[entry.tag], entry.histogram, log.path)
    return MergedLog([log.path for log in logs], start, merged, totals)
