"""The imdb workload's operations: what a movie site's pages and reports run.

Every operation draws its keys from ``ctx.rng`` through :class:`Keys`, which
holds the key ranges read from the loaded data (never constants), so the same
code exercises scale 1, scale 100 and the real IMDb files. Hot statements are
server-side prepared (``prepare=True``). Each operation returns the rows it
fetched; the workload keeps the last result per label in ``ctx.state`` so
tests can check that a search really returns titles with the searched prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .synthetic import zipf_pick

_TITLE_TYPES = ("movie", "movie", "movie", "tvSeries", "tvEpisode", "short", "tvMovie")
_HEADLINES = ("Loved it", "Not for me", "A must see", "Overrated", "Better on a second watch")


@dataclass(frozen=True)
class Keys:
    """Key ranges of the loaded data, read from ``imdb.meta`` when a worker starts."""

    titles: int
    people: int
    users: int
    genres: int
    min_year: int
    max_year: int
    skew: float

    def title(self, ctx: Any) -> int:
        return zipf_pick(ctx.rng, self.titles, self.skew)

    def person(self, ctx: Any) -> int:
        return zipf_pick(ctx.rng, self.people, self.skew)

    def genre(self, ctx: Any) -> int:
        # Genre ids are numbered by popularity, so the skew applies here too.
        return zipf_pick(ctx.rng, self.genres, min(self.skew, 1.0))

    def year(self, ctx: Any) -> int:
        # Recent years are browsed most.
        return int(round(ctx.rng.triangular(self.min_year, self.max_year, self.max_year)))


def upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (code point order)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _rows(ctx: Any, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    cur = ctx.state["cursor"]
    cur.execute(query, params, prepare=True)
    ctx.queries += 1
    return cur.fetchall()


def _rows_none(ctx: Any, query: str, params: tuple[Any, ...]) -> None:
    ctx.state["cursor"].execute(query, params, prepare=True)
    ctx.queries += 1


# --- read -----------------------------------------------------------------

# The range on lower(primary_title) with the pattern operators is what
# LIKE 'abc%' is rewritten to; written out, it stays indexable in the generic
# plan of a prepared statement, where the pattern is unknown at plan time.
SEARCH = """
SELECT t.title_id, t.primary_title, t.start_year, r.average_rating, r.num_votes
FROM imdb.titles t LEFT JOIN imdb.ratings r ON r.title_id = t.title_id
WHERE lower(t.primary_title) ~>=~ %s AND lower(t.primary_title) ~<~ %s
ORDER BY r.num_votes DESC NULLS LAST, t.title_id
LIMIT 20"""


def search_title_prefix(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    prefix = ctx.rng.choice(ctx.state["prefixes"])
    return (prefix,), _rows(ctx, SEARCH, (prefix, upper_bound(prefix)))


PERSON = "SELECT name, birth_year, primary_profession FROM imdb.people WHERE person_id = %s"
FILMOGRAPHY = """
SELECT t.title_id, t.primary_title, t.start_year, p.category, p.characters, r.average_rating
FROM imdb.principals p
JOIN imdb.titles t ON t.title_id = p.title_id
LEFT JOIN imdb.ratings r ON r.title_id = p.title_id
WHERE p.person_id = %s
ORDER BY t.start_year DESC NULLS LAST, t.title_id
LIMIT 50"""


def filmography(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    person = keys.person(ctx)
    _rows(ctx, PERSON, (person,))
    return (person,), _rows(ctx, FILMOGRAPHY, (person,))


CO_STARS = """
SELECT p2.person_id, pe.name, count(*) AS shared_titles
FROM imdb.principals p1
JOIN imdb.principals p2 ON p2.title_id = p1.title_id AND p2.person_id <> p1.person_id
JOIN imdb.people pe ON pe.person_id = p2.person_id
WHERE p1.person_id = %s AND p2.category IN ('actor', 'actress', 'self')
GROUP BY p2.person_id, pe.name
ORDER BY shared_titles DESC, p2.person_id
LIMIT 10"""


def co_stars(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    person = keys.person(ctx)
    return (person,), _rows(ctx, CO_STARS, (person,))


TOP_RATED = """
SELECT t.title_id, t.primary_title, r.average_rating, r.num_votes
FROM imdb.titles t
JOIN imdb.title_genres tg ON tg.title_id = t.title_id
JOIN imdb.ratings r ON r.title_id = t.title_id
WHERE tg.genre_id = %s AND t.start_year = %s AND r.num_votes >= %s
ORDER BY r.average_rating DESC, r.num_votes DESC, t.title_id
LIMIT 10"""


def top_rated_by_genre_year(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    params = (keys.genre(ctx), keys.year(ctx), 10)
    return params, _rows(ctx, TOP_RATED, params)


# --- write ----------------------------------------------------------------

ADD_USER_RATING = "INSERT INTO imdb.user_ratings (title_id, user_id, rating) VALUES (%s, %s, %s)"
# The aggregate row is the hot spot of a real site: popular titles are rated
# most, so concurrent raters queue on the same row lock.
UPDATE_AGGREGATE = """
INSERT INTO imdb.ratings AS r (title_id, average_rating, num_votes) VALUES (%s, %s, 1)
ON CONFLICT (title_id) DO UPDATE
SET average_rating = round((r.average_rating * r.num_votes + excluded.average_rating) / (r.num_votes + 1), 2),
    num_votes = r.num_votes + 1
RETURNING average_rating, num_votes"""


def add_rating(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    title, user, rating = keys.title(ctx), ctx.rng.randint(1, keys.users), ctx.rng.randint(1, 10)
    with ctx.conn.transaction():
        _rows_none(ctx, ADD_USER_RATING, (title, user, rating))
        rows = _rows(ctx, UPDATE_AGGREGATE, (title, rating))
    return (title, user, rating), rows


ADD_REVIEW = """
INSERT INTO imdb.reviews (title_id, user_id, rating, headline, body)
VALUES (%s, %s, %s, %s, %s) RETURNING review_id"""


def add_review(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    title, user, rating = keys.title(ctx), ctx.rng.randint(1, keys.users), ctx.rng.randint(1, 10)
    headline = ctx.rng.choice(_HEADLINES)
    body = f"{headline}. Rated {rating}/10 by user {user} after watching it {ctx.rng.randint(1, 4)} times."
    return (title, user, rating), _rows(ctx, ADD_REVIEW, (title, user, rating, headline, body))


UPDATE_TITLE = """
UPDATE imdb.titles SET runtime_minutes = %s, updated_at = now()
WHERE title_id = %s RETURNING title_id, runtime_minutes"""


def update_title(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    params = (ctx.rng.randint(20, 180), keys.title(ctx))
    return params, _rows(ctx, UPDATE_TITLE, params)


# --- analytics ------------------------------------------------------------

GENRE_DECADE_ROLLUP = """
SELECT g.name AS genre, (t.start_year / 10) * 10 AS decade, count(*) AS titles,
       round(avg(r.average_rating), 2) AS avg_rating, sum(r.num_votes) AS votes,
       GROUPING(g.name, (t.start_year / 10) * 10) AS grouping_level
FROM imdb.titles t
JOIN imdb.title_genres tg ON tg.title_id = t.title_id
JOIN imdb.genres g ON g.genre_id = tg.genre_id
JOIN imdb.ratings r ON r.title_id = t.title_id
WHERE t.start_year BETWEEN %s AND %s AND t.title_type = %s
GROUP BY GROUPING SETS ((g.name, (t.start_year / 10) * 10), (g.name), ((t.start_year / 10) * 10), ())
ORDER BY grouping_level, genre, decade"""


def genre_decade_rollup(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    start = keys.year(ctx) - ctx.rng.randint(10, 40)
    params = (start, start + 40, ctx.rng.choice(_TITLE_TYPES))
    return params, _rows(ctx, GENRE_DECADE_ROLLUP, params)


GENRE_YEAR_RANKING = """
SELECT genre, primary_title, start_year, average_rating, num_votes, rnk
FROM (
    SELECT g.name AS genre, t.primary_title, t.start_year, r.average_rating, r.num_votes,
           rank() OVER (PARTITION BY g.genre_id ORDER BY r.average_rating DESC, r.num_votes DESC) AS rnk
    FROM imdb.titles t
    JOIN imdb.title_genres tg ON tg.title_id = t.title_id
    JOIN imdb.genres g ON g.genre_id = tg.genre_id
    JOIN imdb.ratings r ON r.title_id = t.title_id
    WHERE t.start_year BETWEEN %s AND %s AND r.num_votes >= %s
) ranked
WHERE rnk <= 3
ORDER BY genre, rnk"""


def genre_year_ranking(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    start = keys.year(ctx) - 9
    params = (start, start + 9, 10)
    return params, _rows(ctx, GENRE_YEAR_RANKING, params)


PERSON_GENRE_STATS = """
SELECT pe.person_id, pe.name, count(*) AS credits, min(t.start_year) AS first_year,
       max(t.start_year) AS last_year, round(avg(r.average_rating), 2) AS avg_rating,
       round(percent_rank() OVER (ORDER BY count(*))::numeric, 3) AS credit_percentile
FROM imdb.title_genres tg
JOIN imdb.titles t ON t.title_id = tg.title_id
JOIN imdb.principals p ON p.title_id = tg.title_id
JOIN imdb.people pe ON pe.person_id = p.person_id
LEFT JOIN imdb.ratings r ON r.title_id = tg.title_id
WHERE tg.genre_id = %s AND t.start_year BETWEEN %s AND %s
GROUP BY pe.person_id, pe.name
ORDER BY credits DESC, pe.person_id
LIMIT 20"""


def person_genre_stats(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    start = keys.year(ctx) - 19
    params = (keys.genre(ctx), start, start + 19)
    return params, _rows(ctx, PERSON_GENRE_STATS, params)


RATING_TREND = """
SELECT t.start_year, count(*) AS titles, round(avg(r.average_rating), 2) AS avg_rating,
       round(avg(count(*)) OVER (ORDER BY t.start_year ROWS BETWEEN 4 PRECEDING AND CURRENT ROW), 1)
           AS titles_5y_avg,
       sum(count(*)) OVER (ORDER BY t.start_year) AS cumulative_titles
FROM imdb.title_genres tg
JOIN imdb.titles t ON t.title_id = tg.title_id
LEFT JOIN imdb.ratings r ON r.title_id = tg.title_id
WHERE tg.genre_id = %s AND t.start_year IS NOT NULL
GROUP BY t.start_year
ORDER BY t.start_year"""


def rating_trend(ctx: Any, keys: Keys) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    params = (keys.genre(ctx),)
    return params, _rows(ctx, RATING_TREND, params)


Operation = Callable[[Any, Keys], tuple[tuple[Any, ...], list[tuple[Any, ...]]]]
OPERATIONS: dict[str, Operation] = {
    "search_title_prefix": search_title_prefix,
    "filmography": filmography,
    "co_stars": co_stars,
    "top_rated_by_genre_year": top_rated_by_genre_year,
    "add_rating": add_rating,
    "add_review": add_review,
    "update_title": update_title,
    "genre_decade_rollup": genre_decade_rollup,
    "genre_year_ranking": genre_year_ranking,
    "person_genre_stats": person_genre_stats,
    "rating_trend": rating_trend,
}

MODES: dict[str, dict[str, float]] = {
    "read": {"search_title_prefix": 35, "filmography": 25, "co_stars": 15, "top_rated_by_genre_year": 25},
    "write": {"add_rating": 60, "add_review": 20, "update_title": 20},
    # A site's traffic: pages, a fifth of writes, and a trickle of reporting.
    "mixed": {"search_title_prefix": 26, "filmography": 19, "co_stars": 11, "top_rated_by_genre_year": 18,
              "add_rating": 12, "add_review": 4, "update_title": 4, "genre_decade_rollup": 1.5,
              "genre_year_ranking": 1.5, "person_genre_stats": 1.5, "rating_trend": 1.5},
    "analytics": {"genre_decade_rollup": 25, "genre_year_ranking": 25, "person_genre_stats": 25,
                  "rating_trend": 25},
}
