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
