"""Typed option declarations: one definition feeds YAML validation, CLI ``--set``,
the TUI form and the report's config echo.

A workload declares its options as a tuple of :class:`Option`; the run settings
(workers, duration, rate, ...) are declared the same way in
:mod:`stormdb_tui.config`. :func:`validate_options` turns raw values (from YAML,
the command line or a form field) into typed values or raises a located
:class:`~stormdb_tui.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui.errors import ConfigError

_DURATION_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like ``90``, ``2m``, ``1h30m``, ``500ms``.

    Raises ``ValueError`` with a readable reason for anything else, including
    negative, NaN or infinite numbers.
    """
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text:
            raise ValueError("a duration such as 30s or 2m, not an empty value")
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _DURATION_RE.finditer(text):
                if text[pos : match.start()].strip():
                    break
                unit = match.group(2)
                if unit not in _DURATION_UNITS:
                    raise ValueError(
                        f"a duration in us, ms, s, m, h or d (unknown unit {unit!r})"
                    ) from None
                seconds += float(match.group(1)) * _DURATION_UNITS[unit]
                pos = match.end()
            if pos == 0 or text[pos:].strip():
                raise ValueError("a duration such as 30, 30s, 2m or 1h30m") from None
    else:
        raise ValueError(f"a duration, not a {type(value).__name__}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError("a finite, non-negative duration")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from a number or a string like ``512``, ``64kB``, ``1.5GB`` (binary units)."""
    if isinstance(value, bool):
        raise ValueError("a size, not a boolean")
    if isinstance(value, int):
        number, unit = float(value), ""
    elif isinstance(value, float):
        number, unit = value, ""
    elif isinstance(value, str):
        match = _SIZE_RE.match(value.lower())
        if not match:
            raise ValueError("a size such as 512, 64kB or 1GB")
        number, unit = float(match.group(1)), match.group(2)
        if unit not in _SIZE_UNITS:
            raise ValueError(f"a size in B, kB, MB or GB (unknown size unit {unit!r})")
    else:
        raise ValueError(f"a size, not a {type(value).__name__}")
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise ValueError("a finite, non-negative size")
    return int(number * _SIZE_UNITS[unit])


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest known key to a misspelt one (``wrokers`` -> ``workers``), if any is close."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


_TYPES = ("int", "float", "bool", "str", "choice", "duration", "size", "weights", "list")


@dataclass(frozen=True)
class Option:
    """One typed, documented setting.

    ``type`` is one of ``int``, ``float``, ``bool``, ``str``, ``choice``
    (one of ``choices``), ``duration`` (seconds, accepts ``2m``), ``size``
    (bytes, accepts ``64MB``), ``weights`` (a mapping of names from
    ``choices`` to non-negative numbers with a positive sum; a transaction
    mix) and ``list`` (a list of strings, or a comma-separated string).
    ``minimum``/``maximum`` bound numbers; ``None`` as a default means the
    option is optional and may stay unset.
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"option {self.name}: unknown type {self.type!r}")
        if self.type in ("choice", "weights") and not self.choices:
            raise ValueError(f"option {self.name}: type {self.type} needs choices")

    def describe_type(self) -> str:
        """A short human description of what values are accepted."""
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "weights":
            return "weights for " + ", ".join(self.choices)
        text = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "duration": "a duration (30, 30s, 2m, 1h)",
            "size": "a size (512, 64kB, 1GB)",
            "list": "a list of strings",
        }[self.type]
        words = self.extra.get("words", ())
        if self.minimum is not None and self.maximum is not None:
            text += f" from {_num(self.minimum)} to {_num(self.maximum)}"
        elif self.minimum is not None:
            text += f" >= {_num(self.minimum)}"
        elif self.maximum is not None:
            text += f" <= {_num(self.maximum)}"
        if words:
            text += " or " + " or ".join(words)
        return text

    def convert(self, value: object, path: str | None = None) -> Any:
        """Typed value from a raw one, or a :class:`ConfigError` naming ``path``."""
        path = path or self.name
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise ConfigError("a value is required", path=path, expected=self.describe_type(), found=None)
        try:
            result = self._convert(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "invalid value", path=path, expected=str(exc) or self.describe_type(), found=value
            ) from None
        if self.type in ("int", "float", "duration", "size") and not isinstance(result, str):
            if self.minimum is not None and result < self.minimum:
                raise ConfigError(
                    "value out of range", path=path, expected=self.describe_type(), found=value
                )
            if self.maximum is not None and result > self.maximum:
                raise ConfigError(
                    "value out of range", path=path, expected=self.describe_type(), found=value
                )
        return result

    def _convert(self, value: object) -> Any:
        kind = self.type
        words = self.extra.get("words", ())
        if words and isinstance(value, str) and value.strip().lower() in words:
            return value.strip().lower()  # a named setting of a number option, like processes: auto
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(self.describe_type())
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(self.describe_type())
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value.strip().replace("_", ""))
                except ValueError:
                    raise ValueError(self.describe_type()) from None
            if isinstance(value, int):
                return value
            raise ValueError(self.describe_type())
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(self.describe_type())
            try:
                number = float(value) if isinstance(value, (int, float, str)) else None
            except ValueError:
                raise ValueError(self.describe_type()) from None
            if number is None or math.isnan(number) or math.isinf(number):
                raise ValueError(self.describe_type())
            return number
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
                return True
            if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(self.describe_type())
        if kind == "str":
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return str(value)
            raise ValueError(self.describe_type())
        if kind == "choice":
            if isinstance(value, bool) and ("off" if not value else "on") in self.choices:
                value = "on" if value else "off"  # YAML reads a bare off/on as a boolean
            text = str(value).strip() if not isinstance(value, (dict, list)) else None
            if text in self.choices:
                return text
            near = suggest(str(text), self.choices) if text else None
            msg = self.describe_type() + (f"; did you mean {near!r}?" if near else "")
            raise ValueError(msg)
        if kind == "duration":
            return parse_duration(value)
        if kind == "size":
            return parse_size(value)
        if kind == "list":
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
                return [str(v) for v in value]
            raise ValueError(self.describe_type())
        return self._convert_weights(value)

    def _convert_weights(self, value: object) -> dict[str, float]:
        if isinstance(value, str):
            pairs = {}
            for part in value.split(","):
                if not part.strip():
                    continue
                if ":" not in part:
                    raise ValueError("weights as name:weight,name:weight")
                name, _, weight = part.partition(":")
                pairs[name.strip()] = weight.strip()
            value = pairs
        if not isinstance(value, Mapping):
            raise ValueError(self.describe_type() + " as a mapping")
        weights: dict[str, float] = {}
        for name, weight in value.items():
            if name not in self.choices:
                near = suggest(str(name), self.choices)
                hint = f"; did you mean {near!r}?" if near else ""
                raise ValueError(f"a transaction among {', '.join(self.choices)}, not {name!r}{hint}")
            if isinstance(weight, bool):
                raise ValueError(f"a number for {name}")
            number = float(weight)
            if math.isnan(number) or math.isinf(number) or number < 0:
                raise ValueError(f"a non-negative weight for {name}")
            weights[str(name)] = number
        if sum(weights.values()) <= 0:
            raise ValueError("weights with a positive sum")
        return weights

    def to_form_text(self, value: Any) -> str:
        """The value as text for a form field or ``--set`` (the inverse of :meth:`convert`)."""
        if value is None:
            return ""
        if self.type == "weights":
            return ",".join(f"{k}:{_num(v)}" for k, v in value.items())
        if self.type == "list":
            return ",".join(value)
        if self.type == "bool":
            return "true" if value else "false"
        return _num(value) if isinstance(value, float) else str(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def validate_options(
    decls: Iterable[Option],
    values: Mapping[str, Any] | None,
    *,
    prefix: str = "",
    lines: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Typed values for every declared option: given ones converted, the rest defaulted.

    Unknown keys raise a :class:`ConfigError` suggesting the nearest known name.
    ``lines`` maps key paths to YAML line numbers so errors can be located.
    """
    decls = list(decls)
    by_name = {d.name: d for d in decls}
    values = dict(values or {})
    lines = lines or {}
    result: dict[str, Any] = {}
    for key in values:
        if key not in by_name:
            path = f"{prefix}{key}"
            near = suggest(str(key), by_name)
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError(
                "unknown option",
                path=path,
                line=lines.get(path),
                hint=f"did you mean {near!r}?" if near else f"known options: {known}",
            )
    for decl in decls:
        path = f"{prefix}{decl.name}"
        if decl.name in values:
            try:
                result[decl.name] = decl.convert(values[decl.name], path)
            except ConfigError as exc:
                raise exc.located(None, lines.get(path)) from None
        else:
            result[decl.name] = decl.convert(decl.default, path) if decl.default is not None else None
    return result


def describe_options(decls: Iterable[Option]) -> list[dict[str, str]]:
    """Rows for ``stormdb-tui workloads NAME`` and the docs: name, type, default, help."""
    rows = []
    for decl in decls:
        rows.append(
            {
                "name": decl.name,
                "type": decl.describe_type(),
                "default": decl.to_form_text(decl.default) if decl.default is not None else "-",
                "help": decl.help,
            }
        )
    return rows
