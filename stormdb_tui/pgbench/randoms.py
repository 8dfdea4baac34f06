"""pgbench's random and hash functions, with pgbench's exact definitions.

The deterministic functions (``permute``, ``hash_murmur2``, ``hash_fnv1a``)
return the same values as pgbench for the same arguments and seed: they
run PostgreSQL's xoroshiro128** generator and 64-bit arithmetic as the C
code does. The random distributions (``random``, ``random_gaussian``,
``random_exponential``, ``random_zipfian``) apply pgbench's formulas to a
per-client uniform stream; that stream is Python's, not pgbench's, so runs
draw the same distributions but not the same sequence of values.
"""

from __future__ import annotations

import math
import random as _random

MASK64 = (1 << 64) - 1
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

MIN_GAUSSIAN_PARAM = 2.0
MIN_ZIPFIAN_PARAM = 1.001
MAX_ZIPFIAN_PARAM = 1000.0

_FNV_PRIME = 0x100000001B3
_FNV_OFFSET_BASIS = 0xCBF29CE484222325
_MM2_MUL = 0xC6A4A7935BD1E995
_MM2_MUL_TIMES_8 = 0x35253C9ADE8F4CA8
_MM2_ROT = 47


def to_int64(value: int) -> int:
    """Two's-complement wrap of an unbounded int to int64, as C's casts do."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


class Xoroshiro128:
    """PostgreSQL's ``pg_prng`` (xoroshiro128** seeded through splitmix64)."""

    __slots__ = ("s0", "s1")

    def __init__(self, seed: int) -> None:
        state = seed & MASK64

        def splitmix() -> int:
            nonlocal state
            state = (state + 0x9E3779B97F4A7C15) & MASK64
            val = state
            val = ((val ^ (val >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            val = ((val ^ (val >> 27)) * 0x94D049BB133111EB) & MASK64
            return val ^ (val >> 31)

        self.s0 = splitmix()
        self.s1 = splitmix()
        if self.s0 == 0 and self.s1 == 0:
            self.s0, self.s1 = 0x5851F42D4C957F2D, 0x14057B7EF767814F

    def next_u64(self) -> int:
        s0 = self.s0
        sx = self.s1 ^ s0
        x = (s0 * 5) & MASK64
        val = ((((x << 7) | (x >> 57)) & MASK64) * 9) & MASK64
        self.s0 = (((s0 << 24) | (s0 >> 40)) & MASK64) ^ sx ^ ((sx << 16) & MASK64)
        self.s1 = ((sx << 37) | (sx >> 27)) & MASK64
        return val

    def u64_range(self, rmin: int, rmax: int) -> int:
        """Uniform in [rmin, rmax] by bitmask rejection, as ``pg_prng_uint64_range``."""
        if rmax <= rmin:
            return rmin
        span = rmax - rmin
        shift = 64 - span.bit_length()
        while True:
            val = self.next_u64() >> shift
            if val <= span:
                return rmin + val

    def double(self) -> float:
        return math.ldexp(self.next_u64() >> 12, -52)


class PgRandom(Xoroshiro128):
    """A client's random stream exactly as pgbench's (``random_stream: pgbench``).

    pgbench seeds a base generator with ``--random-seed`` and gives client i
    a generator seeded with the base's i-th draw; with the same seed and
    client count, every ``random*`` call here returns pgbench's value. It
    costs about a microsecond a draw more than Python's generator.
    """

    __slots__ = ()

    def random(self) -> float:
        return self.double()


def client_seeds(run_seed: int, clients: int) -> list[int]:
    """The seeds pgbench gives its clients' generators for ``--random-seed=run_seed``."""
    base = Xoroshiro128(run_seed)
    return [base.next_u64() for _ in range(clients)]


def hash_fnv1a(val: int, seed: int) -> int:
    """pgbench's ``hash_fnv1a(val, seed)``: FNV-1a over the 8 bytes of ``val``."""
    result = (_FNV_OFFSET_BASIS ^ seed) & MASK64
    v = val & MASK64
    for _ in range(8):
        result ^= v & 0xFF
        v >>= 8
        result = (result * _FNV_PRIME) & MASK64
    return to_int64(result)


def hash_murmur2(val: int, seed: int) -> int:
    """pgbench's ``hash_murmur2(val, seed)`` (MurmurHash64A of one 64-bit word)."""
    result = (seed ^ _MM2_MUL_TIMES_8) & MASK64
    k = (val * _MM2_MUL) & MASK64
    k ^= k >> _MM2_ROT
    k = (k * _MM2_MUL) & MASK64
    result ^= k
    result = (result * _MM2_MUL) & MASK64
    result ^= result >> _MM2_ROT
    result = (result * _MM2_MUL) & MASK64
    result ^= result >> _MM2_ROT
    return to_int64(result)


def permute(val: int, size: int, seed: int) -> int:
    """pgbench's ``permute(i, size, seed)``: a seeded bijection of [0, size).

    Six rounds of an odd multiply, xor and rotate over the overlapping lower
    and upper power-of-two halves, then a random offset; the round constants
    come from xoroshiro128** seeded with ``seed``, so the permutation is the
    one pgbench computes. Inputs outside [0, size) are taken modulo size
    (as unsigned 64-bit values, like pgbench).
    """
    if size < 2:
        return 0
    rng = Xoroshiro128(seed)
    usize = size & MASK64
    v = (val & MASK64) % usize
    masklen = usize.bit_length() - 1
    mask = (1 << masklen) - 1
    nxt = rng.next_u64
    for _ in range(6):
        m = (nxt() & mask) | 1
        r = nxt() & mask
        if v <= mask:
            v = ((v * m) ^ r) & mask
            v = ((v << 1) & mask) | (v >> (masklen - 1))
        m = (nxt() & mask) | 1
        r = nxt() & mask
        t = usize - 1 - v
        if t <= mask:
            t = ((t * m) ^ r) & mask
            t = ((t << 1) & mask) | (t >> (masklen - 1))
            v = usize - 1 - t
        r = rng.u64_range(0, usize - 1)
        v = (v + r) % usize
    return v


def uniform(rng: _random.Random | PgRandom, lo: int, hi: int) -> int:
    """``random(lo, hi)``: uniform over the closed range (caller checked lo <= hi)."""
    if isinstance(rng, PgRandom):
        return lo + rng.u64_range(0, hi - lo)
    span = hi - lo + 1
    if span <= 0xFFFFFFFF:
        # Scaling one double is a third of randrange's cost; with at most 2^32
        # outcomes its bias is below 2^-20 of any outcome's probability.
        return lo + int(rng.random() * span)
    return lo + rng.randrange(span)


def exponential(rng: _random.Random, lo: int, hi: int, parameter: float) -> int:
    """``random_exponential``: density exp(-parameter * x) truncated to [lo, hi]."""
    cut = math.exp(-parameter)
    u = 1.0 - rng.random()  # in (0, 1]
    r = -math.log(cut + (1.0 - cut) * u) / parameter
    return lo + int((hi - lo + 1) * r)


def gaussian(rng: _random.Random, lo: int, hi: int, parameter: float) -> int:
    """``random_gaussian``: a normal draw kept within ±parameter, mapped onto [lo, hi]."""
    rnd = rng.random
    while True:
        u1 = 1.0 - rnd()
        u2 = 1.0 - rnd()
        z = math.sqrt(-2.0 * math.log(u1)) * math.sin(2.0 * math.pi * u2)
        if -parameter <= z < parameter:
            break
    r = (z + parameter) / (parameter * 2.0)
    return lo + int((hi - lo + 1) * r)


def zipfian(rng: _random.Random, lo: int, hi: int, s: float) -> int:
    """``random_zipfian``: Devroye's rejection method (Non-Uniform Random Variate Generation, p. 550)."""
    n = hi - lo + 1
    if n <= 1:
        return lo
    rnd = rng.random
    b = 2.0 ** (s - 1.0)
    inv = -1.0 / (s - 1.0)
    while True:
        u = rnd()
        v = rnd()
        if u == 0.0:
            continue  # pow(0, negative) is +inf in C and rejected there; Python raises instead
        try:
            x = math.floor(u**inv)
        except OverflowError:
            continue
        t = (1.0 + 1.0 / x) ** (s - 1.0)
        if v * x * (t - 1.0) / (b - 1.0) <= t / b and x <= n:
            return lo - 1 + int(x)
