"""A pgbench client as a state machine that any driver can advance.

The driver (a blocking loop on one connection, or an event loop over many)
owns the connection; the client owns the script position, the variables and
the random stream. :meth:`Client.advance` runs meta-commands inline (``\\set``,
``\\if`` …; ``\\shell`` and ``\\setshell`` wait for their command, as pgbench's
client does) and stops at the next thing that needs the driver:

* ``SEND``: send ``client.cmd`` (its ``prepname``/``sql``/``text``) with
  ``client.params`` (text parameters, ``None`` for NULL) — or, in simple
  query mode, ``client.query``. Outside a pipeline the driver waits for the
  result, hands rows to :meth:`store` when ``cmd.store`` is set, then calls
  ``advance`` again; inside a pipeline it just sends and goes on.
* ``SLEEP``: call ``advance`` again at ``client.wake_ns`` (``perf_counter_ns``).
* ``START_PIPELINE`` / ``SYNC_PIPELINE`` / ``END_PIPELINE``: enter pipeline
  mode / send a sync / send a sync, read every pending result (storing the
  ones whose command has ``store``), leave pipeline mode.
* ``DONE``: the script finished: one transaction for the engine.

A failure in a meta-command raises :class:`ScriptRuntimeError`; SQL errors are
the driver's to raise. After either, :meth:`reset` makes the client ready for
the next script.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

from stormdb_tui.pgbench import script as S
from stormdb_tui.pgbench.errors import ScriptRuntimeError
from stormdb_tui.pgbench.expr import to_text, truth
from stormdb_tui.pgbench.randoms import PgRandom, Xoroshiro128, client_seeds, to_int64

SEND, SLEEP, START_PIPELINE, SYNC_PIPELINE, END_PIPELINE, DONE = range(1, 7)
RANDOM_STREAMS = ("python", "pgbench")

# Command kinds as module globals: one dictionary lookup each in the hot loop, not two.
_K_SQL, _K_SET, _K_SLEEP, _K_IF, _K_ELIF, _K_ELSE, _K_ENDIF = S.SQL, S.SET, S.SLEEP, S.IF, S.ELIF, S.ELSE, S.ENDIF
_K_START, _K_SYNC, _K_END = S.START_PIPELINE, S.SYNC_PIPELINE, S.END_PIPELINE


def default_seed(run_seed: int | None, clients: int = 1) -> int:
    """``:default_seed`` (the hash and permute seed): what pgbench derives from ``--random-seed``.

    pgbench seeds its base generator with the run seed, draws one seed per
    client, then one more for ``default_seed``; with the same seed and the
    same number of clients, hash() and permute() return pgbench's values.
    Without a run seed it is random, as in pgbench.
    """
    if run_seed is None:
        return to_int64(random.getrandbits(64))
    base = Xoroshiro128(run_seed)
    for _ in range(clients):
        base.next_u64()
    return to_int64(base.next_u64())


class Program:
    """The scripts of a run, their weights, and the variables every client starts with."""

    def __init__(
        self,
        scripts: Sequence[S.Script],
        *,
        mode: str = "prepared",
        scale: int = 1,
        defines: Mapping[str, str] | None = None,
        seed: int | None = None,
        clients: int = 1,
        stream: str = "python",
    ) -> None:
        if not scripts:
            raise ValueError("at least one script is needed")
        self.scripts = list(scripts)
        self.mode = mode
        weights = [s.weight for s in self.scripts]
        self.total_weight = sum(weights)
        if self.total_weight <= 0:
            raise ValueError("total script weight must not be zero")
        self.cumulative = list(itertools.accumulate(weights))
        self.by_name = {s.name: s for s in self.scripts}
        self.only = self.scripts[0] if len(self.scripts) == 1 else None
        """The one script, when there is no choice to draw."""
        base: dict[str, Any] = {"scale": scale, "random_seed": seed if seed is not None else 0}
        base["default_seed"] = default_seed(seed, clients)
        for name, value in (defines or {}).items():
            base[name] = value  # -D values are strings, converted on use like pgbench's
        self.base_vars = base
        if stream not in RANDOM_STREAMS:
            raise ValueError(f"random stream must be one of {', '.join(RANDOM_STREAMS)}")
        self.stream = stream
        self.seed = seed
        self._client_seeds: list[int] = []

    def client_rng(self, client_id: int, fallback: random.Random) -> Any:
        """The random stream of a client: ``fallback`` (Python's), or pgbench's own for this client."""
        if self.stream == "python":
            return fallback
        if self.seed is None:
            return PgRandom(fallback.getrandbits(64))
        if client_id >= len(self._client_seeds):
            self._client_seeds = client_seeds(self.seed, client_id + 1)
        return PgRandom(self._client_seeds[client_id])

    def choose(self, rng: random.Random) -> S.Script:
        """A script by weight, as pgbench's chooseScript (uniform over the total weight)."""
        if len(self.scripts) == 1:
            return self.scripts[0]
        w = int(rng.random() * self.total_weight)
        return self.scripts[bisect.bisect_right(self.cumulative, w)]

    def client(self, client_id: int, rng: Any) -> Client:
        return Client(self, client_id, rng)


class Client:
    """One client's variables, random stream and position in its current script."""

    __slots__ = ("program", "id", "rng", "vars", "script", "commands", "ncmd", "pc", "cmd", "params",
                 "query", "wake_ns", "in_pipeline", "pending", "simple")

    def __init__(self, program: Program, client_id: int, rng: Any) -> None:
        self.program = program
        self.id = client_id
        self.rng = rng
        self.vars: dict[str, Any] = dict(program.base_vars)
        self.vars["client_id"] = client_id
        self.script: S.Script | None = None
        self.commands: list[S.Command] = []
        self.ncmd = 0
        self.pc = 0
        self.cmd: S.Command | None = None
        self.params: list[bytes | None] = []
        self.query = b""
        self.wake_ns = 0
        self.in_pipeline = False
        self.simple = program.mode == "simple"
        self.pending: list[S.Command] = []
        """SQL commands sent in the open pipeline, in order (their results come back in that order)."""

    def start(self, script: S.Script) -> None:
        self.script = script
        self.commands = script.commands
        self.ncmd = len(script.commands)
        self.pc = 0
        self.in_pipeline = False
        if self.pending:
            self.pending.clear()

    reset = start

    def advance(self) -> int:
        """Run meta-commands up to the next action for the driver; returns the action."""
        commands = self.commands
        ncmd = self.ncmd
        pc = self.pc
        vars_ = self.vars
        while pc < ncmd:
            cmd = commands[pc]
            kind = cmd.kind
            if kind == _K_SQL:
                self.pc = pc + 1
                self.cmd = cmd
                if self.simple:
                    self.query = self._substitute(cmd.text)
                else:
                    self.params = self.bind(cmd)
                if self.in_pipeline:
                    self.pending.append(cmd)
                return SEND
            if kind == _K_SET:
                try:
                    vars_[cmd.var] = cmd.expr(self)  # type: ignore[misc]
                except ScriptRuntimeError as exc:
                    raise self._located(cmd, exc) from None
                pc += 1
            elif kind == _K_IF or kind == _K_ELIF:
                pc = self._branch(pc)
            elif kind == _K_ELSE:
                pc = cmd.end + 1  # reached from a taken branch: skip to after \endif
            elif kind == _K_ENDIF:
                pc += 1
            elif kind == _K_SLEEP:
                self.pc = pc + 1
                self.wake_ns = time.perf_counter_ns() + self._sleep_us(cmd) * 1000
                return SLEEP
            elif kind == _K_START:
                self.pc = pc + 1
                self.in_pipeline = True
                self.pending.clear()
                return START_PIPELINE
            elif kind == _K_SYNC:
                self.pc = pc + 1
                return SYNC_PIPELINE
            elif kind == _K_END:
                self.pc = pc + 1
                self.in_pipeline = False
                return END_PIPELINE
            else:  # \shell, \setshell: the client waits for the command, as pgbench's does
                self._shell(cmd)
                pc += 1
        self.pc = pc
        return DONE

    def bind(self, cmd: S.Command) -> list[bytes | None]:
        """The text parameters of SQL command ``cmd`` from the variables now."""
        vars_ = self.vars
        if cmd.key and type(v := vars_.get(cmd.key)) is int:
            return [b"%d" % v]  # the common one-key statement, without the general loop
        names = cmd.params
        if not names:
            return []
        # Integers (what \\set gives) in one comprehension; anything else the general way.
        params: list[bytes | None] = [b"%d" % v for name in names if type(v := vars_.get(name)) is int]
        return params if len(params) == len(names) else self._params(names)

    def _branch(self, pc: int) -> int:
        """Evaluate the \\if or \\elif at pc, then any following \\elif until one is true."""
        commands = self.commands
        cmd = commands[pc]
        if cmd.kind == S.ELIF:
            # Falling into an \elif means the branch before it ran: the chain is done.
            return cmd.end + 1
        while True:
            try:
                taken = truth(cmd.expr(self))  # type: ignore[misc]
            except ScriptRuntimeError as exc:
                raise self._located(cmd, exc) from None
            if taken:
                return pc + 1
            pc = cmd.target
            cmd = commands[pc]
            if cmd.kind == S.ELIF:
                continue
            return pc + 1  # the \else's body, or after \endif

    def _params(self, names: tuple[str, ...]) -> list[bytes | None]:
        vars_ = self.vars
        out: list[bytes | None] = []
        for name in names:
            v = vars_.get(name, _MISSING)
            t = type(v)
            if t is int:
                out.append(b"%d" % v)
            elif t is str:
                out.append(v.encode())
            elif v is _MISSING:
                out.append(None)  # pgbench sends an undefined variable as a NULL parameter
            else:
                out.append(to_text(v).encode())
        return out

    def _substitute(self, text: str) -> bytes:
        """Simple protocol: variables replaced by their text (unknown ``:names`` stay as written)."""
        vars_ = self.vars

        def repl(m: Any) -> str:
            v = vars_.get(m.group(1), _MISSING)
            return m.group() if v is _MISSING else to_text(v)

        return _SUBST_RE.sub(repl, text).encode()

    def _sleep_us(self, cmd: S.Command) -> int:
        arg = cmd.sleep_arg
        if arg.startswith(":"):
            name = arg[1:]
            if name not in self.vars:
                raise self._located(cmd, ScriptRuntimeError(f'sleep: undefined variable "{name}"'))
            text = to_text(self.vars[name]).strip()
            digits = _LEADING_INT.match(text)
            if digits is None or not digits.group().lstrip("+-"):
                raise self._located(cmd, ScriptRuntimeError(f'sleep: invalid sleep time "{text}" for variable "{name}"'))
            value = int(digits.group())
        else:
            value = int(arg)
        return max(value * cmd.sleep_unit, 0)

    def _shell(self, cmd: S.Command) -> None:
        """Run ``\\shell`` (exit status checked) or ``\\setshell`` (its first output line is an integer)."""
        name = "setshell" if cmd.kind == S.SETSHELL else "shell"
        words = []
        for word in cmd.args:
            if word.startswith("::"):
                words.append(word[1:])
            elif word.startswith(":"):
                value = self.vars.get(word[1:], _MISSING)
                if value is _MISSING:
                    raise self._located(cmd, ScriptRuntimeError(f'{name}: undefined variable "{word}"'))
                words.append(to_text(value))
            else:
                words.append(word)
        command = " ".join(words)
        # Output is captured, not printed: it would land in the middle of the workbench's screen.
        try:
            done = subprocess.run(command, shell=True, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        except OSError as exc:
            raise self._located(cmd, ScriptRuntimeError(f"{name}: could not launch shell command: {exc}")) from None
        if cmd.kind == S.SHELL:
            if done.returncode != 0:
                raise self._located(
                    cmd, ScriptRuntimeError(f"shell: could not launch shell command (exit status {done.returncode})")
                )
            return
        out = done.stdout.decode(errors="replace")
        if not out:
            raise self._located(cmd, ScriptRuntimeError("setshell: could not read result of shell command"))
        first = out.split("\n", 1)[0][:63]  # pgbench reads one line into a 64-byte buffer
        if not _SHELL_INT.fullmatch(first):
            raise self._located(cmd, ScriptRuntimeError(f'setshell: shell command must return an integer (not "{first}")'))
        self.vars[cmd.var] = min(max(int(first), -(1 << 63)), (1 << 63) - 1)  # strtol saturates

    def store(self, cmd: S.Command, fields: Sequence[str], row: Sequence[str | None] | None, ntuples: int) -> None:
        """Put one result's last row into variables, for the command's \\gset or \\aset."""
        if cmd.store == "gset" and ntuples != 1:
            raise self._located(cmd, ScriptRuntimeError(f"\\gset: expected one row, got {ntuples}"))
        if row is None or ntuples <= 0:
            return
        prefix = cmd.prefix
        for name, value in zip(fields, row, strict=True):
            var = prefix + name
            if not S.valid_variable_name(var):
                raise self._located(cmd, ScriptRuntimeError(f'\\{cmd.store}: invalid variable name: "{var}"'))
            self.vars[var] = "" if value is None else value

    def _located(self, cmd: S.Command, exc: ScriptRuntimeError) -> ScriptRuntimeError:
        name = self.script.name if self.script else "?"
        return ScriptRuntimeError(f"script {name} line {cmd.line}: {exc}")


class _Missing:
    pass


_MISSING = _Missing()

_SUBST_RE = re.compile(r":([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)")
_SHELL_INT = re.compile(r"\s*[+-]?\d+\s*")
_LEADING_INT = re.compile(r"[+-]?\d*")
