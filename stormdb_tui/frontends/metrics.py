"""Live Prometheus/OpenMetrics endpoint for a run (``--metrics-port`` / ``run.metrics_port``).

The exporter is an interval sink of the run session: once per interval
(on the sampler thread) it folds the interval's figures and histograms into
plain numbers under a lock; a scrape (on the HTTP server's thread) reads
those numbers and never touches the engine. Every series carries the
``run_id`` and ``workload`` labels, so several generators or runs can be
told apart on one Grafana board. The names are listed in docs/formats.md.
"""

from __future__ import annotations

import bisect
import errno
import operator
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from stormdb_tui import __version__
from stormdb_tui.errors import UsageError
from stormdb_tui.report.hdrlog import new_histogram

LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                     1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (s) of the exported latency histogram; +Inf follows. HdrHistogram's exact buckets
are folded into them, each by its highest equivalent value (never counted as faster than it was)."""

_COUNTERS = ("transactions", "errors", "retries", "rollbacks", "skipped", "late", "queries")
_PG_RATES = {
    "commits_s": ("pg_commits_per_second", "server commits per second (pg_stat_database)"),
    "rollbacks_s": ("pg_rollbacks_per_second", "server rollbacks per second"),
    "blks_hit_s": ("pg_blocks_hit_per_second", "shared buffer hits per second"),
    "blks_read_s": ("pg_blocks_read_per_second", "blocks read from outside shared buffers per second"),
    "tup_returned_s": ("pg_tuples_returned_per_second", "tuples returned per second"),
    "tup_fetched_s": ("pg_tuples_fetched_per_second", "tuples fetched per second"),
    "tup_inserted_s": ("pg_tuples_inserted_per_second", "tuples inserted per second"),
    "tup_updated_s": ("pg_tuples_updated_per_second", "tuples updated per second"),
    "tup_deleted_s": ("pg_tuples_deleted_per_second", "tuples deleted per second"),
    "temp_bytes_s": ("pg_temp_bytes_per_second", "temporary file bytes written per second"),
    "wal_records_s": ("pg_wal_records_per_second", "WAL records per second"),
    "wal_fpi_s": ("pg_wal_fpi_per_second", "WAL full-page images per second"),
    "wal_bytes_s": ("pg_wal_bytes_per_second", "WAL bytes per second"),
    "buffers_written_s": ("pg_buffers_written_per_second", "buffers written (checkpointer, bgwriter, backends) per second"),
    "cache_hit_ratio": ("pg_cache_hit_ratio", "buffer cache hit ratio over the last interval (0-1)"),
}


def _sec(ms: Any) -> float | None:
    return None if ms is None else float(ms) / 1000.0


class MetricsExporter:
    """Serves one run's metrics; call :meth:`start` before the run and :meth:`stop` after it."""

    def __init__(self, port: int, *, addr: str = "0.0.0.0") -> None:
        self.port = port
        self.addr = addr
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.run_id = ""
        self.workload = ""
        self._reset()

    def _reset(self) -> None:
        self.intervals = 0
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.op_counts: dict[str, list[int]] = {}
        """operation -> [transactions, errors]"""
        self.hist: dict[str, list[int]] = {}
        """operation (``*`` overall) -> per-bucket counts (not cumulative), +Inf last"""
        self.hist_sum: dict[str, float] = {}
        self.gauges: dict[str, float] = {}
        self.interval_latency: dict[str, float] = {}
        self.pg: dict[str, float] = {}
        self.connections: dict[str, float] = {}
        self.connections_by_state: dict[str, float] = {}
        self.pg_counts = {"deadlocks": 0, "temp_files": 0}

    # -- the HTTP side --------------------------------------------------------------

    def start(self) -> None:
        """Bind the port now, before any setup: a port in use is a usage error (exit 2)."""
        from prometheus_client import start_http_server
        from prometheus_client.registry import CollectorRegistry

        _tables(new_histogram())  # the bucket layout is worked out once, before the run, not on its first interval
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.addr, registry=registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"--metrics-port {self.port}: the port is already in use; choose another "
                                 "(run.metrics_port)") from None
            raise UsageError(f"--metrics-port {self.port}: cannot serve metrics there: {exc.strerror or exc}") from None

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def bound_port(self) -> int:
        return int(self._server.server_address[1]) if self._server is not None else self.port

    # -- the run side (the sampler thread) ----------------------------------------------

    def __call__(self, data: Any) -> None:
        sample = data.sample
        snap = data.snapshot
        folded = {label: self._fold(hist) for label, hist in data.histograms.items()}
        pg = sample.pg or {}
        with self._lock:
            if data.run_id != self.run_id:  # a new run (repetitions share one endpoint): its own counters
                self._reset()
            self.run_id, self.workload = data.run_id, data.workload
            self.intervals += 1
            c = self.counters
            c["transactions"] += sample.transactions
            c["errors"] += sample.errors
            c["retries"] += sample.retries
            c["rollbacks"] += sample.rollbacks
            c["skipped"] += sample.skipped
            c["late"] += sample.late
            c["queries"] += round(sample.qps * sample.duration_s)
            for label, op in sample.labels.items():
                entry = self.op_counts.setdefault(label, [0, 0])
                entry[0] += int(op.get("count") or 0)
                entry[1] += int(op.get("errors") or 0)
            for label, (counts, total) in folded.items():
                into = self.hist.setdefault(label, [0] * (len(LATENCY_BUCKETS_S) + 1))
                for i, n in enumerate(counts):
                    into[i] += n
                self.hist_sum[label] = self.hist_sum.get(label, 0.0) + total
            client = sample.client or {}
            self.gauges = {
                "tps": sample.tps,
                "qps": sample.qps,
                "elapsed_seconds": snap.elapsed_s,
                "workers": float(snap.workers),
                "client_bound": 1.0 if client.get("bound") else 0.0,
            }
            self.interval_latency = {q: v for q, v in ((q, _sec(sample.latency_ms.get(k))) for q, k in
                                                       (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"),
                                                        ("0.999", "p99_9"), ("1", "max"))) if v is not None}
            if pg:
                # A figure the poll could not give this time keeps its last value (a gauge, not a gap).
                self.pg.update((key, float(pg[key])) for key in _PG_RATES if pg.get(key) is not None)
                conns = pg.get("connections") or {}
                self.connections.update((name, float(conns[key])) for name, key in
                                        (("all", "total"), ("ours", "ours"), ("others", "others"))
                                        if conns.get(key) is not None)
                if conns.get("max_connections") is not None:
                    self.pg["max_connections"] = float(conns["max_connections"])
                self.connections_by_state = {str(k): float(v) for k, v in (conns.get("by_state") or {}).items()}
                locks = pg.get("lock_waits") or {}
                if locks.get("waiting") is not None:
                    self.pg["lock_waiting"] = float(locks["waiting"])
                if locks.get("longest_wait_s") is not None:
                    self.pg["lock_longest_wait_seconds"] = float(locks["longest_wait_s"])
                if pg.get("checkpoint_in_progress") is not None:
                    self.pg["checkpoint_in_progress"] = 1.0 if pg["checkpoint_in_progress"] else 0.0
                if pg.get("autovacuum") is not None:
                    self.pg["autovacuum_workers"] = float(len(pg["autovacuum"]))
                for key in self.pg_counts:
                    self.pg_counts[key] += int(pg.get(key) or 0)

    @staticmethod
    def _fold(hist: Any) -> tuple[list[int], float]:
        """Per exported bucket, the interval's count; and the sum of its values in seconds.

        Walking HdrHistogram's buckets in Python cost 40 ms for a wide interval
        histogram, on the sampler thread, per operation; slicing the counts
        array at precomputed indexes and one C-level dot product cost about 1 ms.
        """
        medians, cuts = _tables(hist)
        counts = hist.counts
        n = min(hist.counts_len, len(medians))
        row = counts[:n]
        folded, start = [], 0
        for cut in cuts:
            folded.append(sum(row[start:cut]))
            start = cut
        folded.append(sum(row[start:]))
        total = sum(map(operator.mul, row, medians)) / 1e6
        return folded, total


_TABLES: dict[tuple[int, ...], tuple[list[int], list[int]]] = {}


def _tables(hist: Any) -> tuple[list[int], list[int]]:
    """For a histogram layout: each counts index's median equivalent value (µs), and the first index
    past each exported bound (a bucket counts under a bound when its highest equivalent value fits)."""
    key = (hist.counts_len, hist.sub_bucket_count, hist.unit_magnitude)
    tables = _TABLES.get(key)
    if tables is None:
        medians, highest = [], []
        for index in range(hist.counts_len):
            low = hist.get_lowest_equivalent_value(hist.get_value_from_index(index))
            high = hist.get_highest_equivalent_value(low)
            medians.append(low + ((high - low + 1) >> 1))
            highest.append(high)
        cuts = [bisect.bisect_right(highest, round(bound * 1_000_000)) for bound in LATENCY_BUCKETS_S]
        tables = _TABLES[key] = (medians, cuts)
    return tables


class _Collector:
    """Turns the exporter's numbers into metric families at each scrape."""

    def __init__(self, exporter: MetricsExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        ex = self.exporter
        with ex._lock:
            base = [ex.run_id, ex.workload]
            names = ["run_id", "workload"]
            info = GaugeMetricFamily("stormdb_run_info", "the run being measured (always 1)",
                                     labels=[*names, "version"])
            info.add_metric([*base, __version__], 1.0)
            yield info
            if not ex.intervals:
                return
            for name in _COUNTERS:
                counter = CounterMetricFamily(f"stormdb_{name}", f"{name} in the measured window", labels=names)
                counter.add_metric(base, float(ex.counters[name]))
                yield counter
            tx = CounterMetricFamily("stormdb_operation_transactions", "transactions per operation",
                                     labels=[*names, "operation"])
            er = CounterMetricFamily("stormdb_operation_errors", "failed transactions per operation",
                                     labels=[*names, "operation"])
            for label, (count, errs) in sorted(ex.op_counts.items()):
                tx.add_metric([*base, label], float(count))
                er.add_metric([*base, label], float(errs))
            yield tx
            yield er
            hist = HistogramMetricFamily("stormdb_latency_seconds",
                                         "transaction latency per operation (operation=\"*\": all)",
                                         labels=[*names, "operation"])
            for label, counts in sorted(ex.hist.items()):
                running, rows = 0, []
                for bound, n in zip((*LATENCY_BUCKETS_S, float("inf")), counts, strict=True):
                    running += n
                    rows.append((floatToGoString(bound), float(running)))
                hist.add_metric([*base, label], rows, ex.hist_sum.get(label, 0.0))
            yield hist
            for key, value in ex.gauges.items():
                fam = GaugeMetricFamily(f"stormdb_{key}", _GAUGE_HELP[key], labels=names)
                fam.add_metric(base, value)
                yield fam
            lat = GaugeMetricFamily("stormdb_interval_latency_seconds",
                                    "latency quantiles of the last interval, all operations",
                                    labels=[*names, "quantile"])
            for q, value in ex.interval_latency.items():
                lat.add_metric([*base, q], value)
            yield lat
            for key, value in ex.pg.items():
                name, text = _PG_RATES.get(key) or (f"pg_{key}", _PG_HELP.get(key, key))
                fam = GaugeMetricFamily(f"stormdb_{name}", text, labels=names)
                fam.add_metric(base, value)
                yield fam
            if ex.connections:
                fam = GaugeMetricFamily("stormdb_pg_connections", "client connections to the server: all, this "
                                        "run's (ours) and other sessions'", labels=[*names, "kind"])
                for kind, value in ex.connections.items():
                    fam.add_metric([*base, kind], value)
                yield fam
            if ex.connections_by_state:
                fam = GaugeMetricFamily("stormdb_pg_connections_by_state", "client connections by state",
                                        labels=[*names, "state"])
                for state, value in sorted(ex.connections_by_state.items()):
                    fam.add_metric([*base, state], value)
                yield fam
            for key, value in ex.pg_counts.items():
                counter = CounterMetricFamily(f"stormdb_pg_{key}", f"server {key.replace('_', ' ')} during the run",
                                              labels=names)
                counter.add_metric(base, float(value))
                yield counter


_GAUGE_HELP: Mapping[str, str] = {
    "tps": "committed transactions per second over the last interval",
    "qps": "queries per second over the last interval",
    "elapsed_seconds": "time since the measured window opened",
    "workers": "worker count of the run",
    "client_bound": "1 when the load generator itself was the limit in the last interval",
}
_PG_HELP: Mapping[str, str] = {
    "max_connections": "the server's max_connections",
    "lock_waiting": "sessions waiting on a lock",
    "lock_longest_wait_seconds": "the longest current lock wait",
    "checkpoint_in_progress": "1 while a checkpoint runs",
    "autovacuum_workers": "autovacuum workers running",
}
