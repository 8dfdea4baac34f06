"""The folder ``run --repeat N`` writes: one report per repetition and a small index naming them.

    reports/simple-20261202-050000-x5/
        repeat.json      the index: what was asked, each repetition's file, status and headline figures
        rep-01.json      the first repetition's full report (its journal beside it while it runs)
        rep-02.json ...

The index is rewritten (atomically) after every repetition, so a series that
is interrupted or killed still names every repetition it finished; ``compare``
takes the folder as one side with all of its repetitions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stormdb_tui import TOOL_NAME, __version__
from stormdb_tui.errors import ConfigError
from stormdb_tui.report.model import write_atomic

INDEX_NAME = "repeat.json"
INDEX_VERSION = 1
MAX_INDEX_BYTES = 4 * 1024 * 1024


def repetition_name(index: int) -> str:
    """``rep-01.json`` for the first repetition (two digits up to 99, then as many as needed)."""
    return f"rep-{index:02d}.json"


def default_repeat_dir(workload: str, count: int, now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in workload) or "run"
    return f"reports/{safe}-{stamp}-x{count}"


def build_index(*, workload: str, requested: int, started_at: datetime, repetitions: Sequence[Mapping[str, Any]],
                status: str, request: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "stormdb_repeat": INDEX_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "workload": workload,
        "requested": requested,
        "started_at": started_at.isoformat(),
        "updated_at": datetime.now(timezone.utc).isoformat(),
        "status": status,
        "request": dict(request or {}),
        "repetitions": [dict(r) for r in repetitions],
    }


def write_index(folder: str | os.PathLike[str], index: Mapping[str, Any]) -> str:
    return write_atomic(Path(folder) / INDEX_NAME, json.dumps(index, indent=2, default=str) + "\n")


def is_repeat_dir(path: str | os.PathLike[str]) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, INDEX_NAME))


def read_index(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], list[str]]:
    """(index, report paths in repetition order) of a ``run --repeat`` folder; a located error otherwise."""
    where = os.fspath(folder)
    path = os.path.join(where, INDEX_NAME)
    if not os.path.isdir(where):
        raise ConfigError("no such folder", file=where)
    if not os.path.isfile(path):
        raise ConfigError(f"a folder, but not one written by `run --repeat` (no {INDEX_NAME} in it)", file=where,
                          hint="give a report file, a journal, or a --repeat folder")
    try:
        if os.path.getsize(path) > MAX_INDEX_BYTES:
            raise ConfigError("too large for a repetition index", file=path)
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None
    except (UnicodeDecodeError, RecursionError):
        raise ConfigError("not a repetition index", file=path) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not a repetition index: {exc.msg}", file=path, line=exc.lineno) from None
    if not isinstance(index, dict) or not isinstance(index.get("stormdb_repeat"), int):
        raise ConfigError("not a repetition index (no stormdb_repeat version)", file=path)
    if index["stormdb_repeat"] > INDEX_VERSION:
        raise ConfigError(f"repetition index version {index['stormdb_repeat']} is newer than this tool understands",
                          file=path, hint="upgrade stormdb-tui")
    reps = index.get("repetitions")
    if not isinstance(reps, list):
        raise ConfigError("not a repetition index", file=path, path="repetitions", expected="a list",
                          found=type(reps).__name__)
    files = []
    for number, rep in enumerate(reps, start=1):
        name = rep.get("report") if isinstance(rep, dict) else None
        if not isinstance(name, str) or not name or os.path.isabs(name) or ".." in Path(name).parts:
            raise ConfigError("a repetition without a report file name inside the folder", file=path,
                              path=f"repetitions[{number - 1}].report", found=name)
        if rep.get("status") in ("failed", "cancelled") or not os.path.exists(os.path.join(where, name)):
            continue  # a failed repetition measured nothing comparable; the index keeps why
        files.append(os.path.join(where, name))
    if not files:
        raise ConfigError("the folder holds no finished repetition", file=where)
    return index, files
