"""Dashboard panes: each turns an immutable RunSnapshot into text, in place.

A pane is a focusable :class:`~textual.widgets.Static` whose :meth:`Pane.show`
builds a Rich renderable from the snapshot and calls ``update``; nothing is
mounted or removed while a run is live, so a redraw costs one render of a
few lines. The rendering functions are plain functions of the snapshot so
they can be checked without a terminal.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from stormdb_tui.db import sqlstate_class
from stormdb_tui.engine.metrics import RunSnapshot
from stormdb_tui.report import plots
from stormdb_tui.tui.widgets.charts import Chart

EVENT_MARKS = plots.EVENT_MARKS


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


def recent_events(snap: RunSnapshot, count: int = 2) -> list[str]:
    """The last server events, lettered as on the charts: ``C 3s checkpoint started``."""
    return [f"{plots.event_mark(e.get('type'))} {float(e.get('t_s', 0)):.0f}s {e.get('detail') or e.get('type')}"
            for e in snap.events[-count:]]


def _events(snap: RunSnapshot) -> list[tuple[float, str]]:
    return [(float(e["t_s"]), str(e.get("type"))) for e in snap.events if e.get("t_s") is not None]


def draw_throughput(snap: RunSnapshot) -> Callable[[Any], None]:
    t = [s.t_s for s in snap.intervals]
    tps = [s.tps for s in snap.intervals]
    return lambda plt: plots.throughput_plot(plt, t, tps, _events(snap), title="")


def draw_latency(snap: RunSnapshot) -> Callable[[Any], None]:
    t = [s.t_s for s in snap.intervals]
    series = {k: [s.latency_ms.get(k) for s in snap.intervals] for k in plots.LATENCY_SERIES}
    return lambda plt: plots.latency_time_plot(plt, t, series, _events(snap), title="")


def draw_workers(snap: RunSnapshot) -> Callable[[Any], None]:
    elapsed = snap.elapsed_s
    ids = sorted(snap.worker_counts)
    tps = [snap.worker_counts[w][0] / elapsed if elapsed > 0 else 0.0 for w in ids]
    return lambda plt: plots.bars_plot(plt, [f"#{w}" for w in ids], tps, title="", xlabel="worker")


def render_throughput(snap: RunSnapshot, width: int) -> Text:
    """The figures above the chart: now, average, peak, and the latest server events."""
    last = snap.last
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("now ", style="dim")
    text.append(fmt_rate(last.tps if last else None), style="bold")
    text.append("  avg ", style="dim")
    text.append(fmt_rate(snap.tps))
    if snap.intervals:
        text.append("  peak ", style="dim")
        text.append(fmt_rate(max(s.tps for s in snap.intervals)))
    recent = recent_events(snap)
    line = "; ".join(recent) if recent else plots.EVENT_LEGEND
    text.append("   " + line, style="magenta" if recent else "dim")
    return text


LADDER = ("p50", "p90", "p95", "p99", "p99_9", "max")


def render_latency(snap: RunSnapshot, width: int = 120) -> Table:
    """Cumulative percentiles per operation and overall, and the last interval's beside them.

    Narrow panes drop tps and p90 first: the tail (p99, p99.9, max) is what a
    latency pane is for.
    """
    keys = LADDER if width >= 60 else ("p50", "p95", "p99", "p99_9", "max")
    show_tps = width >= 66
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold", padding=(0, 0, 0, 1))
    table.add_column("operation", no_wrap=True, overflow="ellipsis", ratio=1, min_width=8)
    for name in ("count", *(["tps"] if show_tps else []), *(k.replace("_", ".") for k in keys)):
        table.add_column(name, justify="right", no_wrap=True)
    rows = list(snap.labels)
    if snap.overall is not None and snap.overall.count:
        rows.append(snap.overall)
    for stats in rows:
        lat = stats.latency_ms
        table.add_row(
            "all (run)" if stats.label == "*" else stats.label,
            f"{stats.count:,}",
            *([fmt_rate(stats.tps)] if show_tps else []),
            *(fmt_ms(lat.get(k)) for k in keys),
            style="bold" if stats.label == "*" else None,
        )
    last = snap.last
    if last is not None and last.transactions:
        table.add_row("last interval", f"{last.transactions:,}", *([fmt_rate(last.tps)] if show_tps else []),
                      *(fmt_ms(last.latency_ms.get(k)) for k in keys), style="cyan")
    if not rows:
        table.add_row("(no transactions yet)", *[""] * (len(table.columns) - 1))
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


def render_server(pg: Mapping[str, Any] | None, monitoring: bool | None = None) -> Text:
    text = Text()
    if pg is None and monitoring:
        text.append("waiting for the first server sample…", style="dim")
        return text
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
        lock_text += f", longest {longest:.2f}s" if longest else ", longest under 0.01s"
    elif waiting == 0:
        lock_text = "none"
    row("lock waits", lock_text, "yellow" if waiting else None)
    vac = pg.get("autovacuum") or []
    if vac:
        row("autovacuum", ", ".join(str(v.get("table")).rsplit(".", 1)[-1] for v in vac[:2]), "yellow")
    return text


def render_connections(pg: Mapping[str, Any] | None) -> Text:
    text = Text()
    conns = (pg or {}).get("connections")
    if not conns:
        text.append("waiting for the first server sample…" if pg is not None and not pg
                    else "no connection statistics", style="dim")
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
    if waits is None and not pg:
        text.append("waiting for the first server sample…", style="dim")
        return text
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


IO_COLUMNS = (("hits", "hits_s"), ("reads", "reads_s"), ("writes", "writes_s"), ("extends", "extends_s"),
              ("fsyncs", "fsyncs_s"))
IO_SHORT = {"reads": "rd", "writes": "wr", "extends": "ext", "fsyncs": "fsync"}


def render_io(pg: Mapping[str, Any] | None, width: int = 40) -> Text:
    """This interval's pg_stat_io block operations per second: all backends, then the busiest types."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if pg is None:
        text.append("server statistics off", style="dim")
        return text
    io = pg.get("io")
    if io is None:
        text.append("no I/O figures yet" if not pg else "pg_stat_io unavailable\n(PostgreSQL 16+)", style="dim")
        return text
    total = io.get("total") or {}
    shown = [(name, total.get(key) or 0) for name, key in IO_COLUMNS]
    for i, (name, value) in enumerate(shown):
        if i == 2:
            text.append("\n")
        elif i:
            text.append("  ")
        text.append(f"{name} ", style="dim")
        text.append(f"{value:,.0f}", style="bold" if name == "reads" and value else "")
    kinds = [(kind, counts) for kind, counts in io.items() if kind != "total" and isinstance(counts, Mapping)]
    kinds.sort(key=lambda kv: -sum(float(kv[1].get(k) or 0) for _n, k in IO_COLUMNS[1:]))
    busy = [(kind, [f"{IO_SHORT[n]} {counts.get(k) or 0:,.0f}" for n, k in IO_COLUMNS[1:] if counts.get(k)])
            for kind, counts in kinds[:4]]
    busy = [(kind, parts) for kind, parts in busy if parts]
    # the backend type's name as long as the figures beside it leave room for
    room = max(min(max((len(k) for k, _ in busy), default=0), width - max((len(" ".join(p)) for _, p in busy),
                                                                             default=0) - 1), 6)
    for kind, parts in busy:
        text.append("\n")
        name = kind if len(kind) <= room else kind[:room - 1] + "…"
        text.append(f"{name:<{room}} ", style="dim")
        text.append(" ".join(parts))
    return text


def render_workers(snap: RunSnapshot) -> Text:
    counts = snap.worker_counts
    elapsed = snap.elapsed_s
    text = Text(no_wrap=True, overflow="ellipsis")
    if not counts:
        text.append("(no per-worker figures yet)", style="dim")
        return text
    tps = {wid: (tx / elapsed if elapsed > 0 else 0.0) for wid, (tx, _e) in counts.items()}
    values = sorted(tps.values())
    errors = sum(e for _tx, e in counts.values())
    text.append(
        f"{len(counts)} workers, tx/s each: min {fmt_rate(values[0])}  median {fmt_rate(statistics.median(values))}  "
        f"max {fmt_rate(values[-1])}  errors {errors:,}",
        style="bold",
    )
    return text


class Pane(Vertical):
    """A bordered, focusable dashboard pane: a text part and, for the charted ones, a plotext chart."""

    can_focus = True
    CHARTED = ("throughput", "latency", "workers")

    def __init__(self, name: str, title: str) -> None:
        super().__init__(id=f"pane-{name}", classes="pane")
        self.pane_name = name
        self.border_title = title
        self._snap: RunSnapshot | None = None

    def compose(self) -> ComposeResult:
        if self.pane_name == "latency":
            with Horizontal(classes="latency-row"):
                yield Static("", classes="pane-text")
                yield Chart(classes="pane-chart", min_rows=6)
            return
        yield Static("", classes="pane-text")
        if self.pane_name in self.CHARTED:  # lines over time garble in fewer than six rows, bars do not
            yield Chart(classes="pane-chart", min_rows=6 if self.pane_name == "throughput" else 4)

    def on_resize(self) -> None:
        if self._snap is not None:
            self.show(self._snap)  # the latency table picks its columns by width

    def show(self, snap: RunSnapshot) -> None:
        self._snap = snap
        name = self.pane_name
        body = self.query_one(".pane-text", Static)
        if name == "throughput":
            body.update(render_throughput(snap, self.content_size.width))
            self.query_one(Chart).set_draw(draw_throughput(snap))
        elif name == "latency":
            body.update(render_latency(snap, body.content_size.width or self.content_size.width))
            self.query_one(Chart).set_draw(draw_latency(snap))
        elif name == "errors":
            body.update(render_errors(snap))
        elif name == "server":
            body.update(render_server(snap.pg, self.monitoring))
        elif name == "waits":
            body.update(render_waits(snap.pg, self.content_size.width or 40))
        elif name == "io":
            body.update(render_io(snap.pg, self.content_size.width or 40))
        elif name == "connections":
            body.update(render_connections(snap.pg))
        elif name == "workers":
            body.update(render_workers(snap))
            self.query_one(Chart).set_draw(draw_workers(snap))

    monitoring: bool | None = None
    """Whether the run polls the server (None: unknown), so an empty pane can say which it is waiting for."""
