"""Is a difference between two runs real? Bootstrap confidence intervals for the change of one figure.

Two kinds of evidence, best first:

* **Repetitions** (``run --repeat N``): each repetition's run-level figure is
  one observation. The repetitions of each side are resampled with
  replacement and the change of the means is recomputed each time; the
  percentile interval of those changes is the confidence interval. Run-to-run
  variation (a different buffer cache state, a checkpoint landing in one run
  and not the other) is inside this interval, which is why it is preferred.
* **Intervals** of single runs: the per-interval values of each run. They are
  autocorrelated (a checkpoint slows several consecutive seconds, a cache warms
  over many), so resampling single intervals would treat 60 correlated seconds
  as 60 independent observations and fake certainty. A circular block
  bootstrap resamples runs of consecutive intervals instead, with the block
  length taken from the series' integrated autocorrelation time; the same time
  gives the effective number of independent intervals. The interval's spread
  is carried over to the run-level change (multiplicatively for a ratio), since
  the mean of per-interval p99s is not the run's p99.

Relative figures (throughput, latency, bytes per transaction) change by
``b / a - 1``; shares (error rate, cache hit ratio, wait-event shares) change
by ``b - a`` in absolute terms, since a share moving from 0 has no ratio.

A change smaller than the minimum effect is "within noise" whatever the
interval says: a 0.5 % difference can be real and still not matter. Evidence
that is thin (fewer than three repetitions a side, few effective intervals,
or no spread at all) makes the verdict *weak*: it is still given, marked so.

Every resample draws from ``random.Random`` seeded with the caller's seed and
the figure's name, so the same inputs give the same intervals on every
machine and in any order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

RESAMPLES = 2000
LEVEL = 0.95
MIN_REPETITIONS = 3
"""Fewer repetitions a side than this make a weak verdict (two points have no useful spread)."""
MIN_EFFECTIVE = 8.0
"""Fewer effective independent intervals a side than this make a weak verdict."""
MAX_POINTS = 240
"""Longer series are averaged in consecutive groups down to this many points before resampling: the mean
is unchanged, the autocorrelation that remains is still measured, and an hour of 1 s intervals costs
what four minutes do."""

BETTER = "better"
WORSE = "worse"
NOISE = "within noise"
CHANGED = "changed"
UNKNOWN = "n/a"
BEYOND = (WORSE, BETTER, CHANGED)
"""Verdicts that say a change is real."""


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def autocorrelation(xs: Sequence[float], lag: int) -> float:
    """The sample autocorrelation of ``xs`` at ``lag`` (0 for a constant series)."""
    n = len(xs)
    if lag >= n or n < 2:
        return 0.0
    m = mean(xs)
    var = sum((x - m) ** 2 for x in xs)
    if var <= 0:
        return 0.0
    return sum((xs[i] - m) * (xs[i + lag] - m) for i in range(n - lag)) / var


def integrated_time(xs: Sequence[float]) -> float:
    """How many intervals one independent observation is worth (at least 1).

    The larger of two estimates: ``1 + 2 Σ ρ(k)``, summed while ρ(k) stays above
    the noise bound 2/√n (the far lags of a short series are noise), and the
    AR(1) value ``(1 + ρ₁) / (1 - ρ₁)`` with ρ₁ corrected for its known downward
    bias in short series. The first misses correlation a short series cannot
    resolve lag by lag; the second sees it from the first lag alone.
    """
    n = len(xs)
    if n < 4:
        return 1.0
    bound = 2.0 / math.sqrt(n)
    tau = 1.0
    for lag in range(1, n // 2 + 1):
        rho = autocorrelation(xs, lag)
        if rho <= bound:
            break
        tau += 2.0 * rho
    r1 = autocorrelation(xs, 1)
    r1 = min(0.95, r1 + (1.0 + 3.0 * r1) / n)
    if r1 > 0:
        tau = max(tau, (1.0 + r1) / (1.0 - r1))
    return max(1.0, tau)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (Cornish-Fisher expansion; exact for one and two degrees of freedom)."""
    if df < 1.5:
        return math.tan(math.pi * (p - 0.5))
    if df < 2.5:
        q = 2.0 * p - 1.0
        return q * math.sqrt(2.0 / (1.0 - q * q))
    z = NormalDist().inv_cdf(p)
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def widen(ci: tuple[float, float], centre: float, df: float, level: float) -> tuple[float, float]:
    """Stretch a bootstrap interval around ``centre`` by t(df)/z: few independent observations (few
    repetitions, or few blocks of a correlated series) make the percentile bootstrap too narrow, and
    Student's t is the classical allowance for having estimated the spread from them."""
    p = 1.0 - (1.0 - level) / 2.0
    factor = t_quantile(p, max(1.0, df)) / NormalDist().inv_cdf(p)
    lo, hi = ci
    return centre + (lo - centre) * factor, centre + (hi - centre) * factor


def block_length(xs: Sequence[float]) -> int:
    """Consecutive intervals resampled together: the integrated autocorrelation time, rounded up."""
    n = len(xs)
    if n < 4:
        return 1
    return max(1, min(math.ceil(integrated_time(xs)), n // 2))


def effective_size(series: Sequence[Sequence[float]]) -> float:
    """Independent intervals the series are worth: Σ n / τ."""
    return sum(len(xs) / integrated_time(xs) for xs in series if xs)


@dataclass(frozen=True)
class Estimate:
    """The change of one figure from side A to side B, with its confidence interval.

    ``change``, ``low`` and ``high`` are fractions (0.05 is +5 % for a ratio,
    +5 percentage points for a share); ``low``/``high`` are None when there
    was nothing to estimate a spread from.
    """

    change: float | None
    low: float | None
    high: float | None
    method: str
    """"repetitions", "intervals" or "none"."""
    weak: bool
    reason: str | None = None
    """Why the verdict is weak (or why there is no estimate)."""
    n_a: float = 0.0
    n_b: float = 0.0
    """Repetitions, or effective independent intervals, of each side."""


def point_change(a: float | None, b: float | None, kind: str = "ratio") -> float | None:
    """``b / a - 1`` for a ratio, ``b - a`` for a share; None when undefined (a missing figure, a zero base)."""
    if a is None or b is None:
        return None
    if kind == "share":
        return b - a
    if a == 0:
        return 0.0 if b == 0 else None
    return b / a - 1.0


def _percentile(sorted_xs: Sequence[float], q: float) -> float:
    if not sorted_xs:
        raise ValueError("no values")
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def _interval(stats: list[float], level: float) -> tuple[float, float] | None:
    stats = sorted(s for s in stats if math.isfinite(s))
    if len(stats) < 10:
        return None
    tail = (1.0 - level) / 2.0
    return _percentile(stats, tail), _percentile(stats, 1.0 - tail)


def _scale(kind: str, values: Sequence[float]) -> str:
    """Where the resampling works: differences for shares, log ratios for positive figures.

    A ratio of positive figures is skewed (it can double but not fall below
    -100 %), so its interval is found, widened and moved on the log scale and
    only then turned back into a change; figures that touch zero (WAL bytes of
    a read-only run) stay on the plain ratio.
    """
    if kind == "share":
        return "diff"
    return "log" if values and all(v > 0 for v in values) else "ratio"


def _stat(a: float, b: float, scale: str) -> float:
    if scale == "diff":
        return b - a
    if scale == "log":
        return math.log(b / a) if a > 0 and b > 0 else math.nan
    return b / a - 1.0 if a != 0 else (0.0 if b == 0 else math.inf)


def _to(change: float, scale: str) -> float:
    return math.log1p(change) if scale == "log" else change


def _from(x: float, scale: str) -> float:
    return math.expm1(x) if scale == "log" else x


def compare_repetitions(a: Sequence[float], b: Sequence[float], *, kind: str = "ratio", seed: str | int = 0,
                        resamples: int = RESAMPLES, level: float = LEVEL) -> Estimate:
    """The change of the mean over repetitions, with a bootstrap interval over the repetitions."""
    a = [float(x) for x in a]
    b = [float(x) for x in b]
    if not a or not b:
        return Estimate(None, None, None, "none", True, "a side has no value for this figure")
    change = point_change(mean(a), mean(b), kind)
    if change is None:
        return Estimate(None, None, None, "repetitions", True, "the base is zero", len(a), len(b))
    scale = _scale(kind, a + b)
    rng = random.Random(f"reps:{seed}")
    stats = []
    for _ in range(resamples):
        ma = mean(rng.choices(a, k=len(a)))
        mb = mean(rng.choices(b, k=len(b)))
        stats.append(_stat(ma, mb, scale))
    ci = _interval(stats, level)
    if ci is not None:
        n = min(len(a), len(b))
        centre = _to(change, scale)
        lo, hi = widen(ci, centre, n - 1, level)
        # the bootstrap spreads a mean of n values by its plug-in (divide-by-n) deviation
        stretch = math.sqrt(n / (n - 1)) if n > 1 else 1.0
        ci = (_from(centre + (lo - centre) * stretch, scale), _from(centre + (hi - centre) * stretch, scale))
        if kind == "ratio":
            ci = (max(ci[0], -1.0), max(ci[1], -1.0))
    weak_reason = None
    if min(len(a), len(b)) < MIN_REPETITIONS:
        weak_reason = f"fewer than {MIN_REPETITIONS} repetitions a side ({len(a)} and {len(b)})"
    if ci is None:
        return Estimate(change, None, None, "repetitions", True, weak_reason or "no spread", len(a), len(b))
    return Estimate(change, ci[0], ci[1], "repetitions", weak_reason is not None, weak_reason, len(a), len(b))


def coarsen(xs: list[float], limit: int = MAX_POINTS) -> list[float]:
    """``xs`` averaged over consecutive groups so that at most ``limit`` points remain (the last group may be
    larger; every value counts once)."""
    n = len(xs)
    if n <= limit:
        return xs
    size = n // limit
    out = [mean(xs[i * size:(i + 1) * size]) for i in range(limit - 1)]
    out.append(mean(xs[(limit - 1) * size:]))
    return out


class _Blocks:
    """One series prepared for the circular block bootstrap: the sum of the block at every start."""

    def __init__(self, xs: Sequence[float], block: int | None = None) -> None:
        n = len(xs)
        self.n = n
        self.b = max(1, min(block, n)) if block is not None else block_length(xs)
        self.k = math.ceil(n / self.b)
        doubled = list(xs) + list(xs[: self.b])
        run = sum(doubled[: self.b])
        sums = []
        for start in range(n):
            sums.append(run)
            run += doubled[start + self.b] - doubled[start]
        self.sums = sums
        self.length = self.k * self.b


def _block_mean(blocks: Sequence[_Blocks], rng: random.Random) -> float:
    total = 0.0
    length = 0
    for bl in blocks:
        total += sum(rng.choices(bl.sums, k=bl.k))
        length += bl.length
    return total / length


def compare_intervals(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *, point: float | None = None,
                      kind: str = "ratio", seed: str | int = 0, resamples: int = RESAMPLES,
                      level: float = LEVEL, block: int | None = None) -> Estimate:
    """The change from per-interval series (one list per run of a side), by a circular block bootstrap.

    ``point`` is the run-level change when the caller has a better one than
    the change of interval means (a run's p99 from its whole histogram); the
    bootstrap's relative spread is carried over to it. ``block`` fixes the
    block length (1 is the naive bootstrap that ignores autocorrelation);
    None takes it from each series' autocorrelation.
    """
    sa = [coarsen([float(x) for x in xs]) for xs in a if xs]
    sb = [coarsen([float(x) for x in xs]) for xs in b if xs]
    if not sa or not sb:
        return Estimate(point, None, None, "none", True, "no per-interval values to estimate the noise from")
    flat_a = [x for xs in sa for x in xs]
    flat_b = [x for xs in sb for x in xs]
    interval_change = point_change(mean(flat_a), mean(flat_b), kind)
    if point is None:
        point = interval_change
    n_a, n_b = effective_size(sa), effective_size(sb)
    if point is None or interval_change is None:
        return Estimate(point, None, None, "intervals", True, "the base is zero", n_a, n_b)
    if sum(len(xs) for xs in sa) < 2 or sum(len(xs) for xs in sb) < 2:
        return Estimate(point, None, None, "intervals", True, "a side has a single interval", n_a, n_b)
    scale = _scale(kind, flat_a + flat_b)
    if scale == "log" and point <= -1.0:
        scale = "ratio"
    rng = random.Random(f"intervals:{seed}")
    blocks_a, blocks_b = [_Blocks(xs, block) for xs in sa], [_Blocks(xs, block) for xs in sb]
    stats = [_stat(_block_mean(blocks_a, rng), _block_mean(blocks_b, rng), scale) for _ in range(resamples)]
    ci = _interval(stats, level)
    if ci is None or ci[1] - ci[0] <= 1e-12:
        # constant intervals say nothing about the noise of a run-level figure that still moved
        return Estimate(point, None, None, "intervals", True, "no spread in the intervals", n_a, n_b)
    centre = _to(interval_change, scale)
    ci = widen(ci, centre, min(n_a, n_b) - 1.0, level)
    low, high = _carry(ci, centre, point, scale)
    if kind == "ratio":  # a figure that cannot be negative cannot fall by more than all of it
        low, high = max(low, -1.0), max(high, -1.0)
    weak_reason = None
    if min(n_a, n_b) < MIN_EFFECTIVE:
        weak_reason = (f"few independent intervals ({n_a:.1f} and {n_b:.1f} effective, "
                       f"after autocorrelation); a longer run or --repeat makes it firm")
    return Estimate(point, low, high, "intervals", weak_reason is not None, weak_reason, n_a, n_b)


def _carry(ci: tuple[float, float], centre: float, point: float, scale: str) -> tuple[float, float]:
    """Move the interval found around ``centre`` (the change of interval means, on ``scale``) to the
    run-level ``point``, and return it as changes: a shift on the log or difference scale, a rescaling
    for a plain ratio."""
    lo, hi = ci
    if scale in ("log", "diff"):
        shift = _to(point, scale) - centre
        return _from(lo + shift, scale), _from(hi + shift, scale)
    base = 1.0 + centre
    if base <= 0:
        return lo, hi
    factor = (1.0 + point) / base
    return (1.0 + lo) * factor - 1.0, (1.0 + hi) * factor - 1.0


def verdict(estimate: Estimate, direction: int, min_effect: float) -> str:
    """better / worse / within noise (or "changed" for a figure with no better side, "n/a" without figures).

    ``direction`` is +1 when higher is better, -1 when lower is better, 0
    when neither. The minimum effect wins over the interval: a change smaller
    than it is within noise however tight the interval is.
    """
    change = estimate.change
    if change is None or not math.isfinite(change):
        return UNKNOWN
    if abs(change) < min_effect:
        return NOISE
    if estimate.low is not None and estimate.high is not None and estimate.low <= 0.0 <= estimate.high:
        return NOISE
    if direction == 0:
        return CHANGED
    return BETTER if (change > 0) == (direction > 0) else WORSE


def significant(estimate: Estimate, sign: int) -> bool:
    """The change is beyond noise in the direction ``sign`` (+1 up, -1 down): its interval excludes zero.

    Without an interval (no spread to measure) only the point is known, so it counts; the verdict says weak.
    """
    if estimate.change is None:
        return False
    if estimate.low is None or estimate.high is None:
        return (estimate.change > 0) == (sign > 0) and estimate.change != 0
    return estimate.low > 0 if sign > 0 else estimate.high < 0


def ladder_value(ladder: Sequence[tuple[float, float]], q: float) -> float | None:
    """The latency at quantile ``q`` read off a run's percentile ladder ((quantile, ms) pairs, ascending),
    interpolated linearly in log latency against log(1 - q): the scale on which latency tails are
    close to straight lines."""
    points = [(p, v) for p, v in ladder if v is not None and v > 0 and 0 < p < 1]
    if len(points) < 2:
        return None
    q = min(max(q, points[0][0]), points[-1][0])
    for (p0, v0), (p1, v1) in zip(points, points[1:], strict=False):
        if p0 <= q <= p1:
            x0, x1, x = math.log(1 - p0), math.log(1 - p1), math.log(1 - q)
            share = (x - x0) / (x1 - x0) if x1 != x0 else 0.0
            return math.exp(math.log(v0) + share * (math.log(v1) - math.log(v0)))
    return points[-1][1]


def percentile_spread(ladder: Sequence[tuple[float, float]], q: float, n: float,
                      level: float = LEVEL) -> float | None:
    """The standard error, on the log scale, of a percentile measured from ``n`` transactions.

    The q-quantile of n values is the value of rank about ``n q``; that rank
    itself varies by ``√(n q (1 - q))`` between samples, so the percentile is
    only known to lie between the quantiles of the ranks ``n q ± z √(n q (1 - q))``.
    With 600 transactions the p99 is the sixth slowest: the fourth or the
    eleventh would have been as likely, and the tail between them is wide.
    ``n`` should already be divided by the autocorrelation time (slow
    transactions come in bursts).
    """
    if n <= 1 or not 0 < q < 1:
        return None
    z = NormalDist().inv_cdf(1.0 - (1.0 - level) / 2.0)
    half = z * math.sqrt(q * (1.0 - q) / n)
    lo, hi = ladder_value(ladder, max(1e-9, q - half)), ladder_value(ladder, min(1 - 1e-9, q + half))
    if lo is None or hi is None or lo <= 0 or hi <= 0:
        return None
    return (math.log(hi) - math.log(lo)) / (2.0 * z)


def with_percentile_spread(estimate: Estimate, sigma_a: float | None, sigma_b: float | None,
                           level: float = LEVEL) -> Estimate:
    """Widen an interval to at least what the sampling error of the two percentiles allows."""
    if estimate.change is None or estimate.change <= -1.0 or sigma_a is None or sigma_b is None:
        return estimate
    z = NormalDist().inv_cdf(1.0 - (1.0 - level) / 2.0)
    centre = math.log1p(estimate.change)
    half = z * math.sqrt(sigma_a ** 2 + sigma_b ** 2)
    lo, hi = math.expm1(centre - half), math.expm1(centre + half)
    if estimate.low is not None and estimate.high is not None:
        if estimate.low <= lo and estimate.high >= hi:
            return estimate
        lo, hi = min(lo, estimate.low), max(hi, estimate.high)
    note = "interval widened to the sampling error of the percentiles (few transactions in the tail)"
    return Estimate(estimate.change, lo, hi, estimate.method, estimate.weak,
                    estimate.reason if estimate.reason else note, estimate.n_a, estimate.n_b)
