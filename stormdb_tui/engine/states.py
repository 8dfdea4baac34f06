"""The named states of a run: its phase while it goes, its status when it ends, its load model.

They are ``str`` enums so that JSON, Markdown and progress lines carry the
plain words (``"completed"``, ``"warmup"``) while the code compares members,
not strings that a typo could silently miss.
"""

from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    """Where a run is; front ends show it and the workbench switches screens on it."""

    IDLE = "idle"
    CONNECTING = "connecting"
    SETUP = "setup"
    STARTING = "starting"
    WARMUP = "warmup"
    MEASURING = "measuring"
    STOPPING = "stopping"
    DONE = "done"

    def __str__(self) -> str:
        return self.value


LIVE_PHASES = (Phase.STARTING, Phase.WARMUP, Phase.MEASURING, Phase.STOPPING)
"""Phases in which workers exist and the dashboard has something to show.

A tuple, not a set: members compare equal to their plain strings, but an
enum member does not hash like its value, so ``"warmup" in {Phase.WARMUP}``
would be false."""


class Status(str, Enum):
    """How a run ended (``pending``/``running`` before that).

    ``cancelled`` means the user stopped it before anything was measured (during
    connection or setup): there is no report then.
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class Model(str, Enum):
    """Closed: N workers back to back. Open: arrivals at a target rate (``run.rate``)."""

    CLOSED = "closed"
    OPEN = "open"

    def __str__(self) -> str:
        return self.value
