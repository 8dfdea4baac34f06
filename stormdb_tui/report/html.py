"""A self-contained HTML report: one file, charts as inline SVG drawn here, no script, no network.

The page is rendered from the report's JSON mapping alone (like the
Markdown), so ``stormdb-tui report run.json --html run.html`` gives the same
page as the run that wrote it. The pieces are reusable: :func:`page` is the
shell (styles, header, sections), :func:`line_chart` and :func:`bar_chart`
draw SVG charts with event markers and shaded spans, :func:`table` a table;
a comparison page composes the same pieces.

Tooltips are SVG ``<title>`` elements, which browsers show without any
script: nothing on the page executes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui.report.fmt import fmt as _fmt
from stormdb_tui.report.markdown import client_line, client_verdict

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563")
EVENT_COLORS = {"checkpoint": "#ea580c", "autovacuum": "#16a34a", "connection_limit": "#dc2626", "hung": "#9333ea"}

STYLE = """
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #ffffff; --panel: #f9fafb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header { padding: 18px 28px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: var(--muted); }
main { padding: 8px 28px 40px; max-width: 1200px; }
section { margin-top: 26px; }
h2 { font-size: 17px; margin: 0 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 120px; background: var(--panel); }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
.status-completed { color: #15803d; } .status-failed, .status-crashed { color: #b91c1c; }
.status-interrupted { color: #b45309; }
.note { color: var(--muted); }
.warn { background: #fef3c7; border-left: 4px solid #d97706; padding: 6px 10px; margin: 6px 0; }
.bad { background: #fee2e2; border-left: 4px solid #dc2626; padding: 6px 10px; margin: 6px 0; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; }
figure { margin: 8px 0 14px; }
figcaption { color: var(--muted); font-size: 12px; }
svg.chart { width: 100%; max-width: 1100px; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #374151; }
svg.chart .grid { stroke: #eef0f3; }
svg.chart .axis { stroke: #9ca3af; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; margin: 2px 0 0 56px; }
.legend span::before { content: ""; display: inline-block; width: 12px; height: 3px; margin-right: 5px;
                       vertical-align: middle; background: var(--c); }
.legend span.legend-marker::before { width: 2px; height: 12px; }
"""


def fmt(value: Any, digits: int = 2) -> str:
    """Numbers as the Markdown shows them; text as it is (HTML escaping is :func:`esc`'s job)."""
    if value is None or isinstance(value, (int, float)):
        return _fmt(value, digits)
    return str(value)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# -- the page shell -----------------------------------------------------------------------


def page(title: str, sections: Iterable[str], *, subtitle: str = "", style: str = "") -> str:
    """A whole HTML document: inline styles (the reports' own, then ``style``), a header, the sections in order.

    ``subtitle`` is HTML (escape what it quotes).
    """
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # Nothing may load from elsewhere: the report is read offline, in mail and CI artifacts.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">\n"
        f"<title>{esc(title)}</title>\n<style>{STYLE}{style}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1>" + (f"<p>{subtitle}</p>" if subtitle else "") + "</header>\n"
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def section(title: str, *parts: str, ident: str = "") -> str:
    anchor = f' id="{esc(ident)}"' if ident else ""
    return f"<section{anchor}><h2>{esc(title)}</h2>\n" + "\n".join(p for p in parts if p) + "\n</section>"


def cards(items: Iterable[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>' for k, v in items
    ) + "</div>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = ()) -> str:
    """A table; columns listed in ``numeric`` are right-aligned. Cells are escaped text."""
    nums = set(numeric)
    head = "".join(f'<th class="n">{esc(h)}</th>' if i in nums else f"<th>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td class="n">{esc(c)}</td>' if i in nums else f"<td>{esc(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# -- charts ---------------------------------------------------------------------------------


@dataclass
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]
    """(x, y); a None y breaks the line."""
    color: str = ""
    dashed: bool = False


@dataclass
class Marker:
    """A vertical line at ``x`` (an event), or a shaded span from ``x`` to ``x_end``."""

    x: float
    label: str
    color: str = "#ea580c"
    x_end: float | None = None
    kind: str = ""


@dataclass
class Axes:
    width: int = 900
    height: int = 260
    left: int = 58
    right: int = 16
    top: int = 14
    bottom: int = 36
    x_label: str = ""
    y_label: str = ""
    log_y: bool = False
    y_min: float | None = None
    y_max: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(start + len(ticks) * step, 10))
    return ticks


def _num_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def line_chart(series: Sequence[Series], *, axes: Axes | None = None, markers: Sequence[Marker] = (),
               caption: str = "", ident: str = "") -> str:
    """An SVG line chart with a legend, grid, axis labels, event markers and shaded spans."""
    ax = axes or Axes()
    xs = [x for s in series for x, y in s.points if y is not None]
    ys = [y for s in series for _, y in s.points if y is not None and (not ax.log_y or y > 0)]
    if not xs or not ys:
        return f'<p class="note">{esc(caption or "chart")}: no data.</p>'
    x_lo, x_hi = 0.0 if min(xs) >= 0 else min(xs), max(xs)
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    if ax.log_y:
        lo_exp = math.floor(math.log10(min(ys)))
        hi_exp = math.ceil(math.log10(max(ys)))
        if hi_exp == lo_exp:
            hi_exp += 1
        y_ticks = [10.0 ** e for e in range(lo_exp, hi_exp + 1)]
        y_lo, y_hi = y_ticks[0], y_ticks[-1]
    else:
        y_lo = ax.y_min if ax.y_min is not None else min(0.0, min(ys))
        y_hi = ax.y_max if ax.y_max is not None else max(ys)
        y_ticks = nice_ticks(y_lo, y_hi)
        y_lo, y_hi = min(y_lo, y_ticks[0]), max(y_hi, y_ticks[-1])
    x_ticks = [t for t in nice_ticks(x_lo, x_hi, 8) if x_lo <= t <= x_hi]

    def sx(x: float) -> float:
        return ax.left + (x - x_lo) / (x_hi - x_lo) * ax.plot_w

    def sy(y: float) -> float:
        if ax.log_y:
            frac = (math.log10(max(y, y_lo)) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
        else:
            frac = (y - y_lo) / (y_hi - y_lo) if y_hi > y_lo else 0.0
        return ax.top + ax.plot_h * (1 - frac)

    out = [f'<svg class="chart" role="img" viewBox="0 0 {ax.width} {ax.height}" xmlns="http://www.w3.org/2000/svg"'
           + (f' id="{esc(ident)}"' if ident else "") + f' aria-label="{esc(caption)}">']
    bottom = ax.top + ax.plot_h
    for m in markers:
        if m.x_end is not None:
            x0, x1 = sx(max(m.x, x_lo)), sx(min(m.x_end, x_hi))
            out.append(f'<rect class="span" x="{x0:.1f}" y="{ax.top}" width="{max(x1 - x0, 1):.1f}" '
                       f'height="{ax.plot_h}" fill="{esc(m.color)}" fill-opacity="0.12"><title>{esc(m.label)}</title></rect>')
    for t in y_ticks:
        y = sy(t)
        out.append(f'<line class="grid" x1="{ax.left}" x2="{ax.left + ax.plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{ax.left - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(_num_label(t))}</text>')
    for t in x_ticks:
        x = sx(t)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{ax.top}" y2="{bottom}"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{esc(_num_label(t))}</text>')
    out.append(f'<line class="axis" x1="{ax.left}" x2="{ax.left}" y1="{ax.top}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{ax.left}" x2="{ax.left + ax.plot_w}" y1="{bottom}" y2="{bottom}"/>')
    if ax.x_label:
        out.append(f'<text x="{ax.left + ax.plot_w / 2:.0f}" y="{ax.height - 4}" text-anchor="middle">{esc(ax.x_label)}</text>')
    if ax.y_label:
        out.append(f'<text transform="translate(12,{ax.top + ax.plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">'
                   f'{esc(ax.y_label)}</text>')
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        paths: list[list[str]] = []
        current: list[str] = []
        for x, value in s.points:
            if value is None or (ax.log_y and value <= 0):
                if current:
                    paths.append(current)
                current = []
                continue
            current.append(f"{sx(x):.1f},{sy(value):.1f}")
        if current:
            paths.append(current)
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        for pts in paths:
            if len(pts) == 1:
                cx, cy = pts[0].split(",")
                out.append(f'<circle class="series" cx="{cx}" cy="{cy}" r="2.5" fill="{color}"><title>{esc(s.name)}</title></circle>')
            else:
                out.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.8"{dash} '
                           f'points="{" ".join(pts)}"><title>{esc(s.name)}</title></polyline>')
    for m in markers:
        if m.x_end is None and x_lo <= m.x <= x_hi:
            x = sx(m.x)
            out.append(f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{ax.top}" y2="{bottom}" stroke="{esc(m.color)}" '
                       f'stroke-width="1.5" stroke-dasharray="3,3"><title>{esc(m.label)}</title></line>')
    out.append("</svg>")
    legend = [f'<span style="--c:{s.color or PALETTE[i % len(PALETTE)]}">{esc(s.name)}</span>' for i, s in enumerate(series)]
    kinds: dict[str, str] = {}
    for m in markers:
        kinds.setdefault(m.kind or m.label, m.color)
    legend += [f'<span class="legend-marker" style="--c:{esc(c)}">{esc(k)}</span>' for k, c in kinds.items()]
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure>{"".join(out)}<div class="legend">{"".join(legend)}</div>{cap}</figure>'


def bar_chart(labels: Sequence[str], groups: Sequence[Series], *, axes: Axes | None = None,
              caption: str = "", horizontal: bool = False, ident: str = "") -> str:
    """Bars per label, one bar per group (``Series.points`` holds (index, value)); vertical or horizontal."""
    ax = axes or Axes()
    values = [y for g in groups for _, y in g.points if y is not None]
    if not labels or not values:
        return f'<p class="note">{esc(caption or "chart")}: no data.</p>'
    top = max(values) or 1.0
    ticks = nice_ticks(0.0, top)
    top = max(top, ticks[-1])
    n, k = len(labels), max(len(groups), 1)
    out = [f'<svg class="chart" role="img" viewBox="0 0 {ax.width} {ax.height}" xmlns="http://www.w3.org/2000/svg"'
           + (f' id="{esc(ident)}"' if ident else "") + f' aria-label="{esc(caption)}">']
    bottom = ax.top + ax.plot_h
    if horizontal:
        band = ax.plot_h / n
        for t in ticks:
            x = ax.left + t / top * ax.plot_w
            out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{ax.top}" y2="{bottom}"/>')
            out.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{esc(_num_label(t))}</text>')
        for i, label in enumerate(labels):
            y0 = ax.top + i * band
            out.append(f'<text x="{ax.left - 6}" y="{y0 + band / 2 + 4:.1f}" text-anchor="end">{esc(label)}</text>')
            for j, g in enumerate(groups):
                value = dict(g.points).get(i)
                if value is None:
                    continue
                h = band * 0.8 / k
                w = value / top * ax.plot_w
                out.append(f'<rect class="bar" x="{ax.left}" y="{y0 + band * 0.1 + j * h:.1f}" width="{max(w, 0.5):.1f}" '
                           f'height="{h:.1f}" fill="{g.color or PALETTE[j % len(PALETTE)]}">'
                           f'<title>{esc(label)} ({esc(g.name)}): {esc(fmt(value))}</title></rect>')
    else:
        band = ax.plot_w / n
        for t in ticks:
            y = bottom - t / top * ax.plot_h
            out.append(f'<line class="grid" x1="{ax.left}" x2="{ax.left + ax.plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
            out.append(f'<text x="{ax.left - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(_num_label(t))}</text>')
        step = max(1, math.ceil(n / 16))
        for i, label in enumerate(labels):
            x0 = ax.left + i * band
            if i % step == 0:
                out.append(f'<text x="{x0 + band / 2:.1f}" y="{bottom + 15}" text-anchor="middle">{esc(label)}</text>')
            for j, g in enumerate(groups):
                value = dict(g.points).get(i)
                if value is None:
                    continue
                w = band * 0.8 / k
                h = value / top * ax.plot_h
                out.append(f'<rect class="bar" x="{x0 + band * 0.1 + j * w:.1f}" y="{bottom - h:.1f}" width="{w:.1f}" '
                           f'height="{max(h, 0.5 if value else 0):.1f}" fill="{g.color or PALETTE[j % len(PALETTE)]}">'
                           f'<title>{esc(label)} ({esc(g.name)}): {esc(fmt(value))}</title></rect>')
    out.append(f'<line class="axis" x1="{ax.left}" x2="{ax.left}" y1="{ax.top}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{ax.left}" x2="{ax.left + ax.plot_w}" y1="{bottom}" y2="{bottom}"/>')
    if ax.x_label:
        out.append(f'<text x="{ax.left + ax.plot_w / 2:.0f}" y="{ax.height - 4}" text-anchor="middle">{esc(ax.x_label)}</text>')
    if ax.y_label:
        out.append(f'<text transform="translate(12,{ax.top + ax.plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">'
                   f'{esc(ax.y_label)}</text>')
    out.append("</svg>")
    legend = "" if len(groups) < 2 else '<div class="legend">' + "".join(
        f'<span style="--c:{g.color or PALETTE[j % len(PALETTE)]}">{esc(g.name)}</span>' for j, g in enumerate(groups)) + "</div>"
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{''.join(out)}{legend}{cap}</figure>"


# -- the run report -----------------------------------------------------------------------------


def event_markers(data: Mapping[str, Any]) -> list[Marker]:
    """Server events (checkpoints, autovacuum, connection limit, hung workers) and client-bound spans."""
    markers = []
    for e in data.get("events") or ():
        if not isinstance(e, Mapping) or e.get("t_s") is None:
            continue
        kind = str(e.get("type") or "event")
        if kind == "checkpoint" and e.get("phase") == "end":
            kind_label = "checkpoint end"
        else:
            kind_label = kind
        markers.append(Marker(float(e["t_s"]), f"{e.get('t_s')} s: {kind}: {e.get('detail', '')}",
                              EVENT_COLORS.get(kind, "#6b7280"), kind=kind_label))
    for iv in data.get("intervals") or ():
        client = iv.get("client") or {}
        if client.get("bound") and iv.get("t_s") is not None:
            end = float(iv["t_s"])
            markers.append(Marker(end - float(iv.get("duration_s") or 0), "client-bound interval: the load "
                                  "generator was the limit", "#dc2626", x_end=end, kind="client-bound"))
    return markers


def _series(intervals: Sequence[Mapping[str, Any]], get: Any) -> list[tuple[float, float | None]]:
    out = []
    for iv in intervals:
        try:
            value = get(iv)
        except (KeyError, TypeError, AttributeError):
            value = None
        out.append((float(iv.get("t_s") or 0.0), None if value is None else float(value)))
    return out


LAT_KEYS = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")


def _ms(value: Any) -> str:
    return fmt(value, 3) if value is not None else "n/a"


def summary_section(data: Mapping[str, Any]) -> str:
    s = data.get("summary") or {}
    lat = s.get("latency_ms") or {}
    run = data.get("run") or {}
    status = str(data.get("status") or "?")
    parts = [cards([
        ("status", status), ("transactions/s", fmt(s.get("tps"))), ("queries/s", fmt(s.get("qps"))),
        ("transactions", f"{int(s.get('transactions') or 0):,}"), ("errors", f"{int(s.get('errors') or 0):,}"),
        ("p50 ms", _ms(lat.get("p50"))), ("p95 ms", _ms(lat.get("p95"))), ("p99 ms", _ms(lat.get("p99"))),
        ("max ms", _ms(lat.get("max"))), ("measured s", fmt(s.get("elapsed_s"))),
    ])]
    if data.get("message"):
        parts.append(f'<p class="{"bad" if status in ("failed", "crashed") else "warn"}"><b>{esc(status)}:</b> '
                     f'{esc(data["message"])}</p>')
    verdict = client_verdict(data)
    if verdict:
        parts.append(f'<p class="bad">{esc(verdict)}</p>')
    parts += [f'<p class="warn">Warning: {esc(w)}</p>' for w in data.get("warnings") or ()]
    wl = data.get("workload") or {}
    rows = [
        ("workload", f"{wl.get('name')} {wl.get('version') or ''}".strip()),
        ("options", ", ".join(f"{k}={v}" for k, v in (wl.get("options") or {}).items()) or "-"),
        ("model", f"{run.get('model')}" + (f", rate {run.get('rate')}/s" if run.get("rate") else "")),
        ("workers / connections / processes", f"{run.get('workers')} / {run.get('connections')} / {run.get('processes')}"),
        ("driver", run.get("driver")),
        ("duration / warm-up", f"{fmt(run.get('duration_s'))} s / {fmt(run.get('warmup_s'))} s"),
        ("server", (data.get("server") or {}).get("version")),
        ("target", (data.get("target") or {}).get("conninfo")),
        ("started / ended", f"{data.get('started_at')} / {data.get('ended_at') or 'unknown'}"),
        ("run id", data.get("run_id")),
    ]
    parts.append(table(("", ""), [(k, v if v not in (None, "") else "-") for k, v in rows]))
    agreement = (data.get("agreement") or {}).get("line")
    line = client_line(data)
    for text in (line, agreement):
        if text:
            parts.append(f'<p class="note">{esc(text)}</p>')
    summary = wl.get("summary") or {}
    extra = [(k, fmt(v)) for k, v in summary.items() if not isinstance(v, (dict, list))]
    if extra:
        parts.append("<h3>Workload figures</h3>" + table(("figure", "value"), extra, numeric=(1,)))
    return section("Summary", *parts, ident="summary")


def time_series_section(data: Mapping[str, Any]) -> str:
    intervals = [iv for iv in data.get("intervals") or () if isinstance(iv, Mapping)]
    if not intervals:
        return section("Over time", '<p class="note">No interval was recorded.</p>', ident="timeline")
    markers = event_markers(data)
    tps = line_chart(
        [Series("transactions/s", _series(intervals, lambda iv: iv["tps"])),
         Series("errors/s", _series(intervals, lambda iv: iv["errors"] / iv["duration_s"] if iv.get("duration_s") else None),
                color=PALETTE[1])],
        axes=Axes(x_label="seconds from the measured start", y_label="per second"), markers=markers,
        caption="Throughput per interval; dashed lines are server events, shaded spans client-bound intervals.",
        ident="chart-tps")
    names = {"p50": "p50", "p95": "p95", "p99": "p99", "p99_9": "p99.9", "max": "max"}
    lat = line_chart(
        [Series(label, _series(intervals, lambda iv, k=key: iv["latency_ms"][k]), dashed=key == "max")
         for key, label in names.items()],
        axes=Axes(x_label="seconds from the measured start", y_label="latency ms", log_y=True), markers=markers,
        caption="Latency percentiles per interval (log scale).", ident="chart-latency")
    parts = [f"<h3>Throughput</h3>{tps}", f"<h3>Latency percentiles</h3>{lat}"]
    ops = sorted({label for iv in intervals for label in (iv.get("operations") or {})})
    if len(ops) > 1:
        parts.append("<h3>p99 per operation</h3>" + line_chart(
            [Series(op, _series(intervals, lambda iv, o=op: iv["operations"][o]["latency_ms"]["p99"])) for op in ops],
            axes=Axes(x_label="seconds from the measured start", y_label="p99 ms", log_y=True), markers=markers,
            caption="Each operation's p99 per interval.", ident="chart-ops"))
    return section("Over time", *parts, ident="timeline")


def histogram_section(data: Mapping[str, Any]) -> str:
    hist = data.get("latency_histogram") or {}
    edges = hist.get("edges_ms") or []
    counts = (hist.get("counts") or {}).get("*") or []
    if not edges or not counts:
        return section("Latency histogram", '<p class="note">No latency histogram in this report.</p>', ident="histogram")
    labels = [f"≤{float(e):g}" for e in edges]
    groups = [Series("all", list(enumerate(float(c) for c in counts)))]
    chart = bar_chart(labels, groups, axes=Axes(x_label="latency ms (bucket upper bound)", y_label="transactions"),
                      caption="Transactions per latency bucket (1-2-5 steps), from the run's HdrHistogram.",
                      ident="chart-histogram")
    return section("Latency histogram", chart, ident="histogram")


def operations_section(data: Mapping[str, Any]) -> str:
    s = data.get("summary") or {}
    rows = []
    entries = list((data.get("operations") or {}).items()) + [("all", {**s, "count": s.get("transactions")})]
    for label, op in entries:
        lat = op.get("latency_ms") or {}
        rows.append((label, f"{int(op.get('count') or 0):,}", f"{int(op.get('errors') or 0):,}", fmt(op.get("tps")),
                     *(_ms(lat.get(k)) for k in LAT_KEYS)))
    head = ("operation", "count", "errors", "tps", *(k.replace("_", ".") + " ms" for k in LAT_KEYS))
    parts = [table(head, rows, numeric=range(1, len(head)))]
    errors = data.get("errors") or []
    if errors:
        parts.append("<h3>Errors</h3>" + table(
            ("operation", "SQLSTATE", "class", "count", "first message"),
            [(e.get("operation"), e.get("sqlstate"), e.get("class"), f"{int(e.get('count') or 0):,}", e.get("first_message"))
             for e in errors], numeric=(3,)))
    log = data.get("hdr_log") or {}
    if log.get("path"):
        parts.append(f'<p class="note">Every interval\'s exact histograms: <code>{esc(log["path"])}</code> '
                     "(HdrHistogram log, values in µs).</p>")
    return section("Operations", *parts, ident="operations")


def server_section(data: Mapping[str, Any]) -> str:
    pg = data.get("pg")
    if not pg:
        return section("Server", f'<p class="note">{esc(data.get("pg_note") or "Server statistics were not collected.")}</p>',
                       ident="server")
    intervals = [iv for iv in data.get("intervals") or () if isinstance(iv, Mapping)]
    markers = event_markers(data)
    x = "seconds from the measured start"
    parts = []
    with_pg = [iv for iv in intervals if iv.get("pg")]
    if with_pg:
        parts.append("<h3>Cache hit ratio</h3>" + line_chart(
            [Series("cache hit %", _series(with_pg, lambda iv: iv["pg"]["cache_hit_ratio"] * 100))],
            axes=Axes(height=200, x_label=x, y_label="%", y_max=100.0), markers=markers, ident="chart-cache"))
        parts.append("<h3>WAL and commits</h3>" + line_chart(
            [Series("WAL MB/s", _series(with_pg, lambda iv: iv["pg"]["wal_bytes_s"] / 1e6)),
             Series("buffers written/s ÷ 1000", _series(with_pg, lambda iv: iv["pg"]["buffers_written_s"] / 1000),
                    color=PALETTE[4])],
            axes=Axes(height=200, x_label=x, y_label="per second"), markers=markers, ident="chart-wal"))
        parts.append("<h3>Connections and lock waits</h3>" + line_chart(
            [Series("connections (all)", _series(with_pg, lambda iv: iv["pg"]["connections"]["total"])),
             Series("ours", _series(with_pg, lambda iv: iv["pg"]["connections"]["ours"]), dashed=True),
             Series("waiting on a lock", _series(with_pg, lambda iv: iv["pg"]["lock_waits"]["waiting"]), color=PALETTE[1])],
            axes=Axes(height=200, x_label=x, y_label="sessions"), markers=markers, ident="chart-connections"))
    deltas = pg.get("deltas") or {}
    per = pg.get("per_transaction") or {}
    if deltas:
        rows = [("cache hit ratio", "n/a" if pg.get("cache_hit_ratio") is None else f"{pg['cache_hit_ratio']:.2%}", "")]
        rows += [(k, fmt(v), fmt(per.get(k)) if per.get(k) is not None else "") for k, v in deltas.items() if v is not None]
        parts.append(f"<h3>Server counters over the measured {fmt(pg.get('elapsed_s'))} s</h3>"
                     + table(("counter", "run total", "per transaction"), rows, numeric=(1, 2)))
    top = pg.get("top_statements") or []
    if top:
        parts.append("<h3>Top statements (pg_stat_statements)</h3>" + table(
            ("total ms", "share", "calls", "mean ms", "rows", "query"),
            [(fmt(t.get("total_ms")), f"{(t.get('share') or 0):.1%}", f"{int(t.get('calls') or 0):,}", fmt(t.get("mean_ms")),
              f"{int(t.get('rows') or 0):,}", (t.get("query") or f"queryid {t.get('queryid')}")[:200]) for t in top],
            numeric=(0, 1, 2, 3, 4)))
    events = data.get("events") or []
    if events:
        parts.append("<h3>Events</h3>" + table(
            ("t (s)", "type", "detail"), [(fmt(e.get("t_s")), e.get("type"), e.get("detail")) for e in events], numeric=(0,)))
    settings = (data.get("server") or {}).get("settings") or {}
    if settings:
        parts.append("<h3>Settings</h3>" + table(("setting", "value"), [(k, v) for k, v in settings.items() if v not in ("", None)]))
    return section("Server", *parts, ident="server")


def waits_section(data: Mapping[str, Any]) -> str:
    waits = (data.get("pg") or {}).get("waits") or {}
    top = waits.get("top") or []
    if not waits.get("samples") or not top:
        return section("Wait profile", '<p class="note">No wait-event samples in this report '
                       "(server statistics off, or monitoring.wait_sample_rate: 0).</p>", ident="waits")
    labels = [f"{w.get('type')}:{w.get('event')}" for w in top]
    chart = bar_chart(labels, [Series("share %", [(i, float(w.get("share") or 0) * 100) for i, w in enumerate(top)])],
                      axes=Axes(height=max(120, 26 * len(labels) + 50), left=200, x_label="% of session samples"),
                      horizontal=True, ident="chart-waits",
                      caption=f"{int(waits['samples']):,} samples of our sessions at {fmt(waits.get('rate'))}/s; CPU is "
                              "active with no wait event, Client:ClientRead idle in a transaction.")
    by_type = waits.get("by_type") or {}
    extra = table(("wait type", "share"), [(k, f"{v:.1%}") for k, v in by_type.items()], numeric=(1,)) if by_type else ""
    return section("Wait profile", chart, extra, ident="waits")


def notes_section(data: Mapping[str, Any]) -> str:
    notes = list(data.get("notes") or ()) + list((data.get("pg") or {}).get("notes") or ())
    if not notes:
        return ""
    return section("Notes", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>", ident="notes")


def render_html(data: Mapping[str, Any]) -> str:
    """The whole run report as one self-contained HTML document."""
    wl = data.get("workload") or {}
    tool = data.get("tool") or {}
    title = f"stormdb-tui report: {wl.get('name', '?')} ({data.get('status', '?')})"
    subtitle = (f"{esc(tool.get('name', 'stormdb-tui'))} {esc(tool.get('version', ''))}, started "
                f"{esc(data.get('started_at'))}" + (f", run {esc(data['run_id'])}" if data.get("run_id") else ""))
    return page(title, [
        summary_section(data),
        time_series_section(data),
        histogram_section(data),
        operations_section(data),
        server_section(data),
        waits_section(data),
        notes_section(data),
    ], subtitle=subtitle)
