"""Connections: target resolution, password redaction, SQLSTATE classes.

The target is, in order: ``--dsn``; the config's ``database:`` section; the
standard ``PG*`` environment variables; otherwise the embedded server
(:mod:`stormdb_tui.embedded`). Every session we open carries an
``application_name`` starting with ``stormdb-tui`` so it can be found and
filtered in ``pg_stat_activity``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

from stormdb_tui.errors import DatabaseError

APP_NAME = "stormdb-tui"

# The pool logs every failed reconnect attempt as a warning; the engine counts
# and reports those failures itself, so they must not reach the terminal.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
logging.getLogger("psycopg.pool").propagate = False

PG_ENV_VARS = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")

# SQLSTATE class (first two characters) -> the name PostgreSQL's appendix A gives it.
SQLSTATE_CLASSES = {
    "08": "connection_exception",
    "0A": "feature_not_supported",
    "21": "cardinality_violation",
    "22": "data_exception",
    "23": "integrity_constraint_violation",
    "25": "invalid_transaction_state",
    "28": "invalid_authorization",
    "40": "transaction_rollback",
    "42": "syntax_error_or_access_rule_violation",
    "53": "insufficient_resources",
    "54": "program_limit_exceeded",
    "55": "object_not_in_prerequisite_state",
    "57": "operator_intervention",
    "58": "system_error",
    "XX": "internal_error",
}
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""Serialization failure and deadlock: the transaction is retried and counted as a retry."""

# Errors without a server-sent SQLSTATE get one of these pseudo-states.
CLIENT_CONNECTION_LOST = "08006"
CLIENT_ERROR = "XXCLI"
WORKLOAD_BUG_PREFIX = "py:"
"""Pseudo-state of an exception raised by workload code itself (``py:KeyError``): one kind per exception type."""

_PASSWORD_RE = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_PASSWORD_RE = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every password in a conninfo string or URI replaced by ``***``."""
    if not text:
        return text
    text = _URI_PASSWORD_RE.sub(lambda m: m.group(1) + ("***" if m.group(2) else "") + m.group(3), text)
    return _PASSWORD_RE.sub(r"\1***", text)


def has_password(conninfo: str | None) -> bool:
    """True when a conninfo string or URI carries a password itself."""
    if not conninfo:
        return False
    try:
        return bool(pg_conninfo.conninfo_to_dict(conninfo).get("password"))
    except psycopg.ProgrammingError:
        return bool(_PASSWORD_RE.search(conninfo) or _URI_PASSWORD_RE.search(conninfo))


PASSWORD_HINT = (
    "a password on the command line is visible to every user of this machine (ps, shell history); "
    "prefer database.password_env in a config, PGPASSWORD, or ~/.pgpass"
)


def sqlstate_class(sqlstate: str | None) -> str:
    """The class name for a SQLSTATE (``40001`` -> ``transaction_rollback``)."""
    if not sqlstate:
        return "client_error"
    if sqlstate == CLIENT_ERROR:
        return "client_error"
    if sqlstate.startswith(WORKLOAD_BUG_PREFIX):
        return "workload_error"
    return SQLSTATE_CLASSES.get(sqlstate[:2], f"class_{sqlstate[:2]}")


def error_sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a psycopg error, or a pseudo-state for client-side failures."""
    state = getattr(exc, "sqlstate", None)
    if state:
        return state
    if isinstance(exc, psycopg.OperationalError):
        return CLIENT_CONNECTION_LOST
    return CLIENT_ERROR


def first_line(exc: BaseException) -> str:
    """A one-line, password-free message for an exception."""
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)


@dataclass(frozen=True)
class Target:
    """A resolved database target: a conninfo string and where it came from.

    ``source`` is ``dsn``, ``config``, ``environment`` or ``embedded``.
    """

    conninfo: str
    source: str
    description: str = ""

    @property
    def redacted(self) -> str:
        return redact(self.conninfo)


_DB_KEYS = {
    "host": "host",
    "port": "port",
    "dbname": "dbname",
    "database": "dbname",
    "user": "user",
    "username": "user",
    "password": "password",
    "sslmode": "sslmode",
    "options": "options",
    "connect_timeout": "connect_timeout",
    "dsn": None,
}


def conninfo_from_section(section: Mapping[str, Any]) -> str:
    """A conninfo string from a config ``database:`` section.

    ``password_env`` names an environment variable holding the password, so
    configs need not contain it; ``.pgpass`` works as libpq defines it.
    """
    base = str(section.get("dsn") or "")
    params: dict[str, Any] = {}
    for key, value in section.items():
        if value is None or value == "":
            continue
        mapped = _DB_KEYS.get(key)
        if mapped:
            params[mapped] = str(value)
    env_name = section.get("password_env")
    if env_name:
        if env_name not in os.environ:
            raise DatabaseError(f"database.password_env names {env_name}, which is not set")
        params["password"] = os.environ[env_name]
    try:
        return pg_conninfo.make_conninfo(base, **params)
    except psycopg.ProgrammingError as exc:
        raise DatabaseError(f"database: invalid connection settings: {first_line(exc)}") from None


def env_targets_set() -> bool:
    """True when a standard ``PG*`` variable chooses a server."""
    return any(os.environ.get(name) for name in PG_ENV_VARS)


def liveness_params(conninfo: str, connect_timeout: float = 10.0) -> dict[str, Any]:
    """Connection parameters that bound every wait on a server that stopped answering.

    ``connect_timeout`` always; for TCP targets also keepalives and
    ``tcp_user_timeout``, so a dead peer or a black-holed network is noticed
    in about 15 s instead of the kernel's two hours. What the user set in the
    conninfo wins.
    """
    try:
        given = pg_conninfo.conninfo_to_dict(conninfo) if conninfo else {}
    except psycopg.ProgrammingError:
        given = {}
    params: dict[str, Any] = {"connect_timeout": str(max(int(connect_timeout), 2))}
    host = str(given.get("host") or given.get("hostaddr") or os.environ.get("PGHOST") or "")
    if host and not all(h.startswith("/") or h.startswith("@") for h in host.split(",")):
        params.update(keepalives="1", keepalives_idle="5", keepalives_interval="2", keepalives_count="3",
                      tcp_user_timeout="15000")
    return {k: v for k, v in params.items() if k not in given}


def sever(conn: Any) -> bool:
    """Shut down a connection's socket under a thread blocked in it, so that thread's call returns.

    A frozen server never answers, and no server-side timeout can fire; this
    is the client's way out. The blocked call fails with a connection error
    and the connection is then closed by its owner. True when a socket was shut.
    """
    import socket

    try:
        fd = conn.pgconn.socket
    except Exception:
        return False
    try:
        dup = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        dup.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        dup.close()


def connect(conninfo: str, *, role: str = "load", autocommit: bool = True, **kwargs: Any) -> psycopg.Connection:
    """Open a connection with our application_name; a one-line DatabaseError when it fails."""
    try:
        return psycopg.connect(
            conninfo, autocommit=autocommit, application_name=f"{APP_NAME}:{role}",
            **{**liveness_params(conninfo), **kwargs},
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {redact(conninfo) or 'the default server'}: {first_line(exc)}") from None


def server_info(conn: psycopg.Connection) -> dict[str, Any]:
    """Version and the settings that matter for reading a benchmark."""
    names = (
        "shared_buffers",
        "max_connections",
        "synchronous_commit",
        "fsync",
        "wal_level",
        "checkpoint_timeout",
        "max_wal_size",
        "work_mem",
        "effective_cache_size",
        "full_page_writes",
        "huge_pages",
        "max_worker_processes",
        "jit",
    )
    with conn.cursor() as cur:
        cur.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(names),)
        )
        settings = {name: _with_unit(setting, unit) for name, setting, unit in cur.fetchall()}
        cur.execute("SELECT version(), current_setting('server_version_num')::int, current_database()")
        row = cur.fetchone()
        assert row is not None  # the query always returns one row
        version, version_num, dbname = row
    return {"version": version, "version_num": version_num, "database": dbname, "settings": settings}


def _with_unit(setting: str, unit: str | None) -> str:
    if not unit:
        return setting
    if unit in ("8kB",) and setting.isdigit():
        kb = int(setting) * 8
        return f"{kb // 1024}MB" if kb % 1024 == 0 else f"{kb}kB"
    return f"{setting}{unit}"
