"""The fast HdrHistogram paths give exactly the library's own figures."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from stormdb_tui.builtin.simple import _account_rows
from stormdb_tui.engine.metrics import HIGHEST_US, _pkey, latency_summary, new_histogram, record_all


def _reference(hist: HdrHistogram) -> dict:
    values = hist.get_percentile_to_value_dict([50, 90, 95, 99, 99.9])
    out = {_pkey(p): round(v / 1000, 3) for p, v in values.items()}
    out.update(
        max=round(hist.get_max_value() / 1000, 3),
        mean=round(hist.get_mean_value() / 1000, 3),
        stddev=round(hist.get_stddev() / 1000, 3),
    )
    return out


def test_record_all_equals_one_record_per_value():
    rng = random.Random(7)
    values = [int(rng.lognormvariate(5, 1.5)) for _ in range(20_000)] + [0, HIGHEST_US * 2]
    fast, slow = new_histogram(), new_histogram()
    record_all(fast, values)
    for v in values:
        slow.record_value(min(max(v, 1), HIGHEST_US))
    assert fast.get_total_count() == len(values)
    assert fast.encode() == slow.encode()


def test_summary_matches_hdrhistogram_on_merged_and_decoded_histograms():
    rng = random.Random(11)
    parts = []
    for k in range(3):
        hist = new_histogram()
        record_all(hist, [int(rng.lognormvariate(4 + k, 1.2)) + 1 for _ in range(5_000)])
        parts.append(hist)
    merged = new_histogram()
    for part in parts:
        merged.add(HdrHistogram.decode(part.encode()))
    for hist in (parts[0], merged, HdrHistogram.decode(merged.encode())):
        summary = latency_summary(hist)
        assert summary == _reference(hist)
        assert summary["p50"] <= summary["p99"] <= summary["max"]
    single = new_histogram()
    single.record_value(250)
    assert latency_summary(single) == _reference(single)
    assert latency_summary(single, (0.0, 100.0))["p100"] == _reference(single)["max"]


def test_account_rows_are_pgbench_rows():
    rows = _account_rows(99_998, 100_001).decode().splitlines()
    assert rows == ["99998\t1\t0\t", "99999\t1\t0\t", "100000\t1\t0\t"]
    assert _account_rows(200_001, 200_003).decode() == "200001\t3\t0\t\n200002\t3\t0\t\n"
