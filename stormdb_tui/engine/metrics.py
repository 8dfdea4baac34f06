"""Measurement: per-worker recorders, interval parts, the aggregated time series.

The hot path (a worker thread) appends raw latencies in microseconds to
plain lists in its own :class:`Recorder`; nothing is shared and nothing is
locked. Once per interval the sampler swaps each worker's recorder for a
fresh one and folds the raw values into HdrHistograms (1 µs to 1 h, 3
significant digits), producing an :class:`IntervalPart` per worker group.
The :class:`Aggregator` merges parts into immutable :class:`IntervalSample`
objects and cumulative histograms, and builds the :class:`RunSnapshot`
the TUI and the headless progress line read.

A worker may be pre-empted between reading its recorder and appending to
it, so a value can land in a recorder just after the swap. Swapped
recorders are therefore kept for one more interval and anything that
arrived late is folded into the next interval: nothing is lost.
"""

from __future__ import annotations

import bisect
import math
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping, MutableSequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from stormdb_tui.engine.audit import ClientTally
from stormdb_tui.report.model import OperationFigures

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT = 3
REPORT_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
CONNECTION_LABEL = "(connection)"
"""The pseudo-operation a failed reconnect is recorded under: it is no transaction's error."""
INTERVAL_LATENCY_KEYS = ("p50", "p90", "p95", "p99", "p99_9", "max")
"""What each interval keeps of its overall latency (the dashboard shows the full ladder per interval)."""


def _acyclic(hist: HdrHistogram) -> HdrHistogram:
    """Break the histogram <-> encoder reference cycle the hdrh package creates.

    With the cycle, every discarded histogram (a 188 KB counts array, several
    per interval) waits for the cyclic garbage collector, and the client's
    RSS saw-toothed between 48 and 71 MB in a 10-minute soak. A weak back
    reference lets reference counting free it at once.
    """
    hist.encoder.histogram = weakref.proxy(hist)
    return hist


def new_histogram() -> HdrHistogram:
    return _acyclic(HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT))


def record_all(hist: HdrHistogram, values: Iterable[int]) -> None:
    """Fold raw microsecond values into a histogram, clamping to its range.

    ``HdrHistogram.record_value`` is pure Python, about 2 µs a call: an open
    model's latencies spread over milliseconds are nearly all distinct, and
    recording them one by one stalled the event loop for 15 ms per 7,000
    values. The values are counted first (``Counter`` runs in C), then each
    distinct value's counts index is computed inline (the library's own
    formula) and its count added there. The result is the histogram
    ``record_value`` builds, counts, total, min and max alike.
    """
    counted = Counter(values)
    if not counted:
        return
    counts = hist.counts
    mask = hist.sub_bucket_mask
    unit = hist.unit_magnitude
    top_bits = hist.sub_bucket_half_count_magnitude + 1
    half_magnitude = hist.sub_bucket_half_count_magnitude
    half_count = hist.sub_bucket_half_count
    limit = hist.counts_len
    total = 0
    lowest, highest = hist.min_value, hist.max_value
    for value, count in counted.items():
        if value < LOWEST_US:
            value = LOWEST_US
        elif value > HIGHEST_US:
            value = HIGHEST_US
        bucket = (value | mask).bit_length() - unit - top_bits
        index = ((bucket + 1) << half_magnitude) + (value >> (bucket + unit)) - half_count
        if 0 <= index < limit:
            counts[index] += count
            total += count
            if value < lowest:
                lowest = value
            if value > highest:
                highest = value
    hist.total_count += total
    hist.min_value, hist.max_value = lowest, highest


def _pkey(p: float) -> str:
    return "p" + (f"{p:g}".replace(".", "_"))


def _nonzero(hist: HdrHistogram) -> list[tuple[int, int]]:
    """(counts index, count) of every non-empty bucket, in value order."""
    counts = hist.counts
    n = min(hist.counts_len, len(counts), hist.encoder.payload.counts_len)
    lo = 0
    if 0 < hist.min_value <= hist.max_value:  # scan only between the extremes
        lo = min(max(hist.get_counts_array_index(hist.min_value), 0), n)
        n = min(hist.get_counts_array_index(hist.max_value) + 1, n)
    return [(i, c) for i, c in enumerate(counts[lo:n], lo) if c]


def _bucket_ranges(hist: HdrHistogram, indexes: list[int]) -> tuple[list[int], list[int]]:
    """Lowest value and width of the buckets at these counts indexes (the library's arithmetic, inline).

    ``get_value_from_index`` and the equivalent-value methods cost a few µs a
    call in pure Python; a cumulative histogram of a spread-out run has
    thousands of non-empty buckets, summarised every interval.
    """
    magnitude = hist.sub_bucket_half_count_magnitude
    half = hist.sub_bucket_half_count
    unit = hist.unit_magnitude
    lows, sizes = [], []
    for index in indexes:
        bucket = (index >> magnitude) - 1
        if bucket <= 0:  # the first bucket: every value its own
            lows.append(index << unit)
            sizes.append(1 << unit)
        else:
            shift = bucket + unit
            lows.append(((index & (half - 1)) + half) << shift)
            sizes.append(1 << shift)
    return lows, sizes


def latency_summary(hist: HdrHistogram | None, percentiles: Iterable[float] = REPORT_PERCENTILES) -> dict[str, float | None]:
    """Percentiles, max, mean and stddev of a histogram, in milliseconds.

    Keys are ``p50``, ``p90``, ``p95``, ``p99``, ``p99_9``, ``max``, ``mean``,
    ``stddev``; values are ``None`` for an empty histogram.

    The figures are HdrHistogram's own definitions (a percentile is the
    highest value equivalent to the bucket that reaches the rank; mean and
    stddev use each bucket's median value), computed in one pass over the
    non-empty buckets: the library's iterators walk every bucket in pure
    Python and made the sampler the busiest thread of a run.
    """
    percentiles = tuple(percentiles)
    keys = [_pkey(p) for p in percentiles]
    total = hist.get_total_count() if hist is not None else 0
    if hist is None or total == 0:
        return {**{k: None for k in keys}, "max": None, "mean": None, "stddev": None}
    buckets = _nonzero(hist)
    lows, sizes = _bucket_ranges(hist, [index for index, _ in buckets])
    medians = [low + (size >> 1) for low, size in zip(lows, sizes, strict=True)]
    mean = sum(m * c for m, (_, c) in zip(medians, buckets, strict=True)) / total
    var = sum((m - mean) ** 2 * c for m, (_, c) in zip(medians, buckets, strict=True)) / total
    targets = sorted((max(int(min(p, 100.0) * total / 100 + 0.5), 1), p, k) for p, k in zip(percentiles, keys, strict=True))
    out: dict[str, float | None] = {}
    seen = 0
    t = 0
    for (_, count), low, size in zip(buckets, lows, sizes, strict=True):
        seen += count
        while t < len(targets) and seen >= targets[t][0]:
            _, p, key = targets[t]
            out[key] = round((low + size - 1 if p else low) / 1000.0, 3)
            t += 1
        if t == len(targets):
            break
    for _, _, key in targets[t:]:
        out[key] = round(hist.get_max_value() / 1000.0, 3)
    out = {k: out[k] for k in keys}
    out["max"] = round(hist.get_max_value() / 1000.0, 3)
    out["mean"] = round(mean / 1000.0, 3)
    out["stddev"] = round(math.sqrt(var) / 1000.0, 3)
    return out


class Recorder:
    """One worker's raw measurements for the current interval (never shared).

    ``lat`` maps an operation label to latencies in µs (from the scheduled
    start in the open model, from the request for a pooled connection with
    a shared pool), ``svc`` to service times (open model or shared pool
    only), ``lag`` and ``wait`` (key ``"*"``) to schedule lag and pool wait,
    ``errors`` lists (label, sqlstate, message) tuples. Workers keep the
    latencies in ``array("q")``: 8 bytes a value instead of a pointer plus an
    int object (about 40 bytes) kept alive until the sampler folds it, for
    the same append cost (0.045 vs 0.03 µs). Any sequence of ints works.
    """

    __slots__ = ("lat", "svc", "lag", "wait", "errors")

    def __init__(self) -> None:
        self.lat: dict[str, MutableSequence[int]] = {}
        self.svc: dict[str, MutableSequence[int]] = {}
        self.lag: dict[str, MutableSequence[int]] = {}
        self.wait: dict[str, MutableSequence[int]] = {}
        self.errors: list[tuple[str, str, str]] = []


@dataclass
class ErrorKind:
    """Errors of one (operation, SQLSTATE) kind and the first message seen."""

    label: str
    sqlstate: str
    count: int
    first_message: str


@dataclass
class IntervalPart:
    """One worker group's measurements for one interval (picklable via :meth:`encode`)."""

    hists: dict[str, HdrHistogram] = field(default_factory=dict)
    svc_hists: dict[str, HdrHistogram] = field(default_factory=dict)
    lag_hists: dict[str, HdrHistogram] = field(default_factory=dict)
    wait_hists: dict[str, HdrHistogram] = field(default_factory=dict)
    errors: dict[tuple[str, str], ErrorKind] = field(default_factory=dict)
    worker_counts: dict[int, tuple[int, int]] = field(default_factory=dict)
    """worker id -> (transactions, errors) in this interval."""
    counters: dict[str, int] = field(default_factory=dict)
    """Deltas of queries, retries, rollbacks, skipped, late, reconnects."""
    client: list[dict[str, Any]] = field(default_factory=list)
    """One record per client process: its CPU, run-queue wait and lag (see engine.audit)."""

    def merge(self, other: IntervalPart) -> IntervalPart:
        """Add ``other`` into this part (histograms added, counts summed) and return this part.

        The one way interval parts combine: a thread group folding its
        workers, a process group adding its children, the aggregator adding
        the groups of one interval. ``other`` must not be used afterwards:
        its histograms may now belong to this part.
        """
        for mine, theirs in (
            (self.hists, other.hists),
            (self.svc_hists, other.svc_hists),
            (self.lag_hists, other.lag_hists),
            (self.wait_hists, other.wait_hists),
        ):
            for label, hist in theirs.items():
                if label in mine:
                    mine[label].add(hist)
                else:
                    mine[label] = hist
        for key, kind in other.errors.items():
            known = self.errors.get(key)
            if known is None:
                self.errors[key] = ErrorKind(kind.label, kind.sqlstate, kind.count, kind.first_message)
            else:
                known.count += kind.count
        for wid, (count, errs) in other.worker_counts.items():
            prev = self.worker_counts.get(wid, (0, 0))
            self.worker_counts[wid] = (prev[0] + count, prev[1] + errs)
        for name, value in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        self.client.extend(other.client)
        return self

    @classmethod
    def merged(cls, parts: Iterable[IntervalPart]) -> IntervalPart:
        """One part holding all of ``parts`` (which are consumed)."""
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def encode(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "hists": {k: h.encode() for k, h in self.hists.items()},
            "svc_hists": {k: h.encode() for k, h in self.svc_hists.items()},
            "lag_hists": {k: h.encode() for k, h in self.lag_hists.items()},
            "wait_hists": {k: h.encode() for k, h in self.wait_hists.items()},
            "errors": [(e.label, e.sqlstate, e.count, e.first_message) for e in self.errors.values()],
            "worker_counts": self.worker_counts,
            "counters": self.counters,
        }

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> IntervalPart:
        part = cls()
        part.hists = {k: _acyclic(HdrHistogram.decode(v)) for k, v in data["hists"].items()}
        part.svc_hists = {k: _acyclic(HdrHistogram.decode(v)) for k, v in data["svc_hists"].items()}
        part.lag_hists = {k: _acyclic(HdrHistogram.decode(v)) for k, v in data.get("lag_hists", {}).items()}
        part.wait_hists = {k: _acyclic(HdrHistogram.decode(v)) for k, v in data.get("wait_hists", {}).items()}
        for label, state, count, msg in data["errors"]:
            part.errors[(label, state)] = ErrorKind(label, state, count, msg)
        part.worker_counts = dict(data["worker_counts"])
        part.counters = dict(data["counters"])
        part.client = list(data.get("client") or ())
        return part


COUNTER_NAMES = ("queries", "retries", "rollbacks", "skipped", "late", "reconnects", "reconnect_failures")


@dataclass(frozen=True)
class IntervalSample:
    """One point of the time series; ``t_s`` is the end of the interval from the measured start."""

    t_s: float
    duration_s: float
    transactions: int
    tps: float
    qps: float
    errors: int
    retries: int
    rollbacks: int
    skipped: int
    latency_ms: Mapping[str, float | None]
    labels: Mapping[str, Mapping[str, Any]]
    pg: Mapping[str, Any] | None = None
    client: Mapping[str, Any] | None = None
    """The client's own figures for the interval and whether it was the limit (engine.audit)."""
    late: int = 0
    service_ms: Mapping[str, float | None] | None = None
    """Without the schedule lag and the pool wait; None when it equals the latency."""
    lag_ms: Mapping[str, float | None] | None = None
    """Open model: how late transactions started against their schedule (pgbench -P's "lag")."""
    pool_wait_ms: Mapping[str, float | None] | None = None
    """Pool smaller than the workers: the wait for a pooled connection."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "t_s": round(self.t_s, 3),
            "duration_s": round(self.duration_s, 3),
            "transactions": self.transactions,
            "tps": round(self.tps, 2),
            "qps": round(self.qps, 2),
            "errors": self.errors,
            "retries": self.retries,
            "rollbacks": self.rollbacks,
            "skipped": self.skipped,
            "late": self.late,
            "latency_ms": dict(self.latency_ms),
            "service_ms": dict(self.service_ms) if self.service_ms is not None else None,
            "lag_ms": dict(self.lag_ms) if self.lag_ms is not None else None,
            "pool_wait_ms": dict(self.pool_wait_ms) if self.pool_wait_ms is not None else None,
            "operations": {k: dict(v) for k, v in self.labels.items()},
            "pg": dict(self.pg) if self.pg is not None else None,
            "client": dict(self.client) if self.client is not None else None,
        }


@dataclass(frozen=True)
class RunSnapshot:
    """An immutable view of a run for the UI and progress lines; replaced, never mutated."""

    status: str
    phase: str
    elapsed_s: float
    duration_s: float | None
    warmup_s: float
    workers: int
    transactions: int
    errors: int
    retries: int
    rollbacks: int
    tps: float
    qps: float
    intervals: tuple[IntervalSample, ...]
    labels: tuple[OperationFigures, ...]
    overall: OperationFigures | None
    error_kinds: tuple[ErrorKind, ...]
    worker_counts: Mapping[int, tuple[int, int]]
    pg: Mapping[str, Any] | None
    events: tuple[Mapping[str, Any], ...] = ()
    message: str = ""
    client_bound: bool = False
    """The last interval was limited by the load generator itself: its figures describe the client."""
    client: Mapping[str, Any] | None = None
    agreement: Mapping[str, Any] | None = None

    @property
    def last(self) -> IntervalSample | None:
        return self.intervals[-1] if self.intervals else None


class Aggregator:
    """Merges interval parts into the time series and cumulative statistics.

    Used only by the sampler thread; it hands out immutable samples and
    snapshots, so readers never see it change under them.
    """

    def __init__(self, percentiles: Iterable[float] = REPORT_PERCENTILES) -> None:
        self.percentiles = tuple(percentiles)
        self.cum: dict[str, HdrHistogram] = {}
        self.cum_svc: dict[str, HdrHistogram] = {}
        self.cum_all = new_histogram()
        self.cum_svc_all = new_histogram()
        self.cum_lag = new_histogram()
        self.cum_wait = new_histogram()
        self.label_errors: dict[str, int] = {}
        self.errors: dict[tuple[str, str], ErrorKind] = {}
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        self.worker_totals: dict[int, list[int]] = {}
        self.intervals: list[IntervalSample] = []
        self.transactions = 0
        self.error_count = 0
        self.events: list[dict[str, Any]] = []
        self.client = ClientTally()
        self.origin: float | None = None
        """``time.monotonic()`` of the measured start: server events are placed on the series' clock."""
        self.interval_hists: dict[str, HdrHistogram] = {}
        """The last interval's latency histograms per label and ``"*"`` overall, for interval logs and
        exporters called right after :meth:`add` (replaced, never kept: a run's memory stays flat)."""

    def add(self, parts: list[IntervalPart], t_s: float, duration_s: float, pg: Mapping[str, Any] | None = None) -> IntervalSample:
        """Merge one interval's parts; returns the new sample (also appended to the series)."""
        interval_all = new_histogram()
        label_errs: dict[str, int] = {}
        counters = dict.fromkeys(COUNTER_NAMES, 0)
        errors = 0
        part = IntervalPart.merged(parts)
        label_hists = part.hists
        svc_all = new_histogram()
        lag_all = new_histogram()
        wait_all = new_histogram()
        for label, hist in part.svc_hists.items():
            if label not in self.cum_svc:
                self.cum_svc[label] = new_histogram()
            self.cum_svc[label].add(hist)
            svc_all.add(hist)
        for hist in part.lag_hists.values():
            lag_all.add(hist)
        for hist in part.wait_hists.values():
            wait_all.add(hist)
        for key, kind in part.errors.items():
            if kind.label == CONNECTION_LABEL:  # not a transaction: kept as a kind, not an operation's error
                counters["reconnect_failures"] += kind.count
            else:
                errors += kind.count
                label_errs[kind.label] = label_errs.get(kind.label, 0) + kind.count
            known = self.errors.get(key)
            if known is None:
                self.errors[key] = ErrorKind(kind.label, kind.sqlstate, kind.count, kind.first_message)
            else:
                known.count += kind.count
        for name, value in part.counters.items():
            if name != "reconnect_failures":  # counted from the error kinds above
                counters[name] = counters.get(name, 0) + value
        for wid, (count, errs) in part.worker_counts.items():
            totals = self.worker_totals.setdefault(wid, [0, 0])
            totals[0] += count
            totals[1] += errs
        labels: dict[str, dict[str, Any]] = {}
        count = 0
        for label, hist in label_hists.items():
            n = hist.get_total_count()
            count += n
            interval_all.add(hist)
            if label not in self.cum:
                self.cum[label] = new_histogram()
            self.cum[label].add(hist)
            summary = latency_summary(hist, (50.0, 95.0, 99.0))
            labels[label] = {
                "count": n,
                "tps": round(n / duration_s, 2) if duration_s > 0 else 0.0,
                "errors": label_errs.get(label, 0),
                "latency_ms": {k: summary[k] for k in ("p50", "p95", "p99", "max")},
            }
        for label, errs in label_errs.items():
            self.label_errors[label] = self.label_errors.get(label, 0) + errs
            labels.setdefault(
                label, {"count": 0, "tps": 0.0, "errors": errs, "latency_ms": dict.fromkeys(("p50", "p95", "p99", "max"))}
            )
        self.cum_all.add(interval_all)
        self.interval_hists = {**label_hists, "*": interval_all}
        self.cum_svc_all.add(svc_all)
        self.cum_lag.add(lag_all)
        self.cum_wait.add(wait_all)
        for name, value in counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        self.transactions += count
        self.error_count += errors
        overall = latency_summary(interval_all)
        own_time = svc_all if svc_all.get_total_count() else interval_all  # the open model's wait is not the server's
        if own_time.get_total_count():
            median: float | None = own_time.get_value_at_percentile(50.0) / 1000
        else:  # nothing finished: what was in flight has run about as long as the interval
            median = duration_s * 1000 if duration_s > 0 else None
        client = self.client.add(part.client, duration_s, median)
        if pg and pg.get("events"):
            origin = self.origin
            self.events.extend(
                dict(e, t_s=round(e["t"] - origin if origin is not None and "t" in e else t_s, 3)) for e in pg["events"]
            )

        def short(hist: HdrHistogram) -> dict[str, float | None] | None:
            if not hist.get_total_count():
                return None
            summary = latency_summary(hist, (50.0, 95.0, 99.0))
            return {k: summary[k] for k in ("p50", "p95", "p99", "max", "mean")}

        sample = IntervalSample(
            t_s=t_s,
            duration_s=duration_s,
            transactions=count,
            tps=count / duration_s if duration_s > 0 else 0.0,
            qps=counters["queries"] / duration_s if duration_s > 0 else 0.0,
            errors=errors,
            retries=counters["retries"],
            rollbacks=counters["rollbacks"],
            skipped=counters["skipped"],
            latency_ms={k: overall[k] for k in (*INTERVAL_LATENCY_KEYS, "mean")},
            labels=labels,
            pg=pg,
            client=client,
            late=counters["late"],
            service_ms=short(svc_all),
            lag_ms=short(lag_all),
            pool_wait_ms=short(wait_all),
        )
        self.intervals.append(sample)
        return sample

    def waits(self) -> dict[str, dict[str, float | None] | None]:
        """Cumulative schedule lag and pool wait (None when there was none to measure)."""
        return {
            "schedule_lag_ms": latency_summary(self.cum_lag, self.percentiles) if self.cum_lag.get_total_count() else None,
            "pool_wait_ms": latency_summary(self.cum_wait, self.percentiles) if self.cum_wait.get_total_count() else None,
        }

    def label_stats(self, elapsed_s: float) -> tuple[tuple[OperationFigures, ...], OperationFigures]:
        """Cumulative per-label and overall statistics over the measured window."""
        stats = []
        names = sorted(set(self.cum) | set(self.label_errors))
        for label in names:
            hist = self.cum.get(label)
            n = hist.get_total_count() if hist is not None else 0
            svc = self.cum_svc.get(label)
            stats.append(
                OperationFigures(
                    n,
                    self.label_errors.get(label, 0),
                    n / elapsed_s if elapsed_s > 0 else 0.0,
                    latency_summary(hist, self.percentiles),
                    latency_summary(svc, self.percentiles) if svc is not None else None,
                    label=label,
                )
            )
        n_all = self.cum_all.get_total_count()
        overall = OperationFigures(
            n_all,
            self.error_count,
            n_all / elapsed_s if elapsed_s > 0 else 0.0,
            latency_summary(self.cum_all, self.percentiles),
            latency_summary(self.cum_svc_all, self.percentiles) if self.cum_svc_all.get_total_count() else None,
        )
        return tuple(stats), overall


def _fold_lists(lists: dict[str, Any], hists: dict[str, HdrHistogram], prefix: str, offsets: dict[str, int]) -> int:
    """Fold each label's values past its offset into that label's histogram; returns how many."""
    count = 0
    for label, values in list(lists.items()):
        key = prefix + label
        start = offsets.get(key, 0)
        end = len(values)
        if end > start:
            hist = hists.get(label)
            if hist is None:
                hist = hists[label] = new_histogram()
            record_all(hist, values[start:end] if start else values[:end])
            count += end - start
        offsets[key] = end
    return count


def fold_recorder(
    wid: int,
    rec: Recorder,
    part: IntervalPart,
    offsets: dict[str, int] | None = None,
) -> dict[str, int]:
    """Fold one worker's recorder into ``part``, skipping what ``offsets`` says was folded before.

    Returns the new offsets: keys ``lat:LABEL``, ``svc:LABEL`` and ``err``
    with how many values of each list have now been folded. Folding the
    same recorder again later with those offsets adds only late arrivals.
    """
    offsets = dict(offsets or {})
    count = _fold_lists(rec.lat, part.hists, "lat:", offsets)
    _fold_lists(rec.svc, part.svc_hists, "svc:", offsets)
    _fold_lists(rec.lag, part.lag_hists, "lag:", offsets)
    _fold_lists(rec.wait, part.wait_hists, "wait:", offsets)
    start = offsets.get("err", 0)
    errors = rec.errors[start:]
    failed = 0
    for label, state, message in errors:
        if label != CONNECTION_LABEL:
            failed += 1
        key2 = (label, state)
        kind = part.errors.get(key2)
        if kind is None:
            part.errors[key2] = ErrorKind(label, state, 1, message)
        else:
            kind.count += 1
    offsets["err"] = start + len(errors)
    if count or errors or wid not in part.worker_counts:
        prev = part.worker_counts.get(wid, (0, 0))
        part.worker_counts[wid] = (prev[0] + count, prev[1] + failed)
    return offsets


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
