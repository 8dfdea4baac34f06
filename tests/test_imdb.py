"""imdb plugin against a real PostgreSQL: scale changes the data, every operation returns what it claims."""

from __future__ import annotations

import gzip
import random
from collections import Counter
from pathlib import Path

import pytest
from stormdb_tui.plugins.imdb import WORKLOAD as Imdb
from stormdb_tui.plugins.imdb.operations import MODES, OPERATIONS
from stormdb_tui.plugins.imdb.synthetic import zipf_pick

from stormdb_tui import db
from stormdb_tui.errors import ConfigError, WorkloadError
from stormdb_tui.workload import Progress, WorkerContext

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.fixture(scope="module")
def conn(dsn):
    """One connection for the module (the shared ``dsn`` fixture picks the server); drops the schema at the end."""
    with db.connect(dsn, role="test") as c:
        yield c
        Imdb().drop(c)


def load(conn, **options) -> Imdb:
    wl = Imdb(options)
    progress = Progress()
    wl.setup(conn, progress)
    assert wl.check(conn) == []
    return wl


def worker(conn, wl: Imdb, seed: int = 7) -> WorkerContext:
    ctx = WorkerContext(1, conn, random.Random(seed), {}, wl.scale, 1, lambda: False)
    wl.start_worker(ctx)
    return ctx


def counts(conn) -> dict[str, int]:
    rows = conn.execute("SELECT key, value FROM imdb.meta WHERE key LIKE 'rows_%'").fetchall()
    real = {t: conn.execute(f"SELECT count(*) FROM imdb.{t[5:]}").fetchone()[0] for t, _ in rows}
    assert real == {k: int(v) for k, v in rows}, "meta row counts disagree with the tables"
    return {k[5:]: int(v) for k, v in rows}


def test_zipf_pick_is_skewed_and_in_range():
    rng = random.Random(1)
    draws = Counter(zipf_pick(rng, 1000, 1.0) for _ in range(20000))
    assert min(draws) >= 1 and max(draws) <= 1000
    assert draws[1] > draws[10] > draws[500]
    uniform = Counter(zipf_pick(rng, 10, 0.0) for _ in range(10000))
    assert set(uniform) == set(range(1, 11)) and max(uniform.values()) < 1300


def test_scale_changes_rows_and_check_reports_mismatch(conn):
    load(conn, scale=2)
    big = counts(conn)
    assert Imdb({"scale": 1}).check(conn) == [
        "imdb data was loaded with scale=2, options ask for 1: run with --rebuild"
    ]
    assert Imdb({"scale": 1}).is_loaded(conn)
    wl = load(conn, scale=1)  # setup replaces a load made at another scale
    small = counts(conn)
    assert small["titles"] == 10_000 and big["titles"] == 20_000
    assert small["people"] == 20_000 and big["people"] == 40_000
    for table in ("principals", "title_genres", "ratings", "reviews"):
        assert 1.7 < big[table] / small[table] < 2.3, table
    # Key ranges come from the data, not from constants.
    keys = wl.keys(conn)
    assert (keys.titles, keys.people) == (10_000, 20_000)
    assert 1900 < keys.min_year < keys.max_year <= 2025


def test_setup_is_idempotent_and_data_reproducible(conn):
    load(conn, scale=1)
    before = conn.execute("SELECT md5(string_agg(primary_title, ',' ORDER BY title_id)) FROM imdb.titles").fetchone()
    progress = Progress()
    Imdb({"scale": 1}).setup(conn, progress)
    assert progress.done_rows == 0  # nothing reloaded
    after = conn.execute("SELECT md5(string_agg(primary_title, ',' ORDER BY title_id)) FROM imdb.titles").fetchone()
    assert before == after


def test_popularity_is_skewed(conn):
    load(conn, scale=1)
    top = conn.execute(
        "SELECT person_id FROM imdb.principals GROUP BY person_id ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    assert top == 1
    votes = dict(conn.execute("SELECT title_id <= 100, avg(num_votes) FROM imdb.ratings GROUP BY 1").fetchall())
    assert votes[True] > 20 * votes[False]
    indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'imdb'")}
    assert {"titles_title_prefix_idx", "principals_person_idx", "title_genres_genre_idx"} <= indexes


def run_mode(conn, mode: str, n: int) -> tuple[Imdb, WorkerContext, Counter]:
    wl = Imdb({"scale": 1, "mode": mode})
    ctx = worker(conn, wl)
    labels = Counter(wl.transaction(ctx) for _ in range(n))
    return wl, ctx, labels


def test_read_mode_results_make_sense(conn):
    load(conn, scale=1)
    wl, ctx, labels = run_mode(conn, "read", 200)
    assert set(labels) == set(MODES["read"])
    searches = 0
    for _ in range(40):
        if wl.transaction(ctx) != "search_title_prefix":
            continue
        searches += 1
        (prefix,), rows = ctx.state["last"]["search_title_prefix"]
        assert rows and all(r[1].lower().startswith(prefix) for r in rows)
        matching = conn.execute(
            "SELECT count(*) FROM imdb.titles WHERE starts_with(lower(primary_title), %s)", (prefix,)
        ).fetchone()[0]
        assert len(rows) == min(matching, 20), prefix
    assert searches > 5
    (person,), rows = ctx.state["last"]["filmography"]
    credits = conn.execute("SELECT count(*) FROM imdb.principals WHERE person_id = %s", (person,)).fetchone()[0]
    assert len(rows) == min(credits, 50)
    (person,), rows = ctx.state["last"]["co_stars"]
    shared = [r[2] for r in rows]
    assert shared == sorted(shared, reverse=True) and all(s >= 1 for s in shared)
    assert person not in [r[0] for r in rows]
    (genre, year, min_votes), rows = ctx.state["last"]["top_rated_by_genre_year"]
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    assert all(r[3] >= min_votes for r in rows)
    assert ctx.queries > 200  # filmography sends two statements


def test_write_mode_changes_are_visible(conn):
    load(conn, scale=1)
    wl, ctx, labels = run_mode(conn, "write", 150)
    assert set(labels) == set(MODES["write"])
    (title, user, rating), [(average, votes)] = ctx.state["last"]["add_rating"]
    assert conn.execute(
        "SELECT count(*) FROM imdb.user_ratings WHERE title_id = %s AND user_id = %s AND rating = %s",
        (title, user, rating),
    ).fetchone()[0] >= 1
    assert conn.execute("SELECT num_votes FROM imdb.ratings WHERE title_id = %s", (title,)).fetchone()[0] == votes
    assert 1 <= average <= 10
    assert conn.execute("SELECT count(*) FROM imdb.user_ratings").fetchone()[0] == labels["add_rating"]
    (title, _, _), [(review_id,)] = ctx.state["last"]["add_review"]
    assert conn.execute("SELECT title_id FROM imdb.reviews WHERE review_id = %s", (review_id,)).fetchone()[0] == title
    (runtime, title), rows = ctx.state["last"]["update_title"]
    assert rows == [(title, runtime)]
    assert conn.execute("SELECT runtime_minutes FROM imdb.titles WHERE title_id = %s", (title,)).fetchone()[0] == runtime


def test_analytics_mode_returns_aggregates(conn):
    load(conn, scale=1)
    wl, ctx, labels = run_mode(conn, "analytics", 40)
    assert set(labels) == set(MODES["analytics"])
    last = ctx.state["last"]
    _, rollup = last["genre_decade_rollup"]
    assert rollup and rollup[0][5] == 0
    grand = [r for r in rollup if r[5] == 3]
    assert len(grand) == 1 and grand[0][2] == sum(r[2] for r in rollup if r[5] == 0)
    _, ranking = last["genre_year_ranking"]
    assert ranking and all(1 <= r[5] <= 3 for r in ranking)
    _, stats = last["person_genre_stats"]
    assert stats and [r[2] for r in stats] == sorted((r[2] for r in stats), reverse=True)
    _, trend = last["rating_trend"]
    cumulative = [r[4] for r in trend]
    assert trend and cumulative == sorted(cumulative) and cumulative[-1] == sum(r[1] for r in trend)


def test_mixed_mode_runs_without_errors(conn):
    load(conn, scale=1)
    wl, ctx, labels = run_mode(conn, "mixed", 400)
    assert set(labels) == set(MODES["mixed"]) == set(wl.operations)
    assert sum(labels.values()) == 400
    wl.stop_worker(ctx)


def test_weights_override_the_mode(conn):
    load(conn, scale=1)
    wl = Imdb({"scale": 1, "mode": "read", "weights": {"rating_trend": 1, "add_review": 1}})
    ctx = worker(conn, wl)
    assert {wl.transaction(ctx) for _ in range(40)} == {"rating_trend", "add_review"}


TSV = {
    "title.basics.tsv": [
        "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres",
        "tt0000001\tmovie\tCarmencita\tCarmencita\t0\t1894\t\\N\t1\tDocumentary,Short",
        "tt0000002\tmovie\tThe Clown and His Dogs\tLe clown\t0\t1892\t\\N\t5\tAnimation,Comedy",
        "tt0000003\ttvSeries\tThe Big Show\tThe Big Show\t0\t1990\t1995\tabc\tComedy",
        "tt0000004\ttvEpisode\tPilot\tPilot\t0\t1990\t\\N\t30\tComedy",
    ],
    "name.basics.tsv": [
        "nconst\tprimaryName\tbirthYear\tdeathYear\tprimaryProfession\tknownForTitles",
        "nm0000001\tCarmencita\t1868\t1910\tactress\ttt0000001",
        "nm0000002\tEmile Reynaud\t1844\t1918\tdirector,writer\ttt0000002",
    ],
    "title.principals.tsv": [
        "tconst\tordering\tnconst\tcategory\tjob\tcharacters",
        "tt0000001\t1\tnm0000001\tself\t\\N\t[\"Self\"]",
        "tt0000002\t1\tnm0000002\tdirector\t\\N\t\\N",
        "tt0000003\t1\tnm0000002\tactor\t\\N\t[\"Host\"]",
        "tt0000003\t2\tnm0000003\tactor\t\\N\t[\"Guest\"]",
    ],
    "title.ratings.tsv": [
        "tconst\taverageRating\tnumVotes",
        "tt0000001\t5.7\t2100",
        "tt0000003\t8.1\t90000",
    ],
    "title.episode.tsv": [
        "tconst\tparentTconst\tseasonNumber\tepisodeNumber",
        "tt0000004\ttt0000003\t1\t1",
    ],
}


def test_tsv_files_load_with_dense_popularity_keys(conn, tmp_path: Path):
    for name, lines in TSV.items():
        text = ("\n".join(lines) + "\n").encode("utf-8")
        if name == "title.ratings.tsv":  # the downloads are gzipped; both forms load
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(text))
        else:
            (tmp_path / name).write_bytes(text)
    with pytest.raises(ConfigError, match="workload.tsv_path: not a directory"):
        Imdb({"tsv_path": str(tmp_path / "missing")})
    wl = load(conn, tsv_path=str(tmp_path))
    assert counts(conn) == {"titles": 4, "people": 3, "principals": 4, "title_genres": 6,
                            "ratings": 2, "episodes": 1, "reviews": 0}
    # Dense keys by popularity: the most voted title is 1, the most credited person is 1.
    assert conn.execute("SELECT tconst FROM imdb.titles WHERE title_id = 1").fetchone()[0] == "tt0000003"
    assert conn.execute("SELECT nconst FROM imdb.people WHERE person_id = 1").fetchone()[0] == "nm0000002"
    # Malformed numbers become NULL; people known only from credits keep their id as name.
    assert conn.execute("SELECT runtime_minutes FROM imdb.titles WHERE tconst = 'tt0000003'").fetchone()[0] is None
    assert conn.execute("SELECT name FROM imdb.people WHERE nconst = 'nm0000003'").fetchone()[0] == "nm0000003"
    assert Imdb({"scale": 1}).check(conn)[0].startswith("imdb data was loaded with source=tsv")
    wl = Imdb({"tsv_path": str(tmp_path), "weights": dict.fromkeys(OPERATIONS, 1)})
    ctx = worker(conn, wl)
    labels = Counter(wl.transaction(ctx) for _ in range(150))
    assert set(labels) == set(OPERATIONS)
    (prefix,), rows = ctx.state["last"]["search_title_prefix"]
    assert rows and all(r[1].lower().startswith(prefix) for r in rows)


def test_tsv_without_required_columns_is_a_clear_error(conn, tmp_path: Path):
    (tmp_path / "title.basics.tsv").write_text("tconst\tprimaryTitle\ntt1\tX\n", encoding="utf-8")
    with pytest.raises(WorkloadError, match="lacks column"):
        Imdb({"tsv_path": str(tmp_path)}).setup(conn, Progress())


def test_drop_removes_only_the_imdb_schema(conn):
    conn.execute("CREATE TABLE IF NOT EXISTS public.imdb_canary (id int)")
    try:
        load(conn, scale=1)
        Imdb().drop(conn)
        assert conn.execute("SELECT to_regnamespace('imdb')").fetchone()[0] is None
        assert conn.execute("SELECT to_regclass('public.imdb_canary')").fetchone()[0] is not None
        assert Imdb().check(conn) == ["imdb data not loaded: run with --setup"]
    finally:
        conn.execute("DROP TABLE IF EXISTS public.imdb_canary")


def test_quick_profile_runs_through_the_engine(conn, dsn, tmp_path: Path):
    """The shipped profile, run headless by the CLI: discovered, every label present, no errors."""
    import json

    from stormdb_tui.frontends.cli import main

    report = tmp_path / "imdb.json"
    code = main(["run", "-c", str(CONFIGS / "imdb-quick.yaml"), "--dsn", dsn, "--setup", "--no-ui", "-q",
                 "--workers", "2", "--transactions", "600", "--warmup", "0", "--seed", "1",
                 "--report-json", str(report)])
    data = json.loads(report.read_text())
    assert code == 0 and data["status"] == "completed"
    assert data["summary"]["errors"] == 0 and data["summary"]["transactions"] >= 600
    assert set(data["operations"]) == set(Imdb.operations)
