"""The Universal Scalability Law fitted to a concurrency sweep.

Gunther's USL models throughput at concurrency N as

    X(N) = λN / (1 + σ(N−1) + κN(N−1))

λ is the throughput of one client without interference, σ the share of
work that serialises (contention: queueing for a lock or a single resource)
and κ the cost of keeping N clients coherent with each other (crosstalk:
every pair exchanging something, which makes throughput *fall* past the
peak). With κ > 0 the peak is at N* = sqrt((1−σ)/κ).

The fit is plain least squares on X, without numpy: for fixed (σ, κ) the
best λ is closed-form (X is linear in λ), so only the two shape parameters
are searched, first on a grid (σ linear in [0, 1], κ logarithmic) and then
by a shrinking pattern search. Two parameters on a bounded box make that
robust where a general-purpose optimiser started from a bad guess is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_KAPPA_MIN = 1e-9


@dataclass(frozen=True)
class UslFit:
    """The fitted parameters, the fit's quality and what they predict."""

    lam: float
    sigma: float
    kappa: float
    r2: float
    points: int
    peak_n: float | None
    """N* = sqrt((1−σ)/κ); None when κ is zero (throughput only levels off)."""
    peak_x: float | None
    measured_peak_n: float
    measured_peak_x: float

    def predict(self, n: float) -> float:
        return usl(n, self.lam, self.sigma, self.kappa)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lambda": round(self.lam, 4),
            "sigma": round(self.sigma, 6),
            "kappa": round(self.kappa, 8),
            "r2": round(self.r2, 4),
            "points": self.points,
            "peak_concurrency": round(self.peak_n, 2) if self.peak_n is not None else None,
            "peak_throughput": round(self.peak_x, 2) if self.peak_x is not None else None,
            "measured_peak_concurrency": self.measured_peak_n,
            "measured_peak_throughput": round(self.measured_peak_x, 2),
        }


def usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    """Throughput the USL predicts at concurrency ``n``."""
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def _shape(ns: Sequence[float], sigma: float, kappa: float) -> list[float]:
    return [n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)) for n in ns]


def _sse(ns: Sequence[float], xs: Sequence[float], sigma: float, kappa: float) -> tuple[float, float]:
    """(sum of squared errors, best λ) for fixed σ, κ."""
    f = _shape(ns, sigma, kappa)
    ff = sum(v * v for v in f)
    lam = sum(x * v for x, v in zip(xs, f, strict=True)) / ff if ff > 0 else 0.0
    return sum((x - lam * v) ** 2 for x, v in zip(xs, f, strict=True)), lam


def fit_usl(ns: Sequence[float], xs: Sequence[float]) -> UslFit | None:
    """Least-squares USL fit of throughputs ``xs`` at concurrencies ``ns``; None with fewer than 3 levels."""
    pairs = [(float(n), float(x)) for n, x in zip(ns, xs, strict=True) if n > 0 and x is not None and x >= 0]
    if len({n for n, _ in pairs}) < 3 or not any(x > 0 for _, x in pairs):
        return None
    n_vals = [n for n, _ in pairs]
    x_vals = [x for _, x in pairs]

    def cost(sigma: float, log_kappa: float) -> float:
        kappa = 0.0 if log_kappa <= math.log(_KAPPA_MIN) else math.exp(log_kappa)
        return _sse(n_vals, x_vals, sigma, kappa)[0]

    lo_k, hi_k = math.log(_KAPPA_MIN), math.log(1.0)
    best = (math.inf, 0.0, lo_k)
    for i in range(41):
        sigma = i / 40
        for j in range(41):
            log_kappa = lo_k + (hi_k - lo_k) * j / 40
            c = cost(sigma, log_kappa)
            if c < best[0]:
                best = (c, sigma, log_kappa)
    _, sigma, log_kappa = best
    step_s, step_k = 1 / 40, (hi_k - lo_k) / 40
    while step_s > 1e-7 or step_k > 1e-6:
        improved = False
        current = cost(sigma, log_kappa)
        for ds, dk in ((step_s, 0), (-step_s, 0), (0, step_k), (0, -step_k)):
            s2 = min(1.0, max(0.0, sigma + ds))
            k2 = min(hi_k, max(lo_k, log_kappa + dk))
            c = cost(s2, k2)
            if c < current:
                sigma, log_kappa, current, improved = s2, k2, c, True
        if not improved:
            step_s /= 2
            step_k /= 2
    kappa = 0.0 if log_kappa <= lo_k else math.exp(log_kappa)
    sse, lam = _sse(n_vals, x_vals, sigma, kappa)
    mean = sum(x_vals) / len(x_vals)
    sst = sum((x - mean) ** 2 for x in x_vals)
    r2 = 1.0 - sse / sst if sst > 0 else 1.0
    peak_n = math.sqrt((1.0 - sigma) / kappa) if kappa > 0 and sigma < 1 else None
    peak_x = usl(peak_n, lam, sigma, kappa) if peak_n is not None else None
    top = max(range(len(x_vals)), key=x_vals.__getitem__)
    return UslFit(lam, sigma, kappa, r2, len(pairs), peak_n, peak_x, n_vals[top], x_vals[top])
