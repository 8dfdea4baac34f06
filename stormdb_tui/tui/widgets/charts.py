"""Terminal charts drawn with eighth-block characters: column charts with axes and marks.

Small and dependency-free on purpose: the charts redraw on every resize,
inherit the widget's colour (so they follow the theme on dark and light
terminals alike), and render the same in a snapshot as on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widget import Widget

EIGHTHS = " ▁▂▃▄▅▆▇█"


def nice_number(value: float) -> str:
    """Short axis labels: 12.3k, 950, 4.21, 0.035."""
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def resample(values: Sequence[float | None], width: int, how: Callable[[list[float]], float] = max) -> list[float | None]:
    """At most ``width`` points: consecutive values folded with ``how`` (max keeps spikes visible)."""
    if len(values) <= width:
        return list(values)
    out: list[float | None] = []
    for col in range(width):
        start = col * len(values) // width
        end = max((col + 1) * len(values) // width, start + 1)
        chunk = [v for v in values[start:end] if v is not None]
        out.append(how(chunk) if chunk else None)
    return out


def column_chart(
    values: Sequence[float | None],
    width: int,
    height: int,
    *,
    x_labels: Sequence[str] = (),
    marks: dict[int, str] | None = None,
    title: str = "",
    fold: Callable[[list[float]], float] = max,
    bars: bool = False,
) -> Text:
    """Columns of ``values`` in ``height`` lines in all, with a y axis and optional x labels.

    ``bars`` draws one separated bar per value (categories, such as
    histogram buckets); otherwise the values stretch over the width (a time
    series). ``x_labels`` has one entry per value (shown when they fit) or
    two (first and last, e.g. times). ``marks`` maps a value index to a
    one-character marker drawn under the axis (server events).
    """
    out = Text(no_wrap=True, overflow="crop")
    if title:
        out.append(title + "\n", style="bold")
    known = [v for v in values if v is not None]
    if not known:
        out.append("(no data)", style="dim")
        return out
    top = max(known) or 1.0
    axis_w = max(len(nice_number(top)), len(nice_number(top / 2)), 1)
    plot_w = max(width - axis_w - 2, 4)
    height = max(height - 1 - bool(title) - bool(marks) - bool(x_labels), 2)
    points = resample(values, plot_w, fold)
    if bars:
        per = max(1, plot_w // len(points)) if len(points) * 2 <= plot_w else 1
    else:
        points = [points[col * len(points) // plot_w] for col in range(plot_w)]
        per = 1
    gap = 1 if per >= 3 else 0
    cells = per - gap
    for row in range(height):
        level_top = (height - row) * 8
        if row == 0:
            label = nice_number(top)
        elif row == height // 2:
            label = nice_number(top * (height - row) / height)
        else:
            label = ""
        out.append(label.rjust(axis_w) + " ┤" if label else " " * axis_w + " │", style="dim")
        line = []
        for value in points:
            eighths = 0 if value is None else round(value / top * height * 8)
            fill = min(max(eighths - (level_top - 8), 0), 8)
            if value is not None and value > 0 and eighths == 0 and row == height - 1:
                fill = 1
            line.append(EIGHTHS[fill] * cells + " " * gap)
        out.append("".join(line) + "\n")
    out.append(" " * axis_w + " └" + "─" * min(plot_w, len(points) * per) + "\n", style="dim")
    if marks:
        row = [" "] * (len(points) * per)
        for index, char in marks.items():
            col = index * len(points) // max(len(values), 1) * per
            if 0 <= col < len(row):
                row[col] = char
        out.append(" " * (axis_w + 2) + "".join(row).rstrip() + "\n", style="bold")
    if x_labels:
        out.append(" " * (axis_w + 2) + _x_axis(x_labels, len(points), per), style="dim")
    return out


def _x_axis(labels: Sequence[str], count: int, per: int) -> str:
    if len(labels) == count and all(len(label) < per for label in labels):
        return "".join(label.center(per)[:per] for label in labels).rstrip()
    first, last = labels[0], labels[-1]
    span = count * per
    return first + " " * max(span - len(first) - len(last), 1) + last


class ChartView(Widget):
    """Draws whatever ``render_chart(width, height)`` returns, again on every resize."""

    DEFAULT_CSS = """
    ChartView { height: 14; color: $accent; }
    """

    def __init__(self, render_chart: Callable[[int, int], Text], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.render_chart = render_chart

    def render(self) -> Text:
        width, height = self.size
        return self.render_chart(max(width, 20), max(height, 6))
