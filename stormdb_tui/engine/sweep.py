"""Sweeps: the same run at a series of values of one setting, and the searches built on them.

A :class:`SweepSpec` names one setting (a run setting such as ``run.workers``
or ``run.rate``, or a workload option such as ``ef_search``) and its values:
a list, or a strategy (linear, exponential, fibonacci) between two bounds,
as StormDB's progressive mode has them. :class:`Sweep` runs one
:class:`~stormdb_tui.engine.session.RunSession` per value, each with its own
warm-up, and turns each step's report into the figures a capacity study
reads (:func:`step_figures`).

:meth:`Sweep.find_rate` searches the open model's target rate for the
highest rate that meets an SLO: it doubles the rate until a step fails
(bracketing), then bisects between the last pass and the first fail until
they are within a tolerance, the way CockroachDB's tpccbench searches
warehouse counts. Latency in the open model is counted from each
transaction's scheduled start, so a rate the server cannot sustain shows
up in the percentiles instead of hiding behind a slower client.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from stormdb_tui.engine.plan import RunRequest, plan_from_request, request_config
from stormdb_tui.engine.session import Hooks, Outcome, RunSession
from stormdb_tui.engine.states import Status
from stormdb_tui.errors import UsageError
from stormdb_tui.options import parse_duration
from stormdb_tui.registry import Registry
from stormdb_tui.report.slo import Slo

STRATEGIES = ("list", "linear", "exponential", "fibonacci")
RATE_TPS_SHARE = 0.8
"""An open-model step meets its rate only when it completed at least this share of it (Poisson
arrivals over a few hundred transactions vary by several percent, so not much closer to 1)."""
MIN_RATE_TRANSACTIONS = 200
"""A rate step runs at least long enough for this many transactions: a p99 over a handful is noise."""


def step_values(strategy: str, start: float, stop: float, steps: int | None = None, *, factor: float = 2.0,
                integer: bool = True) -> list[float]:
    """The values of a sweep from ``start`` to ``stop`` (both included).

    linear: ``steps`` evenly spaced values (default: every integer when that is
    at most 10 values, else 5); exponential: ``start`` times ``factor`` per
    step, capped at (and ending on) ``stop``; fibonacci: the Fibonacci numbers
    in the range, with ``start`` first when it is not one of them.
    """
    if start <= 0 or stop < start:
        raise UsageError(f"sweep bounds: expected 0 < start <= stop, found {start:g}..{stop:g}")
    values: list[float] = []
    if strategy == "linear":
        if steps is None:
            span = stop - start
            steps = int(span) + 1 if integer and span <= 9 else 5
        if steps < 1:
            raise UsageError("sweep steps: expected at least 1")
        values = [start] if steps == 1 else [start + (stop - start) * i / (steps - 1) for i in range(steps)]
    elif strategy == "exponential":
        if factor <= 1:
            raise UsageError(f"sweep factor: expected a number above 1, found {factor:g}")
        v = start
        while v < stop:
            values.append(v)
            v *= factor
        values.append(stop)
    elif strategy == "fibonacci":
        a, b = 1, 2
        values = [start]
        while a <= stop:
            if a > start:
                values.append(a)
            a, b = b, a + b
        if values[-1] != stop:
            values.append(stop)
    else:
        raise UsageError(f"sweep strategy: expected one of {', '.join(STRATEGIES[1:])}, found {strategy!r}")
    if integer:
        values = [float(round(v)) for v in values]
    out: list[float] = []
    for v in values:
        if v not in out:
            out.append(v)
    if steps is not None and strategy != "linear" and len(out) > steps:
        out = out[:steps]
    return out


def canonical_setting(name: str) -> str:
    """``workers`` -> ``run.workers``, ``rate`` -> ``run.rate``; anything else unchanged."""
    return {"workers": "run.workers", "rate": "run.rate", "connections": "run.connections"}.get(name, name)


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep and how each step runs."""

    setting: str
    values: tuple[float, ...]
    duration: float | None = None
    """Measured seconds per step (default: the config's run.duration)."""
    warmup: float | None = None
    """Warm-up per step (default: the config's run.warmup)."""
    cooldown: float = 0.0
    connections: tuple[int, int] | None = None
    """StormDB's progressive min/max connections: the pool follows the workers in proportion."""
    strategy: str = "list"

    @property
    def key(self) -> str:
        return canonical_setting(self.setting)

    def value_text(self, value: float) -> Any:
        return int(value) if float(value).is_integer() else value


@dataclass
class Step:
    """One finished step: its value, its figures and the report it came from."""

    index: int
    value: float
    figures: dict[str, Any]
    report: dict[str, Any] | None
    status: str
    error: str | None = None
    slo_met: bool | None = None
    slo_details: list[dict[str, Any]] = field(default_factory=list)
    phase: str = "sweep"
    """``sweep``, or ``bracket``/``bisect`` in a rate search."""


@dataclass
class SweepHooks:
    """What a front end hears: each step starting and finishing, and the run hooks within a step."""

    step_started: Callable[[int, float], None] | None = None
    step_done: Callable[[Step], None] | None = None
    run: Hooks = field(default_factory=Hooks)
    warn: Callable[[str], None] | None = None


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def step_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a capacity study reads from one report: throughput, latency, errors, server, client."""
    s = report.get("summary") or {}
    transactions = int(s.get("transactions") or 0)
    errors = int(s.get("errors") or 0)
    attempts = transactions + errors
    lat = s.get("latency_ms") or {}
    pg = report.get("pg") or {}
    run = report.get("run") or {}
    workload = report.get("workload") or {}
    summary = workload.get("summary") or {}
    client_bound = None
    for path in (("summary", "client_bound"), ("client", "bound"), ("client", "client_bound"), ("summary", "client", "bound")):
        value = _get(report, *path)
        if value is not None:
            client_bound = bool(value)
            break
    peaks = pg.get("peaks") or {}
    waits = None
    for key in ("lock_waits", "waiting", "lock_waiting"):
        if peaks.get(key) is not None:
            waits = peaks[key]
            break
    return {
        "workers": run.get("workers"),
        "connections": run.get("connections"),
        "rate": run.get("rate"),
        "elapsed_s": s.get("elapsed_s"),
        "transactions": transactions,
        "tps": s.get("tps"),
        "qps": s.get("qps"),
        "errors": errors,
        "error_rate": (errors / attempts) if attempts else 0.0,
        "skipped": int(s.get("skipped") or 0),
        "latency_ms": {k: lat.get(k) for k in ("p50", "p95", "p99", "p99_9", "max", "mean")},
        "cache_hit_ratio": pg.get("cache_hit_ratio"),
        "wal_bytes_per_tx": _get(pg, "per_transaction", "wal_bytes"),
        "lock_waits_peak": waits,
        "client_bound": client_bound,
        "recall_at_k": summary.get("recall_at_k"),
        "filtered_recall_at_k": summary.get("filtered_recall_at_k"),
    }


class Sweep:
    """Runs a series of steps from one request; :meth:`request_stop` ends it after the current step."""

    def __init__(self, request: RunRequest, spec: SweepSpec | None, *, hooks: SweepHooks | None = None,
                 registry: Registry | None = None, monitor_default: bool = True, quiet: bool = True) -> None:
        self.request = request
        self.spec = spec
        self.hooks = hooks or SweepHooks()
        self.registry = registry
        self.monitor_default = monitor_default
        self.quiet = quiet
        self.steps: list[Step] = []
        self.stop_reason: str | None = None
        self.signum = 0
        self.started_at = datetime.now(timezone.utc)
        self.ended_at: datetime | None = None
        self._session: RunSession | None = None
        self._lock = threading.Lock()
        self._pause = threading.Event()
        self._warned = False

    # -- control -----------------------------------------------------------------

    def request_stop(self, reason: str, *, signum: int = 0) -> None:
        with self._lock:
            self.stop_reason = self.stop_reason or reason
            self.signum = self.signum or signum
            session = self._session
        self._pause.set()
        if session is not None:
            session.request_stop(reason, signum=signum)

    @property
    def session(self) -> RunSession | None:
        return self._session

    # -- steps -------------------------------------------------------------------------

    def _overrides(self, spec: SweepSpec, value: float) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = [(spec.key, spec.value_text(value))]
        if spec.duration is not None:
            pairs.append(("run.duration", spec.duration))
        if spec.warmup is not None:
            pairs.append(("run.warmup", spec.warmup))
        if spec.connections is not None and spec.key == "run.workers":
            pairs.append(("run.connections", self._pool(spec, value)))
        if spec.key == "run.rate" and value > 0:
            base = spec.duration if spec.duration is not None else self._base_duration()
            if base and base * value < MIN_RATE_TRANSACTIONS:
                pairs.append(("run.duration", round(MIN_RATE_TRANSACTIONS / value, 3)))
        return pairs

    def _base_duration(self) -> float | None:
        """The measured duration the request asks for (its config, then its overrides)."""
        seconds = request_config(self.request).run.get("duration")
        for key, value in self.request.overrides:
            if key in ("run.duration", "duration"):
                try:
                    seconds = parse_duration(value)
                except ValueError:
                    return None
        return seconds

    @staticmethod
    def _pool(spec: SweepSpec, workers: float) -> int:
        assert spec.connections is not None
        lo, hi = spec.connections
        first = spec.values[0] if spec.values else 1
        return int(min(hi, max(lo, math.ceil(workers * lo / max(first, 1)))))

    def run_step(self, value: float, *, spec: SweepSpec | None = None, phase: str = "sweep",
                 extra: Sequence[tuple[str, Any]] = (), slo: Slo | None = None) -> Step:
        """Run one step at ``value``; never raises for a run that went wrong (the step says so)."""
        spec = spec or self.spec
        assert spec is not None
        index = len(self.steps)
        first = index == 0
        request = replace(
            self.request,
            overrides=tuple(self.request.overrides) + tuple(extra) + tuple(self._overrides(spec, value)),
            # Load (or rebuild) once, before the first step; later steps reuse the data.
            setup=self.request.setup and first,
            rebuild=self.request.rebuild and first,
            report_json=None,
            report_md=None,
        )
        if self.hooks.step_started is not None:
            self.hooks.step_started(index, value)
        warn = self.hooks.warn if not self._warned else None
        self._warned = True

        def build() -> Any:
            plan = plan_from_request(request, monitor_default=self.monitor_default, registry=self.registry,
                                     warn=warn, quiet=self.quiet)
            plan.config.report = {"json": None, "markdown": None}
            return plan

        session = RunSession(build, self.hooks.run, write_files=False)
        with self._lock:
            self._session = session
            if self.stop_reason is not None:
                session.request_stop(self.stop_reason)
        outcome: Outcome = session.execute()
        with self._lock:
            self._session = None
        report = outcome.report.data if outcome.report is not None else None
        figures = step_figures(report) if report is not None else {}
        step = Step(index, value, figures, report, str(outcome.status), outcome.error, phase=phase)
        if report is not None and report.get("status") == Status.FAILED:
            step.error = report.get("message")
        if slo is not None and report is not None:
            step.slo_met, step.slo_details = self._judge(slo, figures, spec, value)
        self.steps.append(step)
        if self.hooks.step_done is not None:
            self.hooks.step_done(step)
        return step

    @staticmethod
    def _judge(slo: Slo, figures: dict[str, Any], spec: SweepSpec, value: float) -> tuple[bool, list[dict[str, Any]]]:
        met, details = slo.check(figures)
        if spec.key == "run.rate":
            # A rate is met only when it was delivered: an open-model step that fell short of its
            # schedule (the client or the server could not keep up) fails however low its latency.
            tps = figures.get("tps") or 0.0
            ok = tps >= RATE_TPS_SHARE * value
            details.append({"rule": f"tps>={RATE_TPS_SHARE:g}x rate", "metric": "tps", "value": tps, "ok": ok})
            met = met and ok
        return met, details

    def _cooldown(self, spec: SweepSpec) -> None:
        if spec.cooldown > 0 and self.stop_reason is None:
            self._pause.wait(spec.cooldown)

    def run(self, slo: Slo | None = None) -> list[Step]:
        """Every step of the spec, in order; stops early when a step fails or a stop is requested."""
        spec = self.spec
        assert spec is not None
        for i, value in enumerate(spec.values):
            if self.stop_reason is not None:
                break
            if i:
                self._cooldown(spec)
            step = self.run_step(value, slo=slo)
            if step.status in (Status.FAILED, Status.CANCELLED) or step.report is None:
                break
        self.ended_at = datetime.now(timezone.utc)
        return self.steps

    # -- the rate search -------------------------------------------------------------

    def find_rate(self, slo: Slo, *, start: float, max_rate: float, tolerance: float = 0.05,
                  max_steps: int = 16, spec: SweepSpec | None = None) -> dict[str, Any]:
        """The highest open-model rate meeting ``slo``: bracket by doubling (or halving), then bisect.

        Returns ``{"rate", "pass_step", "fail_step", "reason"}``; ``rate`` is None when even the
        lowest rate tried fails.
        """
        base = spec or SweepSpec("run.rate", ())
        base = replace(base, setting="run.rate")
        passed: Step | None = None
        failed: Step | None = None
        rate = start
        reason = ""
        # Bracketing.
        while len(self.steps) < max_steps and self.stop_reason is None:
            step = self.run_step(rate, spec=base, phase="bracket", slo=slo)
            if step.report is None or step.status == Status.FAILED:
                reason = f"step at {rate:g}/s failed: {step.error}"
                break
            if step.slo_met:
                passed = step
                if failed is not None:
                    break
                if rate >= max_rate:
                    reason = f"the SLO holds up to --max-rate {max_rate:g}/s"
                    break
                rate = min(rate * 2, max_rate)
            else:
                failed = step
                if passed is not None:
                    break
                rate = rate / 2
                if rate < 0.5:
                    reason = "the SLO is not met even at the lowest rate tried"
                    break
            self._cooldown(base)
        # Bisection between the last pass and the first fail.
        while (passed is not None and failed is not None and self.stop_reason is None
               and len(self.steps) < max_steps and (failed.value - passed.value) / passed.value > tolerance):
            self._cooldown(base)
            mid = (passed.value + failed.value) / 2
            step = self.run_step(round(mid, 3), spec=base, phase="bisect", slo=slo)
            if step.report is None or step.status == Status.FAILED:
                reason = f"step at {mid:g}/s failed: {step.error}"
                break
            if step.slo_met:
                passed = step
            else:
                failed = step
        if not reason and passed is not None and failed is not None:
            gap = (failed.value - passed.value) / passed.value
            reason = (f"bounded within {gap:.1%}" if gap <= tolerance
                      else f"stopped after {len(self.steps)} steps, bounded within {gap:.1%}")
        if self.stop_reason:
            reason = f"stopped early: {self.stop_reason}"
        self.ended_at = datetime.now(timezone.utc)
        return {
            "rate": passed.value if passed is not None else None,
            "pass_step": passed.index if passed is not None else None,
            "fail_step": failed.index if failed is not None else None,
            "tolerance": tolerance,
            "reason": reason,
        }
