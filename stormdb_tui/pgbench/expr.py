"""The expression language of ``\\set``, ``\\if`` and ``\\elif``: lexer, parser, compiled evaluator.

Grammar, precedence and value rules are pgbench's (its ``exprparse.y`` and
documentation): integer, double, boolean and NULL values; integer arithmetic
that fails on bigint overflow; double arithmetic as C does it; SQL-like
three-valued ``AND``/``OR``; ``CASE``; and the built-in functions. A parsed
expression is compiled into nested closures, so evaluating ``random(1,
100000 * :scale)`` costs a few Python calls and no tree walk.

Values are Python objects: ``None`` (NULL), ``bool``, ``int``, ``float``, or
``str`` for a variable that only has a string form (from ``-D`` or
``\\gset``), which is converted on use with pgbench's rules.
"""

from __future__ import annotations

import math
import random
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from stormdb_tui.pgbench import randoms
from stormdb_tui.pgbench.errors import ScriptRuntimeError
from stormdb_tui.pgbench.randoms import INT64_MAX, INT64_MIN

Evaluator = Callable[[Any], Any]
"""A compiled expression: called with the client (``.vars``, ``.rng``), returns a value."""


class ExprSyntaxError(Exception):
    """A syntax error at ``offset`` (characters from the start of the expression text)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# -- values ---------------------------------------------------------------

_INT_RE = re.compile(r"^\s*[-+]?\d+\s*$")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if type(value) is int:
        return "int"
    return "double"


def from_string(name: str, text: str) -> Any:
    """A variable's string form converted as pgbench's makeVariableValue does."""
    n = len(text)
    if n == 0:
        raise ScriptRuntimeError(f'malformed variable "{name}" value: ""')
    low = text.lower()
    if low == "null":
        return None
    if "true".startswith(low) or "yes".startswith(low) or low == "on":
        return True
    if "false".startswith(low) or "no".startswith(low) or low in ("off", "of"):
        return False
    if _INT_RE.match(text):
        value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ScriptRuntimeError(f'value "{text}" is out of range for type bigint')
        return value
    try:
        if "_" in text:  # Python's float() reads digit separators; strtod does not
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise ScriptRuntimeError(f'malformed variable "{name}" value: "{text}"') from None


def to_text(value: Any) -> str:
    """A value's string form, as pgbench substitutes it into SQL (doubles with 15 digits)."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "NULL"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = f"{value:.15g}"
        if "e" in text:
            # pgbench's %g (PostgreSQL's own snprintf) never switches to exponent
            # notation: 1e20 is sent as 100000000000000000000, 3e-05 as 0.00003.
            text = format(Decimal(text), "f")
        return text
    return str(value)


def truth(value: Any) -> bool:
    """pgbench's valueTruth: NULL and zero are false (for \\if and CASE)."""
    if value is None:
        return False
    return bool(value)


def _as_int(value: Any) -> int:
    t = type(value)
    if t is int:
        return value
    if t is float:
        rounded = round(value) if not (math.isnan(value) or math.isinf(value)) else value
        if isinstance(rounded, float) or not INT64_MIN <= rounded <= INT64_MAX:
            raise ScriptRuntimeError(f"double to int overflow for {value:f}")
        return rounded
    raise ScriptRuntimeError(f"cannot coerce {type_name(value)} to int")


def _as_double(value: Any) -> float:
    t = type(value)
    if t is float:
        return value
    if t is int:
        return float(value)
    raise ScriptRuntimeError(f"cannot coerce {type_name(value)} to double")


def _as_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise ScriptRuntimeError(f"cannot coerce {type_name(value)} to boolean")


def _fdiv(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _idiv(a: int, b: int) -> int:
    if b == 0:
        raise ScriptRuntimeError("division by zero")
    if b == -1:
        if a == INT64_MIN:
            raise ScriptRuntimeError("bigint div out of range")
        return -a
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _imod(a: int, b: int) -> int:
    if b == 0:
        raise ScriptRuntimeError("division by zero")
    if b == -1:
        return 0
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _checked(result: int, what: str) -> int:
    if INT64_MIN <= result <= INT64_MAX:
        return result
    raise ScriptRuntimeError(f"bigint {what} out of range")


def _arith(op: str) -> Callable[[Any, Any], Any]:
    fop: Callable[[Any, Any], Any]
    iop: Callable[[Any, Any], Any]
    if op == "+":
        fop, iop = (lambda a, b: a + b), (lambda a, b: _checked(a + b, "add"))
    elif op == "-":
        fop, iop = (lambda a, b: a - b), (lambda a, b: _checked(a - b, "sub"))
    elif op == "*":
        fop, iop = (lambda a, b: a * b), (lambda a, b: _checked(a * b, "mul"))
    elif op == "/":
        fop, iop = _fdiv, _idiv
    elif op == "=":
        fop = iop = lambda a, b: a == b
    elif op == "<>":
        fop = iop = lambda a, b: a != b
    elif op == "<":
        fop = iop = lambda a, b: a < b
    elif op == "<=":
        fop = iop = lambda a, b: a <= b
    else:
        raise AssertionError(op)

    def apply(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is int and tb is int:
            return iop(a, b)
        if a is None or b is None:
            return None
        if ta is float or tb is float:
            return fop(_as_double(a), _as_double(b))
        return iop(_as_int(a), _as_int(b))

    return apply


def _bitwise(op: str) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        x, y = _as_int(a), _as_int(b)
        if op == "&":
            return x & y
        if op == "|":
            return x | y
        if op == "#":
            return x ^ y
        # C shifts of int64: the count is taken modulo 64 on the hardware pgbench runs on.
        if op == "<<":
            return randoms.to_int64(x << (y & 63))
        return x >> (y & 63)

    return apply


def _mod(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    return _imod(_as_int(a), _as_int(b))


# -- functions ------------------------------------------------------------


def _fn_abs(v: Any) -> Any:
    if type(v) is int:
        return randoms.to_int64(-v) if v < 0 else v
    return abs(_as_double(v))


def _safe_math(fn: Callable[[float], float], edge: Callable[[float], float]) -> Callable[[Any], float]:
    def apply(v: Any) -> float:
        d = _as_double(v)
        try:
            return fn(d)
        except (ValueError, OverflowError):
            return edge(d)

    return apply


def _ln_edge(d: float) -> float:
    return -math.inf if d == 0.0 else math.nan


def _pow(a: Any, b: Any) -> float:
    x, y = _as_double(a), _as_double(b)
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf
    except ValueError:
        if x == 0.0 and y < 0:
            return math.inf
        return math.nan


def _extremum(pick: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        if any(type(a) is float for a in args):
            return float(pick(_as_double(a) for a in args))
        return pick(_as_int(a) for a in args)

    return apply


def _random_range(lo: Any, hi: Any) -> tuple[int, int]:
    imin, imax = _as_int(lo), _as_int(hi)
    if imin > imax:
        raise ScriptRuntimeError("empty range given to random")
    if imax - imin + 1 > INT64_MAX:
        raise ScriptRuntimeError("random range is too large")
    return imin, imax


def _fn_debug(v: Any) -> Any:
    if v is None:
        text = "null"
    elif v is True or v is False:
        text = f"boolean {'true' if v else 'false'}"
    elif type(v) is int:
        text = f"int {v}"
    else:
        text = f"double {to_text(v)}"
    print(f"debug: {text}", file=sys.stderr)
    return v


def _fn_permute(v: Any, size: Any, seed: Any) -> int:
    isize = _as_int(size)
    if isize <= 0:
        raise ScriptRuntimeError("permute size parameter must be greater than zero")
    return randoms.permute(_as_int(v), isize, _as_int(seed))


# name -> (min args, max args, implementation); None max = any number.
_FUNCTIONS: dict[str, tuple[int, int | None, Any]] = {
    "abs": (1, 1, _fn_abs),
    "least": (1, None, _extremum(min)),
    "greatest": (1, None, _extremum(max)),
    "debug": (1, 1, _fn_debug),
    "pi": (0, 0, lambda: math.pi),
    "sqrt": (1, 1, _safe_math(math.sqrt, lambda d: math.nan)),
    "ln": (1, 1, _safe_math(math.log, _ln_edge)),
    "exp": (1, 1, _safe_math(math.exp, lambda d: math.inf)),
    "int": (1, 1, _as_int),
    "double": (1, 1, _as_double),
    "mod": (2, 2, _mod),
    "pow": (2, 2, _pow),
    "power": (2, 2, _pow),
    "random": (2, 2, "random"),
    "random_gaussian": (3, 3, "random_gaussian"),
    "random_exponential": (3, 3, "random_exponential"),
    "random_zipfian": (3, 3, "random_zipfian"),
    "hash": (1, 2, lambda v, s: randoms.hash_murmur2(_as_int(v), _as_int(s))),
    "hash_murmur2": (1, 2, lambda v, s: randoms.hash_murmur2(_as_int(v), _as_int(s))),
    "hash_fnv1a": (1, 2, lambda v, s: randoms.hash_fnv1a(_as_int(v), _as_int(s))),
    "permute": (2, 3, _fn_permute),
}
FUNCTION_NAMES = tuple(sorted(_FUNCTIONS))
MAX_FUNCTION_ARGS = 16
"""pgbench's MAX_FARGS: least() and greatest() take at most this many arguments."""


PyRandom = random.Random
"""The client stream drawn from inline (pgbench's own stream goes through randoms.uniform)."""


def _compile_random(name: str, args: list[Evaluator]) -> Evaluator:
    """A ``random*`` call. The draws a compiled loop may repeat carry ``uniform = (lo, k, name)``:
    uniform from ``lo`` to ``k * :name``, or to ``k`` when ``name`` is None, drawn as
    ``lo + int(rng.random() * span)`` whenever the span is at most 2^32 and the
    client's generator is Python's."""
    uniform, gaussian, exponential, zipfian = randoms.uniform, randoms.gaussian, randoms.exponential, randoms.zipfian
    if name == "random":
        lo_f, hi_f = args
        if getattr(lo_f, "const", False) and type(lo_f(None)) is int:
            lo_c = lo_f(None)

            # The common form, random(1, N * :scale): one call less per draw.
            def rand_const_lo(c: Any) -> Any:
                hi = hi_f(c)
                if type(hi) is not int:
                    if hi is None:
                        return None
                    hi = _as_int(hi)
                span = hi - lo_c + 1
                rng = c.rng
                if 0 < span <= 0xFFFFFFFF and rng.__class__ is PyRandom:
                    return lo_c + int(rng.random() * span)
                lo, hi = _random_range(lo_c, hi)
                return uniform(c.rng, lo, hi)

            if getattr(hi_f, "const", False) and type(hi_f(None)) is int and 0 < hi_f(None) - lo_c + 1 <= 0xFFFFFFFF:
                span_c = hi_f(None) - lo_c + 1

                def rand_consts(c: Any) -> Any:  # random(-5000, 5000)
                    rng = c.rng
                    if rng.__class__ is PyRandom:
                        return lo_c + int(rng.random() * span_c)
                    return uniform(rng, lo_c, lo_c + span_c - 1)

                rand_consts.uniform = (lo_c, lo_c + span_c - 1, None)  # type: ignore[attr-defined]
                return rand_consts
            scaled = getattr(hi_f, "scaled", None)
            if scaled is None:
                if hasattr(hi_f, "var_name"):
                    rand_const_lo.uniform = (lo_c, 1, hi_f.var_name)  # type: ignore[attr-defined]
                return rand_const_lo
            k, name = scaled
            top = INT64_MAX

            def rand_scaled(c: Any) -> Any:
                # random(1, 100000 * :scale), every built-in script's key: the product,
                # its range check and the draw in one call; anything unusual goes the general way.
                v = c.vars.get(name)
                rng = c.rng
                if type(v) is int and rng.__class__ is PyRandom:
                    hi = k * v
                    span = hi - lo_c + 1
                    if 0 < span <= 0xFFFFFFFF and hi <= top:
                        return lo_c + int(rng.random() * span)
                return rand_const_lo(c)

            rand_scaled.uniform = (lo_c, k, name)  # type: ignore[attr-defined]
            return rand_scaled

        def rand(c: Any) -> Any:
            lo, hi = lo_f(c), hi_f(c)
            if lo is None or hi is None:
                return None
            lo, hi = _random_range(lo, hi)
            return uniform(c.rng, lo, hi)

        return rand
    lo_f, hi_f, p_f = args

    def rand_param(c: Any) -> Any:
        lo, hi, p = lo_f(c), hi_f(c), p_f(c)
        if lo is None or hi is None or p is None:
            return None
        lo, hi = _random_range(lo, hi)
        param = _as_double(p)
        if name == "random_gaussian":
            if param < randoms.MIN_GAUSSIAN_PARAM:
                raise ScriptRuntimeError(f"gaussian parameter must be at least 2.000000 (not {param:f})")
            return gaussian(c.rng, lo, hi, param)
        if name == "random_zipfian":
            if not randoms.MIN_ZIPFIAN_PARAM <= param <= randoms.MAX_ZIPFIAN_PARAM:
                raise ScriptRuntimeError(f"zipfian parameter must be in range [1.001, 1000] (not {param:f})")
            return zipfian(c.rng, lo, hi, param)
        if param <= 0.0:
            raise ScriptRuntimeError(f"exponential parameter must be greater than zero (not {param:f})")
        return exponential(c.rng, lo, hi, param)

    return rand_param


_UNDEFINED = object()


def _const(value: Any) -> Evaluator:
    def const(c: Any) -> Any:
        return value

    const.const = True  # type: ignore[attr-defined]
    return const


def _variable(name: str) -> Evaluator:
    def var(c: Any) -> Any:
        v = c.vars.get(name, _UNDEFINED)
        if type(v) is int:
            return v
        if v is _UNDEFINED:
            raise ScriptRuntimeError(f'undefined variable "{name}"')
        if type(v) is str:
            return from_string(name, v)
        return v

    var.var_name = name  # type: ignore[attr-defined]
    return var


def _call(impl: Callable[..., Any], args: list[Evaluator], nullable: bool = True) -> Evaluator:
    if len(args) == 0:
        return _const(impl())
    if len(args) == 1:
        (a,) = args

        def call1(c: Any) -> Any:
            v = a(c)
            if v is None and nullable:
                return None
            return impl(v)

        return call1
    if len(args) == 2:
        a, b = args

        def call2(c: Any) -> Any:
            x, y = a(c), b(c)
            if (x is None or y is None) and nullable:
                return None
            return impl(x, y)

        return call2

    def calln(c: Any) -> Any:
        values = [f(c) for f in args]
        if nullable and any(v is None for v in values):
            return None
        return impl(*values)

    return calln


def _binary(apply: Callable[[Any, Any], Any], left: Evaluator, right: Evaluator) -> Evaluator:
    def binop(c: Any) -> Any:
        return apply(left(c), right(c))

    return binop


_INT_FAST: dict[str, Callable[[int, int], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


def _const_and_variable(op: str, left: Evaluator, right: Evaluator, apply: Callable[[Any, Any], Any]) -> Evaluator | None:
    """``N * :var``, ``:var + N`` and the like in one call: the variable read inline, ints inline.

    Anything but two in-range integers (a string from ``-D``, a double, an
    undefined variable, an overflow) takes the general path, which raises or
    converts exactly as the unspecialised node would.
    """
    if getattr(left, "const", False) and hasattr(right, "var_name"):
        k, name, var_first = left(None), right.var_name, False
    elif hasattr(left, "var_name") and getattr(right, "const", False):
        k, name, var_first = right(None), left.var_name, True
    else:
        return None
    if type(k) is not int:
        return None
    lo, hi = INT64_MIN, INT64_MAX
    if var_first and op == "-":
        op, k = "+", -k  # :var - N is :var + (-N) for in-range integers; errors still come from apply
    fast = _INT_FAST[op]  # + and * commute, so the constant can go first either way

    def const_and_var(c: Any) -> Any:
        v = c.vars.get(name)
        if type(v) is int:
            r = fast(k, v)
            if lo <= r <= hi:
                return r
        return apply(left(c), right(c))

    if op == "*":
        const_and_var.scaled = (k, name)  # type: ignore[attr-defined]  # random(1, 100000 * :scale)
    return const_and_var


def _arith_node(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    """``left op right`` with the int-int case inline: the hot path of key arithmetic."""
    apply = _arith(op)
    lo, hi = INT64_MIN, INT64_MAX
    if getattr(left, "const", False) and getattr(right, "const", False):
        try:
            return _const(apply(left(None), right(None)))
        except ScriptRuntimeError:
            pass  # pgbench reports an overflow when the command runs: leave it to run time
    if op in _INT_FAST:
        shaped = _const_and_variable(op, left, right, apply)
        if shaped is not None:
            return shaped
    if op == "*":

        def mul(c: Any) -> Any:
            a = left(c)
            b = right(c)
            if type(a) is int and type(b) is int:
                r = a * b
                if lo <= r <= hi:
                    return r
            return apply(a, b)

        return mul
    if op == "+":

        def add(c: Any) -> Any:
            a = left(c)
            b = right(c)
            if type(a) is int and type(b) is int:
                r = a + b
                if lo <= r <= hi:
                    return r
            return apply(a, b)

        return add
    if op == "-":

        def sub(c: Any) -> Any:
            a = left(c)
            b = right(c)
            if type(a) is int and type(b) is int:
                r = a - b
                if lo <= r <= hi:
                    return r
            return apply(a, b)

        return sub
    return _binary(apply, left, right)


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    def and_(c: Any) -> Any:
        a = left(c)
        if a is None:
            return None
        if not _as_bool(a):
            return False
        b = right(c)
        return None if b is None else _as_bool(b)

    return and_


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    def or_(c: Any) -> Any:
        a = left(c)
        if a is None:
            return None
        if _as_bool(a):
            return True
        b = right(c)
        return None if b is None else _as_bool(b)

    return or_


def _not(operand: Evaluator) -> Evaluator:
    def not_(c: Any) -> Any:
        v = operand(c)
        return None if v is None else not _as_bool(v)

    return not_


def _is(operand: Evaluator, target: Any) -> Evaluator:
    def is_(c: Any) -> bool:
        v = operand(c)
        if target is None:
            return v is None
        return (v is True or v is False) and v == target

    return is_


def _case(branches: list[tuple[Evaluator, Evaluator]], otherwise: Evaluator) -> Evaluator:
    def case(c: Any) -> Any:
        for cond, value in branches:
            if truth(cond(c)):
                return value(c)
        return otherwise(c)

    return case


# -- lexer ----------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>(?:[ \t\r\f\v]|\\\r?\n|\n)+)
  | (?P<var>:[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+)
  | (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
  | (?P<ident>[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)
  | (?P<op><>|!=|<=|>=|<<|>>|[-+*/%()<>=&|\#~,])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "is", "isnull", "notnull", "null", "true", "false", "case", "when", "then", "else", "end"}


def tokenize(text: str) -> list[tuple[str, Any, int]]:
    """(kind, value, offset) tokens; kinds: var, int, double, maxint, kw, func, op, end."""
    tokens: list[tuple[str, Any, int]] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ExprSyntaxError(f"unexpected character ({text[pos]})", pos)
        kind = m.lastgroup
        value = m.group()
        if kind == "var":
            tokens.append(("var", value[1:], pos))
        elif kind == "num":
            if re.fullmatch(r"\d+", value):
                number = int(value)
                if number == INT64_MAX + 1:
                    tokens.append(("maxint", number, pos))
                elif number > INT64_MAX:
                    raise ExprSyntaxError(f"bigint constant overflow ({value})", pos)
                else:
                    tokens.append(("int", number, pos))
            else:
                tokens.append(("double", float(value), pos))
        elif kind == "ident":
            low = value.lower()
            tokens.append(("kw", low, pos) if low in _KEYWORDS else ("func", value, pos))
        elif kind == "op":
            tokens.append(("op", "<>" if value == "!=" else value, pos))
        pos = m.end()
    tokens.append(("end", None, n))
    return tokens


# -- parser ---------------------------------------------------------------

# Binding powers from pgbench's grammar, lowest first.
_BP_OR, _BP_AND, _BP_NOT, _BP_IS, _BP_CMP, _BP_BIT, _BP_ADD, _BP_MUL, _BP_UNARY = range(1, 10)
_BINARY_BP = {
    "+": _BP_ADD, "-": _BP_ADD, "*": _BP_MUL, "/": _BP_MUL, "%": _BP_MUL,
    "<": _BP_CMP, ">": _BP_CMP, "=": _BP_CMP, "<=": _BP_CMP, ">=": _BP_CMP, "<>": _BP_CMP,
    "&": _BP_BIT, "|": _BP_BIT, "#": _BP_BIT, "<<": _BP_BIT, ">>": _BP_BIT,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, Any, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, tok: tuple[str, Any, int], message: str = "syntax error") -> ExprSyntaxError:
        return ExprSyntaxError(message, tok[2])

    def expect(self, kind: str, value: Any) -> None:
        tok = self.take()
        if tok[0] != kind or tok[1] != value:
            raise self.error(tok)

    def lbp(self, tok: tuple[str, Any, int]) -> int:
        kind, value, _ = tok
        if kind == "op":
            return _BINARY_BP.get(value, 0)
        if kind == "kw":
            if value == "or":
                return _BP_OR
            if value == "and":
                return _BP_AND
            if value in ("is", "isnull", "notnull"):
                return _BP_IS
        return 0

    def parse(self) -> Evaluator:
        result = self.expr(0)
        tok = self.peek()
        if tok[0] != "end":
            raise self.error(tok)
        return result

    def expr(self, rbp: int) -> Evaluator:
        left = self.nud(self.take())
        while True:
            tok = self.peek()
            bp = self.lbp(tok)
            if bp <= rbp:
                return left
            self.take()
            left = self.led(tok, left, bp)
            if bp in (_BP_CMP, _BP_IS) and self.lbp(self.peek()) == bp:
                raise self.error(self.peek())  # these operators do not chain in pgbench's grammar

    def nud(self, tok: tuple[str, Any, int]) -> Evaluator:
        kind, value, _ = tok
        if kind == "int" or kind == "double":
            return _const(value)
        if kind == "maxint":
            raise self.error(tok, f"bigint constant overflow ({value})")
        if kind == "var":
            return _variable(value)
        if kind == "op":
            if value == "(":
                inner = self.expr(0)
                self.expect("op", ")")
                return inner
            if value == "+":
                return self.expr(_BP_UNARY)
            if value == "-":
                nxt = self.peek()
                if nxt[0] == "maxint":
                    self.take()
                    return _const(INT64_MIN)
                operand = self.expr(_BP_UNARY)
                if getattr(operand, "const", False) and type(operand(None)) in (int, float):
                    return _const(_arith("-")(0, operand(None)))  # -5000 is a constant, not 0 - 5000 per call
                return _arith_node("-", _const(0), operand)
            if value == "~":
                return _binary(_bitwise("#"), _const(-1), self.expr(_BP_BIT))
            raise self.error(tok)
        if kind == "kw":
            if value == "null":
                return _const(None)
            if value == "true":
                return _const(True)
            if value == "false":
                return _const(False)
            if value == "not":
                return _not(self.expr(_BP_NOT))
            if value == "case":
                return self.case()
            raise self.error(tok)
        if kind == "func":
            return self.call(tok)
        raise self.error(tok)

    def led(self, tok: tuple[str, Any, int], left: Evaluator, bp: int) -> Evaluator:
        kind, value, _ = tok
        if kind == "kw":
            if value == "or":
                return _or(left, self.expr(bp))
            if value == "and":
                return _and(left, self.expr(bp))
            if value == "isnull":
                return _is(left, None)
            if value == "notnull":
                return _not(_is(left, None))
            negate = False
            nxt = self.take()
            if nxt[0] == "kw" and nxt[1] == "not":
                negate = True
                nxt = self.take()
            if nxt[0] != "kw" or nxt[1] not in ("null", "true", "false"):
                raise self.error(nxt)
            target = {"null": None, "true": True, "false": False}[nxt[1]]
            test = _is(left, target)
            return _not(test) if negate else test
        right = self.expr(bp)
        if value == "%":
            return _binary(_mod, left, right)
        if value in ("&", "|", "#", "<<", ">>"):
            return _binary(_bitwise(value), left, right)
        if value == ">":
            return _binary(_arith("<"), right, left)
        if value == ">=":
            return _binary(_arith("<="), right, left)
        if value in ("+", "-", "*"):
            return _arith_node(value, left, right)
        return _binary(_arith(value), left, right)

    def case(self) -> Evaluator:
        branches = []
        tok = self.take()
        if tok[:2] != ("kw", "when"):
            raise self.error(tok)
        while True:
            cond = self.expr(0)
            self.expect("kw", "then")
            branches.append((cond, self.expr(0)))
            tok = self.take()
            if tok[:2] == ("kw", "when"):
                continue
            if tok[:2] == ("kw", "else"):
                otherwise = self.expr(0)
                self.expect("kw", "end")
                break
            if tok[:2] == ("kw", "end"):
                otherwise = _const(None)
                break
            raise self.error(tok)
        return _case(branches, otherwise)

    def call(self, tok: tuple[str, Any, int]) -> Evaluator:
        name = tok[1].lower()
        opening = self.peek()
        if opening[:2] != ("op", "("):
            raise self.error(opening)
        if name not in _FUNCTIONS:
            raise self.error(tok, f"unexpected function name ({tok[1]})")
        self.take()
        args: list[Evaluator] = []
        if self.peek()[:2] != ("op", ")"):
            while True:
                args.append(self.expr(0))
                nxt = self.take()
                if nxt[:2] == ("op", ")"):
                    break
                if nxt[:2] != ("op", ","):
                    raise self.error(nxt)
        else:
            self.take()
        if len(args) > MAX_FUNCTION_ARGS:
            raise self.error(tok, f"too many function arguments, maximum is {MAX_FUNCTION_ARGS}")
        lo, hi, impl = _FUNCTIONS[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            message = "at least one argument expected" if hi is None else "unexpected number of arguments"
            raise self.error(tok, f"{message} ({name})")
        if name in ("hash", "hash_murmur2", "hash_fnv1a") and len(args) == 1:
            args.append(_variable("default_seed"))
        if name == "permute" and len(args) == 2:
            args.append(_variable("default_seed"))
        if isinstance(impl, str):
            return _compile_random(impl, args)
        return _call(impl, args, nullable=name != "debug")


def compile_expression(text: str) -> Evaluator:
    """Parse and compile ``text``; raises :class:`ExprSyntaxError` with the offending offset."""
    return _Parser(text).parse()
