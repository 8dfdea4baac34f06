"""A form generated from :class:`~stormdb_tui.options.Option` declarations.

One definition of an option feeds YAML validation, ``--set`` and this form
(DESIGN section 2), so the form does no validation of its own: every field
runs :meth:`Option.convert` on its text and shows the resulting
:class:`~stormdb_tui.errors.ConfigError` inline. Booleans become switches,
choices become selects, everything else a text input showing
:meth:`Option.to_form_text` of the current value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static, Switch

from stormdb_tui.errors import ConfigError
from stormdb_tui.options import Option


class OptionField(Vertical):
    """One option: its name, an input widget of the right kind, help and an error line."""

    def __init__(self, option: Option, value: Any, prefix: str) -> None:
        super().__init__(classes="option-field")
        self.option = option
        self.prefix = prefix
        self.initial = value
        self.error: str | None = None

    @property
    def path(self) -> str:
        return f"{self.prefix}.{self.option.name}" if self.prefix else self.option.name

    @property
    def input_id(self) -> str:
        return f"opt-{self.prefix}-{self.option.name}".replace(".", "-").replace("_", "-")

    def compose(self) -> ComposeResult:
        opt = self.option
        with Horizontal(classes="option-row"):
            yield Label(opt.name, classes="option-name")
            if opt.type == "bool":
                yield Switch(value=bool(self.initial), id=self.input_id)
            elif opt.type == "choice":
                options = [(choice, choice) for choice in opt.choices]
                value = self.initial if self.initial in opt.choices else Select.BLANK
                yield Select(options, value=value, allow_blank=opt.default is None or opt.nullable, id=self.input_id)
            else:
                yield Input(
                    value=opt.to_form_text(self.initial),
                    placeholder=opt.describe_type() if self.initial is None else "",
                    id=self.input_id,
                )
        help_text = opt.help + (f" — {opt.describe_type()}" if opt.type not in ("bool", "choice") else "")
        yield Static(help_text, classes="option-help", markup=False)
        yield Static("", classes="option-error", markup=False)

    def raw(self) -> Any:
        """The field's current raw value: text, a choice, or a bool."""
        widget = self.query_one(f"#{self.input_id}")
        if isinstance(widget, Switch):
            return widget.value
        if isinstance(widget, Select):
            return None if widget.value is Select.BLANK else widget.value
        assert isinstance(widget, Input)
        text = widget.value.strip()
        return text or None

    def value(self) -> Any:
        """The typed value, or a ConfigError naming the option."""
        return self.option.convert(self.raw(), self.path)

    def set_value(self, value: Any) -> None:
        widget = self.query_one(f"#{self.input_id}")
        if isinstance(widget, Switch):
            widget.value = bool(value)
        elif isinstance(widget, Select):
            widget.value = value if value in self.option.choices else Select.BLANK
        else:
            assert isinstance(widget, Input)
            widget.value = self.option.to_form_text(value)
        self.validate()

    def validate(self) -> str | None:
        """Check the current value; shows or clears the inline error and returns it."""
        try:
            self.value()
            self.error = None
        except ConfigError as exc:
            self.error = str(exc)
        label = self.query_one(".option-error", Static)
        label.update(self.error or "")
        label.display = self.error is not None
        self.set_class(self.error is not None, "-invalid")
        return self.error


class OptionsForm(Vertical):
    """Fields for a sequence of options; posts :class:`OptionsForm.Changed` on every edit."""

    class Changed(Message):
        """A field changed; ``form.errors()`` says whether the form is valid now."""

        def __init__(self, form: OptionsForm) -> None:
            super().__init__()
            self.form = form

    def __init__(
        self,
        options: Sequence[Option],
        values: Mapping[str, Any] | None = None,
        *,
        prefix: str,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="options-form")
        self.options = tuple(options)
        self.prefix = prefix
        self.initial = dict(values or {})

    def compose(self) -> ComposeResult:
        if not self.options:
            yield Static("(no options)", classes="option-help")
        for opt in self.options:
            yield OptionField(opt, self.initial.get(opt.name, opt.default), self.prefix)

    def on_mount(self) -> None:
        for field in self.query(OptionField):
            field.validate()

    def fields(self) -> list[OptionField]:
        return list(self.query(OptionField))

    def field(self, name: str) -> OptionField:
        for field in self.fields():
            if field.option.name == name:
                return field
        raise KeyError(name)

    def values(self) -> dict[str, Any]:
        """Typed values of the valid fields."""
        out: dict[str, Any] = {}
        for field in self.fields():
            try:
                out[field.option.name] = field.value()
            except ConfigError:
                continue
        return out

    def errors(self) -> dict[str, str]:
        """Option name -> error message, for every invalid field."""
        return {f.option.name: error for f in self.fields() if (error := f.validate()) is not None}

    def set_values(self, values: Mapping[str, Any]) -> None:
        for field in self.fields():
            if field.option.name in values:
                field.set_value(values[field.option.name])

    def _changed(self, widget_id: str | None) -> None:
        for field in self.fields():
            if field.input_id == widget_id:
                field.validate()
        self.post_message(self.Changed(self))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed(event.input.id)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed(event.select.id)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self._changed(event.switch.id)
