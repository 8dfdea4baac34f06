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
    peaks = pg.get("peaks") or {}
    if peaks:
        out.append(
            f"Peaks: {peaks.get('connections_total', 0)} client connections, "
            f"{peaks.get('lock_waiting', 0)} sessions waiting on locks, "
            f"longest lock wait {peaks.get('longest_lock_wait_s', 0.0):.2f} s."
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
    notes = pg.get("notes") or []
    if notes:
        out += ["### Monitoring notes", ""] + [f"- {_cell(n)}" for n in notes] + [""]
    return "\n".join(out)


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
