"""Synthetic IMDb-like data, generated reproducibly and streamed with COPY.

Sizes grow linearly with ``scale`` (see :func:`sizes`). Popularity follows a
Zipf-like law: title 1 and person 1 are the most popular; they get the most
votes, the most credits and the most reviews, as in the real dataset where a
few thousand titles collect most of the votes. Each table has its own seeded
random stream, so the data at a given scale is identical on every load and
tables can be generated one pass at a time without holding them in memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

GENRES = (
    ("Drama", 25), ("Comedy", 18), ("Action", 9), ("Documentary", 8), ("Thriller", 8),
    ("Romance", 8), ("Crime", 7), ("Horror", 6), ("Adventure", 6), ("Family", 4),
    ("Mystery", 4), ("Fantasy", 4), ("Sci-Fi", 4), ("Animation", 3), ("Biography", 3),
    ("History", 2), ("Music", 2), ("War", 2), ("Sport", 2), ("Musical", 1),
    ("Western", 1), ("Film-Noir", 1), ("Talk-Show", 1), ("Reality-TV", 1),
)
TITLE_TYPES = (("movie", 55), ("tvEpisode", 24), ("short", 8), ("tvMovie", 7), ("tvSeries", 6))
_ADJ = (
    "Silent Crimson Broken Hidden Golden Last Lost Dark Bright Wild Frozen Burning Secret Final "
    "Endless Forgotten Iron Hollow Electric Velvet Savage Midnight Quiet Distant Scarlet Bitter "
    "Little Eternal Restless Wicked Gentle Shattered Northern Lonely Crooked Sacred Rising Falling"
).split()
_NOUN = (
    "River Garden Empire Shadow Kingdom Heart Storm City Road Mirror Ocean Star Night Hunter "
    "Dream Island Fire Winter Summer Promise Witness Stranger Machine Harbor Forest Crown Signal "
    "Letter Bridge Tower Circus Engine Valley Secret Angel Ghost Voyage Border Planet Legacy"
).split()
_PLACE = "Paris Tokyo Brooklyn Alaska Cairo Berlin Havana Memphis Lagos Lisbon Mars Sunset".split()
_FIRST = (
    "James Mary John Linda Robert Susan Michael Karen David Emma William Olivia Richard Sophia "
    "Joseph Ava Thomas Mia Charles Isabella Daniel Grace Matthew Chloe Anthony Zoe Mark Lily "
    "Paul Hannah Steven Nora Andrew Ruth Kenji Yuki Ahmed Fatima Carlos Lucia Ivan Olga Raj Priya"
).split()
_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Clark "
    "Lewis Walker Young Allen King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell "
    "Roberts Carter Phillips Evans Turner Tanaka Sato Kowalski Novak Silva Costa Rossi Muller"
).split()
_PRAISE = "gripping,uneven,beautiful,overlong,hilarious,haunting,forgettable,brilliant,clumsy,tender".split(",")
_SENTENCES = (
    "The lead performance carries every scene.",
    "The second act drags, but the ending lands.",
    "Gorgeous photography and a score that lingers.",
    "I expected more from this director.",
    "The script wastes a strong supporting cast.",
    "A crowd pleaser that earns its big moments.",
    "Worth it for the last twenty minutes alone.",
    "Watched it twice and noticed new details.",
)

PROFESSIONS = ("actor", "actress", "director", "writer", "producer")


def sizes(scale: int) -> dict[str, int]:
    """Row counts for a scale: 10k titles, 20k people and 10k reviews per unit."""
    return {"titles": 10_000 * scale, "people": 20_000 * scale, "reviews": 10_000 * scale,
            "users": 100_000 * scale}


def zipf_pick(rng: random.Random, n: int, s: float) -> int:
    """A key in 1..n where key k has probability about proportional to k**-s.

    Inverse-CDF of the continuous bounded power law, floored: O(1) time and no
    table, so it works for millions of keys. ``s = 0`` is uniform.
    """
    if n <= 1:
        return 1
    u = rng.random()
    if s <= 0:
        return int(u * n) + 1
    if abs(s - 1.0) < 1e-9:
        x = (n + 1) ** u
    else:
        a = 1.0 - s
        x = (1.0 + u * ((n + 1) ** a - 1.0)) ** (1.0 / a)
    return min(max(int(x), 1), n)


def person_of(profession: str, rank: int) -> int:
    """The person id of the ``rank``-th most popular person of a profession.

    Ids are laid out in blocks of ten: offsets 1-7 act (odd actor, even
    actress), 8 direct, 9 write, 0 produce. Every profession thus has its own
    popularity ranking while person 1 stays the most popular overall.
    """
    if profession in ("actor", "actress"):
        block, offset = divmod(rank - 1, 7)
        return block * 10 + offset + 1
    return (rank - 1) * 10 + {"director": 8, "writer": 9, "producer": 10}[profession]


def profession_of(person_id: int) -> str:
    offset = person_id % 10
    if 1 <= offset <= 7:
        return "actor" if offset % 2 else "actress"
    return {8: "director", 9: "writer", 0: "producer"}[offset]


class Synthetic:
    """Row generators for every table at one scale and skew."""

    def __init__(self, scale: int, skew: float) -> None:
        self.scale = scale
        self.skew = skew
        self.n = sizes(scale)
        self.now = datetime(2025, 1, 1, tzinfo=timezone.utc)
        rng = self._rng("plan")
        types = [t for t, _ in TITLE_TYPES]
        weights = [w for _, w in TITLE_TYPES]
        self.types = rng.choices(types, weights, k=self.n["titles"])
        # Recent years are far more common, as in the real catalogue.
        self.years = [int(rng.triangular(1915, 2025, 2020)) for _ in self.types]
        self.series = [i + 1 for i, t in enumerate(self.types) if t == "tvSeries"]

    def _rng(self, table: str) -> random.Random:
        return random.Random(f"imdb:{self.scale}:{self.skew}:{table}")

    def genres(self) -> Iterator[tuple[Any, ...]]:
        for i, (name, _) in enumerate(GENRES, start=1):
            yield (i, name)

    def titles(self) -> Iterator[tuple[Any, ...]]:
        rng = self._rng("titles")
        for i, kind in enumerate(self.types, start=1):
            if kind == "tvEpisode":
                name = f"Episode #{rng.randint(1, 9)}.{rng.randint(1, 24)}" if rng.random() < 0.3 else self._name(rng)
                runtime = rng.randint(20, 60)
            else:
                name = self._name(rng)
                runtime = {"short": rng.randint(3, 30), "tvSeries": rng.randint(22, 60)}.get(
                    kind, max(60, int(rng.gauss(104, 18))))
            end = self.years[i - 1] + rng.randint(0, 8) if kind == "tvSeries" else None
            original = name if rng.random() < 0.9 else f"{name} ({rng.choice(_PLACE)})"
            yield (i, f"tt{i:07d}", kind, name, original, False, self.years[i - 1], end, runtime)

    def _name(self, rng: random.Random) -> str:
        pattern = rng.random()
        if pattern < 0.3:
            return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if pattern < 0.55:
            return f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if pattern < 0.75:
            return f"{rng.choice(_NOUN)} of the {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if pattern < 0.9:
            return f"{rng.choice(_NOUN)} in {rng.choice(_PLACE)}"
        return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.randint(2, 4)}"

    def people(self) -> Iterator[tuple[Any, ...]]:
        rng = self._rng("people")
        for i in range(1, self.n["people"] + 1):
            born = int(rng.triangular(1900, 2005, 1975))
            died = born + rng.randint(40, 95) if born < 1950 and rng.random() < 0.6 else None
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            yield (i, f"nm{i:07d}", name, born, died if died and died <= 2024 else None, profession_of(i))

    def title_genres(self) -> Iterator[tuple[Any, ...]]:
        rng = self._rng("title_genres")
        ids = list(range(1, len(GENRES) + 1))
        weights = [w for _, w in GENRES]
        for title_id in range(1, self.n["titles"] + 1):
            for genre_id in sorted(set(rng.choices(ids, weights, k=rng.randint(1, 3)))):
                yield (title_id, genre_id)

    def principals(self) -> Iterator[tuple[Any, ...]]:
        """Cast and crew: popular titles have more credits and popular people more titles."""
        rng = self._rng("principals")
        people = self.n["people"]
        pools = {"actor": people * 7 // 10, "director": people // 10, "writer": people // 10,
                 "producer": people // 10}
        for title_id in range(1, self.n["titles"] + 1):
            cast = 2 + min(int(rng.expovariate(1 / 3)), 8) + (2 if title_id * 100 <= self.n["titles"] else 0)
            crew = ["director", "writer"] + (["producer"] if rng.random() < 0.3 else [])
            seen: set[int] = set()
            ordering = 0
            for category in ["actor"] * cast + crew:
                pool = pools[category]
                for _ in range(5):
                    person = person_of(category, zipf_pick(rng, pool, self.skew))
                    if person not in seen:
                        break
                else:
                    continue
                seen.add(person)
                ordering += 1
                kind = profession_of(person) if category == "actor" else category
                role = f'["{rng.choice(_FIRST)} {rng.choice(_LAST)}"]' if category == "actor" else None
                job = None if category == "actor" else category
                yield (title_id, ordering, person, kind, job, role)

    def ratings(self) -> Iterator[tuple[Any, ...]]:
        rng = self._rng("ratings")
        for title_id in range(1, self.n["titles"] + 1):
            if rng.random() < 0.08:
                continue  # some titles have no votes yet
            votes = 5 + int(200_000 * self.scale * title_id ** -max(self.skew, 0.1) * rng.lognormvariate(0, 0.6))
            bonus = 0.7 if title_id * 20 <= self.n["titles"] else 0.0
            rating = min(10.0, max(1.0, rng.gauss(6.2 + bonus, 1.1)))
            yield (title_id, round(rating, 1), votes)

    def episodes(self) -> Iterator[tuple[Any, ...]]:
        rng = self._rng("episodes")
        counters: dict[int, int] = {}
        if not self.series:
            return
        for title_id, kind in enumerate(self.types, start=1):
            if kind != "tvEpisode":
                continue
            parent = self.series[zipf_pick(rng, len(self.series), self.skew) - 1]
            count = counters.get(parent, 0)
            counters[parent] = count + 1
            season, episode = divmod(count, 10)
            yield (title_id, parent, season + 1, episode + 1)

    def reviews(self) -> Iterator[tuple[Any, ...]]:
        rng = self._rng("reviews")
        for _ in range(self.n["reviews"]):
            title_id = zipf_pick(rng, self.n["titles"], self.skew)
            rating = rng.randint(1, 10)
            headline = f"{rng.choice(_PRAISE).capitalize()} and {rng.choice(_PRAISE)}"
            body = " ".join(rng.sample(_SENTENCES, rng.randint(2, 5)))
            when = self.now - timedelta(minutes=rng.randint(0, 10 * 365 * 24 * 60))
            yield (title_id, rng.randint(1, self.n["users"]), rating, headline, body, when)

    def tables(self) -> list[tuple[str, str, int, Iterator[tuple[Any, ...]]]]:
        """(table, column list, expected rows, row iterator) in load order."""
        n = self.n
        return [
            ("genres", "genre_id, name", len(GENRES), self.genres()),
            ("titles", "title_id, tconst, title_type, primary_title, original_title, is_adult,"
                       " start_year, end_year, runtime_minutes", n["titles"], self.titles()),
            ("people", "person_id, nconst, name, birth_year, death_year, primary_profession",
             n["people"], self.people()),
            ("title_genres", "title_id, genre_id", n["titles"] * 2, self.title_genres()),
            ("principals", "title_id, ordering, person_id, category, job, characters",
             n["titles"] * 7, self.principals()),
            ("ratings", "title_id, average_rating, num_votes", n["titles"] * 92 // 100, self.ratings()),
            ("episodes", "episode_id, parent_id, season_number, episode_number",
             self.types.count("tvEpisode"), self.episodes()),
            ("reviews", "title_id, user_id, rating, headline, body, created_at", n["reviews"], self.reviews()),
        ]
