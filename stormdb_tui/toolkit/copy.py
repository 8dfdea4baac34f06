"""Loading data with COPY, with progress and cancellation, for every workload's ``setup``.

DESIGN section 4: loads use ``COPY``, never row-by-row INSERT, and report
progress (rows, rows/s, ETA). Three shapes of data reach a load, so there
are three entry points over one loop:

* :func:`copy_chunks` — COPY text already cut into chunks, each with its row
  count (the fastest: a generator builds a batch with one ``str.join``);
* :func:`copy_lines` — one COPY text line per row, batched here;
* :func:`copy_rows` — Python tuples, escaped by psycopg's ``write_row``.

The table and its columns are always quoted identifiers
(:class:`psycopg.sql.Identifier`), so a schema name taken from a user's
option can never become SQL. A cancelled load (the user pressed cancel, or
Ctrl-C) raises :class:`LoadCancelled` from inside the COPY, so the server
discards the partial batch with the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from psycopg import sql

from stormdb_tui.errors import WorkloadError
from stormdb_tui.workload import Progress

LINES_PER_BATCH = 5_000
"""Rows per ``write`` (and per progress update) for line and row input."""


class LoadCancelled(WorkloadError):
    """The user cancelled the load; raised between two batches."""


def copy_statement(table: sql.Composable, columns: Sequence[str] | None = None, *, freeze: bool = False) -> sql.Composed:
    """``COPY table (columns) FROM STDIN``, every name quoted."""
    parts: list[sql.Composable] = [sql.SQL("COPY "), table]
    if columns:
        parts += [sql.SQL(" ("), sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(")")]
    parts.append(sql.SQL(" FROM STDIN"))
    if freeze:
        parts.append(sql.SQL(" WITH (FREEZE)"))
    return sql.Composed(parts)


def copy_chunks(
    conn: Any,
    table: sql.Composable,
    columns: Sequence[str] | None,
    chunks: Iterable[tuple[str | bytes, int]],
    progress: Progress,
    *,
    freeze: bool = False,
) -> int:
    """COPY ``(text, rows)`` chunks into ``table``; returns the rows written."""
    written = 0
    with conn.cursor() as cur, cur.copy(copy_statement(table, columns, freeze=freeze)) as copy:
        for text, rows in chunks:
            if progress.cancelled:
                raise LoadCancelled("load cancelled")
            copy.write(text)
            written += rows
            progress.advance(rows)
    return written


def batched_lines(lines: Iterable[str], size: int = LINES_PER_BATCH) -> Iterator[tuple[str, int]]:
    """Group COPY text lines into ``(text, rows)`` chunks of ``size`` lines."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield "".join(batch), len(batch)
            batch.clear()
    if batch:
        yield "".join(batch), len(batch)


def copy_lines(
    conn: Any,
    table: sql.Composable,
    columns: Sequence[str] | None,
    lines: Iterable[str],
    progress: Progress,
    *,
    freeze: bool = False,
) -> int:
    """COPY text lines (each ending in a newline) into ``table``; returns the rows written."""
    return copy_chunks(conn, table, columns, batched_lines(lines), progress, freeze=freeze)


def copy_rows(
    conn: Any,
    table: sql.Composable,
    columns: Sequence[str] | None,
    rows: Iterable[Sequence[Any]],
    progress: Progress,
) -> int:
    """COPY Python tuples into ``table`` (psycopg escapes each value); returns the rows written."""
    written = batch = 0
    with conn.cursor() as cur, cur.copy(copy_statement(table, columns)) as copy:
        for row in rows:
            copy.write_row(row)
            batch += 1
            if batch == LINES_PER_BATCH:
                written += batch
                progress.advance(batch)
                batch = 0
                if progress.cancelled:
                    raise LoadCancelled("load cancelled")
    written += batch
    progress.advance(batch)
    return written
