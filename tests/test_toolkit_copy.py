"""The COPY helpers every workload loads with: counts, progress, quoting and cancellation."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from stormdb_tui.toolkit.copy import LoadCancelled, copy_chunks, copy_lines, copy_rows
from stormdb_tui.workload import Progress

SCHEMA = 'odd "name"; drop'


@pytest.fixture
def table(conn):
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    ident = sql.Identifier(SCHEMA, "Rows")
    conn.execute(sql.SQL("CREATE TABLE {} (id int, note text)").format(ident))
    yield ident
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))


def _count(conn: psycopg.Connection, ident: sql.Identifier) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]


def test_three_shapes_load_every_row_and_advance_progress(conn, table):
    seen: list[int] = []
    progress = Progress(lambda snap: seen.append(snap.rows))
    progress.phase("rows")
    assert copy_chunks(conn, table, ["id", "note"], [("1\ta\n2\tb\n", 2)], progress) == 2
    assert copy_lines(conn, table, ["id", "note"], (f"{i}\tline\n" for i in range(12_000)), progress) == 12_000
    assert copy_rows(conn, table, ["id", "note"], ((i, "tab\there") for i in range(7_001)), progress) == 7_001
    assert _count(conn, table) == 2 + 12_000 + 7_001
    assert progress.finish().rows == 2 + 12_000 + 7_001
    escaped = conn.execute(sql.SQL("SELECT note FROM {} WHERE note LIKE 'tab%' LIMIT 1").format(table)).fetchone()[0]
    assert escaped == "tab\there"  # write_row escaped the tab


def test_a_cancelled_load_raises_and_its_transaction_keeps_nothing(dsn, table):
    progress = Progress()
    progress.phase("rows")

    def lines():
        for i in range(20_000):
            if i == 6_000:
                progress.cancelled = True
            yield f"{i}\tx\n"

    with psycopg.connect(dsn) as conn:
        with pytest.raises(LoadCancelled):
            with conn.transaction():
                copy_lines(conn, table, ["id", "note"], lines(), progress)
        assert _count(conn, table) == 0
