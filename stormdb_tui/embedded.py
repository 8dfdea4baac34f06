"""The embedded PostgreSQL 16 + pgvector server, from the ``pgserver`` package.

With no target configured, stormdb-tui starts a private server in a data
directory under the user's data dir (``--data-dir`` or
``STORMDB_DATA_DIR`` to override), reuses it across runs so loaded data
persists, and stops it when the last process using it exits. It listens only
on a unix socket inside its data directory.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

from stormdb_tui.db import Target
from stormdb_tui.errors import DatabaseError

EMBEDDED_DBNAME = "stormdb"


def default_data_dir() -> Path:
    """Where the embedded server keeps its data unless told otherwise."""
    env = os.environ.get("STORMDB_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "stormdb-tui" / "pg16"


def runs_dir() -> Path:
    """Where run journals (and the reports that replace them) go when no report path was asked for.

    ``STORMDB_RUNS_DIR`` overrides it; otherwise ``runs/`` beside the embedded
    server's data directory.
    """
    env = os.environ.get("STORMDB_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    return default_data_dir().parent / "runs"


_servers: dict[Path, object] = {}


def start_embedded(data_dir: str | os.PathLike[str] | None = None, *, quiet: bool = False) -> Target:
    """Start (or attach to) the embedded server and return its target.

    The server is stopped at interpreter exit by pgserver once no other
    process holds it. Raises :class:`DatabaseError` with the server log's
    last lines when it cannot start.
    """
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the embedded server's data directory {path}: {exc}") from None
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"stormdb-run-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver

            server = _servers.get(path) or pgserver.get_server(path, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises plain exceptions for many causes
            log = path / "log"
            tail = ""
            if log.exists():
                lines = log.read_text(errors="replace").strip().splitlines()[-3:]
                tail = " | ".join(lines)
            raise DatabaseError(
                f"the embedded PostgreSQL server in {path} did not start: {exc}" + (f" [log: {tail}]" if tail else "")
            ) from None
    _servers[path] = server
    uri = server.get_uri()
    _ensure_database(uri)
    if not quiet:
        print(f"stormdb-tui: embedded PostgreSQL 16 in {path}", file=sys.stderr)
    return Target(_with_db(uri, EMBEDDED_DBNAME), "embedded", f"embedded PostgreSQL in {path}")


def _with_db(uri: str, dbname: str) -> str:
    from psycopg import conninfo

    return conninfo.make_conninfo(uri, dbname=dbname)


def _ensure_database(uri: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DBNAME,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DBNAME}"')
            except psycopg.errors.DuplicateDatabase:
                pass
