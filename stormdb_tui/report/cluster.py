"""A cluster run's per-host breakdown (the report's ``cluster`` section), for Markdown and the headless summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stormdb_tui.report.fmt import fmt, table

HEADERS = ["host", "actors", "workers", "transactions", "TPS", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms",
           "client CPU s", "client-bound", "clock offset ms", "lost"]


def _lost(host: Mapping[str, Any]) -> str:
    lost = host.get("lost") or []
    if not lost:
        return "no"
    at = [f"actor {e.get('actor')} at {fmt(e.get('at_s'))} s" if e.get("at_s") is not None else f"actor {e.get('actor')}"
          for e in lost]
    return ", ".join(at)


def host_rows(data: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for host in (data.get("cluster") or {}).get("hosts") or ():
        lat = host.get("latency_ms") or {}
        rows.append([
            host.get("name"), host.get("actors"), host.get("workers"), host.get("transactions"), host.get("tps"),
            host.get("errors"), lat.get("p50"), lat.get("p95"), lat.get("p99"), lat.get("max"),
            host.get("client_cpu_s"), "CLIENT-BOUND" if host.get("client_bound") else "no",
            host.get("clock_offset_ms"), _lost(host),
        ])
    return rows


def cluster_markdown(data: Mapping[str, Any]) -> str | None:
    """The ``## Hosts`` section of a cluster run's Markdown report; None for a single-host run."""
    cluster = data.get("cluster")
    if not cluster:
        return None
    collect = cluster.get("collect_ms") or {}
    cpu = cluster.get("collect_cpu_ms") or {}
    out = [
        "## Hosts",
        "",
        f"Ray cluster {cluster.get('address')} (Ray {cluster.get('ray_version') or '?'}): "
        f"{len(cluster.get('actors') or ())} client processes on {cluster.get('nodes')} node"
        f"{'s' if cluster.get('nodes') != 1 else ''}. The summary above merges every host's histograms; "
        "each host's own figures:",
        "",
        table(HEADERS, host_rows(data)),
        "",
        f"Intervals follow the driver's clock; collecting them took p50 {fmt(collect.get('p50'))} ms, "
        f"max {fmt(collect.get('max'))} ms per interval (of the driver's CPU: p50 {fmt(cpu.get('p50'))} ms, "
        f"max {fmt(cpu.get('max'))} ms). Clock offsets are each host's largest against the driver "
        f"(a warning above {fmt(cluster.get('clock_skew_limit_ms'))} ms). A lost host keeps what it measured up to "
        f"its last interval (run.on_host_loss: {cluster.get('on_host_loss')}).",
    ]
    return "\n".join(out)


def cluster_lines(data: Mapping[str, Any]) -> list[str]:
    """One line per host for the headless summary."""
    lines = []
    for host in (data.get("cluster") or {}).get("hosts") or ():
        lat = host.get("latency_ms") or {}
        text = (f"host {host.get('name')}: {host.get('actors')} process{'es' if host.get('actors') != 1 else ''}, "
                f"{host.get('transactions'):,} transactions, tps {fmt(host.get('tps'))}, "
                f"p50 {fmt(lat.get('p50'), 3)} p99 {fmt(lat.get('p99'), 3)} ms, {host.get('errors')} errors, "
                f"client CPU {fmt(host.get('client_cpu_s'))} s"
                f"{', CLIENT-BOUND' if host.get('client_bound') else ''}, clock {fmt(host.get('clock_offset_ms'))} ms")
        if host.get("lost"):
            text += f", LOST ({_lost(host)})"
        lines.append(text)
    return lines
