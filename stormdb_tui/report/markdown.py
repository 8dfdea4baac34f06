"""Markdown rendering of a report mapping (for PRs, wikis and ``stormdb-tui report --md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stormdb_tui.db import redact
from stormdb_tui.report import plots
from stormdb_tui.report.cluster import cluster_markdown
from stormdb_tui.report.fmt import fmt, table
from stormdb_tui.report.server import render_pg_markdown

LAT_COLUMNS = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")


def _lat_header() -> list[str]:
    return [c.replace("_", ".") + " ms" for c in LAT_COLUMNS]


def client_verdict(data: Mapping[str, Any]) -> str | None:
    """A sentence when the load generator itself limited the run (or part of it); None otherwise."""
    client = data.get("client") or {}
    share = client.get("saturated_share") or 0
    if not share:
        return None
    reasons = ", ".join(_CLIENT_REASONS.get(k, k) for k in (client.get("reasons") or {}))
    where = f"in {share:.0%} of the measured intervals" + (f" ({reasons})" if reasons else "")
    if client.get("client_bound"):
        return (
            f"CLIENT-BOUND: the load generator was the limit {where}. These numbers describe the client, "
            "not the server. To measure the server, run more client processes (run.processes: auto uses "
            "one per core; threads: use the simple workload's multiplexed driver or more processes), give "
            "the client more cores, or drive the server from more client hosts."
        )
    return f"The load generator was the limit {where}; those intervals describe the client, not the server."


_CLIENT_REASONS = {
    "cpu": "client CPU at 90 % of its cores",
    "process": "a client process saturated",
    "lag": "client lag above the limit",
}


def client_line(data: Mapping[str, Any]) -> str | None:
    """``client: multiplex, 2 processes on 2 cores, 9.1 µs CPU/tx, lag p99 0.4 ms, saturated 0 %``."""
    client = data.get("client") or {}
    if not client:
        return None
    lag = client.get("lag_ms") or {}
    return (
        f"client: {client.get('driver') or '?'}, {client.get('processes')} process"
        f"{'es' if (client.get('processes') or 0) != 1 else ''} on {client.get('cores')} core"
        f"{'s' if (client.get('cores') or 0) != 1 else ''}, {fmt(client.get('cpu_per_tx_us'))} µs CPU per transaction, "
        f"lag p99 {fmt(lag.get('p99'))} ms, saturated in {(client.get('saturated_share') or 0):.0%} of intervals"
    )


def _share(value: Any) -> str:
    return "—" if value is None else f"{value:.1%}"


def render_markdown(data: Mapping[str, Any]) -> str:
    """The whole report as Markdown."""
    out: list[str] = []
    wl = data.get("workload") or {}
    run = data.get("run") or {}
    summary = data.get("summary") or {}
    server = data.get("server") or {}
    out.append(f"# stormdb-tui report: {wl.get('name', '?')} ({data.get('status', '?')})")
    out.append("")
    out.append(
        f"{data.get('tool', {}).get('name', 'stormdb-tui')} {data.get('tool', {}).get('version', '')}, "
        f"started {data.get('started_at')}, ended {data.get('ended_at') or 'unknown (the run did not finish)'}."
    )
    if data.get("message"):
        out.append(f"\n**{data['status']}:** {data['message']}")
    verdict = client_verdict(data)
    if verdict:
        out.append(f"\n**{verdict}**")
    for warning in data.get("warnings") or ():
        out.append(f"\n> **Warning:** {warning}.")
    out.append("")
    warnings = data.get("warnings") or []
    if warnings:
        out += ["## Warnings", ""] + [f"- **warning:** {w}" for w in warnings] + [""]
    out.append("## Summary")
    out.append("")
    model = run.get("model", "closed")
    rows = [
        ("workload", f"{wl.get('name')} {wl.get('version', '')}"),
        ("options", _options_text(wl.get("options"))),
        ("server", (server.get("version") or "?").split(" on ")[0]),
        ("target", _target_text(data.get("target"))),
        ("model", model + (f", target {fmt(run.get('rate'))} tx/s" if model == "open" else "")),
        ("workers / connections", f"{run.get('workers')} / {run.get('connections')}"),
        ("measured window", f"{fmt(summary.get('elapsed_s'))} s (warm-up {fmt(run.get('warmup_s'))} s excluded)"),
        ("seed", str(run.get("seed")) if run.get("seed") is not None else "–"),  # as --seed takes it
        ("data load", _load_text(wl.get("setup"))),
        ("transactions", fmt(summary.get("transactions"))),
        ("TPS", fmt(summary.get("tps"))),
        ("QPS", fmt(summary.get("qps"))),
        ("errors / retries / rollbacks", f"{fmt(summary.get('errors'))} / {fmt(summary.get('retries'))} / {fmt(summary.get('rollbacks'))}"),
    ]
    if model == "open":
        rows.append(("skipped / late", f"{fmt(summary.get('skipped'))} / {fmt(summary.get('late'))}"))
    elif "late" in summary:
        rows.append((f"late (over {fmt(run.get('latency_limit_s'))} s)", fmt(summary.get("late"))))
    if data.get("agreement"):
        rows.append(("client/server agreement", data["agreement"]["line"].split(": ", 1)[-1]))
    for key, value in (wl.get("summary") or {}).items():
        if not isinstance(value, (dict, list)):
            rows.append((key, fmt(value)))
    out.append(table(["", "value"], rows))
    client = data.get("client") or {}
    if client:
        lag = client.get("lag_ms") or {}
        out.append("")
        out.append("## Client (the load generator)")
        out.append("")
        out.append(table(["", "value"], [
            ("driver / processes / cores", f"{client.get('driver')} / {client.get('processes')} / {client.get('cores')}"),
            ("client CPU per transaction", f"{fmt(client.get('cpu_per_tx_us'))} µs"),
            ("transactions run by the compiled loop", _share(client.get("compiled_share"))),
            ("intervals limited by the client", f"{client.get('saturated_intervals')} of {client.get('intervals')}"),
            ("client lag p50 / p99 / max", f"{fmt(lag.get('p50'))} / {fmt(lag.get('p99'))} / {fmt(lag.get('max'))} ms"),
        ]))
    hosts = cluster_markdown(data)
    if hosts:
        out += ["", hosts]
    out.append("")
    out.append("## Latency")
    out.append("")
    lat_rows = []
    for label, op in (data.get("operations") or {}).items():
        lat = op.get("latency_ms") or {}
        lat_rows.append([label, op.get("count"), op.get("errors"), op.get("tps")] + [lat.get(c) for c in LAT_COLUMNS])
    lat = summary.get("latency_ms") or {}
    lat_rows.append(["**all**", summary.get("transactions"), summary.get("errors"), summary.get("tps")] + [lat.get(c) for c in LAT_COLUMNS])
    out.append(table(["operation", "count", "errors", "TPS", *_lat_header()], lat_rows))
    waits = [(name, summary[key]) for name, key in (("service time", "service_ms"), ("schedule lag", "schedule_lag_ms"),
                                                     ("pool wait", "pool_wait_ms")) if summary.get(key)]
    if waits:
        out.append("")
        out.append("Latency counts from each transaction's scheduled start (open model) or from its request for a "
                   "pooled connection; service time from the moment it ran on one. Schedule lag is how late "
                   "transactions started; pool wait, how long they waited for a connection:")
        out.append("")
        out.append(table(["", *_lat_header()], [[name, *(v.get(c) for c in LAT_COLUMNS)] for name, v in waits]))
    if data.get("latency_histogram"):
        out.append("")
        out.append(_chart_block(lambda plt: plots.report_histogram(plt, data), 12))
    extra = {k: v for k, v in (wl.get("summary") or {}).items() if isinstance(v, (dict, list))}
    if extra:
        out.append("")
        out.append("## Workload details")
        for key, value in extra.items():
            out.append("")
            out.append(f"### {key}")
            out.append("")
            out.append(_render_value(value))
    intervals = data.get("intervals") or []
    if intervals:
        out.append("")
        out.append("## Time series")
        out.append("")
        out.append(f"Server events on the charts: {plots.EVENT_LEGEND}.")
        out.append("")
        out.append(_chart_block(lambda plt: plots.report_throughput(plt, data), 16))
        out.append("")
        out.append(_chart_block(lambda plt: plots.report_latency(plt, data), 16))
        out.append("")
        series_rows = []
        # Server events (checkpoints, autovacuum, connection limit) sit on the row
        # of the interval they happened in, so a dip in TPS reads next to its cause.
        with_events = any((item.get("pg") or {}).get("events") for item in intervals)
        with_lag = any(item.get("lag_ms") for item in intervals)
        for item in intervals:
            il = item.get("latency_ms") or {}
            pg = item.get("pg") or {}
            row = [item.get("t_s"), item.get("tps"), il.get("p50"), il.get("p95"), il.get("p99"), il.get("max"), item.get("errors"),
                   _pct(pg.get("cache_hit_ratio")), _mb(pg.get("wal_bytes_s"))]
            if with_lag:  # pgbench -P's "lag": how late this interval's transactions started
                row[6:6] = [(item.get("service_ms") or {}).get("mean"), (item.get("lag_ms") or {}).get("mean"),
                            (item.get("lag_ms") or {}).get("max")]
            if with_events:
                row.append("; ".join(_event_text(e) for e in pg.get("events") or ()))
            series_rows.append(row)
        headers = ["t s", "TPS", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "cache hit", "WAL MB/s"]
        if with_lag:
            headers[6:6] = ["service mean ms", "lag mean ms", "lag max ms"]
        out.append(table(headers + (["server events"] if with_events else []), series_rows))
    workers = data.get("workers") or []
    if workers:
        out.append("")
        out.append("## Workers")
        out.append("")
        out.append(_chart_block(lambda plt: plots.report_workers(plt, data), 12))
        out.append("")
        out.append(
            table(
                ["worker", "transactions", "errors", "TPS", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [[w["id"], w["transactions"], w["errors"], w["tps"], *(w["latency_ms"].get(k) for k in ("p50", "p95", "p99", "max"))] for w in workers],
            )
        )
    out.append("")
    out.append("## Server")
    out.append("")
    settings = server.get("settings") or {}
    out.append(f"{server.get('version', '?')}")
    pg_md = _pg_markdown(data.get("pg"))
    # The monitor's section has its own, longer settings table: print one, not both.
    if settings and not (pg_md and (data.get("pg") or {}).get("settings")):
        out.append("")
        out.append(table(["setting", "value"], sorted(settings.items())))
    if pg_md:
        out.append("")
        out.append(pg_md)
    elif data.get("pg_note"):
        out.append("")
        out.append(f"_{data['pg_note']}_")
    errors = data.get("errors") or []
    out.append("")
    out.append("## Errors")
    out.append("")
    if errors:
        out.append(table(["operation", "SQLSTATE", "class", "count", "first message"],
                         [[e["operation"], e["sqlstate"], e["class"], e["count"], e["first_message"]] for e in errors]))
    else:
        out.append("None.")
    hung = [h for h in data.get("hung") or [] if isinstance(h, Mapping)]
    if hung:
        out.append("")
        out.append("## Hung workers")
        out.append("")
        out.append(table(["worker", "inside", "seconds", "abandoned at the end"],
                         [[str(h.get("worker")), f"`{h.get('inside')}`", fmt(h.get("seconds")),
                           "yes" if h.get("abandoned") else "no"] for h in hung]))
    log = data.get("hdr_log")
    if isinstance(log, Mapping) and log.get("path"):
        out.append("")
        out.append(f"Every interval's exact latency histograms (overall and per operation, µs): `{log['path']}` "
                   "(HdrHistogram interval log; `stormdb-tui merge` adds logs exactly).")
    if data.get("notes"):
        out.append("")
        out.append("## Notes")
        out.append("")
        out.extend(f"- {note}" for note in data["notes"])
    out.append("")
    out.append("## Configuration")
    out.append("")
    import json

    out.append("```json")
    out.append(json.dumps(data.get("config"), indent=2, default=str))
    out.append("```")
    out.append("")
    return "\n".join(out)


def _target_text(target: Any) -> str:
    """Where the run went, as the report stores it (the conninfo is redacted before it is saved)."""
    if not isinstance(target, Mapping) or not target:
        return "–"
    where = redact(str(target.get("conninfo") or "").strip())  # old or hand-edited files too
    source = str(target.get("source") or "")
    return f"{where} ({source})" if where and source else (where or source or "–")


def _load_text(setup: Any) -> str:
    """``1,100,010 rows in 4.2 s (262,000 rows/s)``, or that the data was already there."""
    if not isinstance(setup, Mapping):
        return "none (the data was already loaded)"
    return (f"{fmt(setup.get('rows'))} rows in {fmt(setup.get('seconds'), 1)} s "
            f"({fmt(setup.get('rows_per_s'), 0)} rows/s)")


def _chart_block(draw: Any, height: int) -> str:
    """A plotext chart as a fenced text block (the same chart the workbench draws)."""
    try:
        return "```text\n" + plots.text_chart(draw, 100, height) + "\n```"
    except Exception as exc:  # a chart that cannot be drawn must not cost the report
        return f"(chart not drawn: {exc})"


def _options_text(options: Any) -> str:
    """``scale=1, script=tpcb-like``: what was run, which the operation names alone do not say."""
    if not isinstance(options, Mapping) or not options:
        return "–"
    parts = []
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            value = ",".join(f"{k}:{fmt(v) if not isinstance(v, float) or not v.is_integer() else int(v)}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts.append(f"{key}={fmt(value)}")
    return ", ".join(parts) or "–"


def _event_text(event: Any) -> str:
    if not isinstance(event, Mapping):
        return str(event)
    return str(event.get("detail") or event.get("type") or "event").replace("|", "\\|")


def _pct(value: Any) -> str | None:
    return None if value is None else f"{value * 100:.2f}%"


def _mb(value: Any) -> float | None:
    return None if value is None else round(value / 1e6, 3)


def _render_value(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        headers = list(value[0].keys())
        return table(headers, [[row.get(h) for h in headers] for row in value])
    if isinstance(value, Mapping):
        return table(["key", "value"], [[k, v if not isinstance(v, (dict, list)) else str(v)] for k, v in value.items()])
    return fmt(value)


def _pg_markdown(pg: Any) -> str:
    return render_pg_markdown(pg) if pg else ""
