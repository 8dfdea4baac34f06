"""``hiccup``: a fast query on a server that freezes now and then (for the coordinated-omission tutorial).

Every worker runs one cheap statement that first takes a shared advisory
lock. A separate session takes the same lock exclusively for ``stall``
seconds every ``period`` seconds, so every query issued meanwhile waits in
the server, as it would behind a long ``ALTER TABLE``, a stuck checkpoint or
a lock held by a forgotten transaction. The waits are real lock waits:
the server section's lock-wait figures see them too.

It is a drop-in plugin (a ``.py`` file in a folder listed under
``plugins.paths``), which also makes it a small example of one.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from stormdb_tui.options import Option
from stormdb_tui.workload import WorkerContext, Workload

LOCK_KEY = 774_201


class HiccupWorkload(Workload):
    name = "hiccup"
    title = "Fast query, periodic server stall"
    description = (
        "SELECT behind a shared advisory lock that another session holds exclusively for `stall` "
        "seconds every `period` seconds: a server that freezes now and then."
    )
    version = "1.0"
    operations = ("lookup",)
    options = (
        Option("period", "duration", 5.0, "time from the start of one stall to the next", minimum=0.2),
        Option("stall", "duration", 1.0, "how long each stall lasts (0 = never stall)", minimum=0),
    )

    def __init__(self, options: Any = None, run: Any = None) -> None:
        super().__init__(options, run)
        if self.opts["stall"] >= self.opts["period"]:
            raise ValueError("stall must be shorter than period")
        self._staller: threading.Thread | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def start_worker(self, ctx: WorkerContext) -> None:
        """The first worker to start also starts the session that causes the stalls (once per run)."""
        with self._lock:
            if self._staller is None and self.opts["stall"] > 0:
                conninfo = self.run_settings.get("conninfo") or ""
                self._staller = threading.Thread(
                    target=self._stall_loop, args=(conninfo, ctx.stopping), name="hiccup-staller", daemon=True
                )
                self._staller.start()

    def _stall_loop(self, conninfo: str, stopping: Any) -> None:
        period, stall = self.opts["period"], self.opts["stall"]
        with psycopg.connect(conninfo, autocommit=True, application_name="stormdb-tui:hiccup") as conn:
            while not self._done.wait(period - stall) and not stopping():
                conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
                try:
                    self._done.wait(stall)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    def transaction(self, ctx: WorkerContext) -> str:
        ctx.label = "lookup"
        ctx.conn.execute("SELECT pg_advisory_xact_lock_shared(%s), 1", (LOCK_KEY,), prepare=True)
        ctx.queries += 1
        return "lookup"

    def stop_worker(self, ctx: WorkerContext) -> None:
        if ctx.stopping():
            self._done.set()


WORKLOAD = HiccupWorkload
