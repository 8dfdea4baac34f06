"""Charts in the workbench: plotext figures drawn by ``textual-plotext``, fitted to their pane.

A :class:`Chart` holds a draw function (one of :mod:`stormdb_tui.report.plots`,
the same the Markdown report uses) and calls it on a cleared figure each time
it renders, so a chart always fills the size its pane has now, after a
resize as after new data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

Draw = Callable[[Any], None]


class Chart(PlotextPlot):
    """A plotext chart redrawn from ``draw(plt)`` on every render."""

    DEFAULT_CSS = """
    Chart { width: 1fr; height: 1fr; min-height: 6; }
    """

    def __init__(self, draw: Draw | None = None, *, id: str | None = None, classes: str | None = None,
                 min_rows: int = 4) -> None:
        super().__init__(id=id, classes=classes)
        self._draw = draw
        self.min_rows = min_rows
        """Below this height the chart stays blank: a line over time needs more rows than bars do."""

    def set_draw(self, draw: Draw | None) -> None:
        """Draw something else (or the same with new data) on the next refresh."""
        self._draw = draw
        self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size
        if width < 12 or height < self.min_rows:
            return Text("")  # too small for axes and a line: an empty cell rather than a garbled one
        self.plt.clear_figure()
        if self._draw is not None:
            self._draw(self.plt)
        return super().render()
