"""Wait-event profile: what our load sessions were doing, sampled from ``pg_stat_activity``.

Counters say how much work the server did; a wait profile says where the
sessions' time went. A thread on its own connection reads the wait state of
the load sessions (``application_name`` ``stormdb-tui:load``) ``rate`` times
a second and counts, per interval and for the run, each
``wait_event_type:wait_event`` pair. An active session with no wait event is
on CPU (or in a part of the server that reports no wait event, as in
pg_activity and ASH tools). A session idle inside a transaction is counted
too (it shows ``Client:ClientRead``: the server waits for our client while it
holds the transaction's locks); sessions idle between transactions are not
sampled, so the shares describe time spent inside transactions.

One sample is one prepared statement over ``pg_stat_activity`` (no locks
taken); its cost is measured in the report (``pg.waits.sample_ms_mean``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from stormdb_tui.db import APP_NAME, connect, first_line
from stormdb_tui.monitor.queries import marked

LOAD_PREFIX = f"{APP_NAME}:load"

SAMPLE_SQL = marked("""SELECT CASE WHEN wait_event_type IS NULL THEN 'CPU' ELSE wait_event_type END,
       coalesce(wait_event, 'CPU'), count(*)
  FROM pg_stat_activity
 WHERE application_name LIKE %s AND pid <> pg_backend_pid()
   AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')
 GROUP BY 1, 2""")

TOP = 10


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class WaitSampler:
    """Samples our sessions' wait events at ``rate`` per second in a daemon thread."""

    def __init__(self, conninfo: str, *, rate: float = 10.0, prefix: str = LOAD_PREFIX) -> None:
        self.conninfo = conninfo
        self.rate = float(rate)
        self.prefix = prefix
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._interval: dict[tuple[str, str], int] = {}
        self._interval_samples = 0
        self._run: dict[tuple[str, str], int] = {}
        self._run_samples = 0
        self._sample_ms: list[float] = []
        self.commits = 0
        """Statements this sampler ran: each is a transaction in the target database's xact_commit."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    def start(self) -> None:
        """Connect and start sampling; a failure to connect becomes a note."""
        try:
            self._conn = connect(self.conninfo, role="monitor-waits")
            self._conn.execute(marked("SET statement_timeout = 1000"))
            self.commits += 1
        except Exception as exc:  # the profile is optional: never take the run down
            self.notes.append(f"wait-event sampling could not start: {first_line(exc)}")
            return
        self._thread = threading.Thread(target=self._loop, name="stormdb-wait-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def reset(self) -> None:
        """Forget what was counted so far (the end of warm-up)."""
        with self._lock:
            self._interval, self._interval_samples = {}, 0
            self._run, self._run_samples = {}, 0

    def swap(self) -> dict[str, Any]:
        """The profile since the previous swap (one interval)."""
        with self._lock:
            counts, samples = self._interval, self._interval_samples
            self._interval, self._interval_samples = {}, 0
        return profile(counts, samples, top=5)

    def summary(self) -> dict[str, Any]:
        """The run's profile: the report's ``pg.waits``."""
        with self._lock:
            counts, samples = dict(self._run), self._run_samples
        out = profile(counts, samples, top=TOP)
        ordered = sorted(self._sample_ms)
        out["rate"] = self.rate
        out["sample_ms_mean"] = round(sum(ordered) / len(ordered), 3) if ordered else None
        out["sample_ms_p95"] = round(ordered[int(len(ordered) * 0.95)], 3) if ordered else None
        out["notes"] = list(self.notes)
        return out

    def _loop(self) -> None:
        period = 1.0 / self.rate
        deadline = time.monotonic()
        like = _like_prefix(self.prefix)
        while True:
            deadline += period
            now = time.monotonic()
            if deadline < now:  # fell behind (a slow sample): skip, never burst
                deadline = now + period
            if self._stop.wait(deadline - now):
                return
            assert self._conn is not None
            started = time.perf_counter()
            try:
                rows = self._conn.execute(SAMPLE_SQL, (like,), prepare=True).fetchall()
            except Exception as exc:
                message = f"wait-event sampling failed: {first_line(exc)}"
                if message not in self.notes:
                    self.notes.append(message)
                if self._conn.broken:
                    return
                continue
            self._sample_ms.append((time.perf_counter() - started) * 1000.0)
            self.commits += 1
            with self._lock:
                self._interval_samples += 1
                self._run_samples += 1
                for wtype, event, n in rows:
                    key = (wtype, event)
                    self._interval[key] = self._interval.get(key, 0) + n
                    self._run[key] = self._run.get(key, 0) + n


def profile(counts: dict[tuple[str, str], int], samples: int, *, top: int) -> dict[str, Any]:
    """Shares of session samples per wait event type and per event.

    ``sessions_avg`` is the mean number of our sessions found inside a
    transaction per sample (the "average active sessions" of ASH tools).
    """
    seen = sum(counts.values())
    by_type: dict[str, int] = {}
    for (wtype, _event), n in counts.items():
        by_type[wtype] = by_type.get(wtype, 0) + n
    events = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return {
        "samples": samples,
        "session_samples": seen,
        "sessions_avg": round(seen / samples, 3) if samples else None,
        "by_type": {k: round(v / seen, 4) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])} if seen else {},
        "top": [{"type": t, "event": e, "count": n, "share": round(n / seen, 4)} for (t, e), n in events],
    }
