"""Service-level objectives: ``"p99<20ms,errors<0.1%"`` parsed and checked against a run's figures.

A rule is ``METRIC OP VALUE``: latency percentiles (``p50``, ``p90``, ``p95``,
``p99``, ``p99.9``, ``max``, ``mean``) with a unit (``us``, ``ms``, ``s``;
ms when none), ``errors`` as a share of attempts (``0.1%``) or a count
(``errors<5``), and ``tps``/``qps`` as rates. The operators are ``<``,
``<=``, ``>`` and ``>=``. A figure that is missing (no transactions, so no
p99) fails its rule: an SLO is met only by evidence.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stormdb_tui.errors import UsageError

_LATENCY = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99.9": "p99_9", "p999": "p99_9",
            "max": "max", "mean": "mean"}
_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0, "": 1.0}
_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt,
                                                   ">": operator.gt}
_RULE = re.compile(r"^\s*([a-z][a-z0-9_.]*)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*([a-zµ%]*)\s*$", re.I)


@dataclass(frozen=True)
class Rule:
    """One objective; ``threshold`` is in the figure's own unit (ms, a 0..1 share, a count, per second)."""

    metric: str
    op: str
    threshold: float
    text: str

    def value(self, figures: Mapping[str, Any]) -> float | None:
        """The figure this rule reads from a step's figures (see :func:`stormdb_tui.engine.sweep.step_figures`)."""
        if self.metric in _LATENCY.values():
            return (figures.get("latency_ms") or {}).get(self.metric)
        return figures.get(self.metric)

    def check(self, figures: Mapping[str, Any]) -> tuple[bool, float | None]:
        value = self.value(figures)
        if value is None:
            return False, None
        return _OPS[self.op](float(value), self.threshold), float(value)


@dataclass(frozen=True)
class Slo:
    """Every rule of an objective; met only when all are."""

    rules: tuple[Rule, ...]
    text: str

    def check(self, figures: Mapping[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
        """(met, one entry per rule with its measured value) for a step's figures."""
        details = []
        met = True
        for rule in self.rules:
            ok, value = rule.check(figures)
            met = met and ok
            details.append({"rule": rule.text, "metric": rule.metric, "value": value, "ok": ok})
        return met, details

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "rules": [{"metric": r.metric, "op": r.op, "threshold": r.threshold}
                                             for r in self.rules]}


def parse_slo(text: str) -> Slo:
    """An :class:`Slo` from ``"p99<20ms,errors<0.1%"``; a :class:`UsageError` naming the bad rule otherwise."""
    rules = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        match = _RULE.match(part)
        if not match:
            raise UsageError(f"--slo {part.strip()!r}: expected METRIC<VALUE such as p99<20ms, errors<0.1% or tps>500")
        name, op, number, unit = match.group(1).lower(), match.group(2), float(match.group(3)), match.group(4).lower()
        if name in _LATENCY:
            if unit not in _UNITS:
                raise UsageError(f"--slo {part.strip()!r}: latency unit must be us, ms or s, not {unit!r}")
            rules.append(Rule(_LATENCY[name], op, number * _UNITS[unit], part.strip()))
        elif name in ("errors", "error_rate"):
            if unit == "%":
                rules.append(Rule("error_rate", op, number / 100.0, part.strip()))
            elif unit == "":
                rules.append(Rule("errors", op, number, part.strip()))
            else:
                raise UsageError(f"--slo {part.strip()!r}: errors take a share (0.1%) or a count (5)")
        elif name in ("tps", "qps"):
            if unit not in ("", "/s"):
                raise UsageError(f"--slo {part.strip()!r}: {name} is per second; give a bare number")
            rules.append(Rule(name, op, number, part.strip()))
        else:
            raise UsageError(
                f"--slo {part.strip()!r}: unknown metric {name!r}; use p50, p90, p95, p99, p99.9, max, mean, "
                "errors, tps or qps"
            )
    if not rules:
        raise UsageError("--slo: no rules given; e.g. --slo \"p99<20ms,errors<0.1%\"")
    return Slo(tuple(rules), str(text))
