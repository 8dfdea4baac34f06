"""The pick screen: a config, a workload and its options, the target, the run settings.

The workload options form is generated from the workload's
:class:`~stormdb_tui.options.Option` declarations and the run settings form
from :data:`stormdb_tui.config.RUN_OPTIONS`; an invalid value is shown under
its field and keeps Start disabled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    RadioButton,
    RadioSet,
    Static,
    Switch,
)
from textual.widgets.option_list import Option as ListOption

from stormdb_tui.config import RUN_OPTIONS, RunConfig, load_config
from stormdb_tui.errors import StormError
from stormdb_tui.registry import Registry
from stormdb_tui.tui.session import CLUSTER_FIELDS, RUN_FIELDS, PickSettings, config_candidates
from stormdb_tui.tui.widgets.options_form import OptionsForm

if TYPE_CHECKING:
    from textual.content import Content

    from stormdb_tui.workload import Workload


class ChoiceButton(RadioButton):
    """A radio button whose mark is empty when off: the chosen one shows without colour too."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button

NO_CONFIG = "(no config: defaults)"


def _short(path: str) -> str:
    """A config as the list shows it: the file name for ``configs/`` files, else the path."""
    from pathlib import Path

    p = Path(path)
    return p.stem if p.parent.name == "configs" else path


class PickScreen(Screen):
    """Choose what to run and against which server."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start"),
        Binding("f5", "start", "Start", show=False),
        Binding("ctrl+t", "test_connection", "Test connection"),
    ]

    def __init__(
        self,
        registry: Registry,
        *,
        config: str | None = None,
        dsn: str | None = None,
        configs: list[str] | None = None,
        overrides: Sequence[tuple[str, Any]] = (),
        switches: Mapping[str, bool | None] | None = None,
    ) -> None:
        super().__init__(id="pick")
        self.cli_overrides = tuple(overrides)
        """``run``'s flags and ``--set`` pairs: shown in the forms, and kept for what the forms do not show."""
        self.cli_switches = dict(switches or {})
        self._cli_workload: str | None = None
        self.registry = registry
        self.configs = list(configs) if configs is not None else config_candidates([config] if config else [])
        self.config_path: str | None = None
        self.config_obj: RunConfig | None = None
        self.initial_config = config
        self.initial_dsn = dsn
        self.workload: str | None = None
        self._form_generation = 0

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="pick-body"):
            with Vertical(id="pick-left"):
                yield Label("Configs", classes="section-title")
                yield OptionList(
                    ListOption(NO_CONFIG, id="cfg-none"),
                    *[ListOption(_short(path), id=f"cfg-{i}") for i, path in enumerate(self.configs)],
                    id="configs",
                )
                yield Label("Workloads", classes="section-title")
                yield OptionList(*self._workload_options(), id="workloads")
            right = VerticalScroll(id="pick-right")
            right.can_focus = False  # an invisible Tab stop; the focused field scrolls itself into view
            with right:
                yield Static("", id="workload-info")
                yield Label("Target", classes="section-title")
                with RadioSet(id="target-kind"):
                    yield ChoiceButton("embedded server (or the config's database / PG*)", value=not self.initial_dsn, id="target-auto")
                    yield ChoiceButton("DSN", value=bool(self.initial_dsn), id="target-dsn")
                with Horizontal(id="target-row"):
                    yield Input(
                        value=self.initial_dsn or "",
                        placeholder="host=... dbname=... or postgresql://...",
                        id="dsn",
                        # typing carries on where it is: a selected DSN would be replaced by the next key
                        select_on_focus=False,
                    )
                    yield Button("Test", id="test-conn")
                yield Static("", id="conn-status", markup=False)
                yield OptionsForm([o for o in RUN_OPTIONS if o.name in CLUSTER_FIELDS], {}, prefix="run",
                                  id="cluster-form")
                yield Label("Workload options", classes="section-title")
                yield Vertical(id="wl-form-holder")
                yield Label("Run settings", classes="section-title")
                run_decls = [o for o in RUN_OPTIONS if o.name in RUN_FIELDS]
                yield OptionsForm(run_decls, {}, prefix="run", id="run-form")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=False, id="sw-setup")
                    yield Label("load data first (--setup)")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=False, id="sw-rebuild")
                    yield Label("drop and reload (--rebuild)")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=True, id="sw-monitor")
                    yield Label("server statistics (--pg-stats)")
                yield Static("", id="start-errors", markup=False)
                yield Button("Start  (ctrl+s)", id="start", variant="success")
        yield Footer()

    def _workload_options(self) -> list[ListOption]:
        items = []
        for entry in self.registry.all():
            if entry.ok:
                assert entry.cls is not None
                items.append(ListOption(entry.name, id=f"wl-{entry.name}"))
            else:
                items.append(
                    ListOption(f"{entry.name} (failed)", id=f"wl-failed-{len(items)}", disabled=True)
                )
        return items

    async def on_mount(self) -> None:
        self.title = "stormdb-tui"
        self.sub_title = "pick a workload"
        self._sync_target_input()
        for name, value in self.cli_switches.items():
            if value is not None:
                self.query_one(f"#sw-{name}", Switch).value = bool(value)
        if self.cli_overrides:
            await self._show_command_line()
        elif self.initial_config:
            await self.select_config(self.initial_config)
        else:
            names = self.registry.names()
            await self.select_workload("simple" if "simple" in names else (names[0] if names else None))
        self.refresh_start()

    # -- configs and workloads -------------------------------------------------------

    async def _show_command_line(self) -> None:
        """The config of the command line with its flags and ``--set`` applied: what the run uses."""
        from stormdb_tui.engine.plan import apply_overrides

        try:
            cfg = load_config(self.initial_config) if self.initial_config else RunConfig()
            cls = apply_overrides(cfg, self.registry, self.cli_overrides)
        except StormError as exc:
            self.app.notify(str(exc), title="command line", severity="error", timeout=10)
            self.cli_overrides = ()
            await self.select_config(self.initial_config)
            return
        self._cli_workload = cls.name
        await self._show_config(self.initial_config, cfg)

    async def select_config(self, path: str | None) -> bool:
        """Load a config and show it (its workload, options and run settings); False on a bad file."""
        if path is None:
            self.config_path, self.config_obj = None, None
            self._highlight("configs", "cfg-none")
            self.refresh_start()
            return True
        try:
            cfg = load_config(path)
        except StormError as exc:
            self.app.notify(str(exc), title="config", severity="error", timeout=10)
            return False
        self._cli_workload = None  # a config chosen here replaces the command line's
        await self._show_config(path, cfg)
        return True

    async def _show_config(self, path: str | None, cfg: RunConfig) -> None:
        if path is not None and path not in self.configs:
            self.configs.append(path)
            self.query_one("#configs", OptionList).add_option(
                ListOption(_short(path), id=f"cfg-{len(self.configs) - 1}")
            )
        self.config_path, self.config_obj = path, cfg
        self._highlight("configs", f"cfg-{self.configs.index(path)}" if path is not None else "cfg-none")
        self.query_one("#run-form", OptionsForm).set_values({k: cfg.run.get(k) for k in RUN_FIELDS})
        self.query_one("#cluster-form", OptionsForm).set_values({k: cfg.run.get(k) for k in CLUSTER_FIELDS})
        if cfg.monitoring.get("enabled") is not None and self.cli_switches.get("monitor") is None:
            self.query_one("#sw-monitor", Switch).value = bool(cfg.monitoring["enabled"])
        await self.select_workload(cfg.workload or self.workload)
        self.refresh_start()

    def _config_values_for(self, cls: type[Workload]) -> dict[str, Any]:
        cfg = self.config_obj
        if cfg is None or cfg.workload != cls.name:
            return {}
        try:
            return cfg.workload_options(tuple(cls.options))
        except StormError as exc:
            self.app.notify(str(exc), title="config", severity="warning", timeout=10)
            return dict(cfg.workload_raw)

    async def select_workload(self, name: str | None) -> None:
        """Show a workload's description and regenerate the options form for it."""
        info = self.query_one("#workload-info", Static)
        holder = self.query_one("#wl-form-holder", Vertical)
        if name is None or name not in self.registry.entries:
            info.update(f"unknown workload {name!r}" if name else "no workloads found")
            return
        cls = self.registry.get(name)
        self.workload = name
        self._highlight("workloads", f"wl-{name}")
        info.update(self._describe(cls))
        self._form_generation += 1
        await holder.remove_children()
        await holder.mount(
            OptionsForm(tuple(cls.options), self._config_values_for(cls), prefix="workload", id=f"wl-form-{self._form_generation}")
        )
        self.sub_title = f"{cls.name} — {cls.title}"
        self.refresh_start()

    @staticmethod
    def _describe(cls: type[Workload]) -> str:
        lines = [f"[b]{cls.name}[/b] {cls.version} — {cls.title}", cls.description]
        if cls.operations:
            lines.append("operations: " + ", ".join(cls.operations))
        if cls.required_extensions:
            lines.append("needs: " + ", ".join(cls.required_extensions))
        return "\n".join(line.replace("[", "\\[") if i else line for i, line in enumerate(lines))

    def _highlight(self, list_id: str, option_id: str) -> None:
        olist = self.query_one(f"#{list_id}", OptionList)
        try:
            index = olist.get_option_index(option_id)
        except Exception:
            return
        if olist.highlighted != index:
            with olist.prevent(OptionList.OptionHighlighted):
                olist.highlighted = index

    @on(OptionList.OptionHighlighted, "#workloads")
    async def _workload_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if not event.option_list.has_focus:
            return
        await self._workload_chosen(event.option.id or "")

    @on(OptionList.OptionSelected, "#workloads")
    async def _workload_selected(self, event: OptionList.OptionSelected) -> None:
        await self._workload_chosen(event.option.id or "")

    async def _workload_chosen(self, option_id: str) -> None:
        if option_id.startswith("wl-") and not option_id.startswith("wl-failed-"):
            name = option_id[3:]
            if name != self.workload:
                await self.select_workload(name)

    @on(OptionList.OptionSelected, "#configs")
    async def _config_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id == "cfg-none":
            await self.select_config(None)
        else:
            await self.select_config(self.configs[int(option_id[4:])])

    # -- target ------------------------------------------------------------------------

    def _sync_target_input(self) -> None:
        # The field stays enabled so Tab reaches it (a disabled one is skipped, and the
        # letters typed then went to the screen's bindings); typing selects the DSN target.
        self.query_one("#dsn", Input).disabled = False

    @on(RadioSet.Changed, "#target-kind")
    def _target_changed(self, event: RadioSet.Changed) -> None:
        self._sync_target_input()
        if event.pressed.id == "target-dsn" and event.radio_set.has_focus:
            self.query_one("#dsn", Input).focus()  # chose DSN: what comes next is the DSN
        self.refresh_start()

    def on_key(self, event: events.Key) -> None:
        """Text typed on the Target choice is a DSN: it goes into the field, never to a key binding."""
        focused = self.focused
        if (event.is_printable and event.character and event.character != " "  # space picks a choice
                and focused is not None and focused.id == "target-kind"):
            event.stop()
            event.prevent_default()
            field = self.query_one("#dsn", Input)
            field.focus()
            field.insert_text_at_cursor(event.character)

    @on(Input.Changed, "#dsn")
    def _dsn_changed(self, event: Input.Changed) -> None:
        if event.value.strip() and event.input.has_focus:
            self.query_one("#target-dsn", RadioButton).value = True
        self.refresh_start()

    def dsn(self) -> str | None:
        if not self.query_one("#target-dsn", RadioButton).value:
            return None
        return self.query_one("#dsn", Input).value.strip() or None

    def set_conn_status(self, ok: bool, text: str) -> None:
        status = self.query_one("#conn-status", Static)
        status.update(("✔ " if ok else "✘ ") + text)
        status.set_class(ok, "ok")
        status.set_class(not ok, "bad")

    def action_test_connection(self) -> None:
        self.query_one("#conn-status", Static).update("testing…")
        self.app.test_connection(self.dsn(), self.config_path)  # type: ignore[attr-defined]

    # -- validation and start -----------------------------------------------------------

    def workload_form(self) -> OptionsForm | None:
        forms = self.query("#wl-form-holder OptionsForm")
        return forms.last() if forms else None  # type: ignore[return-value]

    def settings(self) -> PickSettings:
        """The current choices; ``errors`` is empty only when everything validates."""
        errors: dict[str, str] = {}
        wl_form = self.workload_form()
        run_form = self.query_one("#run-form", OptionsForm)
        cluster_form = self.query_one("#cluster-form", OptionsForm)
        if not self.workload:
            errors["workload"] = "choose a workload"
        if wl_form is not None:
            errors.update({f"workload.{k}": v for k, v in wl_form.errors().items()})
        errors.update({f"run.{k}": v for k, v in run_form.errors().items()})
        errors.update({f"run.{k}": v for k, v in cluster_form.errors().items()})
        use_dsn = self.query_one("#target-dsn", RadioButton).value
        dsn = self.dsn()
        if use_dsn and not dsn:
            errors["dsn"] = "enter a DSN, or choose the config / embedded target"
        # The command line's other flags (--connections, --processes, ...) hold while its config and
        # workload are the ones shown; the forms' values come after them and win.
        keep_cli = bool(self.cli_overrides) and self.config_path == self.initial_config \
            and self.workload == self._cli_workload
        return PickSettings(
            base_overrides=list(self.cli_overrides) if keep_cli else [],
            config_path=self.config_path,
            workload=self.workload,
            workload_values=wl_form.values() if wl_form is not None else {},
            run_values={**run_form.values(), **cluster_form.values()},
            dsn=dsn,
            setup=self.query_one("#sw-setup", Switch).value,
            rebuild=self.query_one("#sw-rebuild", Switch).value,
            monitor=self.query_one("#sw-monitor", Switch).value,
            errors=errors,
        )

    def refresh_start(self) -> None:
        try:
            settings = self.settings()
        except Exception:
            return
        button = self.query_one("#start", Button)
        button.disabled = bool(settings.errors)
        problems = self.query_one("#start-errors", Static)
        if settings.errors:
            problems.update(f"fix {len(settings.errors)} field(s) before starting: " + ", ".join(settings.errors))
        else:
            problems.update("")

    @on(OptionsForm.Changed)
    def _form_changed(self, event: OptionsForm.Changed) -> None:
        self.refresh_start()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#test-conn")
    def _test_pressed(self) -> None:
        self.action_test_connection()

    def action_start(self) -> None:
        self.app.start_run()  # type: ignore[attr-defined]
