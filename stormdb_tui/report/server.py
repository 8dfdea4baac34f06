"""The report's "Server statistics" section in Markdown, rendered from the report's ``pg`` mapping alone.

Working from the saved mapping (never from a live monitor) means a report
re-rendered from its JSON file reads exactly as the one written at the end
of the run.
"""

from __future__ import annotations

from typing import Any


def render_pg_markdown(pg: dict[str, Any] | None) -> str:
    """The report's "Server" Markdown section; says so plainly when monitoring was off."""
    if not pg:
        return "## Server statistics\n\nServer monitoring was off (`--pg-stats` to enable).\n"
    out = ["## Server statistics", ""]
    settings = pg.get("settings") or {}
    if settings:
        out += ["| Setting | Value |", "|---|---|"]
        out += [f"| {k} | {_cell(v)} |" for k, v in settings.items() if v not in ("", None)]
        out.append("")
    check = pg.get("agreement")
    if check:
        out += [check["line"] + ".", ""]
        if check.get("warning"):
            out += [f"> **Warning:** {_cell(check['warning'])}.", ""]
    deltas = pg.get("deltas") or {}
    per = pg.get("per_transaction") or {}
    if deltas:
        out += [f"Over the measured {pg.get('elapsed_s', 0):.1f} s. {pg.get('scope', '')}", ""]
        out += ["| Counter | Run total | Per transaction |", "|---|---:|---:|"]
        ratio = pg.get("cache_hit_ratio")
        out.append(f"| cache hit ratio | {'n/a' if ratio is None else f'{ratio:.2%}'} | |")
        for key, value in deltas.items():
            if value is None:
                continue
            shown = _bytes(value) if key.endswith("_bytes") else f"{int(value):,}"
            each = per.get(key)
            each_s = "" if each is None else (_bytes(each) if key.endswith("_bytes") else f"{each:,.3f}")
            out.append(f"| {key} | {shown} | {each_s} |")
        out.append("")
    out += _waits_markdown(pg.get("waits"))
    out += _io_markdown(pg.get("io"))
    peaks = pg.get("peaks") or {}
    if peaks:
        out.append(
            f"Peaks: {peaks.get('connections_total', 0)} client connections, "
            f"{peaks.get('lock_waiting', 0)} sessions waiting on locks, "
            f"longest lock wait {lock_wait_text(peaks.get('longest_lock_wait_s'))}."
        )
        out.append("")
    top = pg.get("top_statements") or []
    if top:
        out += ["### Top statements of this run (pg_stat_statements)", "",
                "| Total ms | Share | Calls | Mean ms | Rows | Query |", "|---:|---:|---:|---:|---:|---|"]
        for s in top:
            query = s.get("query") or f"queryid {s.get('queryid')}"
            out.append(f"| {s['total_ms']:,.1f} | {s.get('share', 0):.1%} | {s['calls']:,} | "
                       f"{_num(s.get('mean_ms'))} | {s.get('rows', 0):,} | `{_cell(query[:160])}` |")
        out.append("")
    out += _operations_markdown(pg.get("operations"))
    events = pg.get("events") or []
    out += ["### Server events", ""]
    out += [f"- {e.get('t_s', 0):.1f} s: {e['type']}: {_cell(e['detail'])}" for e in events] or ["None."]
    out.append("")
    mon = pg.get("monitor") or {}
    if mon.get("polls"):
        line = (f"Monitor cost: {mon['polls']} polls, {_num(mon.get('poll_ms_mean'))} ms mean / "
                f"{_num(mon.get('poll_ms_p95'))} ms p95 per poll (client round trip)")
        if mon.get("server_ms_mean") is not None:
            line += f", {_num(mon['server_ms_mean'])} ms server execution"
        out += [line + ".", ""]
    drift = pg.get("settings_drift") or []
    if drift:
        out += ["### Settings changed during the run", ""]
        out += [f"- {d.get('t_s', 0):.1f} s: {_cell(d.get('text') or d.get('name', ''))}" for d in drift] + [""]
    exts = pg.get("extensions") or {}
    if exts:
        out += ["Extensions: " + ", ".join(f"{k} {v}" for k, v in sorted(exts.items())) + ".", ""]
    notes = pg.get("notes") or []
    if notes:
        out += ["### Monitoring notes", ""] + [f"- {_cell(n)}" for n in notes] + [""]
    return "\n".join(out)


def lock_wait_text(seconds: Any) -> str:
    """``none`` when no session waited, ``under 0.01 s`` for a brief one, else the seconds."""
    if not seconds:
        return "none"
    return "under 0.01 s" if seconds < 0.005 else f"{seconds:.2f} s"


def _operations_markdown(ops: dict[str, Any] | None) -> list[str]:
    rows = (ops or {}).get("per_transaction") or []
    if not rows:
        return []
    out = ["### Server cost per operation (pg_stat_statements)", "",
           "Per transaction of each operation: server execution time beside the client's mean latency; "
           "the difference is spent outside statement execution (network, client, planning). "
           "Rows marked * include statements shared with other operations, split by transaction count.", "",
           "| Operation | Txns | Client ms | Server ms | Outside ms | Stmts | Rows | Blks hit | Blks read | WAL |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = _cell(r["operation"]) + (" *" if r.get("shared_split") else "")
        out.append(f"| {name} | {r['transactions']:,} | {_num(r.get('client_ms'))} | {_num(r.get('server_ms'))} | "
                   f"{_num(r.get('outside_server_ms'))} | {r['statements']:,.2f} | {r['rows']:,.2f} | "
                   f"{r['shared_blks_hit']:,.1f} | {r['shared_blks_read']:,.2f} | {_bytes(r['wal_bytes'])} |")
    unmatched = (ops or {}).get("unmatched") or {}
    if unmatched.get("statements"):
        out.append("")
        out.append(f"{unmatched['statements']} statements ({unmatched['total_ms']:,.1f} ms, {unmatched['calls']:,} calls) "
                   "matched no operation of the workload.")
    return out + [""]


def _waits_markdown(waits: dict[str, Any] | None) -> list[str]:
    if not waits or not waits.get("samples"):
        return []
    out = ["### Wait events of our sessions (pg_stat_activity samples)", "",
           f"{waits['samples']:,} samples at {waits.get('rate', 0):g}/s, {waits.get('session_samples', 0):,} "
           f"session samples, {_num(waits.get('sessions_avg'))} sessions in a transaction on average. "
           "CPU: active with no wait event; Client:ClientRead: idle in a transaction, waiting for the client.", ""]
    by_type = waits.get("by_type") or {}
    if by_type:
        out.append("By type: " + ", ".join(f"{k} {v:.1%}" for k, v in by_type.items()) + ".")
        out.append("")
    top = waits.get("top") or []
    if top:
        out += ["| Type | Event | Share | Samples |", "|---|---|---:|---:|"]
        out += [f"| {_cell(w['type'])} | {_cell(w['event'])} | {w['share']:.1%} | {w['count']:,} |" for w in top]
        out.append("")
    if waits.get("sample_ms_mean") is not None:
        out += [f"Sampling cost: {_num(waits['sample_ms_mean'])} ms mean / {_num(waits.get('sample_ms_p95'))} ms "
                "p95 per sample (client round trip).", ""]
    return out


def _io_markdown(io: dict[str, Any] | None) -> list[str]:
    if not io:
        return []
    fields = list(next(iter(io.values())))  # the counters in the order the monitor wrote them
    out = ["### I/O by backend type (pg_stat_io)", "",
           "Operations over the run (blocks for relations; WAL writes and syncs in the `wal` row, 18+).", "",
           "| Backend type | " + " | ".join(fields) + " |", "|---|" + "---:|" * len(fields)]
    for kind, counts in sorted(io.items(), key=lambda kv: (kv[0] == "wal", kv[0])):
        out.append(f"| {_cell(kind)} | " + " | ".join(f"{int(counts.get(k, 0)):,}" for k in fields) + " |")
    return out + [""]


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.3f}"


def _bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"
