"""Load the public IMDb TSV files (https://datasets.imdbws.com/) instead of synthetic data.

Each file present in the folder (plain or ``.gz``) is streamed with COPY into
a temporary staging table whose columns come from the file's header line; the
workload tables are then filled with set-based ``INSERT ... SELECT`` that
assigns dense keys by popularity (titles by vote count, people by number of
credits), so the workload's Zipf-like key sampling means the same thing as
with synthetic data. Only ``title.basics`` is required; a missing file just
leaves its tables empty (no ratings without ``title.ratings``, people taken
from the credits alone without ``name.basics``).

IMDb's files are in PostgreSQL's text COPY format already: tab separated,
``\\N`` for NULL, no quoting.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import IO, Any

from psycopg import sql

from stormdb_tui.errors import WorkloadError
from stormdb_tui.toolkit.copy import copy_chunks

# key -> (file name, standard columns, columns the transform needs)
FILES = {
    "basics": ("title.basics.tsv",
               ("tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear",
                "endYear", "runtimeMinutes", "genres"),
               ("tconst", "titleType", "primaryTitle")),
    "names": ("name.basics.tsv",
              ("nconst", "primaryName", "birthYear", "deathYear", "primaryProfession", "knownForTitles"),
              ("nconst", "primaryName")),
    "principals": ("title.principals.tsv",
                   ("tconst", "ordering", "nconst", "category", "job", "characters"),
                   ("tconst", "ordering", "nconst", "category")),
    "ratings": ("title.ratings.tsv", ("tconst", "averageRating", "numVotes"),
                ("tconst", "averageRating", "numVotes")),
    "episodes": ("title.episode.tsv", ("tconst", "parentTconst", "seasonNumber", "episodeNumber"),
                 ("tconst", "parentTconst")),
}
_CHUNK = 1 << 20


def find_files(folder: str) -> dict[str, Path]:
    """The IMDb files present in ``folder``, by key (plain name or with ``.gz``)."""
    found = {}
    for key, (name, _, _) in FILES.items():
        for candidate in (Path(folder) / name, Path(folder) / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
    return found


def problems(folder: str) -> list[str]:
    """One-line reasons the folder cannot be loaded (empty when it can)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        return [f"tsv_path {folder!r} is not a directory"]
    files = find_files(str(path))
    if "basics" not in files:
        return [f"tsv_path {folder!r} has no title.basics.tsv (or .tsv.gz): download it from datasets.imdbws.com"]
    found = []
    for key, file in files.items():
        missing = [c for c in FILES[key][2] if c not in _header(file)]
        if missing:
            found.append(f"{file}: header lacks column(s) {', '.join(missing)}")
    return found


def _header(path: Path) -> tuple[str, ...]:
    with _open(path) as handle:
        return tuple(handle.readline().decode("utf-8").rstrip("\r\n").split("\t"))


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


def _estimate_rows(path: Path) -> int | None:
    """Rows in a plain file, estimated from its size and the mean length of its first lines."""
    if path.suffix == ".gz":
        return None
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    lines = head.count(b"\n")
    if not lines:
        return 1
    return max(int(os.path.getsize(path) / (len(head) / lines)) - 1, 1)


def _stage(conn: Any, key: str, path: Path | None, progress: Any) -> None:
    """Create ``stage_<key>`` (temporary, dropped at commit) and COPY the file into it."""
    _, standard, _ = FILES[key]
    table = sql.Identifier(f"stage_{key}")
    if path is None:
        columns: tuple[str, ...] = standard
    else:
        columns = _header(path)
        # Columns the transforms read but this file lacks become NULL columns.
        columns = columns + tuple(c for c in standard if c not in columns)
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        table, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns)))
    if path is None:
        return
    progress.phase(f"copy {path.name}", _estimate_rows(path))
    with _open(path) as handle:
        file_columns = handle.readline().decode("utf-8").rstrip("\r\n").split("\t")
        chunks = ((chunk, chunk.count(b"\n")) for chunk in iter(lambda: handle.read(_CHUNK), b""))
        copy_chunks(conn, table, file_columns, chunks, progress)


def _int(expr: str, digits: int = 9) -> str:
    """A cast that turns malformed numbers into NULL instead of failing the load."""
    return f"CASE WHEN {expr} ~ '^[0-9]{{1,{digits}}}$' THEN ({expr})::int END"


def _transforms() -> list[tuple[str, str]]:
    votes = _int('r."numVotes"')
    return [
        ("titles", f"""
            INSERT INTO imdb.titles (title_id, tconst, title_type, primary_title, original_title,
                                     is_adult, start_year, end_year, runtime_minutes)
            SELECT row_number() OVER (ORDER BY {votes} DESC NULLS LAST, b.tconst), b.tconst,
                   b."titleType", b."primaryTitle", b."originalTitle", coalesce(b."isAdult" = '1', false),
                   {_int('b."startYear"', 4)}, {_int('b."endYear"', 4)}, {_int('b."runtimeMinutes"')}
            FROM stage_basics b LEFT JOIN stage_ratings r ON r.tconst = b.tconst
            WHERE b."primaryTitle" IS NOT NULL AND b."titleType" IS NOT NULL"""),
        ("genres", """
            INSERT INTO imdb.genres (genre_id, name)
            SELECT row_number() OVER (ORDER BY count(*) DESC, g), g
            FROM stage_basics, unnest(string_to_array(genres, ',')) AS g GROUP BY g"""),
        ("title_genres", """
            INSERT INTO imdb.title_genres (title_id, genre_id)
            SELECT DISTINCT t.title_id, g.genre_id
            FROM stage_basics b JOIN imdb.titles t ON t.tconst = b.tconst,
                 unnest(string_to_array(b.genres, ',')) AS x(name) JOIN imdb.genres g ON g.name = x.name"""),
        ("people", f"""
            INSERT INTO imdb.people (person_id, nconst, name, birth_year, death_year, primary_profession)
            SELECT row_number() OVER (ORDER BY coalesce(c.n, 0) DESC, coalesce(n.nconst, c.nconst)),
                   coalesce(n.nconst, c.nconst), coalesce(n."primaryName", c.nconst),
                   {_int('n."birthYear"', 4)}, {_int('n."deathYear"', 4)},
                   split_part(n."primaryProfession", ',', 1)
            FROM stage_names n
            FULL JOIN (SELECT nconst, count(*) AS n FROM stage_principals GROUP BY nconst) c
                   ON c.nconst = n.nconst
            WHERE coalesce(n.nconst, c.nconst) IS NOT NULL"""),
        ("principals", f"""
            INSERT INTO imdb.principals (title_id, ordering, person_id, category, job, characters)
            SELECT DISTINCT ON (t.title_id, {_int('p.ordering', 4)})
                   t.title_id, {_int('p.ordering', 4)}, pe.person_id, p.category, p.job, p.characters
            FROM stage_principals p
            JOIN imdb.titles t ON t.tconst = p.tconst JOIN imdb.people pe ON pe.nconst = p.nconst
            WHERE p.ordering ~ '^[0-9]{{1,4}}$' AND p.category IS NOT NULL"""),
        ("ratings", f"""
            INSERT INTO imdb.ratings (title_id, average_rating, num_votes)
            SELECT t.title_id, r."averageRating"::numeric(4,2), {votes}
            FROM stage_ratings r JOIN imdb.titles t ON t.tconst = r.tconst
            WHERE r."averageRating" ~ '^[0-9]{{1,2}}(\\.[0-9]+)?$' AND {votes} IS NOT NULL"""),
        ("episodes", f"""
            INSERT INTO imdb.episodes (episode_id, parent_id, season_number, episode_number)
            SELECT e.title_id, p.title_id, {_int('s."seasonNumber"', 4)}, {_int('s."episodeNumber"', 4)}
            FROM stage_episodes s
            JOIN imdb.titles e ON e.tconst = s.tconst JOIN imdb.titles p ON s."parentTconst" = p.tconst"""),
    ]


def load_tsv(conn: Any, folder: str, progress: Any) -> list[str]:
    """Stage every present file and fill the workload tables; returns the files used.

    Must run inside the caller's transaction: the staging tables are dropped
    at its commit.
    """
    for problem in problems(folder):
        raise WorkloadError(problem)
    files = find_files(str(Path(folder).expanduser()))
    for key in FILES:
        _stage(conn, key, files.get(key), progress)
    transforms = _transforms()
    progress.phase("transform", len(transforms))
    for _, statement in transforms:
        conn.execute(statement)
        progress.advance(1)
    return sorted(path.name for path in files.values())
