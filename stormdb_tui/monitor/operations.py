"""Server cost per operation: pg_stat_statements deltas mapped to the workload's operation labels.

The client measures a transaction's latency per operation label
(``new_order``, ``tpcb-like``); pg_stat_statements measures each statement's
execution on the server. A workload that knows its statements says which
operations run each one (:meth:`stormdb_tui.workload.Workload.statement_operations`),
and this module joins the two, per operation: server execution time, rows,
shared blocks hit and read and WAL bytes per transaction, next to the
client's mean latency. The difference is time outside statement execution:
network, client, parse/plan and lock-free waits between statements.

Statements are matched by a fingerprint of their text that survives what
pg_stat_statements does to it (constants and parameters become ``$n``) and
what drivers do (psycopg's ``%s`` and ``%(name)s`` become ``$n``): every
placeholder and literal becomes ``?`` and whitespace and case are folded. A
statement run by several operations that ran (``BEGIN``, a shared read) is
split between them in proportion to their transaction counts; those rows say
``shared_split: true``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(
    r"""\$\d+|%\(\w+\)s|%s|'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|\b(?:null|true|false)\b""", re.IGNORECASE
)
_CAST_OF_PLACEHOLDER = re.compile(r"\?\s*::\s*[\w\[\]]+")
_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)  # 18 squashes IN lists into "$1 /*, ... */"
_SPACE = re.compile(r"\s+")
_PUNCT_SPACE = re.compile(r"\s*([(),=<>+\-*/;\[\]])\s*")

COST_FIELDS = ("total_ms", "rows", "shared_blks_hit", "shared_blks_read", "wal_bytes", "calls")


def fingerprint(text: str) -> str:
    """The statement text with placeholders, literals, casts of them, whitespace and case folded."""
    out = _COMMENT.sub(" ", text).replace('"', "")
    out = _PLACEHOLDER.sub("?", out.strip().rstrip(";"))
    out = _CAST_OF_PLACEHOLDER.sub("?", out)
    out = _SPACE.sub(" ", out.lower())
    return _PUNCT_SPACE.sub(r"\1", out).strip()


def operation_costs(
    statements: Iterable[Mapping[str, Any]],
    mapping: Mapping[str, str | Sequence[str]],
    operations: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Per operation server cost, and what could not be attributed.

    ``statements``: per-statement deltas (``query`` and :data:`COST_FIELDS`);
    ``mapping``: statement text as the workload sends it -> operation label(s);
    ``operations``: the report's operations (``count``, ``errors``, ``latency_ms.mean``).
    """
    by_print: dict[str, list[str]] = {}
    for text, ops in mapping.items():
        labels = [ops] if isinstance(ops, str) else list(ops)
        by_print.setdefault(fingerprint(text), []).extend(labels)
    attempts = {label: int(op.get("count") or 0) + int(op.get("errors") or 0) for label, op in operations.items()}
    acc: dict[str, dict[str, float]] = {label: dict.fromkeys(COST_FIELDS, 0.0) for label in operations}
    shared: set[str] = set()
    unmatched = {"statements": 0, "total_ms": 0.0, "calls": 0}
    matched_ms = 0.0
    for st in statements:
        labels = [lbl for lbl in dict.fromkeys(by_print.get(fingerprint(st.get("query") or ""), ()))
                  if attempts.get(lbl)]
        if not labels:
            unmatched["statements"] += 1
            unmatched["total_ms"] += float(st.get("total_ms") or 0)
            unmatched["calls"] += int(st.get("calls") or 0)
            continue
        matched_ms += float(st.get("total_ms") or 0)
        weight = sum(attempts[lbl] for lbl in labels)
        for lbl in labels:
            part = attempts[lbl] / weight
            if len(labels) > 1:
                shared.add(lbl)
            for f in COST_FIELDS:
                acc[lbl][f] += float(st.get(f) or 0) * part
    rows = []
    for label, op in operations.items():
        n = attempts.get(label) or 0
        a = acc[label]
        if not n or not a["calls"]:
            continue
        client_ms = (op.get("latency_ms") or {}).get("mean")
        server_ms = a["total_ms"] / n
        rows.append({
            "operation": label,
            "transactions": n,
            "client_ms": client_ms,
            "server_ms": round(server_ms, 4),
            "outside_server_ms": round(client_ms - server_ms, 4) if client_ms is not None else None,
            "server_share": round(server_ms / client_ms, 4) if client_ms else None,
            "statements": round(a["calls"] / n, 3),
            "rows": round(a["rows"] / n, 3),
            "shared_blks_hit": round(a["shared_blks_hit"] / n, 3),
            "shared_blks_read": round(a["shared_blks_read"] / n, 3),
            "wal_bytes": round(a["wal_bytes"] / n, 1),
            "shared_split": label in shared,
        })
    return {
        "per_transaction": rows,
        "matched_ms": round(matched_ms, 3),
        "unmatched": {**unmatched, "total_ms": round(unmatched["total_ms"], 3)},
        "basis": "count + errors of each operation (attempts); pg_stat_statements execution time (no planning)",
    }
