"""Synthetic embeddings: a seeded Gaussian mixture, and the COPY loader that writes it.

Uniformly random vectors make nearest-neighbour search meaningless (every
point is about equally far from every other), so recall numbers measured on
them say nothing about real embeddings. A mixture of Gaussian clusters gives
neighbourhoods that mean something, like embeddings of similar documents do.
Everything is derived from the seed, so two loads with the same options hold
the same rows and two runs ask the same queries.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from psycopg import sql

from stormdb_tui.toolkit.copy import batched_lines, copy_chunks
from stormdb_tui.workload import Progress

COPY_BATCH_ROWS = 1000
"""Rows formatted per ``copy.write``: big enough to amortise the call, small enough for smooth progress."""


class Mixture:
    """A Gaussian mixture in ``dims`` dimensions: ``clusters`` centres, one spread.

    Centres are uniform in [-1, 1]^dims (so in high dimensions they are
    nearly orthogonal, which keeps clusters apart under cosine distance too);
    each point is a centre plus independent N(0, spread) noise per dimension.
    """

    def __init__(self, seed: int, dims: int, clusters: int, spread: float) -> None:
        self.dims = dims
        self.spread = spread
        rng = random.Random(f"vector-centres:{seed}:{dims}:{clusters}")
        self.centres = [[rng.uniform(-1.0, 1.0) for _ in range(dims)] for _ in range(clusters)]
        self._fmt = "[" + ",".join(["%.4f"] * dims) + "]"

    def sample(self, rng: random.Random) -> tuple[int, list[float]]:
        """One point: (its cluster, its coordinates), drawn from ``rng``."""
        cluster = rng.randrange(len(self.centres))
        gauss = rng.gauss
        spread = self.spread
        return cluster, [c + gauss(0.0, spread) for c in self.centres[cluster]]

    def literal(self, values: Sequence[float]) -> str:
        """The pgvector text form ``[x1,x2,...]`` with four decimals."""
        return self._fmt % tuple(values)

    def query(self, rng: random.Random) -> str:
        """A query vector literal drawn from the same distribution as the data."""
        return self.literal(self.sample(rng)[1])


def rows(mixture: Mixture, seed: int, count: int, categories: int) -> Iterator[tuple[int, int, int, str]]:
    """Rows (id, category, cluster, embedding literal) for ids 1..count, deterministic in ``seed``.

    The category is independent of the cluster, so a filter on it keeps about
    1/categories of every neighbourhood: the case where post-filtering an
    approximate index scan runs short of ``k`` results.
    """
    rng = random.Random(f"vector-rows:{seed}")
    for row_id in range(1, count + 1):
        cluster, values = mixture.sample(rng)
        yield row_id, rng.randrange(categories), cluster, mixture.literal(values)


COLUMNS = ("id", "category", "cluster", "embedding")


def copy_rows(conn: Any, table: sql.Composable, data: Iterator[tuple[int, int, int, str]],
              progress: Progress) -> int:
    """COPY the rows in text format, in batches, advancing ``progress``; returns rows written.

    A cancelled load raises :class:`~stormdb_tui.toolkit.copy.LoadCancelled` between batches.
    """
    lines = (f"{row_id}\t{category}\t{cluster}\t{literal}\n" for row_id, category, cluster, literal in data)
    return copy_chunks(conn, table, COLUMNS, batched_lines(lines, COPY_BATCH_ROWS), progress)
