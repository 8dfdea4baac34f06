"""Recall@k: how many of the true k nearest neighbours the index returns.

An approximate index (HNSW, IVFFlat) trades recall for speed, so its QPS
means nothing without the recall it was bought at. We run the same query
twice on one connection: once as the workload runs it (the planner free to use
the vector index, with the configured ``ef_search``/``probes``), and once with
index scans disabled (``SET LOCAL enable_indexscan = off``), which forces a
sequential scan and an exact top-k sort. Recall@k is |approx ∩ exact| / |exact|
averaged over a fixed, seeded sample of queries drawn from the data's own
distribution, so two measurements on the same data are comparable.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Mapping
from typing import Any

from .data import Mixture


def _ids(conn: Any, query: str, params: Mapping[str, Any], settings: Mapping[str, str]) -> tuple[list[int], float]:
    """Ids returned by ``query`` with ``settings`` applied for one transaction, and the time it took (ms).

    Never prepared: a cached plan would ignore ``enable_indexscan`` and turn
    the "exact" query back into an index scan.
    """
    with conn.transaction(), conn.cursor() as cur:
        for name, value in settings.items():
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
        started = time.perf_counter()
        cur.execute(query, params, prepare=False)
        found = [row[0] for row in cur.fetchall()]
        return found, (time.perf_counter() - started) * 1000.0


def measure(
    conn: Any,
    *,
    knn_sql: str,
    filtered_sql: str,
    mixture: Mixture,
    seed: int,
    k: int,
    categories: int,
    samples: int,
    search_settings: Mapping[str, str],
) -> dict[str, Any]:
    """Recall@k of plain and filtered k-NN over ``samples`` seeded queries.

    Returns ``recall_at_k`` and ``filtered_recall_at_k`` (0..1), the mean
    latency of the approximate and the exact query (``approx_ms``,
    ``exact_ms``), and ``filtered_short``: the share of filtered queries that
    returned fewer than ``k`` rows (what post-filtering an HNSW/IVFFlat scan
    does when the predicate is selective and ``ef_search``/``probes`` is small).
    """
    rng = random.Random(f"vector-recall:{seed}")
    exact_settings = {**search_settings, "enable_indexscan": "off"}
    recalls: list[float] = []
    filtered_recalls: list[float] = []
    approx_ms: list[float] = []
    exact_ms: list[float] = []
    short = 0
    for _ in range(samples):
        query = mixture.query(rng)
        category = rng.randrange(categories)
        approx, a_ms = _ids(conn, knn_sql, {"q": query, "k": k}, search_settings)
        exact, e_ms = _ids(conn, knn_sql, {"q": query, "k": k}, exact_settings)
        approx_ms.append(a_ms)
        exact_ms.append(e_ms)
        if exact:
            recalls.append(len(set(approx) & set(exact)) / len(exact))
        f_approx, _ = _ids(conn, filtered_sql, {"q": query, "category": category, "k": k}, search_settings)
        f_exact, _ = _ids(conn, filtered_sql, {"q": query, "category": category, "k": k}, exact_settings)
        if len(f_approx) < min(k, len(f_exact)):
            short += 1
        if f_exact:
            filtered_recalls.append(len(set(f_approx) & set(f_exact)) / len(f_exact))
    return {
        "recall_at_k": round(statistics.fmean(recalls), 4) if recalls else None,
        "filtered_recall_at_k": round(statistics.fmean(filtered_recalls), 4) if filtered_recalls else None,
        "filtered_short": round(short / samples, 4) if samples else None,
        "samples": samples,
        "k": k,
        "approx_ms": round(statistics.fmean(approx_ms), 3) if approx_ms else None,
        "exact_ms": round(statistics.fmean(exact_ms), 3) if exact_ms else None,
    }
