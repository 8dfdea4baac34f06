"""Dashboard panes: each turns an immutable RunSnapshot into text, in place.

A pane is a focusable :class:`~textual.widgets.Static` whose :meth:`Pane.show`
builds a Rich renderable from the snapshot and calls ``update``; nothing is
mounted or removed while a run is live, so a redraw costs one render of a
few lines. The rendering functions are plain functions of the snapshot so
they can be checked without a terminal.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from stormdb_tui.db import sqlstate_class
from stormdb_tui.metrics import RunSnapshot

BLOCKS = " ▁▂▃▄▅▆▇█"
EVENT_MARKS = {"checkpoint": "C", "autovacuum": "V", "connection_limit": "L", "settings": "S"}


def fmt_ms(value: float | None) -> str:
    """Milliseconds with precision that suits the magnitude; an en dash for no data."""
    if value is None:
        return "–"
    if value < 1:
        return f"{value:.3f}"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "–"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.2f} {unit}"
        value /= 1024
    return f"{value:,.2f} GB"


def spark_rows(values: Sequence[float], width: int, height: int) -> list[str]:
    """A ``height``-row block sparkline of the last ``width`` values, top row first."""
    vals = list(values)[-max(width, 1):]
    top = max(vals, default=0.0) or 1.0
    rows = []
    for row in range(height - 1, -1, -1):
        cells = []
        for value in vals:
            eighths = value / top * height * 8 - row * 8
            cells.append(BLOCKS[max(0, min(8, int(round(eighths))))])
        rows.append("".join(cells))
    return rows


def event_marks(snap: RunSnapshot, width: int) -> tuple[str, list[str]]:
    """One character per visible interval marking server events (C, V, L) and errors (!)."""
    intervals = snap.intervals[-max(width, 1):]
    by_t: dict[float, str] = {}
    for event in snap.events:
        mark = EVENT_MARKS.get(str(event.get("type")), "*")
        t = round(float(event.get("t_s", -1)), 3)
        if mark not in by_t.get(t, ""):
            by_t[t] = by_t.get(t, "") + mark
    chars = []
    for sample in intervals:
        marks = by_t.get(round(sample.t_s, 3), "")
        chars.append(marks[0] if marks else ("!" if sample.errors else " "))
    recent = [f"{float(e.get('t_s', 0)):.0f}s {e.get('detail') or e.get('type')}" for e in snap.events[-2:]]
    return "".join(chars), recent


def render_throughput(snap: RunSnapshot, width: int, height: int) -> Text:
    last = snap.last
    text = Text()
    text.append("now ", style="dim")
    text.append(fmt_rate(last.tps if last else None), style="bold")
    text.append("  avg ", style="dim")
    text.append(fmt_rate(snap.tps))
    if snap.intervals:
        text.append("  peak ", style="dim")
        text.append(fmt_rate(max(s.tps for s in snap.intervals)))
    rows = max(height - 3, 1)
    width = max(width, 8)
    series = [s.tps for s in snap.intervals]
    for line in spark_rows(series, width, rows) if series else ["(waiting for the first interval)"]:
        text.append("\n" + line, style="green")
    marks, recent = event_marks(snap, width)
    text.append("\n" + marks, style="bold magenta")
    if recent:
        line = "; ".join(recent)
        text.append("\n" + (line if len(line) <= width else line[: width - 1] + "…"), style="magenta")
    elif snap.intervals:
        text.append("\nC checkpoint  V autovacuum  L conn limit  ! errors", style="dim")
    return text


def render_latency(snap: RunSnapshot) -> Table:
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("operation", no_wrap=True, overflow="ellipsis", ratio=2)
    for name in ("count", "tps", "p50", "p95", "p99", "p99.9", "max"):
        table.add_column(name, justify="right", no_wrap=True, ratio=1)
    rows = list(snap.labels)
    if snap.overall is not None and snap.overall.count:
        rows.append(snap.overall)
    for stats in rows:
        lat = stats.latency_ms
        table.add_row(
            "all" if stats.label == "*" else stats.label,
            f"{stats.count:,}",
            fmt_rate(stats.tps),
            *(fmt_ms(lat.get(k)) for k in ("p50", "p95", "p99", "p99_9", "max")),
            style="bold" if stats.label == "*" else None,
        )
    if not rows:
        table.add_row("(no transactions yet)", *[""] * 7)
    return table


def render_errors(snap: RunSnapshot) -> Text:
    text = Text()
    text.append("errors ", style="dim")
    text.append(f"{snap.errors:,}", style="bold red" if snap.errors else "bold")
    text.append("  retries ", style="dim")
    text.append(f"{snap.retries:,}")
    text.append("  rollbacks ", style="dim")
    text.append(f"{snap.rollbacks:,}")
    by_class: dict[str, int] = {}
    for kind in snap.error_kinds:
        name = sqlstate_class(kind.sqlstate)
        by_class[name] = by_class.get(name, 0) + kind.count
    for name, count in sorted(by_class.items(), key=lambda kv: -kv[1])[:3]:
        text.append(f"\n{count:>8,}  {name}", style="red")
    for kind in sorted(snap.error_kinds, key=lambda k: -k.count)[:2]:
        text.append(f"\n{kind.sqlstate} {kind.label}: {kind.first_message}", style="dim")
    if not snap.error_kinds:
        text.append("\nno errors", style="green")
    return text


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


def render_server(pg: Mapping[str, Any] | None) -> Text:
    text = Text()
    if pg is None:
        text.append("server statistics off\n(enable with --pg-stats or the switch on the pick screen)", style="dim")
        return text

    def row(name: str, value: str, style: str | None = None) -> None:
        if text:
            text.append("\n")
        text.append(f"{name:<11}", style="dim")
        text.append(value, style=style or "")

    hit = pg.get("cache_hit_ratio")
    row("cache hit", _pct(hit), "bold red" if hit is not None and hit < 0.9 else "bold")
    wal = f"{fmt_bytes(pg.get('wal_bytes_s'))}/s"
    if pg.get("wal_fpi_s"):
        wal += f" fpi {fmt_rate(pg.get('wal_fpi_s'))}/s"
    row("WAL", wal)
    row("commits", f"{fmt_rate(pg.get('commits_s'))}/s  rb {fmt_rate(pg.get('rollbacks_s'))}/s")
    io_total = (pg.get("io") or {}).get("total")
    if io_total:  # pg_stat_io, 16+: block operations of every backend type
        row("blocks/s", " ".join(f"{name} {io_total.get(key) or 0:,.0f}" for name, key in
                                 (("rd", "reads_s"), ("wr", "writes_s"), ("ext", "extends_s"))))
    ckpt = f"timed {pg.get('checkpoints_timed', '–')} req {pg.get('checkpoints_req', '–')}"
    if pg.get("checkpoint_in_progress"):
        ckpt += " running"
    row("checkpoint", ckpt, "yellow" if pg.get("checkpoint_in_progress") else None)
    locks = pg.get("lock_waits") or {}
    waiting = locks.get("waiting")
    longest = locks.get("longest_wait_s")
    lock_text = "–" if waiting is None else f"{waiting}"
    if waiting:
        lock_text += f", longest {longest or 0:.2f}s"
    row("lock waits", lock_text, "yellow" if waiting else None)
    vac = pg.get("autovacuum") or []
    if vac:
        row("autovacuum", ", ".join(str(v.get("table")).rsplit(".", 1)[-1] for v in vac[:2]), "yellow")
    return text


def render_connections(pg: Mapping[str, Any] | None) -> Text:
    text = Text()
    conns = (pg or {}).get("connections")
    if not conns:
        text.append("no connection statistics", style="dim")
        return text
    limit = conns.get("limit") or conns.get("max_connections")
    text.append("total ", style="dim")
    text.append(f"{conns.get('total', '–')}", style="bold")
    if limit:
        text.append(f" / {limit}", style="dim")
    text.append("  ours ", style="dim")
    text.append(f"{conns.get('ours', '–')}")
    text.append("  others ", style="dim")
    text.append(f"{conns.get('others', '–')}")
    states = conns.get("by_state") or {}
    for state, count in sorted(states.items(), key=lambda kv: -kv[1])[:4]:
        text.append(f"\n{count:>5}  {state}")
    waits = conns.get("by_wait_event_type") or {}
    if waits:
        text.append("\nwaiting on: ", style="dim")
        text.append(", ".join(f"{k} {v}" for k, v in sorted(waits.items(), key=lambda kv: -kv[1])[:4]))
    return text


def render_waits(pg: Mapping[str, Any] | None, width: int = 40) -> Text:
    """This interval's wait-event shares of our load sessions (CPU = active, no wait event)."""
    text = Text()
    if pg is None:
        text.append("server statistics off", style="dim")
        return text
    waits = pg.get("waits")
    if waits is None:
        text.append("wait sampling off\n(monitoring.wait_sample_rate)", style="dim")
        return text
    top = waits.get("top") or []
    if not top:
        text.append("no session inside a transaction", style="dim")
        return text
    text.append(f"{waits.get('sessions_avg') or 0:.1f} in a txn", style="dim")
    room = max(width - 7, 6)
    for w in top[:4]:
        name = "CPU" if w["type"] == "CPU" else f"{w['type']}:{w['event']}"
        if len(name) > room:
            name = name[:room - 1] + "…"
        style = "yellow" if w["type"] in ("Lock", "LWLock") else ""
        text.append(f"\n{w['share'] * 100:>3.0f}% ")
        text.append(name, style=style)
    return text


def render_workers(snap: RunSnapshot, width: int, height: int | None = None) -> Text:
    counts = snap.worker_counts
    elapsed = snap.elapsed_s
    text = Text()
    if not counts:
        text.append("(no per-worker figures yet)", style="dim")
        return text
    tps = {wid: (tx / elapsed if elapsed > 0 else 0.0) for wid, (tx, _e) in counts.items()}
    values = sorted(tps.values())
    text.append(
        f"{len(counts)} workers, tx/s each: min {fmt_rate(values[0])}  median {fmt_rate(statistics.median(values))}  "
        f"max {fmt_rate(values[-1])}",
        style="bold",
    )
    cell = 18
    columns = max(1, width // cell)
    ids = sorted(counts)
    lines = [ids[i:i + columns] for i in range(0, len(ids), columns)]
    if height is not None and len(lines) > height - 1:
        shown = max(height - 2, 0)
        hidden = sum(len(line) for line in lines[shown:])
        lines = lines[:shown] + [[]]
    else:
        hidden = 0
    for line in lines:
        text.append("\n")
        if not line:
            text.append(f"… {hidden} more workers: a taller terminal shows them all", style="dim")
        for wid in line:
            tx, errs = counts[wid]
            text.append(f"#{wid:<3}", style="dim")
            text.append(f"{fmt_rate(tps[wid]):>8}")
            text.append(f" {errs}e".ljust(cell - 12), style="red" if errs else "dim")
    return text


class Pane(Static):
    """A bordered, focusable dashboard pane named after what it shows."""

    can_focus = True

    def __init__(self, name: str, title: str) -> None:
        super().__init__("", id=f"pane-{name}", classes="pane")
        self.pane_name = name
        self.border_title = title
        self._snap: RunSnapshot | None = None

    def on_resize(self) -> None:
        if self._snap is not None:
            self.show(self._snap)

    def show(self, snap: RunSnapshot) -> None:
        self._snap = snap
        width = max(self.content_size.width, 20)
        height = max(self.content_size.height, 3)
        name = self.pane_name
        if name == "throughput":
            self.update(render_throughput(snap, width, height))
        elif name == "latency":
            self.update(render_latency(snap))
        elif name == "errors":
            self.update(render_errors(snap))
        elif name == "server":
            self.update(render_server(snap.pg))
        elif name == "waits":
            self.update(render_waits(snap.pg, width))
        elif name == "connections":
            self.update(render_connections(snap.pg))
        elif name == "workers":
            self.update(render_workers(snap, width, height))
