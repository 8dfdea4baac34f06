"""The noise model on synthetic series: block lengths, interval coverage, minimum effect, weak verdicts, seeds."""

from __future__ import annotations

import random

import pytest

from stormdb_tui.report import noise


def white(n: int, mean: float, sd: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def ar1(n: int, mean: float, sd: float, phi: float, seed: int) -> list[float]:
    """An autocorrelated series: each interval keeps ``phi`` of the previous one's deviation."""
    rng = random.Random(seed)
    out, dev = [], 0.0
    for _ in range(n):
        dev = phi * dev + rng.gauss(0.0, sd)
        out.append(mean + dev)
    return out


def test_autocorrelation_of_white_noise_is_small_and_of_ar1_large():
    xs = white(400, 100.0, 5.0, 1)
    ys = ar1(400, 100.0, 5.0, 0.8, 1)
    assert abs(noise.autocorrelation(xs, 1)) < 0.15
    assert 0.65 < noise.autocorrelation(ys, 1) < 0.95
    assert noise.autocorrelation([3.0] * 10, 1) == 0.0


def test_block_length_follows_the_autocorrelation():
    assert noise.block_length(white(120, 100.0, 5.0, 2)) <= 2
    assert noise.block_length(ar1(120, 100.0, 5.0, 0.8, 2)) >= 4
    assert noise.block_length([1.0, 2.0]) == 1  # too short to measure: single intervals
    xs = ar1(60, 100.0, 5.0, 0.8, 3)
    assert noise.effective_size([xs]) < 60 / 3


def test_no_true_difference_is_within_noise_and_a_real_one_is_worse():
    a = white(60, 1000.0, 30.0, 4)
    same = white(60, 1000.0, 30.0, 5)
    slower = white(60, 800.0, 30.0, 6)
    est = noise.compare_intervals([a], [same], seed=1)
    assert est.low < 0 < est.high
    assert noise.verdict(est, +1, 0.02) == noise.NOISE
    est = noise.compare_intervals([a], [slower], seed=1)
    assert est.high < 0 and est.change == pytest.approx(-0.2, abs=0.02)
    assert noise.verdict(est, +1, 0.02) == noise.WORSE  # throughput fell
    assert noise.verdict(est, -1, 0.02) == noise.BETTER  # a latency that fell is better
    assert noise.verdict(est, 0, 0.02) == noise.CHANGED
    assert not est.weak


def test_block_bootstrap_keeps_its_false_alarm_rate_where_the_naive_one_does_not():
    """Pairs of autocorrelated runs with no true difference: the block bootstrap's 95 % interval excludes
    zero about 5 % of the time; treating the intervals as independent fakes certainty far more often."""
    trials, naive_alarms, block_alarms = 120, 0, 0
    for t in range(trials):
        a = ar1(60, 1000.0, 20.0, 0.85, 1000 + t)
        b = ar1(60, 1000.0, 20.0, 0.85, 5000 + t)
        kw = dict(seed=t, resamples=400)
        naive = noise.compare_intervals([a], [b], block=1, **kw)
        block = noise.compare_intervals([a], [b], **kw)
        naive_alarms += not (naive.low <= 0 <= naive.high)
        block_alarms += not (block.low <= 0 <= block.high)
    assert naive_alarms / trials > 0.3
    assert block_alarms / trials < 0.2
    assert block_alarms < naive_alarms / 2


def test_minimum_effect_wins_over_a_tight_interval():
    a = white(200, 1000.0, 1.0, 7)
    b = white(200, 1010.0, 1.0, 8)  # +1 %, measured very precisely
    est = noise.compare_intervals([a], [b], seed=2)
    assert est.low > 0
    assert noise.verdict(est, +1, 0.02) == noise.NOISE
    assert noise.verdict(est, +1, 0.005) == noise.BETTER


def test_short_runs_give_weak_verdicts():
    a = white(5, 1000.0, 10.0, 9)
    b = white(5, 500.0, 10.0, 10)
    est = noise.compare_intervals([a], [b], seed=3)
    assert est.weak and "independent intervals" in est.reason
    assert noise.verdict(est, +1, 0.02) == noise.WORSE  # still given, marked weak
    single = noise.compare_intervals([[1000.0]], [[500.0]], point=-0.5)
    assert single.weak and single.low is None and single.change == -0.5
    assert noise.verdict(single, +1, 0.02) == noise.WORSE
    none = noise.compare_intervals([[]], [[]], point=None)
    assert none.method == "none" and noise.verdict(none, +1, 0.02) == noise.UNKNOWN


def test_point_change_is_carried_with_the_intervals_spread():
    a = white(60, 10.0, 1.0, 11)
    b = white(60, 10.0, 1.0, 12)
    est = noise.compare_intervals([a], [b], point=0.5, seed=4)  # the run-level figure moved by +50 %
    assert est.change == 0.5 and est.low > 0.3 and est.high < 0.7


def test_repetitions():
    a = [1000.0, 1010.0, 990.0, 1005.0, 995.0]
    b = [900.0, 910.0, 890.0, 905.0, 895.0]
    est = noise.compare_repetitions(a, b, seed=5)
    assert est.method == "repetitions" and not est.weak
    assert est.change == pytest.approx(-0.1)
    assert est.high < 0
    assert noise.verdict(est, +1, 0.02) == noise.WORSE
    same = noise.compare_repetitions(a, list(reversed(a)), seed=5)
    assert noise.verdict(same, +1, 0.02) == noise.NOISE
    two = noise.compare_repetitions(a[:2], b[:2], seed=5)
    assert two.weak and "repetitions" in two.reason


def test_shares_change_in_points():
    est = noise.compare_intervals([[0.0] * 20], [[0.05] * 20], kind="share", seed=6)
    assert est.change == pytest.approx(0.05)
    assert noise.point_change(0.0, 0.05, "share") == pytest.approx(0.05)
    assert noise.point_change(0.0, 5.0) is None  # no ratio from a zero base
    assert noise.point_change(0.0, 0.0) == 0.0


def test_same_seed_same_interval_other_seed_other_interval():
    a = ar1(40, 100.0, 5.0, 0.5, 13)
    b = ar1(40, 103.0, 5.0, 0.5, 14)
    one = noise.compare_intervals([a], [b], seed="x")
    again = noise.compare_intervals([a], [b], seed="x")
    other = noise.compare_intervals([a], [b], seed="y")
    assert (one.low, one.high) == (again.low, again.high)
    assert (one.low, one.high) != (other.low, other.high)


def test_significant_follows_the_interval():
    est = noise.Estimate(-0.2, -0.3, -0.1, "intervals", False)
    assert noise.significant(est, -1) and not noise.significant(est, +1)
    assert not noise.significant(noise.Estimate(-0.2, -0.3, 0.1, "intervals", False), -1)
    assert noise.significant(noise.Estimate(-0.2, None, None, "none", True), -1)


def test_long_series_are_coarsened_without_moving_the_mean():
    xs = ar1(3600, 100.0, 5.0, 0.9, 15)
    short = noise.coarsen(xs)
    assert len(short) == noise.MAX_POINTS
    assert noise.coarsen(xs[:100]) == xs[:100]
    slower = [x * 0.9 for x in ar1(3600, 100.0, 5.0, 0.9, 16)]
    est = noise.compare_intervals([xs], [slower], seed=8, resamples=500)
    assert est.change == pytest.approx(-0.1, abs=0.02) and est.high < 0


def test_repetition_intervals_hold_their_level():
    """Five repetitions a side with no true difference: about 5 % false alarms, and a 5 % drop is mostly found."""
    def alarms(shift: float) -> float:
        hits = 0
        for t in range(200):
            rng = random.Random(t)
            a = [rng.gauss(1000.0, 20.0) for _ in range(5)]
            b = [rng.gauss(1000.0 * (1 + shift), 20.0) for _ in range(5)]
            est = noise.compare_repetitions(a, b, seed=t, resamples=400)
            hits += not (est.low <= 0 <= est.high)
        return hits / 200

    assert alarms(0.0) < 0.1
    assert alarms(-0.05) > 0.7


def test_t_quantiles():
    assert noise.t_quantile(0.975, 1) == pytest.approx(12.706, abs=0.01)
    assert noise.t_quantile(0.975, 2) == pytest.approx(4.303, abs=0.01)
    assert noise.t_quantile(0.975, 5) == pytest.approx(2.571, abs=0.01)
    assert noise.t_quantile(0.975, 30) == pytest.approx(2.042, abs=0.005)


def test_percentile_ladder_and_its_sampling_error():
    ladder = [(0.5, 1.0), (0.9, 2.0), (0.95, 3.0), (0.99, 6.0), (0.999, 12.0)]
    assert noise.ladder_value(ladder, 0.99) == pytest.approx(6.0)
    assert 3.0 < noise.ladder_value(ladder, 0.98) < 6.0
    assert noise.ladder_value(ladder, 0.9999) == pytest.approx(12.0)  # never beyond the ladder
    few, many = noise.percentile_spread(ladder, 0.99, 600), noise.percentile_spread(ladder, 0.99, 600_000)
    assert few > 10 * many > 0  # the tail of 600 transactions is six of them
    assert noise.percentile_spread(ladder, 0.5, 600) < few
    assert noise.percentile_spread(ladder, 0.99, 1) is None
    est = noise.Estimate(0.3, 0.25, 0.35, "intervals", False)
    wide = noise.with_percentile_spread(est, few, few)
    assert wide.low < 0 < wide.high and wide.change == 0.3  # +30 % on a p99 of 600 transactions is not known
    assert noise.with_percentile_spread(est, many, many) == est  # the intervals already say more
