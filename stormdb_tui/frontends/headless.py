"""Headless runs: pgbench-style progress lines on stderr, a summary on stdout, report files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from stormdb_tui.engine.metrics import IntervalSample, RunSnapshot
from stormdb_tui.engine.plan import RunPlan
from stormdb_tui.engine.session import Hooks, Outcome, RunSession, signals_stop
from stormdb_tui.engine.states import Phase, Status
from stormdb_tui.report.cluster import cluster_lines
from stormdb_tui.report.fmt import fmt
from stormdb_tui.report.markdown import client_line, client_verdict
from stormdb_tui.report.model import Report
from stormdb_tui.workload import SetupProgress


def progress_printer(stream: Any = None) -> Callable[[SetupProgress], None]:
    """A setup progress callback that redraws one stderr line."""
    out = stream or sys.stderr

    def show(snap: SetupProgress) -> None:
        out.write("\r\x1b[K" + snap.line() if out.isatty() else snap.line() + "\n")
        out.flush()

    return show


def interval_line(snap: RunSnapshot, sample: IntervalSample) -> str:
    """``progress: 5.0 s, 1234.5 tps, lat p50 1.203 p95 2.1 p99 3.4 ms, 0 errors`` (cf. pgbench -P)."""
    lat = sample.latency_ms
    text = (
        f"progress: {sample.t_s:.1f} s, {sample.tps:.1f} tps, lat p50 {fmt(lat.get('p50'), 3)} "
        f"p95 {fmt(lat.get('p95'), 3)} p99 {fmt(lat.get('p99'), 3)} ms, {sample.errors} errors"
    )
    if sample.retries:
        text += f", {sample.retries} retries"
    if sample.lag_ms is not None:  # as pgbench -P prints it with -R
        text += f", lag {fmt(sample.lag_ms.get('mean'), 3)} ms"
    if sample.skipped:
        text += f", {sample.skipped} skipped"
    if sample.client and sample.client.get("bound"):
        text += ", CLIENT-BOUND"
    pg = sample.pg or {}
    if pg.get("cache_hit_ratio") is not None:
        text += f", hit {pg['cache_hit_ratio'] * 100:.1f}%"
    if pg.get("wal_bytes_s") is not None:
        text += f", WAL {pg['wal_bytes_s'] / 1e6:.2f} MB/s"
    return text


def summary_text(report: Report) -> str:
    data = report.data
    s = data["summary"]
    lines = [
        f"workload: {data['workload']['name']}  status: {data['status']}"
        + (f" ({data['message']})" if data.get("message") else ""),
        f"workers: {data['run']['workers']}  model: {data['run']['model']}  measured: {s['elapsed_s']:.1f} s",
        f"transactions: {s['transactions']:,}  tps: {s['tps']:,.1f}  qps: {s['qps']:,.1f}",
        f"errors: {s['errors']:,}  retries: {s['retries']:,}  rollbacks: {s['rollbacks']:,}",
    ]
    for key, value in (data["workload"].get("summary") or {}).items():
        if not isinstance(value, (dict, list)):
            lines.append(f"{key}: {fmt(value)}")
    rows = list(data["operations"].items()) + [("all", {**s, "count": s["transactions"]})]
    width = max([16, *(len(str(label)) for label, _ in rows)])  # long operation names keep the columns aligned
    header = f"{'operation':<{width}} {'count':>10} {'errors':>7} {'tps':>10} " + " ".join(
        f"{k:>9}" for k in ("p50", "p90", "p95", "p99", "p99.9", "max")
    )
    lines.append("")
    lines.append(header + "   (latency ms)")
    for label, op in rows:
        lat = op["latency_ms"]
        lines.append(
            f"{label:<{width}} {op['count']:>10,} {op['errors']:>7,} {op['tps']:>10,.1f} "
            + " ".join(f"{fmt(lat.get(k), 3):>9}" for k in ("p50", "p90", "p95", "p99", "p99_9", "max"))
        )
    for key, value in (data["workload"].get("summary") or {}).items():
        # A workload's own tables (bulk_insert's ranking by rows/s): the tps above counts batches
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append("")
            lines.append(f"{key}:")
            lines.extend(text_table(value))
    if data.get("errors"):
        lines.append("")
        lines.append("errors:")
        for err in data["errors"][:10]:
            lines.append(f"  {err['count']:>7,}  {err['sqlstate']} {err['class']} in {err['operation']}: {err['first_message']}")
    client = client_line(data)
    if client:
        lines.append(client)
    lines.extend(cluster_lines(data))
    verdict = client_verdict(data)
    if verdict:
        lines.append(verdict)
    if data.get("agreement"):
        lines.append(data["agreement"]["line"])
    for warning in data.get("warnings") or []:
        lines.append(f"warning: {warning}")
    for note in data.get("notes") or []:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def text_table(rows: list[dict[str, Any]]) -> list[str]:
    """Rows of mappings as aligned plain-text columns (numbers right-aligned), with a header."""
    headers = list(rows[0])
    cells = [[fmt(row.get(h)) for h in headers] for row in rows]
    numeric = [all(isinstance(row.get(h), (int, float)) for row in rows) for h in headers]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  " + "  ".join(v.rjust(w) if num else v.ljust(w)
                                for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    return [line(headers), *(line(c) for c in cells)]


def run_headless(plan: RunPlan, *, quiet: bool = False) -> int:
    """Prepare, run and report; returns the process exit code."""

    def on_interval(snap: RunSnapshot, sample: IntervalSample) -> None:
        if not quiet:
            print(interval_line(snap, sample), file=sys.stderr, flush=True)

    def on_phase(phase: Phase, message: str) -> None:
        if not quiet and message and phase in (Phase.SETUP, Phase.WARMUP, Phase.CONNECTING):
            print(f"stormdb-tui: {phase}: {message}", file=sys.stderr, flush=True)

    def on_notice(text: str) -> None:
        print(f"stormdb-tui: {text}", file=sys.stderr, flush=True)

    exporter = None
    port = plan.config.run.get("metrics_port")
    if port:
        from stormdb_tui.frontends.metrics import MetricsExporter

        exporter = MetricsExporter(int(port))
        exporter.start()
        on_notice(f"serving OpenMetrics on port {exporter.bound_port} (/metrics) while the run goes")
    hooks = Hooks(phase=on_phase, progress=None if quiet else progress_printer(), interval=on_interval,
                  notice=on_notice, sinks=(exporter,) if exporter is not None else ())
    session = RunSession(plan, hooks)
    try:
        with signals_stop(session):
            outcome = session.execute()
    finally:
        if exporter is not None:
            exporter.stop()
    return report_outcome(outcome)


def report_outcome(outcome: Outcome) -> int:
    """Print an outcome the headless way (summary on stdout, the rest on stderr); its exit code."""
    report = outcome.report
    if report is None:
        if outcome.status is Status.CANCELLED:
            print("stormdb-tui: interrupted during setup", file=sys.stderr)
        else:
            print(f"stormdb-tui: error: {outcome.error}", file=sys.stderr)
        return outcome.exit_code
    print(summary_text(report))
    for ok, line in outcome.written:
        print(f"stormdb-tui: {line}" if ok else f"stormdb-tui: error: {line}", file=sys.stderr)
    if report.status == Status.FAILED:
        print(f"stormdb-tui: error: run failed: {report.data.get('message')}", file=sys.stderr)
    return outcome.exit_code
