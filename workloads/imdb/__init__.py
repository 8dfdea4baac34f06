"""imdb: a movie database workload (titles, people, credits, ratings, reviews).

Synthetic data with Zipf-like popularity, sized by ``scale``, or the public
IMDb TSV files when ``tsv_path`` points at a folder of them. Four modes pick a
transaction mix: ``read`` (a movie site's pages), ``write`` (ratings, reviews,
title edits), ``mixed`` (pages, 20% writes and 6% reports: every operation)
and ``analytics`` (window functions, grouping sets, multi-way joins). See docs/workloads/imdb.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from psycopg import sql

from stormdb_tui.errors import ConfigError, WorkloadError
from stormdb_tui.toolkit.copy import copy_rows
from stormdb_tui.workload import Option, Progress, WeightedMix, WorkerContext, Workload

from . import schema, tsv
from .operations import MODES, OPERATIONS, Keys
from .synthetic import GENRES, Synthetic, sizes, zipf_pick

__all__ = ["ImdbWorkload", "WORKLOAD"]


class ImdbWorkload(Workload):
    """Movie-site traffic over an IMDb-shaped schema; every key range comes from the loaded data."""

    name = "imdb"
    title = "IMDb-like movie database"
    description = (
        "Titles, people, cast and crew, ratings, genres, episodes and reviews with Zipf-skewed "
        "popularity. Modes: read (title prefix search, filmography, co-stars, top rated by genre "
        "and year), write (ratings, reviews, title updates), mixed, analytics (window functions, "
        "grouping sets, multi-way joins). Loads the public IMDb TSV files when tsv_path is set."
    )
    version = "1.0.0"
    schema = schema.SCHEMA
    min_server_version = 120000
    operations = tuple(OPERATIONS)
    options = (
        Option("scale", "int", 1, "size factor: 10,000 titles, 20,000 people and 10,000 reviews per unit",
               minimum=1, maximum=100_000),
        Option("mode", "choice", "mixed", "transaction mix: read, write, mixed or analytics",
               choices=tuple(MODES)),
        Option("weights", "weights", None, "explicit operation weights, replacing the mode's mix",
               choices=tuple(OPERATIONS), nullable=True),
        Option("skew", "float", 0.8, "Zipf exponent of key access at run time (0 = uniform)",
               minimum=0.0, maximum=3.0),
        Option("tsv_path", "str", None, "folder of IMDb TSV files to load instead of synthetic data",
               nullable=True),
    )

    def __init__(self, options: dict[str, Any] | None = None, run: dict[str, Any] | None = None) -> None:
        super().__init__(options, run)
        self.mix = WeightedMix(self.opts["weights"] or MODES[self.opts["mode"]])
        path = self.opts["tsv_path"]
        if path and not Path(path).expanduser().is_dir():
            # Checked here, with the other options, so a typo exits 2 before any server starts.
            raise ConfigError("not a directory of IMDb TSV files", path="workload.tsv_path", found=path)

    # --- lifecycle: check, setup -------------------------------------------

    def _wanted(self) -> dict[str, str]:
        """The meta values the loaded data must have for these options."""
        path = self.opts["tsv_path"]
        if path:
            return {"source": "tsv", "tsv_path": str(Path(path).expanduser().resolve())}
        return {"source": "synthetic", "scale": str(self.scale)}

    def check(self, conn: Any) -> list[str]:
        meta = schema.read_meta(conn) or {}
        loaded = meta.get("state") == "complete"
        mismatch = [(k, meta.get(k), want) for k, want in self._wanted().items() if meta.get(k) != want]
        if loaded and not mismatch:
            return []
        # A bad tsv_path is the first thing to fix, whatever is loaded now.
        if self.opts["tsv_path"] and tsv.problems(self.opts["tsv_path"]):
            return tsv.problems(self.opts["tsv_path"])
        if not loaded:
            return ["imdb data not loaded: run with --setup"]
        key, have, want = mismatch[0]
        return [f"imdb data was loaded with {key}={have}, options ask for {want}: run with --rebuild"]

    def is_loaded(self, conn: Any) -> bool:
        """True when any complete load is present, even one made with other options.

        The engine loads data on its own only when nothing is loaded; data
        loaded at another scale is reported by ``check`` and replaced only
        when the user asks (``--setup`` or ``--rebuild``).
        """
        meta = schema.read_meta(conn)
        return meta is not None and meta.get("state") == "complete"

    def setup(self, conn: Any, progress: Progress) -> None:
        """Load unless matching data is already there; a mismatching load is replaced.

        Everything happens in one transaction, so a failed or cancelled load
        leaves no half-filled schema behind.
        """
        if not self.check(conn):
            progress.phase("imdb already loaded")
            return
        path = self.opts["tsv_path"]
        if path and tsv.problems(path):
            raise WorkloadError(tsv.problems(path)[0])
        started = time.monotonic()
        self.drop(conn)
        with conn.transaction():
            schema.create_tables(conn)
            meta: dict[str, object] = {"state": "loading", **self._wanted(), "loader_version": self.version}
            if path:
                meta["files"] = ",".join(tsv.load_tsv(conn, path, progress))
            else:
                self._load_synthetic(conn, progress)
            meta["users"] = sizes(self.scale)["users"]
            schema.build_indexes(conn, progress)
            counts = schema.count_rows(conn)
            years = conn.execute("SELECT min(start_year), max(start_year) FROM imdb.titles").fetchone()
            genres = conn.execute("SELECT count(*) FROM imdb.genres").fetchone()[0]
            meta.update({f"rows_{table}": n for table, n in counts.items()})
            meta.update(min_year=years[0] or 1900, max_year=years[1] or 2025, genres=genres,
                        load_seconds=round(time.monotonic() - started, 2), state="complete")
            schema.write_meta(conn, meta)

    def _load_synthetic(self, conn: Any, progress: Progress) -> None:
        data = Synthetic(self.scale, skew=0.8)
        for table, columns, expected, rows in data.tables():
            progress.phase(f"copy {table}", expected)
            copy_rows(conn, sql.Identifier("imdb", table), [c.strip() for c in columns.split(",")], rows, progress)

    # --- lifecycle: workers -------------------------------------------------

    def keys(self, conn: Any) -> Keys:
        """Key ranges of the loaded data (the meta table written by setup)."""
        meta = schema.read_meta(conn) or {}
        return Keys(
            titles=int(meta.get("rows_titles", 1)),
            people=int(meta.get("rows_people", 1)),
            users=int(meta.get("users", 100_000)),
            genres=max(int(meta.get("genres", len(GENRES))), 1),
            min_year=int(meta.get("min_year", 1900)),
            max_year=int(meta.get("max_year", 2025)),
            skew=float(self.opts["skew"]),
        )

    def start_worker(self, ctx: WorkerContext) -> None:
        keys = self.keys(ctx.conn)
        ctx.state["keys"] = keys
        ctx.state["cursor"] = ctx.conn.cursor()
        ctx.state["last"] = {}
        # Search prefixes are the first 2-6 letters of titles drawn with the
        # same popularity skew as every other key, so popular titles are
        # searched most and the prefixes match whatever data was loaded.
        ids = sorted({zipf_pick(ctx.rng, keys.titles, keys.skew) for _ in range(256)})
        names = ctx.conn.execute(
            "SELECT lower(primary_title) FROM imdb.titles WHERE title_id = ANY(%s) ORDER BY title_id", (ids,)
        ).fetchall()
        prefixes = [name[: ctx.rng.randint(2, 6)].rstrip() for (name,) in names]
        ctx.state["prefixes"] = [p for p in prefixes if p] or ["a"]

    def transaction(self, ctx: WorkerContext) -> str:
        label = self.mix.pick(ctx)
        ctx.state["last"][label] = OPERATIONS[label](ctx, ctx.state["keys"])
        return label

    def stop_worker(self, ctx: WorkerContext) -> None:
        cursor = ctx.state.pop("cursor", None)
        if cursor is not None and not ctx.conn.closed:
            cursor.close()


WORKLOAD = ImdbWorkload
