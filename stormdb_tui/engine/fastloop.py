"""The compiled round trips of straight scripts (``_fastloop.c``): whether they can run, and what they run.

The multiplexed driver hands a client's transaction to the C loop when its
script is straight and every ``\\set`` is a uniform ``random`` whose bounds
are fixed for the run (the built-in scripts' ``random(1, 100000 * :scale)``).
This module finds the libpq psycopg uses (the C loop calls the same library
on psycopg's own connections), compiles a script into the loop's ops, and
rebuilds a failed statement's error as psycopg would have raised it.

``STORMDB_TUI_FASTLOOP=off`` keeps every round trip in Python (the same
results, more client CPU): for comparing the two, or when the compiled
module is suspected.
"""

from __future__ import annotations

import os
import random
from typing import Any

from psycopg import pq

from stormdb_tui.pgbench import client as C
from stormdb_tui.pgbench.errors import ScriptRuntimeError
from stormdb_tui.pgbench.script import SET, SQL, Script

try:
    from stormdb_tui.engine import _fastloop
except ImportError:  # not built here (no compiler, not Linux): Python serves every round trip
    _fastloop = None  # type: ignore[assignment]

ENV = "STORMDB_TUI_FASTLOOP"
MAX_SPAN = 0xFFFFFFFF
"""Above 2^32 outcomes the Python path draws with randrange, which the loop does not repeat."""
INT64_MAX = (1 << 63) - 1

DONE = getattr(_fastloop, "DONE", 0)
FAILED = getattr(_fastloop, "FAILED", 1)
LOST = getattr(_fastloop, "LOST", 2)
FLUSH = getattr(_fastloop, "FLUSH", 3)
STEP = getattr(_fastloop, "STEP", 4)
ERROR = getattr(_fastloop, "ERROR", 5)
SEND_PREPARED, SEND_PARAMS, SEND_QUERY = range(3)
"""How a stepped client's step() asks the loop to send: prepared, with parameters, or as a simple query."""

_state: dict[str, Any] = {}


def _libpq_candidates() -> list[str]:
    """Files named libpq* mapped into this process, psycopg's bundled copy first."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split(None, 5)[5].strip() for line in fh if line.count(" ") >= 5 and "libpq" in line}
    except OSError:
        return []
    named = [p for p in paths if os.path.basename(p).startswith("libpq") and os.path.exists(p)]
    return sorted(named, key=lambda p: ("psycopg" not in p, p))


def available() -> bool:
    """True when the compiled loop is built, not switched off, and bound to psycopg's own libpq."""
    if os.environ.get(ENV, "").lower() in ("0", "off", "no", "false"):
        return False
    if "ok" not in _state:
        _state["ok"] = False
        if _fastloop is not None and pq.__impl__ in ("binary", "c"):
            wanted = pq.version()
            for path in _libpq_candidates():
                try:
                    if _fastloop.load(path) == wanted:
                        _state["ok"] = True
                        _state["libpq"] = path
                        break
                except OSError:
                    continue
    return bool(_state["ok"])


def new_loop(epoll_fd: int) -> Any:
    """A C loop over the driver's epoll set, or None where it cannot run."""
    if not available():
        return None
    return _fastloop.Loop(epoll_fd)


def plan(script: Script, client: C.Client) -> list[tuple[Any, ...]] | None:
    """The C loop's ops for ``script`` run by ``client``, or None when the script needs Python.

    Eligible: straight, prepared, the client on Python's generator, every
    ``\\set`` a uniform ``random`` over at most 2^32 values whose bounds do
    not change during the run, and every parameter either a value ``\\set``
    earlier in the script or a variable the script never sets (a constant).
    """
    if not script.straight or client.rng.__class__ is not random.Random:
        return None
    assigned = {cmd.var for cmd in script.commands if cmd.kind == SET}
    index: dict[str, int] = {}
    ops: list[tuple[Any, ...]] = []
    for cmd in script.commands:
        if cmd.kind == SET:
            form = getattr(cmd.expr, "uniform", None)
            if form is None:
                return None
            lo, k, name = form
            if name is None:
                hi = k
            else:
                v = client.vars.get(name)
                if name in assigned or type(v) is not int:
                    return None
                hi = k * v
            span = hi - lo + 1
            if not 0 < span <= MAX_SPAN or hi > INT64_MAX:
                return None
            slot = index.setdefault(cmd.var, len(index))
            ops.append(("set", cmd.var, lo, span, slot))
        elif cmd.kind == SQL and cmd.store is None:
            params: list[int | bytes | None] = []
            for name in cmd.params:
                if name in index:
                    params.append(index[name])
                elif name in assigned:  # used before this transaction sets it: last transaction's value
                    return None
                else:
                    try:
                        params.append(client._params((name,))[0])
                    except ScriptRuntimeError:
                        return None
            ops.append(("sql", cmd.prepname, tuple(params)))
        else:
            return None
    return ops if ops and ops[-1][0] == "sql" else None


class ErrorResult:
    """A failed statement's result as the C loop read it: what psycopg's error classes ask of a PGresult."""

    status = pq.ExecStatus.FATAL_ERROR

    def __init__(self, message: bytes, fields: dict[int, bytes]) -> None:
        self.error_message = message
        self._fields = fields

    def error_field(self, fieldcode: int) -> bytes | None:
        return self._fields.get(int(fieldcode))

    def get_error_message(self, encoding: str = "utf-8") -> str:
        text = self.error_message.decode(encoding or "utf-8", "replace")
        return pq.misc.strip_severity(text) if text else "no error details available"
