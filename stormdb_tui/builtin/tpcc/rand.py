"""TPC-C's random functions (clauses 2.1.6, 4.3.2): NURand, last names, random strings.

Everything takes an explicit ``random.Random`` so a worker's choices are
reproducible from its seed. The string helpers trade exact per-character
randomness for speed: they slice a pre-generated random pool at random
offsets, which keeps the loader fast enough to generate ~1M rows in a few
seconds of Python while the values still vary row to row as the
specification requires (it only constrains alphabet and length).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

SYLLABLES = ("BAR", "OUGHT", "ABLE", "PRI", "PRES", "ESE", "ANTI", "CALLY", "ATION", "EING")
"""Clause 4.3.2.3: C_LAST is the concatenation of three syllables picked by a number's digits."""

LAST_NAMES = tuple(
    SYLLABLES[n // 100] + SYLLABLES[(n // 10) % 10] + SYLLABLES[n % 10] for n in range(1000)
)

A_CUSTOMER_LAST = 255
A_CUSTOMER_ID = 1023
A_ITEM_ID = 8191

# Clause 2.1.6.1: |C_run - C_load| for C_LAST must lie in [65, 119] and not be 96 or 112.
_C_LAST_DELTA_MIN = 65
_C_LAST_DELTA_MAX = 119
_C_LAST_DELTA_FORBIDDEN = (96, 112)

_ALNUM = string.ascii_letters + string.digits
_POOL_SIZE = 1 << 16


def nurand(rng: random.Random, a: int, x: int, y: int, c: int) -> int:
    """NURand(A, x, y) = (((random(0, A) | random(x, y)) + C) % (y - x + 1)) + x."""
    r = rng.randint
    return (((r(0, a) | r(x, y)) + c) % (y - x + 1)) + x


@dataclass(frozen=True)
class NURandConstants:
    """The three C constants, one per field (clause 2.1.6): C_LAST, C_ID and OL_I_ID."""

    c_last: int
    c_id: int
    ol_i_id: int

    @classmethod
    def for_load(cls, rng: random.Random) -> NURandConstants:
        """Constants used by the loader, chosen uniformly in [0, A]."""
        return cls(rng.randint(0, A_CUSTOMER_LAST), rng.randint(0, A_CUSTOMER_ID), rng.randint(0, A_ITEM_ID))

    @classmethod
    def for_run(cls, rng: random.Random, load: NURandConstants) -> NURandConstants:
        """Run-time constants: C_LAST differs from C-load by a permitted delta.

        The delta rule keeps the last names a run asks for from lining up
        with the ones the loader favoured, exactly as clause 2.1.6.1 asks.
        C_ID and OL_I_ID have no such rule and are drawn freely.
        """
        return cls(
            run_c_last(rng, load.c_last),
            rng.randint(0, A_CUSTOMER_ID),
            rng.randint(0, A_ITEM_ID),
        )


def valid_c_last_delta(c_run: int, c_load: int) -> bool:
    """True when a run-time C_LAST constant satisfies clause 2.1.6.1 against the load's."""
    delta = abs(c_run - c_load)
    return _C_LAST_DELTA_MIN <= delta <= _C_LAST_DELTA_MAX and delta not in _C_LAST_DELTA_FORBIDDEN


def run_c_last(rng: random.Random, c_load: int) -> int:
    """A C_LAST run constant in [0, 255] whose distance to ``c_load`` is allowed."""
    candidates = [c for c in range(A_CUSTOMER_LAST + 1) if valid_c_last_delta(c, c_load)]
    return rng.choice(candidates)


class StringPool:
    """Fast random strings: slices of a random pool at random offsets.

    ``astring(lo, hi)`` returns letters and digits of a length in [lo, hi];
    ``nstring(n)`` returns n digits. One pool per thread (not thread-safe
    only in the sense that its ``rng`` must not be shared).
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._alnum = "".join(rng.choices(_ALNUM, k=_POOL_SIZE + 600))
        self._digits = "".join(rng.choices(string.digits, k=_POOL_SIZE + 64))
        self._letters = "".join(rng.choices(string.ascii_uppercase, k=_POOL_SIZE + 8))

    def astring(self, lo: int, hi: int) -> str:
        n = lo if lo == hi else lo + int(self.rng.random() * (hi - lo + 1))
        start = int(self.rng.random() * _POOL_SIZE)
        return self._alnum[start : start + n]

    def nstring(self, n: int) -> str:
        start = int(self.rng.random() * _POOL_SIZE)
        return self._digits[start : start + n]

    def state(self) -> str:
        start = int(self.rng.random() * _POOL_SIZE)
        return self._letters[start : start + 2]

    def zip(self) -> str:
        """Clause 4.3.2.7: four random digits followed by the constant ``11111``."""
        return self.nstring(4) + "11111"

    def data(self, lo: int, hi: int) -> str:
        """I_DATA / S_DATA: a random string, 10% of them containing ``ORIGINAL`` at a random place."""
        text = self.astring(lo, hi)
        if self.rng.random() < 0.1:
            pos = int(self.rng.random() * (len(text) - 8 + 1))
            text = text[:pos] + "ORIGINAL" + text[pos + 8 :]
        return text
