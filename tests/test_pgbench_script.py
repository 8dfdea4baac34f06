"""The pgbench script language without a server: parsing, located errors, expressions, functions."""

from __future__ import annotations

import random

import pytest

from stormdb_tui.pgbench import Program, ScriptError, ScriptRuntimeError, parse_script, randoms
from stormdb_tui.pgbench import client as C
from stormdb_tui.pgbench import script as S
from stormdb_tui.pgbench.expr import ExprSyntaxError, compile_expression, from_string, to_text


class _Env:
    def __init__(self, **variables):
        self.vars = dict(variables)
        self.rng = random.Random(1)


def ev(text: str, **variables):
    return compile_expression(text)(_Env(**variables))


@pytest.mark.parametrize(
    "text, value",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3),
        ("-7 / 2", -3),  # truncation toward zero, as C
        ("7 / -2", -3),
        ("-7 % 3", -1),  # remainder has the dividend's sign
        ("7 % -3", 1),
        ("1.0 / 3", 1 / 3),
        ("5 / 2.0", 2.5),
        ("2 # 3", 1),
        ("~0", -1),
        ("1 << 62", 1 << 62),
        ("1 << 63", -(1 << 63)),
        ("-9223372036854775808", -(1 << 63)),
        ("5 > 3 and not false", True),
        ("3 >= 3", True),
        ("1 <> 2", True),
        ("1 != 1", False),
        ("null is null", True),
        ("1 isnull", False),
        ("1 notnull", True),
        ("true is not false", True),
        ("null and false", None),
        ("false and null", False),
        ("true or null", True),
        ("1 + null", None),
        ("case when 1 > 2 then 10 when 2 > 1 then 20 else 30 end", 20),
        ("case when false then 1 end", None),
        ("abs(-5)", 5),
        ("abs(-2.5)", 2.5),
        ("least(3, 1, 2)", 1),
        ("greatest(3, 1.5)", 3.0),
        ("int(2.5)", 2),  # rint: half to even
        ("int(3.5)", 4),
        ("double(3)", 3.0),
        ("sqrt(16)", 4.0),
        ("mod(-7, 3)", -1),
        ("pow(2, 10)", 1024.0),
        ("exp(0)", 1.0),
        ("ln(1)", 0.0),
        ("pi()", 3.141592653589793),
        ("PI()", 3.141592653589793),
        ("1e3", 1000.0),
        (".5 + 1.", 1.5),
        (":x * 2", 42),
        ("2 + 3 = 5", True),
        ("not 1 = 2", True),
    ],
)
def test_expression_values(text, value):
    result = ev(text, x="21")
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("9223372036854775807 + 1", "bigint add out of range"),
        ("-9223372036854775807 - 2", "bigint sub out of range"),
        ("4611686018427387904 * 2", "bigint mul out of range"),
        ("-9223372036854775808 / -1", "bigint div out of range"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("not 1", "cannot coerce int to boolean"),
        ("true + 1", "cannot coerce boolean to int"),
        ("int(1e30)", "double to int overflow"),
        ("random(5, 1)", "empty range given to random"),
        ("random(-9223372036854775808, 9223372036854775807)", "random range is too large"),
        ("random_gaussian(1, 10, 1.5)", "gaussian parameter must be at least 2"),
        ("random_exponential(1, 10, 0)", "exponential parameter must be greater than zero"),
        ("random_zipfian(1, 10, 1.0)", "zipfian parameter must be in range [1.001, 1000]"),
        ("random_zipfian(1, 10, 1001)", "zipfian parameter must be in range"),
        ("permute(1, 0)", "permute size parameter must be greater than zero"),
        (":nosuch + 1", 'undefined variable "nosuch"'),
        (":bad + 1", 'malformed variable "bad" value: "abc"'),
    ],
)
def test_runtime_errors(text, message):
    with pytest.raises(ScriptRuntimeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ev(text, bad="abc", default_seed=1)


@pytest.mark.parametrize(
    "text, variables, value",
    [
        ("100000 * :scale", {"scale": 10}, 1_000_000),
        ("100000 * :scale", {"scale": "10"}, 1_000_000),  # -D values arrive as strings
        ("2 * :x", {"x": 1.5}, 3.0),
        (":x * 3", {"x": 7}, 21),
        (":x - 1", {"x": 5}, 4),
        ("1 - :x", {"x": 5}, -4),
        (":x + 1", {"x": "41"}, 42),
        ("10 + :x", {"x": True}, None),  # the general path raises for booleans: checked below
        ("2 * 3", {}, 6),  # folded once, not computed per draw
    ],
)
def test_constant_and_variable_shapes_agree_with_the_general_rules(text, variables, value):
    if value is None:
        with pytest.raises(ScriptRuntimeError, match="cannot coerce boolean to int"):
            ev(text, **variables)
        return
    result = ev(text, **variables)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    "text, variables, message",
    [
        (":x + 1", {"x": randoms.INT64_MAX}, "bigint add out of range"),
        ("2 * :x", {"x": 1 << 62}, "bigint mul out of range"),
        ("1 - :x", {"x": randoms.INT64_MIN}, "bigint sub out of range"),
        ("3 * :nosuch", {}, 'undefined variable "nosuch"'),
        ("random(1, 10 * :x)", {"x": 1 << 62}, "bigint mul out of range"),
        ("random(1, 10 * :x)", {"x": -1}, "empty range given to random"),
        ("random(1, 10 * :x)", {"x": "abc"}, 'malformed variable "x" value: "abc"'),
    ],
)
def test_constant_and_variable_shapes_raise_as_the_general_rules(text, variables, message):
    with pytest.raises(ScriptRuntimeError, match=message):
        ev(text, **variables)


def test_scaled_random_draws_what_the_general_uniform_draws():
    """random(1, N * :scale), inline, takes the same values from the same stream as randoms.uniform."""
    draw = compile_expression("random(1, 100000 * :scale)")
    for scale in (1, "7", 10, 1 << 20):
        env, twin = _Env(scale=scale), random.Random(1)
        hi = 100000 * int(scale)
        assert [draw(env) for _ in range(200)] == [randoms.uniform(twin, 1, hi) for _ in range(200)]
    pg_env = _Env(scale=10)
    pg_env.rng = randoms.PgRandom(42)
    twin_pg = randoms.PgRandom(42)
    assert [draw(pg_env) for _ in range(50)] == [randoms.uniform(twin_pg, 1, 1_000_000) for _ in range(50)]
    fixed = compile_expression("random(-5000, 5000)")
    env, twin = _Env(), random.Random(1)
    assert [fixed(env) for _ in range(200)] == [randoms.uniform(twin, -5000, 5000) for _ in range(200)]
    pg_env, twin_pg = _Env(), randoms.PgRandom(7)
    pg_env.rng = randoms.PgRandom(7)
    assert [fixed(pg_env) for _ in range(50)] == [randoms.uniform(twin_pg, -5000, 5000) for _ in range(50)]
    # Past 2^32 outcomes the draw is randrange's, as in the general path.
    wide, twin = _Env(scale=1 << 30), random.Random(1)
    assert [draw(wide) for _ in range(20)] == [randoms.uniform(twin, 1, 100000 << 30) for _ in range(20)]


def test_double_division_by_zero_is_ieee():
    assert ev("1.0 / 0") == float("inf")
    assert ev("-1.0 / 0") == float("-inf")


@pytest.mark.parametrize(
    "text, offset, message",
    [
        ("1 +", 3, "syntax error"),
        ("1 + $", 4, "unexpected character"),
        ("foo(1)", 0, "unexpected function name"),
        ("random(1)", 0, "unexpected number of arguments"),
        ("least()", 0, "at least one argument expected"),
        ("hash(1, 2, 3)", 0, "unexpected number of arguments"),
        ("1 < 2 < 3", 6, "syntax error"),
        ("9223372036854775808", 0, "bigint constant overflow"),
        ("(1 + 2", 6, "syntax error"),
    ],
)
def test_expression_syntax_errors_have_offsets(text, offset, message):
    with pytest.raises(ExprSyntaxError) as info:
        compile_expression(text)
    assert info.value.offset == offset
    assert message in info.value.message


def test_precedence_of_bitwise_not_and_not():
    # '~' binds like the bitwise operators: ~(1 + 1), and (~1) | 4
    assert ev("~1 + 1") == ~2
    assert ev("~1 | 4") == (~1) | 4
    assert ev("not true and false") is False


def test_variable_string_forms():
    assert from_string("v", "  42 ") == 42
    assert from_string("v", "NULL") is None
    assert from_string("v", "t") is True and from_string("v", "of") is False
    assert from_string("v", "1.5e2") == 150.0
    assert to_text(0.1 + 0.2) == "0.3"
    assert to_text(1 / 3) == "0.333333333333333"
    assert to_text(True) == "true" and to_text(None) == "NULL"
    assert to_text(1e20) == "100000000000000000000" and to_text(-2.5e-8) == "-0.000000025"


# -- pgbench's deterministic functions (expected values produced by pgbench 16 with these arguments)


def test_hash_and_permute_match_pgbench():
    assert randoms.hash_fnv1a(5, 77) == 6867974851322647309
    assert randoms.hash_murmur2(-123456789, 99) == -3178464252896959869
    assert randoms.permute(12345, 1000000, 42) == 100143
    assert randoms.permute(-7, 13, -5) == 5


def test_default_seed_follows_pgbench_derivation():
    # pgbench --random-seed=1234: one base draw per client, then default_seed.
    assert C.default_seed(1234, clients=1) == -5870543891441561991
    assert C.default_seed(1234, clients=3) == 865690514014211109


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100, 1000])
def test_permute_is_a_bijection(size):
    for seed in (0, 1, -99, 2**40):
        image = {randoms.permute(i, size, seed) for i in range(size)}
        assert image == set(range(size))


def test_distribution_ranges_and_shapes():
    rng = random.Random(7)
    g = [randoms.gaussian(rng, 1, 10, 2.0) for _ in range(20000)]
    assert min(g) >= 1 and max(g) <= 10
    assert abs(sum(g) / len(g) - 5.5) < 0.1
    e = [randoms.exponential(rng, 1, 100, 5.0) for _ in range(20000)]
    assert min(e) >= 1 and max(e) <= 100 and sum(1 for v in e if v <= 20) > sum(1 for v in e if v > 20)
    z = [randoms.zipfian(rng, 1, 100, 1.5) for _ in range(20000)]
    assert min(z) >= 1 and max(z) <= 100 and z.count(1) > z.count(2) > z.count(10)
    u = [randoms.uniform(rng, -3, 3) for _ in range(7000)]
    assert set(u) == set(range(-3, 4))


# -- script parsing


def test_parse_splits_sql_and_meta_commands():
    text = (
        "-- leading comment\n"
        "\\set aid random(1, 100000 * :scale)\n"
        "SELECT ';' AS semi, $$ ; $$, \"a;b\" FROM t WHERE aid = :aid AND x::int = 1 /* ; */;\n"
        "SELECT :aid, :aid \\gset p_\n"
        "\\sleep 10 ms\n"
        "\\if :aid > 5\n  SELECT 1;\n\\elif :aid > 2\n  SELECT 2;\n\\else\n  SELECT 3;\n\\endif\n"
    )
    script = parse_script(text, "t.sql")
    kinds = [c.kind for c in script.commands]
    assert kinds == [S.SET, S.SQL, S.SQL, S.SLEEP, S.IF, S.SQL, S.ELIF, S.SQL, S.ELSE, S.SQL, S.ENDIF]
    first = script.commands[1]
    assert first.params == ("aid",) and b"aid = $1" in first.sql and b"x::int" in first.sql
    assert (first.line, first.column) == (3, 1)
    gset = script.commands[2]
    assert gset.store == "gset" and gset.prefix == "p_" and gset.sql == b"SELECT $1, $2"
    assert script.commands[3].sleep_unit == 1000 and script.commands[3].sleep_arg == "10"


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("\\set x 1 +\n", "s.sql:1:11", "syntax error"),
        ("SELECT 1;\n\\set y foo(2)\n", "s.sql:2:8", "unexpected function name"),
        ("SELECT 1;\n  \\setshell x\n", "s.sql:2:3", "missing argument"),
        ("\\setshell 9x echo 1\n", "s.sql:1:11", "invalid variable name"),
        ("\\shell\n", "s.sql:1:1", "missing command"),
        ("\\shell echo" + " a" * 255 + "\n", "s.sql:1:521", "too many arguments"),
        ("\\set i least(" + ", ".join(["1"] * 17) + ")\n", "s.sql:1:8", "too many function arguments, maximum is 16"),
        ("\\bogus\n", "s.sql:1:1", "invalid command"),
        ("\\sleep 1 fortnights\n", "s.sql:1:10", "unrecognized time unit"),
        ("\\sleep abc\n", "s.sql:1:8", "invalid sleep time"),
        ("\\gset\n", "s.sql:1:1", "must follow an SQL command"),
        ("SELECT 1;\n\\endif\n", "s.sql:2:1", "\\endif without matching \\if"),
        ("\\if true\nSELECT 1;\n", "s.sql:1:1", "\\if without matching \\endif"),
        ("\\if true\n\\else\n\\elif false\n\\endif\n", "s.sql:3:1", "\\elif after \\else"),
        ("\\startpipeline\nSELECT 1;\n", "s.sql:1:1", "pipeline open"),
        ("\\endpipeline\n", "s.sql:1:1", "outside a pipeline"),
        ("SELECT 'unterminated;\n", "s.sql:1:8", "unterminated quoted string"),
        ("-- only a comment\n", "s.sql:1", "empty command list"),
        ("\\set 1x 3\n", "s.sql:1:6", "invalid variable name"),
    ],
)
def test_script_errors_are_located(text, where, message):
    with pytest.raises(ScriptError) as info:
        parse_script(text, "s.sql")
    assert str(info.value).startswith(where + ":")
    assert message in str(info.value)


def test_simple_mode_rejects_pipelines():
    with pytest.raises(ScriptError, match="simple query protocol"):
        parse_script("\\startpipeline\nSELECT 1;\n\\endpipeline\n", "p.sql", mode="simple")


def _run_meta(text: str, **defines):
    script = parse_script(text, "m.sql")
    program = Program([script], defines={k: str(v) for k, v in defines.items()}, seed=5)
    client = program.client(3, random.Random(5))
    client.start(script)
    actions = []
    while True:
        action = client.advance()
        actions.append(action)
        if action == C.DONE:
            return client, actions
        if action == C.SEND:
            actions.append(client.cmd.text)


def test_client_follows_conditionals():
    text = (
        "\\if :v = 1\nSELECT 'one';\n\\elif :v = 2\nSELECT 'two';\n\\elif :v = 3\nSELECT 'three';\n"
        "\\else\nSELECT 'other';\n\\endif\nSELECT 'after';\n"
    )
    for v, expected in ((1, "one"), (2, "two"), (3, "three"), (9, "other")):
        _, actions = _run_meta(text, v=v)
        sent = [a for a in actions if isinstance(a, str)]
        assert sent == [f"SELECT '{expected}';", "SELECT 'after';"]


def test_client_variables_and_sleep():
    client, actions = _run_meta("\\set n :client_id * 10 + :scale\n\\sleep :n us\nSELECT :n;\n")
    assert client.vars["n"] == 31
    assert actions[0] == C.SLEEP and client.params == [b"31"]


def test_gset_row_count_is_checked():
    script = parse_script("SELECT 1 AS a \\gset\n", "g.sql")
    client = Program([script]).client(0, random.Random(1))
    client.start(script)
    assert client.advance() == C.SEND
    with pytest.raises(ScriptRuntimeError, match="expected one row, got 0"):
        client.store(client.cmd, ["a"], None, 0)
    client.store(client.cmd, ["a"], ["7"], 1)
    assert client.vars["a"] == "7"


def test_weights_and_builtins():
    assert S.split_weight("x.sql@5") == ("x.sql", 5)
    assert S.find_builtin("select") == "select-only"
    with pytest.raises(ValueError, match="ambiguous"):
        S.find_builtin("s")
    with pytest.raises(ValueError, match="invalid weight"):
        S.split_weight("x@y")
    scripts = S.load_scripts(["tpcb-like@0", "select-only@3"])
    program = Program(scripts)
    rng = random.Random(3)
    assert {program.choose(rng).name for _ in range(200)} == {"select-only"}


def test_pgbench_stream_draws_pgbench_values():
    # pgbench 16, --random-seed=99, two clients: the first three rows of each client's
    # random(1, 100000), random_gaussian(1, 100, 2.5), random_exponential(1, 100, 3),
    # random_zipfian(1, 100, 1.2).
    expected = {
        0: [(69331, 59, 55, 12), (85748, 39, 40, 6), (52974, 56, 32, 8)],
        1: [(60443, 24, 11, 2), (25406, 76, 31, 3), (67844, 75, 71, 51)],
    }
    script = parse_script(
        "\\set u random(1, 100000)\n\\set g random_gaussian(1, 100, 2.5)\n"
        "\\set e random_exponential(1, 100, 3)\n\\set z random_zipfian(1, 100, 1.2)\nSELECT 1;\n",
        "s.sql",
    )
    program = Program([script], seed=99, clients=2, stream="pgbench")
    for cid, rows in expected.items():
        client = program.client(cid, program.client_rng(cid, random.Random(0)))
        got = []
        for _ in rows:
            client.start(script)
            assert client.advance() == C.SEND
            got.append(tuple(client.vars[k] for k in "ugez"))
        assert got == rows


def test_joined_statements_are_one_command_with_plain_semicolons():
    script = parse_script("\\; SELECT 1 AS a \\; SELECT 2 AS b \\gset\n\\set n :b + 1\n", "j.sql", mode="simple")
    assert [c.kind for c in script.commands] == [S.SQL, S.SET]
    joined = script.commands[0]
    assert joined.store == "gset" and "\\" not in joined.text
    assert joined.text.count(";") == 2 and "SELECT 1 AS a  ; SELECT 2 AS b" in joined.text


def test_shell_commands_keep_their_words():
    script = parse_script("\\setshell n echo \\\n  :x ::lit\n\\shell true\n", "sh.sql")
    setshell, shell = script.commands
    assert (setshell.kind, setshell.var, setshell.args) == (S.SETSHELL, "n", ("echo", ":x", "::lit"))
    assert (shell.kind, shell.args) == (S.SHELL, ("true",))


def test_a_byte_order_mark_and_crlf_lines_are_read_as_plain_text(tmp_path):
    from stormdb_tui.pgbench import load_scripts

    path = tmp_path / "win.sql"
    path.write_bytes(b"\xef\xbb\xbf\\set aid random(1, 10)\r\nSELECT :aid;\r\n")
    (script,) = load_scripts([str(path)])
    assert [c.kind for c in script.commands] == [S.SET, S.SQL]
    assert script.commands[1].sql == b"SELECT $1;"


def test_setrandom_from_old_scripts_runs_as_set_random():
    import random

    script = parse_script(
        "\\set n 10 * :scale\n\\setrandom aid 1 :n\n\\setrandom g 1 100 gaussian 5.0\n\\setrandom e 1 100 exponential 2\n",
        "old.sql",
    )
    sets = script.commands[1:]
    assert [c.var for c in sets] == ["aid", "g", "e"]

    class Env:
        vars = {"scale": 2, "n": 20}
        rng = random.Random(3)

    draws = [sets[0].expr(Env) for _ in range(300)]
    assert min(draws) >= 1 and max(draws) <= 20 and len(set(draws)) == 20
    assert all(1 <= sets[1].expr(Env) <= 100 and 1 <= sets[2].expr(Env) <= 100 for _ in range(100))
    with pytest.raises(ScriptError, match="old.sql:1:19: unknown distribution"):
        parse_script("\\setrandom x 1 10 zipf 2\n", "old.sql")
    with pytest.raises(ScriptError, match="missing arguments"):
        parse_script("\\setrandom x 1\n", "old.sql")
