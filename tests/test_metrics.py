"""Recorders, folding and aggregation: the numbers the reports are made of."""

from __future__ import annotations

import random

from stormdb_tui.engine.metrics import (
    Aggregator,
    IntervalPart,
    Recorder,
    fold_recorder,
    latency_summary,
    new_histogram,
    record_all,
)


def _part(values: dict[str, list[int]], wid: int = 0) -> IntervalPart:
    rec = Recorder()
    rec.lat = {k: list(v) for k, v in values.items()}
    part = IntervalPart()
    fold_recorder(wid, rec, part)
    return part


def test_percentiles_of_known_distribution():
    hist = new_histogram()
    record_all(hist, range(1, 100_001))  # 1 µs .. 100 ms uniformly
    summary = latency_summary(hist)
    assert abs(summary["p50"] - 50.0) < 0.1
    assert abs(summary["p99"] - 99.0) < 0.1
    assert summary["p50"] <= summary["p90"] <= summary["p95"] <= summary["p99"] <= summary["p99_9"] <= summary["max"]
    assert abs(summary["mean"] - 50.0) < 0.1


def test_record_all_builds_the_histogram_record_value_builds():
    """The inline counts index is the library's: same buckets, total, min and max, clamped at both ends."""
    from stormdb_tui.engine.metrics import HIGHEST_US, LOWEST_US

    rng = random.Random(3)
    edges = [0, 1, 2, 2047, 2048, 2049, 4095, 4096, 4097, 1 << 20, HIGHEST_US - 1, HIGHEST_US, HIGHEST_US + 1, 10**13]
    values = edges + [int(rng.expovariate(1 / 5000)) for _ in range(5000)] + [int(rng.expovariate(1e-8)) for _ in range(2000)]
    fast, slow = new_histogram(), new_histogram()
    record_all(fast, values[:3000])
    record_all(fast, values[3000:])  # into a histogram that already holds values
    for v in values:
        slow.record_value(min(max(v, LOWEST_US), HIGHEST_US))
    assert list(fast.counts) == list(slow.counts)
    assert (fast.total_count, fast.min_value, fast.max_value) == (slow.total_count, slow.min_value, slow.max_value)
    assert latency_summary(fast) == latency_summary(slow)
    empty = new_histogram()
    record_all(empty, [])
    assert empty.get_total_count() == 0 and latency_summary(empty)["p50"] is None


def test_bucket_ranges_are_the_librarys_equivalent_ranges():
    from stormdb_tui.engine.metrics import _bucket_ranges, _nonzero

    rng = random.Random(5)
    hist = new_histogram()
    record_all(hist, [int(rng.expovariate(1e-6)) for _ in range(20_000)] + list(range(1, 5000)))
    indexes = [index for index, _ in _nonzero(hist)]
    lows, sizes = _bucket_ranges(hist, indexes)
    for index, low, size in zip(indexes, lows, sizes, strict=True):
        value = hist.get_value_from_index(index)
        assert low == hist.get_lowest_equivalent_value(value)
        assert low + size - 1 == hist.get_highest_equivalent_value(value)
    assert len(indexes) > 3000  # the wide range is covered, not just the exact first bucket


def test_empty_histogram_summary_is_none():
    assert latency_summary(new_histogram())["p50"] is None


def test_merge_equals_single_histogram():
    rng = random.Random(1)
    values = [int(rng.expovariate(1 / 2000)) + 1 for _ in range(20_000)]
    single = new_histogram()
    record_all(single, values)
    agg = Aggregator()
    parts = [_part({"a": values[i::4]}, wid=i) for i in range(4)]
    agg.add(parts, 1.0, 1.0)
    labels, overall = agg.label_stats(1.0)
    assert overall.count == len(values)
    assert overall.latency_ms == latency_summary(single)


def test_late_values_are_folded_once():
    rec = Recorder()
    rec.lat["x"] = [100, 200]
    part = IntervalPart()
    offsets = fold_recorder(0, rec, part)
    rec.lat["x"].append(300)  # arrived after the swap
    rec.errors.append(("x", "40001", "boom"))
    part2 = IntervalPart()
    fold_recorder(0, rec, part2, offsets)
    assert part.hists["x"].get_total_count() == 2
    assert part2.hists["x"].get_total_count() == 1
    assert part2.errors[("x", "40001")].count == 1


def test_interval_series_and_errors():
    agg = Aggregator()
    part = _part({"a": [1000] * 10, "b": [5000] * 5})
    part.errors[("a", "40P01")] = __import__("stormdb_tui.engine.metrics", fromlist=["ErrorKind"]).ErrorKind("a", "40P01", 2, "deadlock")
    part.counters["queries"] = 30
    sample = agg.add([part], 2.0, 2.0)
    assert sample.transactions == 15 and sample.tps == 7.5 and sample.qps == 15.0
    assert sample.errors == 2 and sample.labels["a"]["errors"] == 2
    labels, overall = agg.label_stats(2.0)
    assert {s.label for s in labels} == {"a", "b"}
    assert overall.errors == 2


def test_part_encoding_roundtrip():
    part = _part({"a": [10, 20, 30]})
    part.counters["queries"] = 3
    again = IntervalPart.decode(part.encode())
    assert again.hists["a"].get_total_count() == 3
    assert again.counters == {"queries": 3}


def test_histograms_are_freed_without_the_cycle_collector():
    import gc
    import weakref

    gc.disable()
    try:
        hist = new_histogram()
        record_all(hist, [5, 10, 20])
        again = IntervalPart.decode(_part({"a": [1, 2]}).encode()).hists["a"]
        refs = [weakref.ref(hist), weakref.ref(again)]
        assert IntervalPart.decode({"hists": {"a": hist.encode()}, "svc_hists": {}, "errors": [],
                                    "worker_counts": {}, "counters": {}}).hists["a"].get_total_count() == 3
        del hist, again
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()
