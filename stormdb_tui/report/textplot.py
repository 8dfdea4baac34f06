"""A plain-text x/y plot for Markdown reports: measured points and a fitted curve on one grid.

Plain ASCII in a fenced block reads the same in a terminal, a pull request
and a wiki, and has no colour codes to strip. It is small and has no
dependency because the plotting libraries' APIs move between major versions,
and a report must render the same on every install.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from stormdb_tui.report.fmt import fmt


def xy_plot(
    points: Sequence[tuple[float, float]],
    curve: Callable[[float], float] | None = None,
    *,
    width: int = 60,
    height: int = 14,
    x_label: str = "",
    y_label: str = "",
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Points as ``o``, the curve as ``·`` (``*`` where both fall), vertical ``marks`` as ``|`` with a label."""
    pts = [(float(x), float(y)) for x, y in points if y is not None and math.isfinite(y)]
    if not pts:
        return "(no data)"
    x_lo = min(0.0, min(x for x, _ in pts))
    x_hi = max([x for x, _ in pts] + [m for m, _ in marks if math.isfinite(m)])
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    curve_y: list[float | None] = []
    if curve is not None:
        for col in range(width):
            x = x_lo + (x_hi - x_lo) * col / (width - 1)
            try:
                value = curve(x)
            except (ZeroDivisionError, OverflowError, ValueError):
                value = math.nan
            curve_y.append(value if math.isfinite(value) else None)
    y_hi = max([y for _, y in pts] + [y for y in curve_y if y is not None])
    y_hi = y_hi * 1.05 if y_hi > 0 else 1.0
    grid = [[" "] * width for _ in range(height)]

    def row_of(y: float) -> int:
        return height - 1 - min(height - 1, max(0, round(y / y_hi * (height - 1))))

    def col_of(x: float) -> int:
        return min(width - 1, max(0, round((x - x_lo) / (x_hi - x_lo) * (width - 1))))

    for m, _ in marks:
        if math.isfinite(m):
            c = col_of(m)
            for r in range(height):
                grid[r][c] = "|"
    for col, y in enumerate(curve_y):
        if y is not None and y >= 0:
            grid[row_of(y)][col] = "·"
    for x, y in pts:
        r, c = row_of(y), col_of(x)
        grid[r][c] = "*" if grid[r][c] == "·" else "o"
    axis_w = max(len(fmt(y_hi, 0)), len(y_label))
    lines = [f"{y_label:>{axis_w}}"] if y_label else []
    for r in range(height):
        label = fmt(y_hi * (height - 1 - r) / (height - 1), 0) if r in (0, height // 2, height - 1) else ""
        lines.append(f"{label:>{axis_w}} |" + "".join(grid[r]).rstrip())
    lines.append(" " * axis_w + " +" + "-" * width)
    left, right = fmt(x_lo, 0), fmt(x_hi, 0)
    lines.append(" " * (axis_w + 2) + left + " " * max(1, width - len(left) - len(right)) + right)
    if x_label:
        lines.append(" " * (axis_w + 2) + x_label.center(width).rstrip())
    legend = ["o measured"] + (["· fitted"] if curve is not None else []) + [f"| {text}" for _, text in marks]
    lines.append(" " * (axis_w + 2) + "   ".join(legend))
    return "\n".join(lines)
