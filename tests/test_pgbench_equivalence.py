"""The same pgbench script run by real pgbench and by us, on the same server.

The draws (random, random_zipfian, random_exponential, random_gaussian) are
compared by a two-sample chi-square test per function; the database state
(rows written, the counter the \\if branches update) by totals and a
two-proportion test; hash() and permute() exactly, since they depend only on
``--random-seed`` and the number of clients. alpha is 1e-4 with fixed seeds,
so a pass is not luck and a correct engine does not flake; the same test
applied to two different distributions must reject, which shows it can fail.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from stormdb_tui.config import build_config
from stormdb_tui.engine.plan import make_plan
from stormdb_tui.engine.runner import Runner
from stormdb_tui.pgbench import client as C
from stormdb_tui.pgbench import randoms
from stormdb_tui.registry import discover

ALPHA = 1e-4
N = 20
TRANSACTIONS = 3000
CLIENTS = 2
SEED = 4242

SCRIPT = """\
\\set u random(1, 20)
\\set z random_zipfian(1, 20, 1.5)
\\set e random_exponential(1, 20, 3.0)
\\set g random_gaussian(1, 20, 2.5)
\\set h hash(:u)
\\set p permute(:u, 20)
SELECT count(*) AS n FROM eqv_items WHERE id <= :u \\gset
\\if :n > 10
  UPDATE eqv_counter SET hi = hi + 1;
\\else
  UPDATE eqv_counter SET lo = lo + 1;
\\endif
INSERT INTO eqv_draws (u, z, e, g, h, p, n) VALUES (:u, :z, :e, :g, :h, :p, :n);
"""


def _pgbench() -> str | None:
    here = Path(psycopg.__file__).resolve().parents[1]
    candidates = [str(p) for p in here.glob("*/pginstall/bin/pgbench")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)
    if shutil.which("pgbench"):
        candidates.append(shutil.which("pgbench"))
    for path in candidates:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        except OSError:
            continue
        major = int(out.split()[-1].split(".")[0]) if out else 0
        if major >= 14:  # permute() arrived in 14
            return path
    return None


def _schema(conn, schema: str) -> None:
    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"CREATE TABLE {schema}.eqv_items AS SELECT generate_series(1, 20) AS id")
    conn.execute(f"CREATE TABLE {schema}.eqv_counter (hi int, lo int)")
    conn.execute(f"INSERT INTO {schema}.eqv_counter VALUES (0, 0)")
    conn.execute(
        f"CREATE TABLE {schema}.eqv_draws (u bigint, z bigint, e bigint, g bigint, h bigint, p bigint, n bigint)"
    )


def _chi2_p(a: Counter, b: Counter) -> float:
    """p-value of a two-sample chi-square test of homogeneity (Wilson-Hilferty for the tail)."""
    na, nb = sum(a.values()), sum(b.values())
    keys = [k for k in set(a) | set(b) if a[k] + b[k] > 0]
    stat = 0.0
    for k in keys:
        total = a[k] + b[k]
        ea, eb = total * na / (na + nb), total * nb / (na + nb)
        stat += (a[k] - ea) ** 2 / ea + (b[k] - eb) ** 2 / eb
    df = max(len(keys) - 1, 1)
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def _rows(conn, schema: str) -> list[tuple]:
    return conn.execute(f"SELECT u, z, e, g, h, p, n FROM {schema}.eqv_draws").fetchall()


@pytest.fixture(scope="module")
def both_runs(dsn, tmp_path_factory):
    pgbench = _pgbench()
    if pgbench is None:
        pytest.skip("no pgbench 14 or later on this machine")
    script = tmp_path_factory.mktemp("eqv") / "eqv.sql"
    script.write_text(SCRIPT)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _schema(conn, "eqv_pgb")
        _schema(conn, "eqv_ours")
    env = dict(os.environ, PGOPTIONS="-c search_path=eqv_pgb")
    done = subprocess.run(
        [pgbench, "-n", "-M", "prepared", "-c", str(CLIENTS), "-t", str(TRANSACTIONS // CLIENTS),
         f"--random-seed={SEED}", "-f", str(script), "-d", dsn],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": "eqv_ours", "scripts": [str(script)]},
            "run": {"workers": CLIENTS, "transactions": TRANSACTIONS, "seed": SEED},
            "metrics": {"interval": 0.5},
        }
    )
    report = Runner(make_plan(cfg, dsn=dsn, registry=discover())).run().data
    with psycopg.connect(dsn, autocommit=True) as conn:
        theirs, ours = _rows(conn, "eqv_pgb"), _rows(conn, "eqv_ours")
        counters = {s: conn.execute(f"SELECT hi, lo FROM {s}.eqv_counter").fetchone() for s in ("eqv_pgb", "eqv_ours")}
        for schema in ("eqv_pgb", "eqv_ours"):
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return report, theirs, ours, counters


def test_same_number_of_transactions_and_rows(both_runs):
    report, theirs, ours, counters = both_runs
    assert report["summary"]["transactions"] == TRANSACTIONS and report["summary"]["errors"] == 0
    assert list(report["operations"]) == ["eqv"]
    assert len(theirs) == len(ours) == TRANSACTIONS
    for hi, lo in counters.values():
        assert hi + lo == TRANSACTIONS
    # \gset read back count(*) = u, and \if took the branch it implies, in both runs.
    for rows in (theirs, ours):
        assert all(r[6] == r[0] for r in rows)
    (hi_a, _), (hi_b, _) = counters["eqv_pgb"], counters["eqv_ours"]
    share = (hi_a + hi_b) / (2 * TRANSACTIONS)
    z = (hi_a - hi_b) / TRANSACTIONS / math.sqrt(2 * share * (1 - share) / TRANSACTIONS)
    assert math.erfc(abs(z) / math.sqrt(2)) > ALPHA
    assert sum(1 for r in ours if r[0] > 10) == counters["eqv_ours"][0]


@pytest.mark.parametrize("column, name", [(0, "random"), (1, "random_zipfian"), (2, "random_exponential"), (3, "random_gaussian")])
def test_draws_have_pgbench_distributions(both_runs, column, name):
    _, theirs, ours, _ = both_runs
    a = Counter(r[column] for r in theirs)
    b = Counter(r[column] for r in ours)
    assert set(b) <= set(range(1, N + 1)), name
    p = _chi2_p(a, b)
    assert p > ALPHA, f"{name}: p = {p:.2e}"


def test_the_comparison_can_reject(both_runs):
    _, theirs, ours, _ = both_runs
    # pgbench's zipfian draws against our uniform ones: clearly different distributions.
    assert _chi2_p(Counter(r[1] for r in theirs), Counter(r[0] for r in ours)) < ALPHA


def test_hash_and_permute_equal_pgbench_for_the_same_seed(both_runs):
    _, theirs, ours, _ = both_runs
    seed = C.default_seed(SEED, clients=CLIENTS)
    for rows in (theirs, ours):
        for u, _z, _e, _g, h, p, _n in rows:
            assert h == randoms.hash_murmur2(u, seed)
            assert p == randoms.permute(u, 20, seed)


EXPRESSIONS = [
    "5 % 2.5", "7.5 / 2", "-7 / 2", "int(-2.5)", "int(2.5000001)", "abs(-9223372036854775807)", "1 << 65",
    "-16 >> 2", "~5 & 12", "1 + 2 * 3 - 4 / 2", "2 * 3 % 4", "10 - 2 - 3", "greatest(1, 2.5, 2)",
    "least(-1, -1.5)", "sqrt(2)", "exp(1)", "ln(10)", "pow(2, 0.5)", "1.0 / 3 * 3", "1e-5 * 3",
    "123456789.123456789", "1e20", "-2.5e-8", "case when 0 then 1 when null then 2 else 3 end",
    "3 > 2 and 2 > 1 or false", "not (1 < 2)", "null is not null", "5 notnull", "hash_murmur2(0, 0)",
    "hash_fnv1a(-1, 123)", "hash(42, 7)", "permute(0, 2, 1)", "permute(99, 100, 5)",
    "permute(5, 1000000007, 123456789)", "double(7) / 2", "mod(9, -4)", "mod(-9, 4)", "-(-3)", "2 - -3",
]


def test_expressions_evaluate_as_in_pgbench(dsn, tmp_path):
    """Each expression's text form, as pgbench sends it to the server, against ours."""
    import random

    from stormdb_tui.pgbench.expr import compile_expression, to_text

    pgbench = _pgbench()
    if pgbench is None:
        pytest.skip("no pgbench 14 or later on this machine")
    lines = [f"\\set v{i} {e}" for i, e in enumerate(EXPRESSIONS)]
    lines.append("INSERT INTO eqv_exprs VALUES " + ", ".join(f"({i}, :v{i})" for i in range(len(EXPRESSIONS))) + ";")
    script = tmp_path / "exprs.sql"
    script.write_text("\n".join(lines) + "\n")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS eqv_exprs")
        conn.execute("CREATE TABLE eqv_exprs (k int, v text)")
        done = subprocess.run([pgbench, "-n", "-t", "1", "-f", str(script), "-d", dsn], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        theirs = dict(conn.execute("SELECT k, v FROM eqv_exprs").fetchall())
        conn.execute("DROP TABLE eqv_exprs")

    class Env:
        vars = {"default_seed": 0}
        rng = random.Random(1)

    ours = {i: to_text(compile_expression(e)(Env)) for i, e in enumerate(EXPRESSIONS)}
    assert ours == theirs


EXACT_SCRIPT = """\
\\set u random(1, 100000)
\\set g random_gaussian(1, 100, 2.5)
\\set e random_exponential(1, 100, 3)
\\set z random_zipfian(1, 100, 1.2)
\\set w random(-9000000000, 9000000000)
INSERT INTO eqv_exact (c, u, g, e, z, w) VALUES (:client_id, :u, :g, :e, :z, :w);
"""


def test_pgbench_random_stream_reproduces_pgbench_values(dsn, tmp_path):
    """random_stream: pgbench draws, client by client, exactly the values pgbench draws for --random-seed."""
    pgbench = _pgbench()
    if pgbench is None:
        pytest.skip("no pgbench 14 or later on this machine")
    script = tmp_path / "exact.sql"
    script.write_text(EXACT_SCRIPT)
    per_client = 300
    rows = {}
    for schema in ("eqv_x_pgb", "eqv_x_ours"):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {schema}.eqv_exact (n serial, c int, u bigint, g bigint, e bigint, z bigint, w bigint)")
    env = dict(os.environ, PGOPTIONS="-c search_path=eqv_x_pgb")
    done = subprocess.run(
        [pgbench, "-n", "-M", "prepared", "-c", str(CLIENTS), "-t", str(per_client), f"--random-seed={SEED}",
         "-f", str(script), "-d", dsn],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    cfg = build_config(
        {
            "workload": {"name": "simple", "schema": "eqv_x_ours", "scripts": [str(script)], "random_stream": "pgbench"},
            "run": {"workers": CLIENTS, "transactions": per_client * CLIENTS, "seed": SEED},
            "metrics": {"interval": 0.5},
        }
    )
    report = Runner(make_plan(cfg, dsn=dsn, registry=discover())).run().data
    assert report["summary"]["errors"] == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in ("eqv_x_pgb", "eqv_x_ours"):
            rows[schema] = {
                c: conn.execute(
                    f"SELECT u, g, e, z, w FROM {schema}.eqv_exact WHERE c = %s ORDER BY n LIMIT %s", (c, per_client)
                ).fetchall()
                for c in range(CLIENTS)
            }
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    for c in range(CLIENTS):
        assert len(rows["eqv_x_pgb"][c]) == per_client
        assert rows["eqv_x_ours"][c] == rows["eqv_x_pgb"][c], f"client {c}"
