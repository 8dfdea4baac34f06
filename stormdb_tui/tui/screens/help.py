"""The help screen (``?``): every key of the screen underneath it, plus the global ones."""

from __future__ import annotations

import re

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GUIDE = """\
stormdb-tui drives a workload against PostgreSQL and shows what the server does.
Pick a config or a workload, adjust its options and the run settings, and start.
A missing data set is loaded first (with a progress bar); the dashboard shows
throughput, latency percentiles per operation, errors and the server's health
each interval; the run ends on its report, which exports JSON and Markdown.
Mouse clicks work everywhere; Tab moves between fields."""


def screen_title(screen: Screen) -> str:
    """The screen's name as its keys' scope: its ``HELP_TITLE``, else its class name in words."""
    title = getattr(screen, "HELP_TITLE", None)
    if title:
        return str(title)
    name = screen.__class__.__name__.removesuffix("Screen") or "screen"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).capitalize()


def bindings_table(screen: Screen, app_bindings: list[Binding]) -> Table:
    """Key, action description, scope: the bindings a user can press right now."""
    table = Table(box=None, expand=True, header_style="bold")
    table.add_column("key", no_wrap=True)
    table.add_column("does")
    table.add_column("where", style="dim")
    seen: set[str] = set()
    for scope, bindings in ((screen_title(screen), screen.BINDINGS), ("everywhere", app_bindings)):
        for item in bindings:
            binding = item if isinstance(item, Binding) else Binding(*item)
            keys = binding.key_display or binding.key
            if keys in seen or not binding.description:
                continue
            seen.add(keys)
            table.add_row(keys, binding.description, scope)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists the bindings of the screen it was opened over."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, under: Screen, app_bindings: list[Binding]) -> None:
        super().__init__(classes="help")
        self.under = under
        self.app_bindings = app_bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("[b]Keys[/b]  (escape closes this)", id="help-title")
            yield Static(bindings_table(self.under, self.app_bindings), id="help-keys")
            yield Static(GUIDE, id="help-guide", markup=False)

    def action_close(self) -> None:
        self.dismiss()
