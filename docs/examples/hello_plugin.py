"""A complete drop-in workload: one table, two operations, a weighted mix.

Run it with:

    stormdb-tui run --no-ui --plugin-path docs/examples --workload hello --duration 10
"""

from psycopg import sql

from stormdb_tui.workload import Option, Progress, WeightedMix, WorkerContext, Workload


class Hello(Workload):
    name = "hello"
    title = "Hello, workload"
    description = "Reads and bumps counters in a small table: the plugin guide's example."
    version = "1.0"
    schema = "hello"  # the schema this workload owns; --rebuild drops exactly this
    operations = ("read", "bump")
    options = (
        Option("rows", "int", 1000, "rows in the counters table", minimum=1, maximum=10_000_000),
        Option("mix", "weights", {"read": 9, "bump": 1}, "operation weights", choices=("read", "bump")),
    )

    def __init__(self, options=None, run=None):
        super().__init__(options, run)
        self.mix = WeightedMix(self.opts["mix"])

    def check(self, conn) -> list[str]:
        if conn.execute("SELECT to_regclass('hello.counters')").fetchone()[0] is None:
            return ["hello.counters does not exist: run with --setup"]
        rows = conn.execute("SELECT count(*) FROM hello.counters").fetchone()[0]
        if rows != self.opts["rows"]:
            return [f"hello.counters has {rows} rows, the run asks for {self.opts['rows']}: run with --rebuild"]
        return []

    def setup(self, conn, progress: Progress) -> None:
        rows = self.opts["rows"]
        progress.phase("counters", rows)
        conn.execute("CREATE SCHEMA IF NOT EXISTS hello")
        conn.execute("DROP TABLE IF EXISTS hello.counters")
        conn.execute("CREATE TABLE hello.counters (id int PRIMARY KEY, hits bigint NOT NULL)")
        with conn.cursor().copy(sql.SQL("COPY hello.counters (id, hits) FROM STDIN")) as copy:
            for i in range(1, rows + 1):
                copy.write_row((i, 0))
        progress.advance(rows)

    def transaction(self, ctx: WorkerContext) -> str:
        op = self.mix.pick(ctx)  # also sets ctx.label, so a failure is counted under it
        key = ctx.rng.randint(1, self.opts["rows"])
        if op == "read":
            ctx.conn.execute("SELECT hits FROM hello.counters WHERE id = %s", (key,), prepare=True).fetchone()
        else:
            ctx.conn.execute("UPDATE hello.counters SET hits = hits + 1 WHERE id = %s", (key,), prepare=True)
        ctx.queries += 1
        return op


WORKLOAD = Hello
