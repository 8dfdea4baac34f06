"""``simple``: pgbench's scripts on pgbench-compatible tables.

The tables (``pgbench_branches``, ``pgbench_tellers``, ``pgbench_accounts``,
``pgbench_history``) live in the workload's own schema (``pgbench`` by
default), sized exactly as ``pgbench -i -s SCALE`` sizes them: 1 branch,
10 tellers and 100,000 accounts per unit of scale.

What runs are pgbench scripts, executed by :mod:`stormdb_tui.pgbench` with
pgbench's semantics: the built-in ``tpcb-like``, ``simple-update`` and
``select-only`` (their text is pgbench's), a weighted ``mixed`` of them, or
any script files given in ``scripts`` (``my.sql@5``). Each script run is one
transaction for the engine, labelled by the script's name. Statements are
sent one per round trip, prepared (pgbench's ``-M prepared``) unless
``query_mode`` says otherwise; ``pipeline: true`` wraps each script in
``\\startpipeline``/``\\endpipeline`` so a transaction costs one round trip.
The connection's ``search_path`` starts with the workload's schema, so
scripts name the tables without a schema, as they do for pgbench.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from stormdb_tui.errors import ConfigError
from stormdb_tui.options import Option
from stormdb_tui.pgbench import QUERY_MODES, Program, load_scripts
from stormdb_tui.pgbench import script as script_commands
from stormdb_tui.pgbench.blocking import BlockingExecutor
from stormdb_tui.pgbench.client import RANDOM_STREAMS
from stormdb_tui.pgbench.script import _VALID_NAME, wrap_in_pipeline
from stormdb_tui.toolkit.copy import copy_chunks
from stormdb_tui.workload import Progress, WorkerContext, Workload

ACCOUNTS_PER_SCALE = 100_000
TELLERS_PER_SCALE = 10
BRANCHES_PER_SCALE = 1
SCRIPTS = ("tpcb-like", "simple-update", "select-only")
COPY_BATCH = 50_000  # divides ACCOUNTS_PER_SCALE: a batch stays within one branch

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
        Option("pipeline", "bool", False, "wrap each script in \\startpipeline/\\endpipeline (one round trip)"),
        Option("fillfactor", "int", 100, "fillfactor of the tables, as pgbench -F", minimum=10, maximum=100),
        Option(
            "scripts",
            "list",
            None,
            "pgbench scripts as NAME@WEIGHT: built-in names or script files (replaces script and mix)",
        ),
        Option("defines", "list", None, "script variables as NAME=VALUE, like pgbench -D"),
        Option("query_mode", "choice", "prepared", "protocol, as pgbench -M", choices=QUERY_MODES),
        Option(
            "random_stream",
            "choice",
            "python",
            "python (fast) or pgbench (the values pgbench draws for the same run.seed and clients)",
            choices=RANDOM_STREAMS,
        ),
    )

    def __init__(self, options: Any = None, run: Any = None) -> None:
        super().__init__(options, run)
        self.schema = self.opts["schema"]
        self.accounts = ACCOUNTS_PER_SCALE * self.scale
        self.tellers = TELLERS_PER_SCALE * self.scale
        self.branches = BRANCHES_PER_SCALE * self.scale
        self.query_mode = self.opts["query_mode"]
        script = self.opts["script"]
        if self.opts["scripts"]:
            specs = list(self.opts["scripts"])
        elif script == "mixed":
            specs = [f"{name}@{_weight(w)}" for name, w in _integer_weights(self.opts["mix"]).items()]
        else:
            specs = [script]
        try:
            scripts = load_scripts(specs, mode=self.query_mode)
        except ValueError as exc:
            raise ConfigError(str(exc), path="workload.scripts") from None
        if self.opts["pipeline"]:
            if self.query_mode == "simple":
                raise ConfigError(
                    "pipeline mode needs the extended protocol", path="workload.pipeline",
                    hint="use query_mode prepared or extended",
                )
            scripts = [wrap_in_pipeline(s) for s in scripts]
        self.scripts = scripts
        self.uses_tables = not self.opts["scripts"] or any(
            s.source in ("tpcb-like", "simple-update", "select-only") for s in scripts
        )
        run_seed = self.run_settings.get("seed")
        self._program = Program(
            scripts,
            mode=self.query_mode,
            scale=self.scale,
            defines=_defines(self.opts["defines"] or []),
            seed=run_seed,
            clients=int(self.run_settings.get("workers") or 1),
            stream=self.opts["random_stream"],
        )
        self.schema_ident = sql.Identifier(str(self.schema)).as_string()

    # -- data --------------------------------------------------------------

    def _ident(self, name: str) -> sql.Identifier:
        return sql.Identifier(str(self.schema), name)

    def check(self, conn: psycopg.Connection) -> list[str]:
        if not self.uses_tables:
            return []  # user scripts bring their own tables, as with pgbench -f
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (self._ident("pgbench_branches").as_string(),)
        ).fetchone()
        if not row or not row[0]:
            return [f"pgbench tables not found in schema {self.schema}: run with --setup"]
        for table in ("pgbench_accounts", "pgbench_tellers", "pgbench_history"):
            found = conn.execute("SELECT to_regclass(%s)", (self._ident(table).as_string(),)).fetchone()
            if found is None or found[0] is None:
                return [f"{self.schema}.{table} is missing: run with --rebuild"]
        counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident("pgbench_branches"))).fetchone()
        branches = counted[0] if counted else 0
        if branches != self.branches and branches > 0 and self.given is not None and "scale" not in self.given:
            # pgbench without -s runs at the scale the tables hold: so does a run that does not set one.
            self.__init__({**self.opts, "scale": branches // BRANCHES_PER_SCALE or 1}, self.run_settings)  # type: ignore[misc]
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
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(str(self.schema))))
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
            progress.phase("branches")
            branches = "".join(f"{b}\t0\t\n" for b in range(1, self.branches + 1))
            copy_chunks(conn, self._ident("pgbench_branches"), None, [(branches, self.branches)], progress, freeze=True)
            progress.phase("tellers")
            tellers = "".join(f"{t}\t{(t - 1) // TELLERS_PER_SCALE + 1}\t0\t\n" for t in range(1, self.tellers + 1))
            copy_chunks(conn, self._ident("pgbench_tellers"), None, [(tellers, self.tellers)], progress, freeze=True)
            progress.phase("accounts")
            accounts = (
                (_account_rows(start, min(start + COPY_BATCH, self.accounts + 1)),
                 min(start + COPY_BATCH, self.accounts + 1) - start)
                for start in range(1, self.accounts + 1, COPY_BATCH)
            )
            copy_chunks(conn, self._ident("pgbench_accounts"), None, accounts, progress, freeze=True)
            progress.phase("primary keys")
            for table, column in (("pgbench_branches", "bid"), ("pgbench_tellers", "tid"), ("pgbench_accounts", "aid")):
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(self._ident(table), sql.Identifier(column))
                )
        progress.phase("vacuum analyze")
        for table in ("pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(self._ident(table)))

    # -- the run -----------------------------------------------------------

    def program(self) -> Program:
        """The scripts, for the multiplexed driver: the same program the threaded workers run."""
        return self._program

    def session_sql(self) -> list[str]:
        return [f"SET search_path TO {self.schema_ident}, public"]

    def statement_operations(self) -> dict[str, list[str]]:
        """Every SQL command of the scripts, as sent, to the scripts (operations) that send it."""
        out: dict[str, list[str]] = {}
        for script in self.scripts:
            for command in script.commands:
                if command.kind != script_commands.SQL:
                    continue
                labels = out.setdefault(command.sql.decode() if command.sql else command.text, [])
                if script.name not in labels:
                    labels.append(script.name)
        return out

    def start_worker(self, ctx: WorkerContext) -> None:
        res = ctx.conn.pgconn.exec_(f"SET search_path TO {self.schema_ident}, public".encode())
        if res.status != psycopg.pq.ExecStatus.COMMAND_OK:
            raise psycopg.errors.error_from_result(res, encoding=ctx.conn.info.encoding)
        ctx.state["pgbench_executor"] = BlockingExecutor(ctx.conn, self.query_mode, ctx.stopping)
        if "pgbench_client" not in ctx.state:
            rng = self._program.client_rng(ctx.worker_id, ctx.rng)
            ctx.state["pgbench_client"] = self._program.client(ctx.worker_id, rng)

    def transaction(self, ctx: WorkerContext) -> str:
        state = ctx.state
        client = state["pgbench_client"]
        if ctx.attempt and ctx.label in self._program.by_name:
            # A retry reruns the same script. pgbench also replays the same random
            # draws; saving the generator's state costs 15-90 us a transaction
            # (Random.getstate copies 625 words), so a retry draws afresh here.
            script = self._program.by_name[ctx.label]
        else:
            script = self._program.choose(ctx.rng)
            ctx.label = script.name
        executor = state["pgbench_executor"]
        if executor.conn is not ctx.conn:
            executor = state["pgbench_executor"] = BlockingExecutor(ctx.conn, self.query_mode, ctx.stopping)
        try:
            ctx.queries += executor.run(client, script)
        finally:
            client.in_pipeline = False
        return script.name


def _integer_weights(weights: dict[str, float]) -> dict[str, float]:
    """pgbench's weights are integers: fractional mixes are scaled up by 1000 first."""
    if all(float(w).is_integer() for w in weights.values()):
        return {k: w for k, w in weights.items() if w > 0}
    return {k: round(w * 1000) for k, w in weights.items() if round(w * 1000) > 0}


def _weight(w: float) -> str:
    return str(int(w))


def _defines(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` items (pgbench's -D) as variables; errors name the option."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _VALID_NAME.match(name):
            raise ConfigError(
                "invalid variable definition", path="workload.defines", expected="NAME=VALUE with a valid name",
                found=item,
            )
        out[name] = value
    return out


WORKLOAD = SimpleWorkload
