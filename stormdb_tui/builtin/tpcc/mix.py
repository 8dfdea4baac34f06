"""The transaction mix: a shuffled deck per terminal (clause 5.2.4.2) and the clause 5.2.3 minimums.

Independent weighted draws converge on the configured percentages but fall
below a minimum in about half of all runs when the configured share equals
the minimum. A deck holds each transaction type's cards in the configured
proportion; a terminal draws them in a shuffled order and reshuffles when
the deck is empty, so every full deck has the exact composition and the
realised mix can only drift by the cards of one partly drawn deck per
terminal. The default deck (10 New-Order, 10 Payment, one each of the
others: 23 cards, the example of clause 5.2.4.2 and HammerDB's mix) sits
above every minimum, so that drift cannot take a long run below one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MINIMUM_PCT = {"payment": 43.0, "order_status": 4.0, "delivery": 4.0, "stock_level": 4.0}
"""Clause 5.2.3: the minimum share of each transaction type; New-Order takes what is left."""

MAX_CARDS = 1000
"""Weights that do not reduce to a deck this small are apportioned to this many cards."""

DECK_KEY = "tpcc_deck"
"""``ctx.state`` key of a terminal's deck: the cards not drawn yet, drawn from the end."""


def deck_cards(weights: Mapping[str, float]) -> list[str]:
    """The cards of one deck for ``weights``: integers reduced by their gcd, otherwise apportioned.

    Every positive weight gets at least one card, so no configured
    transaction disappears from the mix.
    """
    positive = {name: float(w) for name, w in weights.items() if float(w) > 0}
    if not positive:
        raise ValueError("a transaction mix needs at least one positive weight")
    counts: dict[str, int]
    if all(w.is_integer() for w in positive.values()):
        ints = {name: int(w) for name, w in positive.items()}
        divisor = math.gcd(*ints.values())
        counts = {name: n // divisor for name, n in ints.items()}
    else:
        counts = {}
    if not counts or sum(counts.values()) > MAX_CARDS:
        total = sum(positive.values())
        exact = {name: w / total * MAX_CARDS for name, w in positive.items()}
        counts = {name: max(1, int(x)) for name, x in exact.items()}
        # Largest remainder: hand the cards left over to the biggest fractional parts.
        spare = MAX_CARDS - sum(counts.values())
        for name in sorted(exact, key=lambda n: exact[n] - int(exact[n]), reverse=True)[: max(spare, 0)]:
            counts[name] += 1
    return [name for name, n in counts.items() for _ in range(n)]


def deck_shares(cards: list[str]) -> dict[str, float]:
    """Each transaction's percentage of one deck."""
    return {name: 100.0 * cards.count(name) / len(cards) for name in dict.fromkeys(cards)}


def below_minimum(shares: Mapping[str, float]) -> list[str]:
    """Transactions whose percentage is under the clause 5.2.3 minimum, as ``name 3.9% < 4%``."""
    return [
        f"{name} {shares.get(name, 0.0):.2f}% < {minimum:g}%"
        for name, minimum in MINIMUM_PCT.items()
        if shares.get(name, 0.0) < minimum
    ]


class Deck:
    """Draws transaction types from a per-terminal shuffled deck kept in ``ctx.state``."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.cards = deck_cards(weights)
        self.shares = deck_shares(self.cards)

    def draw(self, ctx: Any) -> str:
        """The next card of this terminal's deck; a fresh shuffle when it runs out.

        The deck lives in the worker's state, so it survives a reconnect
        (``start_worker`` runs again) without losing its place.
        """
        remaining: list[str] | None = ctx.state.get(DECK_KEY)
        if not remaining:
            remaining = list(self.cards)
            ctx.rng.shuffle(remaining)
            ctx.state[DECK_KEY] = remaining
        return remaining.pop()


def realised_mix(counts: Mapping[str, int], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per transaction: count, share of all completed, the minimum and whether it is met."""
    total = sum(int(counts.get(name) or 0) for name in names)
    rows = []
    for name in names:
        count = int(counts.get(name) or 0)
        share = 100.0 * count / total if total else 0.0
        minimum = MINIMUM_PCT.get(name)
        rows.append(
            {
                "transaction": name,
                "count": count,
                "share_pct": round(share, 2),
                "minimum_pct": minimum,
                "ok": None if minimum is None or not total else share >= minimum,
            }
        )
    return rows
