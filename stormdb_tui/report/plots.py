"""Every chart the project draws, with plotext, for the workbench and the Markdown report alike.

Each ``*_plot`` function configures a plotext figure given as ``plt``: the
``plotext`` module itself (for :func:`text_chart`, which renders plain text
for Markdown) or the per-widget figure of ``textual_plotext.PlotextPlot``
(the workbench). One function per chart keeps the two renderings of a run
the same chart, with the same event letters and legends.

This module imports no Textual or Rich: the report layer must work headless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

EVENT_MARKS = {"checkpoint": "C", "autovacuum": "V", "connection_limit": "L"}
"""One letter per server event type, the same under every chart and in every legend."""
EVENT_LEGEND = "C checkpoint  V autovacuum  L connection limit"
LATENCY_SERIES = ("p50", "p95", "p99", "p99_9")
"""The percentiles drawn over time (more lines would not stay readable in a terminal; max is in the tables)."""


def event_mark(kind: Any) -> str:
    return EVENT_MARKS.get(str(kind), "*")


def _untitled(title: str, why: str) -> str:
    """``Title: why`` — or just ``why`` for a chart drawn without a title (the dashboard's panes have one)."""
    return f"{title}: {why}" if title else why


def _pairs(xs: Sequence[float], ys: Sequence[float | None]) -> tuple[list[float], list[float]]:
    """The points that have a value: intervals without transactions have no latency."""
    kept = [(x, float(y)) for x, y in zip(xs, ys, strict=False) if y is not None]
    return [x for x, _ in kept], [y for _, y in kept]


def _mark_events(plt: Any, events: Sequence[tuple[float, str]], top: float) -> None:
    seen: set[tuple[int, str]] = set()
    for t, kind in events:
        letter = event_mark(kind)
        if (round(t), letter) in seen:
            continue
        seen.add((round(t), letter))
        plt.vline(t, "magenta")
        plt.text(letter, t, top, color="magenta", alignment="center")


def _time_axis(plt: Any, t: Sequence[float]) -> None:
    plt.xlabel("seconds into the measured window")
    if t:
        plt.xlim(min(0.0, min(t)), max(max(t), 1.0))


def throughput_plot(plt: Any, t: Sequence[float], tps: Sequence[float],
                    events: Sequence[tuple[float, str]] = (), *, title: str = "Throughput (tx/s per interval)") -> None:
    """Transactions per second per interval, server events as lettered vertical lines."""
    plt.title(title)
    if not t:
        plt.title(_untitled(title, "waiting for the first interval"))
        return
    plt.plot(list(t), list(tps), color="green", marker="braille")
    top = max(tps) if tps else 1.0
    plt.ylim(0, max(top * 1.15, 1.0))
    _mark_events(plt, events, max(top * 1.1, 1.0))
    _time_axis(plt, t)


def latency_time_plot(plt: Any, t: Sequence[float], series: Mapping[str, Sequence[float | None]],
                      events: Sequence[tuple[float, str]] = (), *,
                      title: str = "Latency per interval (ms)") -> None:
    """One line per percentile over time, on a log scale when the tail is far above the median."""
    plt.title(title)
    colors = {"p50": "green", "p90": "cyan", "p95": "blue", "p99": "yellow", "p99_9": "orange", "max": "red"}
    highest = 0.0
    lowest = None
    drawn = False
    for key, values in series.items():
        xs, ys = _pairs(t, values)
        if not xs:
            continue
        drawn = True
        highest = max(highest, max(ys))
        lowest = min(ys) if lowest is None else min(lowest, min(ys))
        plt.plot(xs, ys, label=key.replace("_", "."), color=colors.get(key, "white"), marker="braille")
    if not drawn:
        plt.title(_untitled(title, "no transactions yet"))
        return
    plt.ylim(0, max(highest * 1.15, 0.001))
    _mark_events(plt, events, max(highest * 1.1, 0.001))
    _time_axis(plt, t)


def histogram_plot(plt: Any, labels: Sequence[str], counts: Sequence[float], *,
                   title: str = "Latency histogram (transactions per bucket, ms)") -> None:
    """Transactions per latency bucket, buckets labelled by their upper edge."""
    plt.title(title)
    if not counts:
        plt.title(_untitled(title, "no transactions"))
        return
    plt.bar(list(labels), list(counts), color="cyan", width=0.8)
    plt.xlabel("latency ≤ ms")


def bars_plot(plt: Any, names: Sequence[str], values: Sequence[float], *, title: str,
              xlabel: str = "", horizontal: bool = False) -> None:
    """Categories side by side: per-worker throughput, per-percentile latency."""
    plt.title(title)
    if not values:
        plt.title(_untitled(title, "nothing yet"))
        return
    plt.bar(list(names), list(values), color="green", width=0.7, orientation="h" if horizontal else "v")
    if xlabel:
        plt.xlabel(xlabel)


def text_chart(draw: Callable[[Any], None], width: int = 100, height: int = 20) -> str:
    """One chart as plain text (no colour codes), for Markdown and terminals that keep no escapes."""
    import plotext

    plotext.clear_figure()
    plotext.theme("clear")
    plotext.plotsize(width, height)
    draw(plotext)
    text = plotext.uncolorize(plotext.build())
    plotext.clear_figure()
    return "\n".join(line.rstrip() for line in text.splitlines())


# -- data from a report mapping (the JSON's shape) ------------------------------------------------

def report_series(data: Mapping[str, Any]) -> tuple[list[float], list[Mapping[str, Any]]]:
    intervals = [i for i in (data.get("intervals") or []) if isinstance(i, Mapping)]
    return [float(i.get("t_s") or 0.0) for i in intervals], intervals


def report_events(data: Mapping[str, Any]) -> list[tuple[float, str]]:
    return [(float(e["t_s"]), str(e.get("type"))) for e in (data.get("events") or [])
            if isinstance(e, Mapping) and e.get("t_s") is not None]


def report_throughput(plt: Any, data: Mapping[str, Any]) -> None:
    t, intervals = report_series(data)
    if not intervals:
        plt.title("No time series in this report: the run ended before its first interval")
        return
    throughput_plot(plt, t, [float(i.get("tps") or 0.0) for i in intervals], report_events(data))


def report_latency(plt: Any, data: Mapping[str, Any]) -> None:
    t, intervals = report_series(data)
    series = {k: [(i.get("latency_ms") or {}).get(k) for i in intervals] for k in LATENCY_SERIES}
    latency_time_plot(plt, t, series, report_events(data))


def report_histogram(plt: Any, data: Mapping[str, Any], label: str = "*") -> bool:
    """The run's latency histogram for ``label``; False when the report has none."""
    hist = data.get("latency_histogram") or {}
    counts = list(((hist.get("counts") or {}).get(label)) or [])
    edges = list(hist.get("edges_ms") or [])
    if not counts or not edges:
        return False
    nonzero = [i for i, v in enumerate(counts) if v]
    if not nonzero:
        return False
    first, last = max(nonzero[0] - 1, 0), nonzero[-1]
    name = "all operations" if label == "*" else label
    histogram_plot(plt, [nice_ms(e) for e in edges[first:last + 1]], counts[first:last + 1],
                   title=f"Latency histogram, {name} (transactions per bucket)")
    return True


def report_ladder(plt: Any, data: Mapping[str, Any]) -> None:
    """Without histogram buckets (older reports) the percentile ladder stands in."""
    lat = (data.get("summary") or {}).get("latency_ms") or {}
    keys = [k for k in ("p50", "p90", "p95", "p99", "p99_9", "max") if lat.get(k) is not None]
    bars_plot(plt, [k.replace("_", ".") for k in keys], [float(lat[k]) for k in keys],
              title="Latency by percentile, all operations (ms)")


def report_workers(plt: Any, data: Mapping[str, Any]) -> bool:
    workers = [w for w in (data.get("workers") or []) if isinstance(w, Mapping)]
    if not workers:
        return False
    bars_plot(plt, [f"#{w.get('id')}" for w in workers], [float(w.get("tps") or 0.0) for w in workers],
              title="Throughput per worker (tx/s)")
    return True


def nice_ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}s"
    return f"{value:g}"
