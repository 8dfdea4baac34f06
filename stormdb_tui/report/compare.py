"""Runs side by side: what differs between them, every figure's change, and whether it is beyond noise.

A *side* is one report (or run journal), or a ``run --repeat`` folder with
all of its repetitions. The first side is the base; every other side is
compared with it. For each figure the comparison holds both values, the
change, its confidence interval and a verdict (see :mod:`.noise` for how the
interval is found and when a verdict is weak):

* throughput and queries per second (higher is better);
* latency percentiles overall and per operation (lower is better);
* the error rate, overall and per operation (lower is better);
* server figures per transaction: WAL bytes and records, blocks read, hit
  and written, server execution time per operation, the cache hit ratio;
* the wait-event profile (shares by type; no better side, only changed or not);
* the client's CPU per transaction and its client-bound share.

:func:`build_comparison` returns the JSON-ready document that the terminal
text, the Markdown, the HTML page and the workbench screen all render, and
that ``--json`` writes. :func:`parse_gate` and :func:`evaluate_gate` are the
``--fail-on`` rules.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from stormdb_tui import TOOL_NAME, __version__
from stormdb_tui.errors import ConfigError, UsageError
from stormdb_tui.report import noise
from stormdb_tui.report.model import Report
from stormdb_tui.report.repeat import read_index

COMPARISON_VERSION = 1
DEFAULT_MIN_EFFECT = 0.02
SHARE_MIN_EFFECT = 0.001
"""Shares (error rate, hit ratio) move by percentage points: 0.1 point is the smallest change reported."""
WAIT_MIN_EFFECT = 0.02
"""Wait-event shares are sampled; two points of share are the smallest change worth a verdict."""
LATENCY = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")
SERVER_PER_TX = (("wal_bytes", "WAL bytes per transaction", "B", "wal_bytes_s", 1.0),
                 ("wal_records", "WAL records per transaction", "", "wal_records_s", 0.01),
                 ("blks_read", "blocks read per transaction", "", "blks_read_s", 0.01),
                 ("blks_hit", "blocks hit per transaction", "", "blks_hit_s", 0.01),
                 ("buffers_written", "buffers written per transaction", "", "buffers_written_s", 0.01))
RUN_KEYS = ("workers", "connections", "processes", "driver", "duration_s", "transactions_limit", "warmup_s",
            "think_time_s", "rate", "model", "arrival", "schedule", "latency_limit_s", "seed", "interval_s")
MIN_WINDOW_COMMITS = 20
BLOCKING_OPTIONS = ("scale",)
"""Workload options that make two runs measure different data: comparing them needs --force."""


@dataclass(frozen=True)
class Metric:
    """One comparable figure: its key (what ``--fail-on`` names), how to show it, which way is better."""

    key: str
    group: str
    label: str
    direction: int
    """+1 higher is better, -1 lower is better, 0 neither."""
    kind: str = "ratio"
    """"ratio" (change b/a - 1) or "share" (change b - a)."""
    unit: str = ""
    min_effect: float | None = None
    """None: the comparison's minimum effect."""
    floor: float = 0.0
    """Values this small on both sides are nothing to compare (a fraction of a byte of WAL per transaction)."""


@dataclass
class RunFigures:
    """One run's run-level figures and per-interval series, by metric key."""

    data: Mapping[str, Any]
    metrics: dict[str, Metric] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    ladders: dict[str, tuple[list[tuple[float, float]], float]] = field(default_factory=dict)
    """Per operation ("" for all): the run's percentile ladder as (quantile, ms) and its transaction count."""

    def put(self, metric: Metric, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        self.metrics.setdefault(metric.key, metric)
        self.values[metric.key] = float(value)

    def add_point(self, key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        self.series.setdefault(key, []).append(float(value))


@dataclass
class Side:
    """What one command-line argument names: one run, or the repetitions of a ``run --repeat`` folder."""

    name: str
    path: str
    runs: list[Mapping[str, Any]]
    repeat: bool = False

    @property
    def first(self) -> Mapping[str, Any]:
        return self.runs[0]


def load_side(path: str | os.PathLike[str], name: str | None = None) -> Side:
    """A report file, a run journal, or a ``run --repeat`` folder; a located ConfigError for anything else."""
    where = os.fspath(path)
    label = name or os.path.basename(os.path.normpath(where)) or where
    if os.path.isdir(where):
        _, files = read_index(where)
        return Side(label, where, [Report.load(f).data for f in files], repeat=True)
    for suffix in (".journal.jsonl", ".json"):
        if label.endswith(suffix) and len(label) > len(suffix):
            label = label[: -len(suffix)]
            break
    return Side(label, where, [Report.load(where).data])


def unique_names(sides: Sequence[Side]) -> None:
    """Two sides named alike (rep-01.json from two folders) get their position appended."""
    seen: dict[str, int] = {}
    for side in sides:
        seen[side.name] = seen.get(side.name, 0) + 1
    for number, side in enumerate(sides, start=1):
        if seen[side.name] > 1:
            side.name = f"{side.name} ({number})"


# -- figures ----------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p99_9": 0.999}


def _ladder(lat: Mapping[str, Any]) -> list[tuple[float, float]]:
    return [(q, float(v)) for key, q in QUANTILES.items() if (v := _num(lat.get(key))) is not None and v > 0]


def _percentile_sigma(run: RunFigures, key: str) -> float | None:
    """The log-scale sampling error of a run's percentile figure (``p99``, ``new_order:p95``), or None."""
    op, _, figure = key.rpartition(":")
    q = QUANTILES.get(figure)
    entry = run.ladders.get(op)
    if q is None or entry is None:
        return None
    ladder, count = entry
    series = run.series.get(key) or run.series.get(figure) or []
    tau = noise.integrated_time(series) if len(series) >= 4 else 1.0
    return noise.percentile_spread(ladder, q, count / tau)


def _rate(errors: Any, ok: Any) -> float | None:
    e, n = _num(errors), _num(ok)
    if e is None or n is None or e + n <= 0:
        return None
    return e / (e + n)


def _latency_label(key: str) -> str:
    return key.replace("_", ".") + " latency"


def _usable_intervals(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The intervals of a run, without a short last one (its rates are from a fraction of a second)."""
    items = [i for i in (data.get("intervals") or []) if isinstance(i, Mapping)]
    durations = sorted(d for d in (_num(i.get("duration_s")) for i in items) if d is not None and d > 0)
    if not durations:
        return items
    typical = durations[len(durations) // 2]
    return [i for i in items if (_num(i.get("duration_s")) or typical) >= 0.5 * typical]


def run_figures(data: Mapping[str, Any]) -> RunFigures:
    """Every comparable figure of one report, with its per-interval series where intervals carry it."""
    out = RunFigures(data)
    summary = data.get("summary") or {}
    out.put(Metric("tps", "throughput", "TPS", +1, unit="tx/s"), summary.get("tps"))
    out.put(Metric("qps", "throughput", "QPS", +1, unit="q/s"), summary.get("qps"))
    lat = summary.get("latency_ms") or {}
    for key in LATENCY:
        out.put(Metric(key, "latency", _latency_label(key), -1, unit="ms"), lat.get(key))
    out.put(Metric("errors", "errors", "error rate", -1, kind="share", unit="%", min_effect=SHARE_MIN_EFFECT),
            _rate(summary.get("errors"), summary.get("transactions")))
    out.ladders[""] = (_ladder(lat), _num(summary.get("transactions")) or 0.0)
    for op, figures in (data.get("operations") or {}).items():
        if not isinstance(figures, Mapping):
            continue
        out.put(Metric(f"{op}:tps", "operations", f"{op} TPS", +1, unit="tx/s"), figures.get("tps"))
        op_lat = figures.get("latency_ms") or {}
        out.ladders[str(op)] = (_ladder(op_lat), _num(figures.get("count")) or 0.0)
        for key in LATENCY:
            if key != "mean":
                out.put(Metric(f"{op}:{key}", "operations", f"{op} {key.replace('_', '.')}", -1, unit="ms"),
                        op_lat.get(key))
        out.put(Metric(f"{op}:errors", "operations", f"{op} error rate", -1, kind="share", unit="%",
                       min_effect=SHARE_MIN_EFFECT), _rate(figures.get("errors"), figures.get("count")))
    pg = data.get("pg") or {}
    per = pg.get("per_transaction") or {}
    for key, label, unit, _, floor in SERVER_PER_TX:
        out.put(Metric(f"{key}_per_tx", "server", label, -1, unit=unit, floor=floor), per.get(key))
    out.put(Metric("cache_hit_ratio", "server", "cache hit ratio", +1, kind="share", unit="%",
                   min_effect=SHARE_MIN_EFFECT), pg.get("cache_hit_ratio"))
    for row in ((pg.get("operations") or {}).get("per_transaction") or []):
        if isinstance(row, Mapping) and row.get("operation"):
            out.put(Metric(f"{row['operation']}:server_ms", "server", f"{row['operation']} server ms per transaction",
                           -1, unit="ms"), row.get("server_ms"))
    waits = pg.get("waits") or {}
    for wtype, share in (waits.get("by_type") or {}).items():
        out.put(Metric(f"wait:{wtype}", "waits", f"wait {wtype} share", 0, kind="share", unit="%",
                       min_effect=WAIT_MIN_EFFECT), share)
    client = data.get("client") or {}
    out.put(Metric("client_cpu_per_tx_us", "client", "client CPU per transaction", -1, unit="µs"),
            client.get("cpu_per_tx_us"))
    out.put(Metric("client_bound_share", "client", "client-bound share of intervals", -1, kind="share", unit="%",
                   min_effect=SHARE_MIN_EFFECT * 10), client.get("saturated_share"))
    _interval_series(out)
    return out


def _interval_series(out: RunFigures) -> None:
    for item in _usable_intervals(out.data):
        out.add_point("tps", item.get("tps"))
        out.add_point("qps", item.get("qps"))
        lat = item.get("latency_ms") or {}
        for key in LATENCY:
            out.add_point(key, lat.get(key))
        out.add_point("errors", _rate(item.get("errors"), item.get("transactions")))
        for op, figures in (item.get("operations") or {}).items():
            if not isinstance(figures, Mapping):
                continue
            out.add_point(f"{op}:tps", figures.get("tps"))
            for key, value in (figures.get("latency_ms") or {}).items():
                out.add_point(f"{op}:{key}", value)
            out.add_point(f"{op}:errors", _rate(figures.get("errors"), figures.get("count")))
        pg = item.get("pg") or {}
        # Backends flush their statistics in lumps (about once a second), so a poll's window rarely matches
        # the interval's: the server's own commits over the same window are the divisor that does.
        commits = _num(pg.get("commits_s"))
        window = _num(pg.get("interval_s"))
        # A window with a handful of commits (the first poll, before the workers' statistics reach the
        # server) holds the monitor's own queries, not the workload's cost.
        if commits and (window is None or commits * window >= MIN_WINDOW_COMMITS):
            for key, _, _, per_s, _ in SERVER_PER_TX:
                value = _num(pg.get(per_s))
                if value is not None:
                    out.add_point(f"{key}_per_tx", value / commits)
        out.add_point("cache_hit_ratio", pg.get("cache_hit_ratio"))
        client = item.get("client") or {}
        cpu, done = _num(client.get("cpu_s")), _num(item.get("transactions"))
        if cpu is not None and done:
            out.add_point("client_cpu_per_tx_us", cpu * 1e6 / done)
        if isinstance(client.get("bound"), bool):
            out.add_point("client_bound_share", 1.0 if client["bound"] else 0.0)


# -- what differs ----------------------------------------------------------------------------------


def _short_version(text: Any) -> Any:
    return str(text).split(" on ")[0] if text else text


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def describe(data: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """What a run was: key -> (what it is called, value), for finding what differs between runs."""
    out: dict[str, tuple[str, Any]] = {}
    server = data.get("server") or {}
    out["server.version"] = ("server version", _short_version(server.get("version")))
    for key, value in sorted((server.get("settings") or {}).items()):
        out[f"server.settings.{key}"] = (f"server setting {key}", value)
    wl = data.get("workload") or {}
    out["workload.name"] = ("workload", wl.get("name"))
    out["workload.version"] = ("workload version", wl.get("version"))
    for key, value in sorted((wl.get("options") or {}).items()):
        out[f"workload.options.{key}"] = (f"workload option {key}", value)
    run = data.get("run") or {}
    for key in RUN_KEYS:
        if key in run:
            out[f"run.{key}"] = (f"run {key}", run.get(key))
    host = data.get("host") or {}
    for key in ("name", "platform", "cpus", "python"):
        if key in host:
            out[f"host.{key}"] = (f"client host {key}", host.get(key))
    client = data.get("client") or {}
    for key in ("cores", "processes", "driver"):
        if key in client:
            out[f"client.{key}"] = (f"client {key}", client.get(key))
    out["target"] = ("target", (data.get("target") or {}).get("conninfo"))
    out["tool.version"] = ("tool version", (data.get("tool") or {}).get("version"))
    return out


def _blocking(key: str) -> bool:
    return key == "workload.name" or any(key == f"workload.options.{k}" for k in BLOCKING_OPTIONS)


def differences(sides: Sequence[Side]) -> list[dict[str, Any]]:
    """Every setting whose value is not the same on all sides (the first run of each), blocking ones first."""
    described = [describe(side.first) for side in sides]
    keys: list[str] = []
    for d in described:
        keys.extend(k for k in d if k not in keys)
    out: list[dict[str, Any]] = []
    for key in keys:
        values = [d.get(key, ("", None))[1] for d in described]
        if len({_shown(v) for v in values}) <= 1:
            continue
        what = next(d[key][0] for d in described if key in d)
        out.append({"key": key, "what": what, "values": [_shown(v) for v in values], "blocking": _blocking(key)})
    out.sort(key=lambda d: (not d["blocking"], _DIFF_ORDER.index(d["key"].split(".")[0])
                            if d["key"].split(".")[0] in _DIFF_ORDER else len(_DIFF_ORDER)))
    return out


_DIFF_ORDER = ["workload", "server", "run", "host", "client", "target", "tool"]


# -- the comparison ------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _values(runs: Sequence[RunFigures], key: str) -> list[float]:
    if key.startswith("wait:"):
        # a wait type never sampled in a run that has a wait profile had a share of zero, not an unknown one
        return [r.values.get(key, 0.0) for r in runs if any(k.startswith("wait:") for k in r.values)]
    return [r.values[key] for r in runs if key in r.values]


def _proxies(key: str) -> list[str]:
    """Figures whose interval series stand in for one that intervals do not keep (nearest percentile)."""
    op, _, figure = key.rpartition(":")
    near = {"p90": ["p95", "p50"], "p99_9": ["p99"]}.get(figure, [])
    if not op:
        return [key, *near]
    return [key, *(f"{op}:{n}" for n in near), figure, *near]


def _series_key(base: Sequence[RunFigures], other: Sequence[RunFigures], key: str) -> str:
    for candidate in _proxies(key):
        if any(r.series.get(candidate) for r in base) and any(r.series.get(candidate) for r in other):
            return candidate
    return key


def compare_pair(base: Sequence[RunFigures], other: Sequence[RunFigures], *, min_effect: float, seed: int,
                 resamples: int, level: float) -> list[dict[str, Any]]:
    """One row per figure found on either side: values, change, interval, verdict."""
    metrics: dict[str, Metric] = {}
    for run in [*base, *other]:
        for key, metric in run.metrics.items():
            metrics.setdefault(key, metric)
    rows: list[dict[str, Any]] = []
    for key, metric in metrics.items():
        a, b = _values(base, key), _values(other, key)
        va, vb = _mean(a), _mean(b)
        threshold = metric.min_effect if metric.min_effect is not None else min_effect
        if not a or not b:
            estimate = noise.Estimate(None, None, None, "none", True,
                                      f"measured only on the {'other' if not a else 'base'} side")
        elif len(a) >= 2 and len(b) >= 2:
            estimate = noise.compare_repetitions(a, b, kind=metric.kind, seed=f"{seed}:{key}",
                                                 resamples=resamples, level=level)
        else:
            source = _series_key(base, other, key)
            estimate = noise.compare_intervals(
                [r.series.get(source, []) for r in base], [r.series.get(source, []) for r in other],
                point=noise.point_change(va, vb, metric.kind), kind=metric.kind, seed=f"{seed}:{key}",
                resamples=resamples, level=level)
            if len(base) == 1 and len(other) == 1 and metric.group in ("latency", "operations"):
                estimate = noise.with_percentile_spread(estimate, _percentile_sigma(base[0], key),
                                                        _percentile_sigma(other[0], key), level)
            if source != key and estimate.low is not None:
                note = f"noise estimated from the intervals of {source} (this figure is not kept per interval)"
                estimate = replace(estimate, weak=True, reason=note if not estimate.reason else
                                   f"{note}; {estimate.reason}")
        verdict = noise.verdict(estimate, metric.direction, threshold)
        if va is not None and vb is not None and max(abs(va), abs(vb)) < metric.floor:
            verdict = noise.NOISE
            estimate = replace(estimate, reason=f"both sides below {metric.floor:g}{metric.unit and ' ' + metric.unit}"
                               " per transaction: nothing to compare")
        rows.append({
            "metric": key, "group": metric.group, "label": metric.label, "unit": metric.unit,
            "direction": metric.direction, "kind": metric.kind, "base": va, "other": vb,
            "change": estimate.change, "low": estimate.low, "high": estimate.high, "method": estimate.method,
            "weak": estimate.weak, "reason": estimate.reason, "n_base": round(estimate.n_a, 2),
            "n_other": round(estimate.n_b, 2), "min_effect": threshold, "verdict": verdict,
        })
    order = {g: i for i, g in enumerate(("throughput", "latency", "errors", "operations", "server", "waits",
                                         "client"))}
    rows.sort(key=lambda r: order.get(r["group"], 99))
    return rows


def _side_summary(side: Side) -> dict[str, Any]:
    first = side.first
    return {
        "name": side.name,
        "path": os.path.abspath(side.path),
        "repeat": side.repeat,
        "runs": len(side.runs),
        "statuses": [str(r.get("status")) for r in side.runs],
        "started_at": first.get("started_at"),
        "workload": (first.get("workload") or {}).get("name"),
        "client_bound": [bool((r.get("client") or {}).get("client_bound")) for r in side.runs],
        "intervals": [len(_usable_intervals(r)) for r in side.runs],
    }


def _warnings(sides: Sequence[Side]) -> list[str]:
    out = []
    for side in sides:
        bad = [str(r.get("status")) for r in side.runs if r.get("status") != "completed"]
        if bad:
            out.append(f"{side.name}: {len(bad)} of {len(side.runs)} runs did not complete ({', '.join(sorted(set(bad)))})"
                       "; their figures cover only what was measured")
        bound = sum(1 for r in side.runs if (r.get("client") or {}).get("client_bound"))
        if bound:
            out.append(f"{side.name}: the client was the limit in {bound} of {len(side.runs)} runs (client-bound): "
                       "a difference there may be the load generator's, not the server's")
        for run in side.runs:
            for warning in (run.get("warnings") or [])[:3]:
                text = f"{side.name}: {warning}"
                if text not in out:
                    out.append(text)
    return out


def build_comparison(sides: Sequence[Side], *, min_effect: float = DEFAULT_MIN_EFFECT, seed: int = 1,
                     resamples: int = noise.RESAMPLES, level: float = noise.LEVEL) -> dict[str, Any]:
    """The comparison document: sides, what differs, one table of figures per side against the base."""
    if len(sides) < 2:
        raise UsageError("compare needs at least two reports (or --repeat folders)")
    unique_names(sides)
    figures = [[run_figures(r) for r in side.runs] for side in sides]
    comparisons = []
    for index in range(1, len(sides)):
        rows = compare_pair(figures[0], figures[index], min_effect=min_effect, seed=seed, resamples=resamples,
                            level=level)
        comparisons.append({"base": sides[0].name, "other": sides[index].name, "metrics": rows,
                            "counts": _counts(rows)})
    diffs = differences(sides)
    return {
        "comparison": COMPARISON_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "created_at": datetime.now(timezone.utc).isoformat(),
        "settings": {"min_effect": min_effect, "level": level, "resamples": resamples, "seed": seed},
        "sides": [_side_summary(s) for s in sides],
        "differences": diffs,
        "blocking": [d for d in diffs if d["blocking"]],
        "comparisons": comparisons,
        "warnings": _warnings(sides),
        "gate": None,
    }


def _counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        out[row["verdict"]] = out.get(row["verdict"], 0) + 1
    return out


# -- the gate ------------------------------------------------------------------------------------------

_GATE_METRICS = {"tps": "tps", "qps": "qps", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99",
                 "p99.9": "p99_9", "p99_9": "p99_9", "p999": "p99_9", "max": "max", "mean": "mean",
                 "errors": "errors", "cache_hit_ratio": "cache_hit_ratio",
                 "client_cpu_per_tx_us": "client_cpu_per_tx_us", "client_bound_share": "client_bound_share",
                 **{f"{k[0]}_per_tx": f"{k[0]}_per_tx" for k in SERVER_PER_TX}}
_OP_METRICS = {"tps", "p50", "p90", "p95", "p99", "p99_9", "max", "errors", "server_ms"}
_GATE_RULE = re.compile(r"^\s*(?:(?P<op>[^:<>]+?)\s*:\s*)?(?P<metric>[A-Za-z][A-Za-z0-9_.]*)\s*(?P<cmp><|>)\s*"
                        r"(?P<num>[+-]?[0-9]*\.?[0-9]+)\s*(?P<unit>%?)\s*$")


@dataclass(frozen=True)
class GateRule:
    """``tps<-5%``: fail when the change is below -5 % and beyond noise; ``new_order:p95>+10%`` per operation."""

    text: str
    metric: str
    operation: str | None
    cmp: str
    threshold: float
    """A fraction: -0.05 for -5 % (percentage points for shares such as ``errors``)."""

    @property
    def key(self) -> str:
        return f"{self.operation}:{self.metric}" if self.operation else self.metric

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.text, "metric": self.key, "cmp": self.cmp, "threshold": self.threshold}


def parse_gate(text: str, flag: str = "--fail-on") -> list[GateRule]:
    """Rules separated by commas; a malformed one is a UsageError naming the rule, its position and the fix."""
    rules = []
    column = 1
    parts = text.split(",")
    if not text.strip():
        raise UsageError(f"{flag}: no rules given (expected e.g. \"tps<-5%,p99>+10%\")")
    for number, part in enumerate(parts, start=1):
        where = f"{flag} {text!r}: rule {number} ({part.strip()!r}, column {column})"
        column += len(part) + 1
        if not part.strip():
            raise UsageError(f"{where}: empty rule (two commas, or one at the end)")
        match = _GATE_RULE.match(part)
        if match is None:
            hint = ("use < or > (a change is compared, e.g. tps<-5%)" if re.search(r"<=|>=|=", part)
                    else "expected [operation:]metric<change% or >change%, e.g. tps<-5% or new_order:p95>+10%")
            raise UsageError(f"{where}: {hint}")
        if not match["unit"]:
            raise UsageError(f"{where}: the change needs a % sign ({match['num']}%): rules compare relative changes")
        raw = match["metric"].lower()
        op = match["op"]
        if op is not None:
            metric = _GATE_METRICS.get(raw, raw)
            if metric not in _OP_METRICS:
                raise UsageError(f"{where}: {raw!r} is not a per-operation figure (one of "
                                 f"{', '.join(sorted(_OP_METRICS))})")
        else:
            if raw not in _GATE_METRICS:
                raise UsageError(f"{where}: unknown figure {raw!r} (one of {', '.join(sorted(set(_GATE_METRICS)))}; "
                                 "operation:figure for one operation)")
            metric = _GATE_METRICS[raw]
        rules.append(GateRule(part.strip(), metric, op.strip() if op else None, match["cmp"],
                              float(match["num"]) / 100.0))
    return rules


def evaluate_gate(doc: dict[str, Any], rules: Sequence[GateRule]) -> dict[str, Any]:
    """Check every rule against every side compared with the base; stores and returns the ``gate`` section.

    A rule is broken when the change is past its threshold *and* the verdict
    is not "within noise" (the interval excludes no change and the change is
    at least the minimum effect). A rule naming a figure no comparison has
    is a usage error: a gate that cannot look must not pass.
    """
    checks = []
    for comp in doc["comparisons"]:
        rows = {r["metric"]: r for r in comp["metrics"]}
        for rule in rules:
            row = rows.get(rule.key)
            if row is None or row["change"] is None:
                if rule.operation is not None and not any(k.startswith(f"{rule.operation}:") for k in rows):
                    ops = sorted({k.split(":")[0] for k in rows if ":" in k and not k.startswith("wait:")})
                    raise UsageError(f"--fail-on: rule {rule.text!r}: no operation {rule.operation!r} in the "
                                     f"reports (operations: {', '.join(ops) or 'none'})")
                why = row["reason"] if row is not None else "not in the reports"
                raise UsageError(f"--fail-on: rule {rule.text!r} cannot be checked for {comp['other']} against "
                                 f"{comp['base']}: {why}")
            change = row["change"]
            past = change < rule.threshold if rule.cmp == "<" else change > rule.threshold
            beyond = row["verdict"] in (noise.BETTER, noise.WORSE, noise.CHANGED)
            checks.append({**rule.as_dict(), "base": comp["base"], "other": comp["other"], "change": change,
                           "low": row["low"], "high": row["high"], "verdict": row["verdict"], "weak": row["weak"],
                           "past_threshold": past, "broken": past and beyond})
    gate = {"rules": [r.as_dict() for r in rules], "checks": checks,
            "broken": [c for c in checks if c["broken"]], "passed": not any(c["broken"] for c in checks)}
    doc["gate"] = gate
    return gate


def parse_share(text: str, flag: str) -> float:
    """``2%`` or ``0.02`` as a fraction; a UsageError otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected a percentage such as 2%") from None
    if not 0.0 <= value < 10.0:
        raise UsageError(f"{flag} {text!r}: expected a percentage from 0% up")
    return value


def check_comparable(sides: Sequence[Side], force: bool) -> None:
    """Runs of different workloads or data sizes are not comparable: a UsageError unless forced.

    Checked before any resampling, so a refused comparison costs nothing.
    """
    blocking = [d for d in differences(sides) if d["blocking"]]
    if blocking and not force:
        what = "; ".join(f"{d['what']}: {' vs '.join(d['values'])}" for d in blocking)
        raise UsageError(f"the runs measure different things ({what}); --force compares them anyway")


def load_sides(paths: Sequence[str]) -> list[Side]:
    sides = []
    for path in paths:
        try:
            sides.append(load_side(path))
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"not a well-formed report ({type(exc).__name__}: {exc})", file=path) from None
    return sides
