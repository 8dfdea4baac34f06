"""pgbench script files: split into SQL and meta-commands, with located errors.

A script is parsed once into a flat list of :class:`Command`. SQL commands
end at a semicolon outside quotes, comments and dollar quoting (or where a
backslash command starts); meta-commands run to the end of their line
(a trailing backslash continues it). ``\\gset``/``\\aset`` attach to the SQL
command before them. ``\\if``/``\\elif``/``\\else``/``\\endif`` are checked
and resolved to jump targets here, so a client only follows indexes.

``\\;`` joins SQL statements into one command (one round trip in simple
query mode), as in psql and pgbench. Every error names ``file:line:column``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stormdb_tui.pgbench.errors import ScriptError
from stormdb_tui.pgbench.expr import Evaluator, ExprSyntaxError, compile_expression

SQL, SET, SLEEP, IF, ELIF, ELSE, ENDIF, START_PIPELINE, SYNC_PIPELINE, END_PIPELINE, SHELL, SETSHELL = range(12)
QUERY_MODES = ("prepared", "extended", "simple")
MAX_PARAMS = 255
MAX_SHELL_ARGS = 255
"""pgbench's MAX_ARGS (256) counts the command's own name."""

# Identifier characters as pgbench's lexers define them: ASCII letters, digits and
# underscore, and any non-ASCII character. Written as negated ASCII classes because a
# class spanning up to U+10FFFF takes a tenth of a second to compile.
_VAR_RE = re.compile(r":([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)")
_VALID_NAME = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*\Z")
_DOLLAR_TAG = re.compile(r"\$([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)?\$")
_SLEEP_UNITS = {"us": 1, "ms": 1000, "s": 1_000_000}


def valid_variable_name(name: str) -> bool:
    """pgbench's rule: a letter, underscore or non-ASCII character, then those or digits."""
    return _VALID_NAME.match(name) is not None

BUILTIN_SCRIPTS = {
    "tpcb-like": (
        "\\set aid random(1, 100000 * :scale)\n"
        "\\set bid random(1, 1 * :scale)\n"
        "\\set tid random(1, 10 * :scale)\n"
        "\\set delta random(-5000, 5000)\n"
        "BEGIN;\n"
        "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n"
        "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
        "UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;\n"
        "UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;\n"
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);\n"
        "END;\n"
    ),
    "simple-update": (
        "\\set aid random(1, 100000 * :scale)\n"
        "\\set bid random(1, 1 * :scale)\n"
        "\\set tid random(1, 10 * :scale)\n"
        "\\set delta random(-5000, 5000)\n"
        "BEGIN;\n"
        "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n"
        "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);\n"
        "END;\n"
    ),
    "select-only": "\\set aid random(1, 100000 * :scale)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n",
}


@dataclass
class Command:
    """One step of a script. Which fields matter depends on ``kind``."""

    kind: int
    line: int
    column: int
    text: str = ""
    """SQL as written (simple mode substitutes variables into it), or the meta-command's line."""
    sql: bytes = b""
    """SQL with ``$n`` placeholders (prepared and extended modes)."""
    params: tuple[str, ...] = ()
    """Variable names bound to ``$1``, ``$2`` … in order."""
    key: str = ""
    """The one variable when there is exactly one parameter (the common ``WHERE aid = :aid``)."""
    prepname: bytes = b""
    store: str | None = None
    """``"gset"`` or ``"aset"`` when the results go into variables."""
    prefix: str = ""
    var: str = ""
    expr: Evaluator | None = None
    sleep_arg: str = ""
    args: tuple[str, ...] = ()
    """``\\shell``/``\\setshell``: the command's words (``:name`` is a variable, ``::x`` the text ``:x``)."""
    sleep_unit: int = 1_000_000
    target: int = 0
    """For IF/ELIF: the next branch when false; for ELIF/ELSE reached from a taken branch: after ENDIF."""
    end: int = 0


@dataclass
class Script:
    """A parsed script: its label, weight and commands."""

    name: str
    weight: int
    commands: list[Command]
    source: str
    pipelined: bool = False
    sql_count: int = field(default=0)
    straight: bool = False
    """Only ``\\set`` and SQL, ending with SQL, nothing stored: a driver may run it without the general
    state machine (every round trip is the next statement, after the ``\\set``s before it)."""

    def describe(self) -> str:
        return f"{self.name} (weight {self.weight}, {self.sql_count} SQL commands)"


class _Locator:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1


def _ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ord(ch) >= 0x80


def parse_script(
    text: str,
    source: str,
    *,
    name: str | None = None,
    weight: int = 1,
    mode: str = "prepared",
    script_index: int = 0,
) -> Script:
    """Parse script ``text`` (named ``source`` in messages) for query ``mode``."""
    if mode not in QUERY_MODES:
        raise ValueError(f"query mode must be one of {', '.join(QUERY_MODES)}")
    loc = _Locator(text)
    commands: list[Command] = []

    def fail(offset: int, message: str) -> ScriptError:
        line, col = loc.at(offset)
        return ScriptError(source, line, col, message)

    joins: list[int] = []
    """Offsets of ``\\;``: the server gets a plain ``;`` there, inside the same command."""

    def add_sql(start: int, end: int) -> None:
        chunk = text[start:end]
        for at in reversed([j - start for j in joins if start <= j < end]):
            chunk = chunk[:at] + " ;" + chunk[at + 2:]  # same length: columns of later errors still match
        body = _skip_comments(chunk)
        if body is None:
            return
        lead = len(chunk) - len(body)
        line, col = loc.at(start + lead)
        commands.append(_sql_command(body, line, col, mode, len(commands), script_index, fail, start + lead))

    i = 0
    n = len(text)
    start = 0
    depth = 0
    while i < n:
        ch = text[i]
        if ch == "'":
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not _ident_char(text[i - 2]))
            i = _end_of_quote(text, i, "'", escapes, fail)
            continue
        if ch == '"':
            i = _end_of_quote(text, i, '"', False, fail)
            continue
        if ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if ch == "/" and text.startswith("/*", i):
            i = _end_of_block_comment(text, i, fail)
            continue
        if ch == "$" and (i == 0 or not _ident_char(text[i - 1])):
            m = _DOLLAR_TAG.match(text, i)
            if m:
                close = text.find(m.group(), m.end())
                if close < 0:
                    raise fail(i, "unterminated dollar-quoted string")
                i = close + len(m.group())
                continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == ";" and depth == 0:
            add_sql(start, i + 1)
            start = i + 1
        elif ch == "\\":
            if text.startswith("\\;", i):
                joins.append(i)
                i += 2
                continue
            add_sql(start, i)
            i = _meta_command(text, i, commands, loc, fail, mode)
            start = i
            depth = 0
            continue
        i += 1
    add_sql(start, n)
    if not commands:
        raise ScriptError(source, 1, 0, f'empty command list for script "{source}"')
    _resolve_conditionals(commands, source)
    pipelined = _check_pipelines(commands, source, mode)
    label = name or source
    straight = (
        commands[-1].kind == SQL
        and all(c.kind in (SET, SQL) for c in commands)
        and all(c.store is None for c in commands)
    )
    return Script(label, weight, commands, source, pipelined, sum(1 for c in commands if c.kind == SQL), straight)


def _end_of_quote(text: str, i: int, quote: str, escapes: bool, fail) -> int:
    j = i + 1
    n = len(text)
    while j < n:
        ch = text[j]
        if escapes and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    raise fail(i, "unterminated quoted string" if quote == "'" else "unterminated quoted identifier")


def _end_of_block_comment(text: str, i: int, fail) -> int:
    depth = 0
    j = i
    n = len(text)
    while j < n:
        if text.startswith("/*", j):
            depth += 1
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise fail(i, "unterminated /* comment")


def _skip_comments(chunk: str) -> str | None:
    """The SQL after leading whitespace and ``--`` comments, or None when nothing is left (as pgbench)."""
    p = 0
    n = len(chunk)
    while p < n:
        if chunk[p].isspace():
            p += 1
        elif chunk.startswith("--", p):
            j = chunk.find("\n", p)
            if j < 0:
                return None
            p = j + 1
        else:
            break
    body = chunk[p:]
    return body if body.strip() else None


def _sql_command(body: str, line: int, col: int, mode: str, index: int, script_index: int, fail, offset: int) -> Command:
    text = body.rstrip()
    cmd = Command(SQL, line, col, text=text)
    if mode == "simple":
        return cmd
    # pgbench replaces every :name (quotes are not looked at) by $n, one per occurrence.
    names: list[str] = []

    def repl(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return f"${len(names)}"

    out = []
    pos = 0
    while True:
        j = text.find(":", pos)
        if j < 0:
            out.append(text[pos:])
            break
        m = _VAR_RE.match(text, j)
        if m is None:
            k = j
            while k < len(text) and text[k] == ":":
                k += 1
            out.append(text[pos:k])
            pos = k
            continue
        out.append(text[pos:j])
        out.append(repl(m))
        pos = m.end()
    if len(names) > MAX_PARAMS:
        raise fail(offset, f"statement has too many arguments (maximum is {MAX_PARAMS})")
    cmd.sql = "".join(out).encode()
    cmd.params = tuple(names)
    cmd.key = names[0] if len(names) == 1 else ""
    if mode == "prepared":
        cmd.prepname = f"pgb{script_index}_{index}".encode()
    return cmd


def _meta_command(text: str, i: int, commands: list[Command], loc: _Locator, fail, mode: str) -> int:
    """Parse the backslash command at ``i``; returns the offset after its line."""
    n = len(text)
    j = i + 1
    # The command's extent: to the newline, continuing over backslash-newline.
    end = j
    while end < n and text[end] != "\n":
        if text[end] == "\\" and text.startswith("\n", end + 1):
            end += 2
            continue
        if text[end] == "\\" and text.startswith("\r\n", end + 1):
            end += 3
            continue
        end += 1
    body = text[j:end]
    line, col = loc.at(i)
    words = [(m.group(), j + m.start()) for m in re.finditer(r"[^ \t\r\f\v\n\\]+(?:\\(?!\r?\n)[^ \t\r\f\v\n\\]*)*", body)]
    after = end + 1 if end < n else end
    if not words:
        raise fail(i, "missing command name after backslash")
    name, name_at = words[0]
    cmdname = name.lower()
    where = f' in command "{name}"'

    if cmdname in ("set", "if", "elif"):
        rest_at = name_at + len(name)
        if cmdname == "set":
            if len(words) < 2:
                raise fail(i, "missing argument" + where)
            var, var_at = words[1]
            if not _VALID_NAME.match(var):
                raise fail(var_at, f'invalid variable name: "{var}"' + where)
            rest_at = var_at + len(var)
        expr_text = text[rest_at:end]
        if not expr_text.strip():
            raise fail(rest_at, "missing expression" + where)
        try:
            evaluator = compile_expression(expr_text)
        except ExprSyntaxError as exc:
            raise fail(rest_at + exc.offset, exc.message + where) from None
        kind = {"set": SET, "if": IF, "elif": ELIF}[cmdname]
        commands.append(Command(kind, line, col, text=text[i:end], var=words[1][0] if kind == SET else "", expr=evaluator))
        return after

    args = words[1:]
    if cmdname == "setrandom":
        return _setrandom(text, i, end, args, commands, line, col, fail, where, after)
    if cmdname == "sleep":
        if not args:
            raise fail(i, "missing argument" + where)
        if len(args) > 2:
            raise fail(args[2][1], "too many arguments" + where)
        arg, arg_at = args[0]
        unit_text = args[1][0] if len(args) > 1 else None
        unit_at = args[1][1] if len(args) > 1 else arg_at
        if not arg.startswith(":"):
            m = re.match(r"[+-]?(\d*)", arg)
            assert m is not None
            if not m.group(1):
                raise fail(arg_at, f"invalid sleep time, must be an integer ({arg})" + where)
            if m.end() < len(arg):
                if unit_text is not None:
                    raise fail(arg_at, f"invalid sleep time, must be an integer ({arg})" + where)
                unit_text, unit_at = arg[m.end():], arg_at + m.end()
                arg = arg[: m.end()]
            if not _VALID_NAME.match("x" + arg.lstrip("+-")) and not arg.lstrip("+-").isdigit():
                raise fail(arg_at, f"invalid sleep time, must be an integer ({arg})" + where)
        unit = 1_000_000
        if unit_text is not None:
            if unit_text.lower() not in _SLEEP_UNITS:
                raise fail(unit_at, f"unrecognized time unit, must be us, ms or s ({unit_text})" + where)
            unit = _SLEEP_UNITS[unit_text.lower()]
        commands.append(Command(SLEEP, line, col, text=text[i:end], sleep_arg=arg, sleep_unit=unit))
        return after
    if cmdname in ("gset", "aset"):
        if len(args) > 1:
            raise fail(args[1][1], "too many arguments" + where)
        prev = commands[-1] if commands else None
        if prev is None or prev.kind != SQL or prev.store is not None:
            raise fail(i, f"\\{cmdname} must follow an SQL command")
        prev.store = cmdname
        prev.prefix = args[0][0] if args else ""
        return after
    simple = {"else": ELSE, "endif": ENDIF, "startpipeline": START_PIPELINE,
              "syncpipeline": SYNC_PIPELINE, "endpipeline": END_PIPELINE}
    if cmdname in simple:
        if args:
            raise fail(args[0][1], "unexpected argument" + where)
        commands.append(Command(simple[cmdname], line, col, text=text[i:end]))
        return after
    if cmdname in ("setshell", "shell"):
        if cmdname == "setshell":
            if not args:
                raise fail(i, "missing argument" + where)
            var, var_at = args[0]
            if not _VALID_NAME.match(var):
                raise fail(var_at, f'invalid variable name: "{var}"' + where)
            args = args[1:]
        else:
            var = ""
        if not args:
            raise fail(i, ("missing argument" if var else "missing command") + where)
        if len(args) + (2 if var else 1) > MAX_SHELL_ARGS + 1:
            raise fail(args[-1][1], "too many arguments" + where)
        kind = SETSHELL if var else SHELL
        commands.append(Command(kind, line, col, text=text[i:end], var=var, args=tuple(w for w, _ in args)))
        return after
    raise fail(i, "invalid command" + where)


_SETRANDOM = {"uniform": "random", "gaussian": "random_gaussian", "exponential": "random_exponential"}


def _setrandom(
    text: str, i: int, end: int, args: list[tuple[str, int]], commands: list[Command],
    line: int, col: int, fail: Any, where: str, after: int,
) -> int:
    """``\\setrandom var min max [uniform | gaussian P | exponential P]``, from pgbench before 9.6.

    Scripts of that time (pgbench-tools' among them) still circulate; it is the
    ``\\set var random…(min, max[, P])`` that replaced it, so it runs as one.
    """
    if len(args) < 3:
        raise fail(i, "missing arguments" + where)
    (var, var_at), (lo, _), (hi, _) = args[:3]
    if not _VALID_NAME.match(var):
        raise fail(var_at, f'invalid variable name: "{var}"' + where)
    rest = args[3:]
    kind = rest[0][0].lower() if rest else "uniform"
    if kind not in _SETRANDOM:
        raise fail(rest[0][1], f"unknown distribution ({rest[0][0]}), must be uniform, gaussian or exponential" + where)
    wanted = 1 if kind == "uniform" else 2
    if len(rest) > wanted or (rest and len(rest) < wanted):
        raise fail(rest[-1][1] if rest else i, ("missing" if len(rest) < wanted else "too many") + " arguments" + where)
    parts = [lo, hi] + ([rest[1][0]] if kind != "uniform" else [])
    expr_text = f"{_SETRANDOM[kind]}({', '.join(parts)})"
    try:
        evaluator = compile_expression(expr_text)
    except ExprSyntaxError as exc:
        raise fail(args[1][1], exc.message + where) from None
    commands.append(Command(SET, line, col, text=text[i:end], var=var, expr=evaluator))
    return after


def _resolve_conditionals(commands: list[Command], source: str) -> None:
    """Check \\if structure as pgbench does and link each branch to the next one and to its \\endif."""
    stack: list[list[int]] = []  # per open \if: indexes of its IF/ELIF/ELSE commands
    for idx, cmd in enumerate(commands):
        if cmd.kind == IF:
            stack.append([idx])
        elif cmd.kind in (ELIF, ELSE):
            name = "\\elif" if cmd.kind == ELIF else "\\else"
            if not stack:
                raise ScriptError(source, cmd.line, cmd.column, f"{name} without matching \\if")
            if commands[stack[-1][-1]].kind == ELSE:
                raise ScriptError(source, cmd.line, cmd.column, f"{name} after \\else")
            stack[-1].append(idx)
        elif cmd.kind == ENDIF:
            if not stack:
                raise ScriptError(source, cmd.line, cmd.column, "\\endif without matching \\if")
            branches = stack.pop()
            for k, b in enumerate(branches):
                nxt = branches[k + 1] if k + 1 < len(branches) else idx
                commands[b].target = nxt
                commands[b].end = idx
            cmd.end = idx
    if stack:
        first = commands[stack[-1][0]]
        raise ScriptError(source, first.line, first.column, "\\if without matching \\endif")


def _check_pipelines(commands: list[Command], source: str, mode: str) -> bool:
    open_at: Command | None = None
    seen = False
    for cmd in commands:
        if cmd.kind == START_PIPELINE:
            if mode == "simple":
                raise ScriptError(source, cmd.line, cmd.column, "pipeline mode cannot be used with the simple query protocol")
            if open_at is not None:
                raise ScriptError(source, cmd.line, cmd.column, "already in pipeline mode")
            open_at = cmd
            seen = True
        elif cmd.kind in (SYNC_PIPELINE, END_PIPELINE):
            if open_at is None:
                what = "\\syncpipeline" if cmd.kind == SYNC_PIPELINE else "\\endpipeline"
                raise ScriptError(source, cmd.line, cmd.column, f"{what} outside a pipeline")
            if cmd.kind == END_PIPELINE:
                open_at = None
        elif cmd.kind == SQL and cmd.store and open_at is not None:
            raise ScriptError(source, cmd.line, cmd.column, f"\\{cmd.store} is not allowed in pipeline mode")
    if open_at is not None:
        raise ScriptError(source, open_at.line, open_at.column, "end of script reached with pipeline open")
    return seen


def wrap_in_pipeline(script: Script) -> Script:
    """The script with its commands between \\startpipeline and \\endpipeline (the ``pipeline`` option)."""
    if script.pipelined:
        return script
    stores = [c for c in script.commands if c.kind == SQL and c.store]
    if stores:
        raise ScriptError(
            script.source, stores[0].line, stores[0].column,
            f"\\{stores[0].store} is not allowed in pipeline mode (the pipeline option wraps the whole script)",
        )
    first = script.commands[0]
    last = script.commands[-1]
    commands = [Command(START_PIPELINE, first.line, 0)]
    shift = 1
    for cmd in script.commands:
        copy = Command(**{**cmd.__dict__})
        if copy.kind in (IF, ELIF, ELSE, ENDIF):
            copy.target += shift
            copy.end += shift
        commands.append(copy)
    commands.append(Command(END_PIPELINE, last.line, 0))
    return Script(script.name, script.weight, commands, script.source, True, script.sql_count)


def split_weight(spec: str) -> tuple[str, int]:
    """``name@W`` -> (name, W); weight 1 when absent, as pgbench's -f/-b."""
    if "@" not in spec:
        return spec, 1
    name, _, weight = spec.rpartition("@")
    if not re.fullmatch(r"\d+", weight.strip()):
        raise ValueError(f"invalid weight specification: @{weight}")
    value = int(weight)
    if value > 2**31 - 1:
        raise ValueError(f"weight specification out of range (0 .. 2147483647): {value}")
    return name, value


def find_builtin(name: str) -> str | None:
    """The built-in script a (possibly abbreviated, as pgbench allows) name means, or None."""
    if name in BUILTIN_SCRIPTS:
        return name
    matches = [b for b in BUILTIN_SCRIPTS if b.startswith(name)]
    if len(matches) > 1:
        raise ValueError(f'ambiguous builtin name: {len(matches)} builtin scripts found for prefix "{name}"')
    return matches[0] if matches else None


def load_scripts(specs: list[str], *, mode: str = "prepared", base: Path | None = None) -> list[Script]:
    """Parse ``name@W`` specs: built-in names (``tpcb-like``, ``select-only``…) or script files.

    Labels are the built-in's name or the file's stem, made unique. Raises
    :class:`ScriptError` (located) for bad scripts and ``ValueError`` for bad specs.
    """
    scripts: list[Script] = []
    labels: set[str] = set()
    for idx, spec in enumerate(specs):
        target, weight = split_weight(spec.strip())
        builtin = None if ("/" in target or target.endswith(".sql")) else find_builtin(target)
        if builtin is not None:
            text, source, label = BUILTIN_SCRIPTS[builtin], builtin, builtin
        else:
            path = Path(target).expanduser()
            if base is not None and not path.is_absolute() and not path.exists():
                path = base / path
            try:
                # utf-8-sig: an editor's byte-order mark would otherwise reach the server as SQL.
                text = path.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                known = ", ".join(BUILTIN_SCRIPTS)
                raise ValueError(f"no script file or built-in script named {target!r} (built-ins: {known})") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read script {target}: {exc}") from None
            source, label = str(target), Path(target).stem or str(target)
        unique, k = label, 2
        while unique in labels:
            unique, k = f"{label}-{k}", k + 1
        labels.add(unique)
        scripts.append(parse_script(text, source, name=unique, weight=weight, mode=mode, script_index=idx))
    if scripts and sum(s.weight for s in scripts) == 0:
        raise ValueError("total script weight must not be zero")
    return scripts
