"""``simple``: pgbench's built-in scripts on pgbench-compatible tables.

The tables (``pgbench_branches``, ``pgbench_tellers``, ``pgbench_accounts``,
``pgbench_history``) live in the workload's own schema (``pgbench`` by
default), sized exactly as ``pgbench -i -s SCALE`` sizes them: 1 branch,
10 tellers and 100,000 accounts per unit of scale. The scripts are
pgbench's, statement for statement:

* ``tpcb-like`` — update an account, read it back, update its teller and
  branch, insert a history row, in one transaction;
* ``simple-update`` — the same without the teller and branch updates;
* ``select-only`` — read one account balance;
* ``mixed`` — the three picked per transaction from ``mix`` weights.

Statements are prepared once per connection and executed through psycopg's
low-level interface; multi-statement transactions are sent as one pipeline
(``pipeline: true``), so a transaction costs one round trip.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from stormdb_tui.options import Option
from stormdb_tui.toolkit import fastpath
from stormdb_tui.workload import Progress, WeightedMix, WorkerContext, Workload

ACCOUNTS_PER_SCALE = 100_000
TELLERS_PER_SCALE = 10
BRANCHES_PER_SCALE = 1
SCRIPTS = ("tpcb-like", "simple-update", "select-only")
COPY_BATCH = 50_000  # divides ACCOUNTS_PER_SCALE: a batch stays within one branch

_STATEMENTS = {
    "sd_begin": "BEGIN",
    "sd_commit": "COMMIT",
    "sd_upd_acc": "UPDATE {s}.pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "sd_sel_acc": "SELECT abalance FROM {s}.pgbench_accounts WHERE aid = $1",
    "sd_upd_tel": "UPDATE {s}.pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "sd_upd_bra": "UPDATE {s}.pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "sd_ins_his": "INSERT INTO {s}.pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
}


def _account_rows(start: int, end: int) -> bytes:
    """COPY text for accounts ``start`` .. ``end - 1`` (a batch never spans two branches).

    One ``str.join`` over ``map(str, range)`` builds the batch in C: a
    formatted line per row made Python the bottleneck of the load.
    """
    bid = (start - 1) // ACCOUNTS_PER_SCALE + 1
    tail = f"\t{bid}\t0\t\n"
    return (tail.join(map(str, range(start, end))) + tail).encode()


class SimpleWorkload(Workload):
    name = "simple"
    title = "pgbench scripts"
    description = (
        "pgbench's tpcb-like, simple-update and select-only scripts (or a weighted mix of them) "
        "on pgbench-compatible tables sized like pgbench -s."
    )
    version = "1.0"
    operations = SCRIPTS
    options = (
        Option("scale", "int", 1, "pgbench scale factor: 100,000 accounts per unit", minimum=1, maximum=100_000),
        Option("script", "choice", "tpcb-like", "which pgbench script to run", choices=(*SCRIPTS, "mixed")),
        Option(
            "mix",
            "weights",
            {"select-only": 80, "tpcb-like": 20},
            "weights of the scripts when script is mixed (a read/write mix)",
            choices=SCRIPTS,
        ),
        Option("schema", "str", "pgbench", "schema that holds the pgbench tables (owned by this workload)"),
        Option("pipeline", "bool", True, "send multi-statement transactions as one pipeline"),
        Option("fillfactor", "int", 100, "fillfactor of the tables, as pgbench -F", minimum=10, maximum=100),
    )

    def __init__(self, options: Any = None, run: Any = None) -> None:
        super().__init__(options, run)
        self.schema = self.opts["schema"]
        self.accounts = ACCOUNTS_PER_SCALE * self.scale
        self.tellers = TELLERS_PER_SCALE * self.scale
        self.branches = BRANCHES_PER_SCALE * self.scale
        script = self.opts["script"]
        self.mix = WeightedMix(self.opts["mix"] if script == "mixed" else {script: 1})
        self.single = None if script == "mixed" else script
        schema_ident = '"' + self.schema.replace('"', '""') + '"'
        self.statements = {k: v.format(s=schema_ident) for k, v in _STATEMENTS.items()}

    # -- data --------------------------------------------------------------

    def _ident(self, name: str) -> sql.Composed:
        return sql.Identifier(self.schema, name)

    def check(self, conn: psycopg.Connection) -> list[str]:
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}".pgbench_branches',)
        ).fetchone()
        if not row or not row[0]:
            return [f"pgbench tables not found in schema {self.schema}: run with --setup"]
        for table in ("pgbench_accounts", "pgbench_tellers", "pgbench_history"):
            if conn.execute("SELECT to_regclass(%s)", (f'"{self.schema}".{table}',)).fetchone()[0] is None:
                return [f"{self.schema}.{table} is missing: run with --rebuild"]
        branches = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident("pgbench_branches"))).fetchone()[0]
        if branches != self.branches:
            return [
                f"{self.schema} is loaded at scale {branches}, the run asks for scale {self.scale}: "
                f"run with --rebuild or set scale={branches}"
            ]
        return []

    def is_loaded(self, conn: psycopg.Connection) -> bool:
        problems = self.check(conn)
        return not problems or "scale" in problems[0]

    def setup(self, conn: psycopg.Connection, progress: Progress) -> None:
        """Create and load the tables like ``pgbench -i``: COPY, then keys, then VACUUM ANALYZE."""
        ff = self.opts["fillfactor"]
        progress.phase("tables", self.branches + self.tellers + self.accounts)
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            for table in ("pgbench_history", "pgbench_tellers", "pgbench_accounts", "pgbench_branches"):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident(table)))
            conn.execute(
                sql.SQL("CREATE TABLE {} (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))").format(
                    self._ident("pgbench_history")
                )
            )
            conn.execute(
                sql.SQL("CREATE TABLE {} (tid int NOT NULL, bid int, tbalance int, filler char(84)) WITH (fillfactor={})").format(
                    self._ident("pgbench_tellers"), sql.Literal(ff)
                )
            )
            conn.execute(
                sql.SQL("CREATE TABLE {} (aid int NOT NULL, bid int, abalance int, filler char(84)) WITH (fillfactor={})").format(
                    self._ident("pgbench_accounts"), sql.Literal(ff)
                )
            )
            conn.execute(
                sql.SQL("CREATE TABLE {} (bid int NOT NULL, bbalance int, filler char(88)) WITH (fillfactor={})").format(
                    self._ident("pgbench_branches"), sql.Literal(ff)
                )
            )
            with conn.cursor() as cur:
                progress.phase("branches")
                with cur.copy(sql.SQL("COPY {} FROM STDIN WITH (FREEZE)").format(self._ident("pgbench_branches"))) as copy:
                    copy.write("".join(f"{b}\t0\t\n" for b in range(1, self.branches + 1)))
                progress.advance(self.branches)
                progress.phase("tellers")
                with cur.copy(sql.SQL("COPY {} FROM STDIN WITH (FREEZE)").format(self._ident("pgbench_tellers"))) as copy:
                    copy.write(
                        "".join(f"{t}\t{(t - 1) // TELLERS_PER_SCALE + 1}\t0\t\n" for t in range(1, self.tellers + 1))
                    )
                progress.advance(self.tellers)
                progress.phase("accounts")
                with cur.copy(sql.SQL("COPY {} FROM STDIN WITH (FREEZE)").format(self._ident("pgbench_accounts"))) as copy:
                    for start in range(1, self.accounts + 1, COPY_BATCH):
                        if progress.cancelled:
                            raise psycopg.errors.QueryCanceled("setup cancelled")
                        end = min(start + COPY_BATCH, self.accounts + 1)
                        copy.write(_account_rows(start, end))
                        progress.advance(end - start)
            progress.phase("primary keys")
            for table, column in (("pgbench_branches", "bid"), ("pgbench_tellers", "tid"), ("pgbench_accounts", "aid")):
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(self._ident(table), sql.Identifier(column))
                )
        progress.phase("vacuum analyze")
        for table in ("pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(self._ident(table)))

    # -- the run -----------------------------------------------------------

    def start_worker(self, ctx: WorkerContext) -> None:
        fastpath.prepare(ctx.conn, self.statements)

    def transaction(self, ctx: WorkerContext) -> str:
        script = self.single
        if script is None:
            script = self.mix.pick(ctx)
        else:
            ctx.label = script
        # Uniform keys as pgbench draws them. ``random()`` scaled is a third
        # of ``randint``'s cost (0.1 vs 0.24 µs), paid up to four times a transaction.
        rnd = ctx.rng.random
        aid = b"%d" % (int(rnd() * self.accounts) + 1)
        conn = ctx.conn
        if script == "select-only":
            fastpath.execute(conn, b"sd_sel_acc", (aid,))
            ctx.queries += 1
            return script
        delta = b"%d" % (int(rnd() * 10001) - 5000)
        tid = b"%d" % (int(rnd() * self.tellers) + 1)
        bid = b"%d" % (int(rnd() * self.branches) + 1)
        steps: list[tuple[bytes, tuple[bytes | None, ...]]] = [
            (b"sd_begin", ()),
            (b"sd_upd_acc", (delta, aid)),
            (b"sd_sel_acc", (aid,)),
        ]
        if script == "tpcb-like":
            steps.append((b"sd_upd_tel", (delta, tid)))
            steps.append((b"sd_upd_bra", (delta, bid)))
        steps.append((b"sd_ins_his", (tid, bid, aid, delta)))
        steps.append((b"sd_commit", ()))
        if self.opts["pipeline"]:
            fastpath.pipeline(conn, steps)
        else:
            for name, params in steps:
                fastpath.execute(conn, name, params)
        ctx.queries += len(steps)
        return script


WORKLOAD = SimpleWorkload
