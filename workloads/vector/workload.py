"""The ``vector`` workload: pgvector k-NN search, filtered search and writes, with recall@k.

Data is a seeded Gaussian mixture (see :mod:`.data`) in ``vector.items``;
the index (none, IVFFlat or HNSW, for L2, cosine or inner-product distance) is
built after loading, timed, and its build time kept in ``vector.meta`` so
every later run can report it. Changing only index options rebuilds only the
index. After a run :meth:`VectorWorkload.finish` measures recall@k against
exact search (see :mod:`.recall`), so throughput is always reported beside
the recall it was bought at.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from stormdb_tui.errors import ConfigError, WorkloadError
from stormdb_tui.options import Option
from stormdb_tui.workload import Progress, WeightedMix, WorkerContext, Workload

from . import recall
from .data import Mixture, copy_rows, rows

OPERATIONS = ("knn_search", "filtered_knn", "insert", "update", "delete")
INDEX_MAX_DIMS = 2000
"""pgvector's HNSW and IVFFlat refuse vectors wider than this; ``index: none`` has no limit."""
METRICS = {
    # metric: (distance operator, operator class). <#> is the NEGATIVE inner product,
    # so ascending order puts the largest inner product first, as the index does.
    "l2": ("<->", "vector_l2_ops"),
    "cosine": ("<=>", "vector_cosine_ops"),
    "inner_product": ("<#>", "vector_ip_ops"),
}
INDEX_NAME = "items_embedding_idx"
NO_PGVECTOR = (
    "pgvector is not installed on this server: install the extension there, "
    "or run without --dsn to use the embedded server, which ships it"
)


class VectorWorkload(Workload):
    """k-NN search over clustered embeddings, with an approximate index and its measured recall."""

    name = "vector"
    title = "pgvector similarity search"
    description = (
        "k-NN and filtered k-NN search, inserts, updates and deletes on clustered synthetic "
        "embeddings, with an HNSW or IVFFlat index; reports recall@k, index build time and size."
    )
    version = "1.0"
    required_extensions = ("vector",)
    operations = OPERATIONS
    schema = "vector"
    options = (
        Option("scale", "int", 1, "multiplies rows: the table holds rows x scale vectors", minimum=1),
        Option("rows", "int", 20000, "vectors per scale unit", minimum=10),
        Option("dimensions", "int", 128, "vector width (indexes allow up to 2000)", minimum=2, maximum=16000),
        Option("clusters", "int", 32, "Gaussian clusters in the synthetic data", minimum=1),
        Option("spread", "float", 0.3, "per-dimension standard deviation inside a cluster", minimum=0.001),
        Option("categories", "int", 10, "distinct values of the metadata column filtered_knn filters on",
               minimum=1),
        Option("seed", "int", 42, "seed of the synthetic data and the recall queries"),
        Option("index", "choice", "hnsw", "vector index", choices=("none", "ivfflat", "hnsw")),
        Option("metric", "choice", "l2", "distance: l2 (<->), cosine (<=>) or inner_product (<#>)",
               choices=tuple(METRICS)),
        Option("lists", "int", 0, "ivfflat lists (0 = rows/1000, at least 10)", minimum=0, maximum=32768),
        Option("probes", "int", 0, "ivfflat.probes per worker (0 = sqrt(lists))", minimum=0, maximum=32768),
        Option("m", "int", 16, "hnsw m: graph links per node", minimum=2, maximum=100),
        Option("ef_construction", "int", 64, "hnsw ef_construction (at least 2 x m)", minimum=4, maximum=1000),
        Option("ef_search", "int", 40, "hnsw.ef_search per worker; below k returns fewer than k rows",
               minimum=1, maximum=1000),
        Option("k", "int", 10, "neighbours per search (the k of recall@k)", minimum=1, maximum=1000),
        Option("weights", "weights",
               {"knn_search": 70, "filtered_knn": 15, "insert": 5, "update": 5, "delete": 5},
               "operation mix", choices=OPERATIONS),
        Option("filter_mode", "choice", "index",
               "filtered_knn plan: index (vector index scan, then the filter; may return fewer than k rows) "
               "or exact (category index, then an exact sort)", choices=("index", "exact")),
        Option("recall_samples", "int", 50, "queries used to measure recall@k (0 = skip)", minimum=0),
        Option("iterative_scan", "choice", "relaxed_order",
               "pgvector 0.8+ iterative index scans for filtered search, so it returns k rows: relaxed_order, "
               "strict_order (hnsw only; ivfflat uses relaxed_order) or off", choices=("relaxed_order", "strict_order", "off")),
        Option("recall_warn", "float", 0.9, "recall@k below this (or short filtered results) is a report warning",
               minimum=0, maximum=1),
        Option("build_memory", "size", "256MB", "maintenance_work_mem for the index build", minimum=1024 * 1024),
    )

    def __init__(self, options: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None):
        super().__init__(options, run)
        o = self.opts
        if o["index"] != "none" and o["dimensions"] > INDEX_MAX_DIMS:
            raise ConfigError(
                f"pgvector {o['index']} indexes support at most {INDEX_MAX_DIMS} dimensions",
                path="workload.dimensions", found=o["dimensions"], hint="use index: none or fewer dimensions",
            )
        if o["index"] == "hnsw" and o["ef_construction"] < 2 * o["m"]:
            raise ConfigError("hnsw needs ef_construction >= 2 x m", path="workload.ef_construction",
                              found=o["ef_construction"])
        self.total_rows = o["rows"] * self.scale
        self.lists = o["lists"] or max(10, self.total_rows // 1000)
        self.probes = o["probes"] or max(1, round(math.sqrt(self.lists)))
        self.mix = WeightedMix(o["weights"])
        self.mixture = Mixture(o["seed"], o["dimensions"], o["clusters"], o["spread"])
        self.table = sql.Identifier(self.schema, "items")
        self.meta = sql.Identifier(self.schema, "meta")
        op = sql.SQL(METRICS[o["metric"]][0])
        # filter_mode "exact" orders by an expression no vector index can serve, so the planner
        # takes the category index and sorts exactly: k rows always, at the cost of the sort.
        filtered_order = sql.SQL("distance" if o["filter_mode"] == "index" else "(embedding {op} %(q)s::vector) + 0")
        self._sql = {
            "knn_search": sql.SQL(
                "SELECT id, embedding {op} %(q)s::vector AS distance FROM {t} ORDER BY distance LIMIT %(k)s"
            ).format(op=op, t=self.table),
            "filtered_knn": sql.SQL(
                "SELECT id, embedding {op} %(q)s::vector AS distance, category FROM {t} "
                "WHERE category = %(category)s ORDER BY {order} LIMIT %(k)s"
            ).format(op=op, t=self.table, order=filtered_order.format(op=op)),
            "insert": sql.SQL("INSERT INTO {t} (category, cluster, embedding) VALUES (%s, %s, %s::vector)").format(
                t=self.table),
            "update": sql.SQL("UPDATE {t} SET embedding = %s::vector, cluster = %s WHERE id = %s").format(
                t=self.table),
            "delete": sql.SQL("DELETE FROM {t} WHERE id = %s").format(t=self.table),
        }

    # -- what is (and should be) on the server -------------------------------------------------

    def data_signature(self) -> dict[str, Any]:
        """The options that decide the rows; a change means reloading."""
        o = self.opts
        return {"rows": self.total_rows, "dimensions": o["dimensions"], "clusters": o["clusters"],
                "spread": o["spread"], "categories": o["categories"], "seed": o["seed"]}

    def index_signature(self) -> dict[str, Any]:
        """The options that decide the index; a change means rebuilding only the index."""
        o = self.opts
        if o["index"] == "none":
            return {"index": "none"}
        if o["index"] == "ivfflat":
            return {"index": "ivfflat", "metric": o["metric"], "lists": self.lists}
        return {"index": "hnsw", "metric": o["metric"], "m": o["m"], "ef_construction": o["ef_construction"]}

    def search_settings(self, vector_version: tuple[int, ...] | None = None) -> dict[str, str]:
        """Per-session search parameters of the configured index.

        With pgvector 0.8 or later (``vector_version``) a filtered search scans
        the index further until it has k rows that pass the filter (iterative
        index scans); before 0.8 it stops after ef_search/probes candidates and
        a selective filter leaves it short.
        """
        iterative = self.opts["iterative_scan"] != "off" and vector_version is not None and vector_version >= (0, 8)
        if self.opts["index"] == "hnsw":
            out = {"hnsw.ef_search": str(self.opts["ef_search"])}
            if iterative:
                out["hnsw.iterative_scan"] = self.opts["iterative_scan"]
            return out
        if self.opts["index"] == "ivfflat":
            out = {"ivfflat.probes": str(self.probes)}
            if iterative:
                out["ivfflat.iterative_scan"] = "relaxed_order"  # the only order ivfflat offers
            return out
        return {}

    def vector_version(self, conn: Any) -> tuple[int, ...] | None:
        """The installed pgvector version as a tuple, or None."""
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is None:
            return None
        return tuple(int(p) for p in row[0].split(".") if p.isdigit())

    def _meta(self, conn: Any) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{self.schema}.meta",)
        ).fetchone()
        if not row[0]:
            return None
        found = conn.execute(
            sql.SQL("SELECT data_sig, index_sig, index_build_s, setup_recall FROM {}").format(self.meta)
        ).fetchone()
        if found is None:
            return None
        return {"data": found[0], "index": found[1], "index_build_s": found[2], "setup_recall": found[3]}

    def check(self, conn: Any) -> list[str]:
        """One line per problem: pgvector missing, data not loaded or loaded differently, index not built."""
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            return [NO_PGVECTOR]
        meta = self._meta(conn)
        if meta is None:
            return ["vector data not loaded: run with --setup"]
        if meta["data"] != self.data_signature():
            return [f"vector data was loaded with {_describe(meta['data'])}, options ask for "
                    f"{_describe(self.data_signature())}: run with --setup to reload"]
        if meta["index"] != self.index_signature():
            return [f"index {_describe(self.index_signature())} is not built (found "
                    f"{_describe(meta['index'] or {'index': 'none'})}): run with --setup"]
        return []

    # -- setup --------------------------------------------------------------------------------

    def setup(self, conn: Any, progress: Progress) -> None:
        """Load the data unless it matches, (re)build the index unless it matches, then measure recall."""
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            raise WorkloadError(NO_PGVECTOR)
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        meta = self._meta(conn)
        if meta is None or meta["data"] != self.data_signature():
            self._load(conn, progress)
            meta = None
        if progress.cancelled:
            return
        if meta is None or meta["index"] != self.index_signature():
            self._build_index(conn, progress)
        if self.opts["recall_samples"]:
            progress.phase("recall")
            result = self.measure_recall(conn, min(self.opts["recall_samples"], 20))
            conn.execute(sql.SQL("UPDATE {} SET setup_recall = %s").format(self.meta), (json.dumps(result),))

    def _load(self, conn: Any, progress: Progress) -> None:
        schema = sql.Identifier(self.schema)
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        progress.phase("items", self.total_rows)
        try:
            self._create_and_copy(conn, progress)
        except _Cancelled:
            return
        progress.phase("keys")
        seq = sql.Identifier(self.schema, "items_id_seq")
        for stmt in (
            "ALTER TABLE {t} ADD PRIMARY KEY (id)",
            "CREATE INDEX items_category_idx ON {t} (category)",
            "CREATE SEQUENCE {seq} OWNED BY {t}.id",
            "ALTER TABLE {t} ALTER COLUMN id SET DEFAULT nextval({seqname})",
            "CREATE TABLE {meta} (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), data_sig jsonb NOT NULL, "
            "index_sig jsonb, index_build_s double precision, setup_recall jsonb, "
            "loaded_at timestamptz NOT NULL DEFAULT now())",
        ):
            conn.execute(sql.SQL(stmt).format(t=self.table, seq=seq, meta=self.meta,
                                              seqname=sql.Literal(f"{self.schema}.items_id_seq")))
        conn.execute("SELECT setval(%s, %s)", (f"{self.schema}.items_id_seq", self.total_rows))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(self.table))
        conn.execute(sql.SQL("INSERT INTO {} (data_sig) VALUES (%s)").format(self.meta),
                     (json.dumps(self.data_signature()),))

    def _create_and_copy(self, conn: Any, progress: Progress) -> None:
        """Create the table and COPY the rows in one transaction, rolled back when cancelled."""
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            conn.execute(sql.SQL(
                "CREATE TABLE {t} (id bigint NOT NULL, category int NOT NULL, cluster int NOT NULL, "
                "embedding vector({d}) NOT NULL)"
            ).format(t=self.table, d=sql.Literal(self.opts["dimensions"])))
            data = rows(self.mixture, self.opts["seed"], self.total_rows, self.opts["categories"])
            copy_rows(conn, self.table, data, progress)
            if progress.cancelled:
                raise _Cancelled

    def _build_index(self, conn: Any, progress: Progress) -> None:
        """Drop any previous vector index and build the configured one, timing the build."""
        progress.phase("index " + _describe(self.index_signature()))
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(self.schema, INDEX_NAME)))
        sig = self.index_signature()
        elapsed = None
        if sig["index"] != "none":
            opclass = sql.SQL(METRICS[sig["metric"]][1])
            if sig["index"] == "hnsw":
                params = sql.SQL("m = {}, ef_construction = {}").format(
                    sql.Literal(sig["m"]), sql.Literal(sig["ef_construction"]))
            else:
                params = sql.SQL("lists = {}").format(sql.Literal(sig["lists"]))
            with conn.transaction():
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                             (f"{self.opts['build_memory'] // 1024}kB",))
                started = time.perf_counter()
                conn.execute(sql.SQL("CREATE INDEX {name} ON {t} USING {am} (embedding {opclass}) WITH ({p})").format(
                    name=sql.Identifier(INDEX_NAME), t=self.table, am=sql.SQL(sig["index"]),
                    opclass=opclass, p=params))
                elapsed = round(time.perf_counter() - started, 3)
        conn.execute(sql.SQL("UPDATE {} SET index_sig = %s, index_build_s = %s").format(self.meta),
                     (json.dumps(sig), elapsed))

    # -- the run ------------------------------------------------------------------------------

    def start_worker(self, ctx: WorkerContext) -> None:
        """Set this session's search parameters and render the statements once."""
        for name, value in self.search_settings(self.vector_version(ctx.conn)).items():
            ctx.conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        ctx.state["sql"] = {label: q.as_string(ctx.conn) for label, q in self._sql.items()}

    def transaction(self, ctx: WorkerContext) -> str:
        label = self.mix.pick(ctx)
        stmts = ctx.state["sql"]
        rng = ctx.rng
        with ctx.conn.cursor() as cur:
            if label == "knn_search":
                cur.execute(stmts[label], {"q": self.mixture.query(rng), "k": self.opts["k"]}, prepare=True)
                cur.fetchall()
            elif label == "filtered_knn":
                params = {"q": self.mixture.query(rng), "category": rng.randrange(self.opts["categories"]),
                          "k": self.opts["k"]}
                cur.execute(stmts[label], params, prepare=True)
                cur.fetchall()
            elif label == "insert":
                cluster, values = self.mixture.sample(rng)
                params = (rng.randrange(self.opts["categories"]), cluster, self.mixture.literal(values))
                cur.execute(stmts[label], params, prepare=True)
            elif label == "update":
                cluster, values = self.mixture.sample(rng)
                params = (self.mixture.literal(values), cluster, rng.randint(1, self.total_rows))
                cur.execute(stmts[label], params, prepare=True)
            else:
                cur.execute(stmts[label], (rng.randint(1, self.total_rows),), prepare=True)
        ctx.queries += 1
        return label

    def search(self, conn: Any, query: str, *, category: int | None = None,
               k: int | None = None) -> list[tuple[int, float]]:
        """(id, distance) of the k nearest rows to ``query`` as the workers search (for tests and tools)."""
        k = k or self.opts["k"]
        params = {"q": query, "k": k, "category": category}
        stmt = self._sql["knn_search" if category is None else "filtered_knn"]
        rows_ = conn.execute(stmt, params, prepare=False).fetchall()
        return [(r[0], r[1]) for r in rows_]

    # -- after the run ------------------------------------------------------------------------

    def measure_recall(self, conn: Any, samples: int = 50) -> dict[str, Any]:
        """Recall@k of the configured index against exact search on ``samples`` seeded queries."""
        return recall.measure(
            conn,
            knn_sql=self._sql["knn_search"].as_string(conn),
            filtered_sql=self._sql["filtered_knn"].as_string(conn),
            mixture=self.mixture, seed=self.opts["seed"], k=self.opts["k"],
            categories=self.opts["categories"], samples=samples,
            search_settings=self.search_settings(self.vector_version(conn)),
        )

    def finish(self, conn: Any) -> dict[str, Any]:
        """Recall@k now (after the run's writes), with the index's build time, size and settings."""
        meta = self._meta(conn) or {}
        result: dict[str, Any] = {"index": self.opts["index"], "metric": self.opts["metric"], "k": self.opts["k"]}
        version = self.vector_version(conn)
        settings = self.search_settings(version)
        if self.opts["index"] == "hnsw":
            result["ef_search"] = self.opts["ef_search"]
        elif self.opts["index"] == "ivfflat":
            result.update(lists=self.lists, probes=self.probes)
        result["pgvector"] = ".".join(map(str, version)) if version else None
        if self.opts["index"] != "none":
            result["iterative_scan"] = next((v for k, v in settings.items() if k.endswith("iterative_scan")), "off")
        if self.opts["recall_samples"]:
            result.update(self.measure_recall(conn, self.opts["recall_samples"]))
            result["warnings"] = self.recall_warnings(result, version)
        size = conn.execute(
            "SELECT pg_relation_size(to_regclass(%s)), pg_total_relation_size(to_regclass(%s)), "
            "(SELECT count(*) FROM " + self.table.as_string(conn) + ")",
            (f"{self.schema}.{INDEX_NAME}", f"{self.schema}.items"),
        ).fetchone()
        result.update(index_build_s=meta.get("index_build_s"), index_size_bytes=size[0],
                      table_total_bytes=size[1], rows=size[2])
        if meta.get("setup_recall"):
            result["setup_recall_at_k"] = meta["setup_recall"].get("recall_at_k")
        return result

    def recall_warnings(self, measured: Mapping[str, Any], version: tuple[int, ...] | None) -> list[str]:
        """Recall below ``recall_warn`` and short filtered results, said in words with what to change."""
        limit = self.opts["recall_warn"]
        k = self.opts["k"]
        knob = {"hnsw": "raise ef_search", "ivfflat": "raise probes"}.get(self.opts["index"], "")
        out = []
        for key, what in (("recall_at_k", "k-NN search"), ("filtered_recall_at_k", "filtered k-NN search")):
            value = measured.get(key)
            if value is not None and value < limit:
                out.append(f"vector: {what} recall@{k} is {value:.2f}, below {limit:.2f}: its throughput was "
                           f"bought with wrong answers ({knob or 'use an index with better recall'})")
        short = measured.get("filtered_short")
        if short:
            if not version or version < (0, 8):
                hint = (f"pgvector {'.'.join(map(str, version or ())) or '?'} has no iterative index scans "
                        "(0.8+); use filter_mode exact or a larger ef_search/probes")
            elif self.opts["iterative_scan"] == "off":
                hint = "set iterative_scan to relaxed_order or strict_order"
            else:
                hint = "the iterative scan stopped at hnsw.max_scan_tuples / ivfflat.max_probes; use filter_mode exact"
            out.append(f"vector: {short:.0%} of filtered searches returned fewer than {k} rows ({hint})")
        return out

    def summary(self, totals: Mapping[str, Any]) -> dict[str, Any]:
        """Searches per second (plain and filtered together), the figure recall is traded against."""
        ops = totals.get("operations") or {}
        elapsed = totals.get("elapsed_s") or 0
        searches = sum((ops.get(name) or {}).get("count", 0) for name in ("knn_search", "filtered_knn"))
        return {"search_qps": round(searches / elapsed, 1) if elapsed else None}


class _Cancelled(Exception):
    """Raised inside the load transaction to roll it back when the user cancels."""


def _describe(sig: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sig.items())
