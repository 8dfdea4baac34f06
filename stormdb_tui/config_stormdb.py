"""StormDB's flat config files, read into our sections.

StormDB (the Go tool this project re-implements) keeps its run settings at the
top level (``workload: tpcc``, ``workers: 4``, ``duration: "2m"``), the
workload's own settings under ``workload_config:``, and names its workload
variants by suffix (``imdb_mixed``, ``vector_1024_cosine``). :func:`translate`
maps every key that has a meaning here onto our sections, applies StormDB's
own validation rules that make sense (duration format, workers > 0, port
range, sslmode, connections >= workers, the progressive section's bounds)
with located messages, and names everything else in one warning.

Messages always use the key as it appears in the file
(``workload_config.think_time``), never our name for it; ``aliases`` maps
our key paths back to the file's so later validation can do the same.
The table in ``docs/stormdb-configs.md`` documents the mapping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stormdb_tui.errors import ConfigError
from stormdb_tui.options import parse_duration

# Top-level keys of StormDB's flat format (pkg/types Config plus what its sample files carry).
TOP_KEYS = frozenset(
    {
        "database", "data_loading", "workload", "mode", "scale", "duration", "workers", "connections",
        "summary_interval", "progressive", "collect_pg_stats", "pg_stats_statements", "connection_mode",
        "plugins", "results_backend", "test_metadata", "workload_config", "metrics",
    }
)
SSLMODES = ("disable", "require", "verify-ca", "verify-full")
"""StormDB's accepted sslmode values (libpq's allow and prefer are ours only)."""
STRATEGIES = ("linear", "exponential", "fibonacci")

# workload_config keys StormDB's sample configs and plugins know that have no equivalent here.
# Anything outside this set and the mapped keys is passed on as one of our workload's options.
UNMAPPED_WORKLOAD_KEYS = frozenset(
    {
        "autocommit", "batch_size", "cache_hit_ratio", "cache_vectors", "collect_metrics", "colored_output",
        "data_scale", "demo_mode", "detailed_summaries", "error_rate", "isolation_level", "max_memory_mb",
        "prepare_statements", "producer_threads", "progress_bar", "query_complexity", "query_mix",
        "query_type", "retry_delay", "ring_buffer_size", "similarity_threshold", "simulate_errors",
        "slow_down_factor", "vector_distribution", "vector_sparsity", "verbose_output", "workload_mix",
    }
)

# Rows per unit of our scale, for workloads whose StormDB scale counts rows (users, movies, vectors).
_SCALE_UNIT = {"ecommerce": 5000, "ecommerce_basic": 5000, "imdb": 10000, "simple": 100_000}

_ECOMMERCE_MODES: dict[str, dict[str, float] | None] = {
    "mixed": None,
    "read": {"browse_category": 30, "search_products": 25, "product_page": 35, "order_history": 10},
    "write": {"add_to_cart": 50, "checkout": 35, "write_review": 15},
    "oltp": {"browse_category": 20, "search_products": 15, "product_page": 25, "add_to_cart": 12,
             "checkout": 8, "order_history": 8, "write_review": 5},
    "analytics": {"vendor_analytics": 50, "category_analytics": 50},
}
_ECOMMERCE_BASIC_OLAP = {"mixed": None, "oltp": 0.0, "analytics": 1.0, "write": 0.0}
_SIMPLE_SCRIPTS = {"simple": "tpcb-like", "read": "select-only", "write": "simple-update", "mixed": "mixed"}
_CONNECTION_MODES = {"persistent": "persistent", "transient": "new_connection", "mixed": "both"}
_VECTOR_METRICS = {"l2": "l2", "l2_distance": "l2", "cosine": "cosine", "inner": "inner_product",
                   "inner_product": "inner_product"}
_VECTOR_OPS = {"similarity_search": "knn_search", "insert_vector": "insert", "update_vector": "update",
               "delete_vector": "delete"}


@dataclass
class Translated:
    """What :func:`translate` made of a StormDB file."""

    data: dict[str, Any]
    """Our nested sections, ready for :func:`stormdb_tui.config.build_config`."""
    warnings: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    """Our key path -> the file's key path, for messages."""
    sweep: dict[str, Any] | None = None
    """The ``progressive:`` section as a sweep spec (see :mod:`stormdb_tui.engine.sweep`)."""


def is_stormdb(data: Mapping[str, Any]) -> bool:
    """Whether a parsed YAML mapping is in one of StormDB's formats rather than ours."""
    if "version" in data or "workload_config" in data or isinstance(data.get("workload"), str):
        return True
    ours = {"database", "workload", "run", "metrics", "monitoring", "report", "plugins"}
    return any(key in TOP_KEYS and key not in ours for key in data)


def resolve_workload(name: str) -> tuple[str, dict[str, Any], str | None]:
    """Our workload and options for a StormDB workload type name, plus a note when the match is loose.

    Names StormDB does not know are returned unchanged (one of ours, or a plugin's).
    """
    n = name.strip()
    if n == "tpcc":
        return "tpcc", {}, None
    if n in _SIMPLE_SCRIPTS:
        return "simple", {"script": _SIMPLE_SCRIPTS[n]}, None
    if n in ("connection", "simple_connection", "connection_overhead"):
        return "connection_overhead", {}, None
    if n == "bulk_insert":
        return "bulk_insert", {}, None
    match = re.fullmatch(r"imdb(?:_(read|write|mixed))?", n)
    if match:
        return "imdb", {"mode": match.group(1) or "mixed"}, None
    match = re.fullmatch(r"(ecommerce_basic|ecommerce)(?:_(read|write|mixed|oltp|analytics))?", n)
    if match:
        return _ecommerce(match.group(1), match.group(2) or "mixed")
    match = re.fullmatch(r"vector_(\d+)(?:_(cosine|inner|l2))?", n)
    if match:
        return "vector", {"dimensions": int(match.group(1)), "metric": _VECTOR_METRICS[match.group(2) or "l2"]}, None
    if n.startswith("pgvector_"):
        return _pgvector(n)
    return n, {}, None


def _ecommerce(base: str, mode: str) -> tuple[str, dict[str, Any], str | None]:
    if base == "ecommerce":
        weights = _ECOMMERCE_MODES[mode]
        return "ecommerce", ({"weights": weights} if weights else {}), None
    if mode == "read":
        return "ecommerce_basic", {}, "ecommerce_basic has no read-only mode here; the default OLTP/OLAP blend runs"
    ratio = _ECOMMERCE_BASIC_OLAP[mode]
    return "ecommerce_basic", ({"olap_ratio": ratio} if ratio is not None else {}), None


def _pgvector(name: str) -> tuple[str, dict[str, Any], str | None]:
    # StormDB reads pgvector_{test}_{method}_{metric}_{dims} positionally; its sample files also
    # carry a "comprehensive_" infix, so the tokens are matched wherever they stand.
    tokens = name.split("_")[1:]
    options: dict[str, Any] = {}
    if "ingestion" in tokens:
        options["weights"] = {"insert": 100}
    elif "update" in tokens:
        options["weights"] = {"update": 100}
    else:
        options["weights"] = {"knn_search": 100}
    if "scan" in tokens:
        options["index"] = "none"
    for token in tokens:
        if token in ("hnsw", "ivfflat", "none"):
            options["index"] = token
        elif token in _VECTOR_METRICS:
            options["metric"] = _VECTOR_METRICS[token]
        elif token.isdigit():
            options["dimensions"] = int(token)
    options.setdefault("dimensions", 1024)
    return "vector", options, None


class _Reader:
    """Walks one StormDB file, collecting our sections, aliases and the ignored keys."""

    def __init__(self, data: Mapping[str, Any], source: str, lines: Mapping[str, int]) -> None:
        self.src = data
        self.source = source
        self.lines = lines
        self.run: dict[str, Any] = {}
        self.workload: dict[str, Any] = {}
        self.out: dict[str, Any] = {"run": self.run}
        self.aliases: dict[str, str] = {}
        self.ignored: list[str] = []
        self.notes: list[str] = []

    def error(self, key: str, message: str, **kwargs: Any) -> ConfigError:
        return ConfigError(message, path=key, file=self.source, line=self.lines.get(key), **kwargs)

    def put(self, section: dict[str, Any], name: str, value: Any, ours: str, theirs: str) -> None:
        section[name] = value
        self.aliases[ours] = theirs

    def duration(self, key: str, value: Any, *, unit: float = 1.0) -> float:
        """A Go-style duration string, or a bare number in ``unit`` seconds."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value) * unit
            if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
                raise self.error(key, "invalid duration", expected="a non-negative duration", found=value)
            return seconds
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(key, "invalid duration format", expected=str(exc), found=value) from None

    def integer(self, key: str, value: Any, *, minimum: int, maximum: int | None = None, what: str = "") -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or value < minimum or (maximum is not None and value > maximum):
            bound = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
            raise self.error(key, what or "invalid value", expected=bound, found=value)
        return int(value)


def translate(data: Mapping[str, Any], source: str, lines: Mapping[str, int]) -> Translated:
    """Our sections for a StormDB file, or a located :class:`ConfigError` for what StormDB itself rejects."""
    if "version" in data:
        raise ConfigError(
            "this is StormDB's \"enhanced\" nested config format (version:, workload: {type: ...}), which "
            "StormDB's own loader does not read; write it in StormDB's flat format (workload: NAME, workers:, "
            "duration: at the top, workload_config: beside them) or in ours (see docs/stormdb-configs.md)",
            path="version",
            file=source,
            line=lines.get("version", 1),
        )
    r = _Reader(data, source, lines)
    _database(r, data.get("database"))
    name = data.get("workload")
    if name is not None and not isinstance(name, str):
        raise r.error("workload", "invalid workload", expected="a StormDB workload type such as tpcc or imdb_mixed",
                      found=name)
    ours_name, preset, note = resolve_workload(name) if name else (None, {}, None)
    if ours_name:
        r.workload["name"] = ours_name
        if ours_name != name:
            r.notes.append(f"workload {name} runs as {ours_name}"
                           + (" with " + ", ".join(f"{k}={_show(v)}" for k, v in preset.items()) if preset else ""))
        if note:
            r.notes.append(note)
    r.workload.update(preset)
    _run_keys(r, data)
    _scale(r, data.get("scale"), ours_name, name)
    _mode(r, data.get("mode"), ours_name, "mode")
    config = data.get("workload_config")
    if config is not None:
        if not isinstance(config, Mapping):
            raise r.error("workload_config", "workload_config must be a mapping", expected="key: value pairs",
                          found=config)
        _workload_config(r, config, ours_name)
    _monitoring(r, data)
    _metrics(r, data)
    _connection_mode(r, data.get("connection_mode"), ours_name)
    for key in ("plugins", "results_backend", "test_metadata", "data_loading"):
        if key in data:
            r.ignored.append(key)
    for key in data:
        if key not in TOP_KEYS:
            r.ignored.append(str(key))
    if r.workload:
        r.out["workload"] = r.workload
    sweep = _progressive(r, data.get("progressive"))
    # One line: what was read how, then everything that has no meaning here.
    text = f"{source}: read as a StormDB config"
    if r.notes:
        text += " (" + "; ".join(r.notes) + ")"
    if r.ignored:
        text += "; these keys have no meaning here and were ignored: " + ", ".join(r.ignored)
    warnings = [text]
    return Translated(r.out, warnings, r.aliases, sweep)


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)


def _database(r: _Reader, section: Any) -> None:
    if section is None:
        return
    if not isinstance(section, Mapping):
        raise r.error("database", "database must be a mapping", expected="host:, port:, dbname: ...", found=section)
    db: dict[str, Any] = {}
    for key, value in section.items():
        path = f"database.{key}"
        if key == "type":
            if value not in (None, "postgres"):
                raise r.error(path, "unsupported database type", expected="postgres", found=value)
        elif key == "host":
            if value is None or not str(value).strip():
                raise r.error(path, "database host is required", expected="a host name, address or socket directory",
                              found=value)
            r.put(db, "host", str(value), path, path)
        elif key == "port":
            r.put(db, "port", r.integer(path, value, minimum=1, maximum=65535, what="database port out of range"),
                  path, path)
        elif key in ("dbname", "database"):
            r.put(db, "dbname", value, "database.dbname", path)
        elif key in ("username", "user"):
            r.put(db, "user", value, "database.user", path)
        elif key == "password":
            r.put(db, "password", value, path, path)
        elif key == "sslmode":
            if value not in SSLMODES:
                raise r.error(path, "invalid sslmode", expected="one of " + ", ".join(SSLMODES), found=value)
            r.put(db, "sslmode", value, path, path)
        elif key == "connect_timeout":
            seconds = r.duration(path, value)
            r.put(db, "connect_timeout", max(1, math.ceil(seconds)), path, path)
        else:
            r.ignored.append(path)
    r.out["database"] = db


def _run_keys(r: _Reader, data: Mapping[str, Any]) -> None:
    if "duration" in data:
        r.put(r.run, "duration", r.duration("duration", data["duration"]), "run.duration", "duration")
    workers = None
    if "workers" in data:
        workers = r.integer("workers", data["workers"], minimum=1, maximum=10000, what="workers must be positive")
        r.put(r.run, "workers", workers, "run.workers", "workers")
    if "connections" in data:
        conns = r.integer("connections", data["connections"], minimum=1, maximum=10000,
                          what="connections must be positive")
        if workers is not None and conns < workers:
            # StormDB refuses this; our format allows it (workers then share a smaller pool), so
            # a file written for StormDB that says it is almost surely a mistake.
            raise r.error("connections", f"connections ({conns}) is less than workers ({workers}), which StormDB "
                          "rejects", hint="in our format run.connections below run.workers shares a smaller pool")
        r.put(r.run, "connections", conns, "run.connections", "connections")


def _scale(r: _Reader, value: Any, ours: str | None, theirs: str | None) -> None:
    if value is None:
        return
    scale = r.integer("scale", value, minimum=0, what="scale must be non-negative")
    if ours in ("bulk_insert", "connection_overhead"):
        r.ignored.append("scale")
        return
    if ours == "vector":
        r.put(r.workload, "rows", max(scale, 10), "workload.rows", "scale")
        r.notes.append(f"scale {scale} = vectors (vector rows={max(scale, 10)})")
        return
    unit = _SCALE_UNIT.get(ours or "")
    if unit:
        ours_scale = max(1, math.ceil(scale / unit))
        r.put(r.workload, "scale", ours_scale, "workload.scale", "scale")
        if ours_scale != scale:
            r.notes.append(f"scale {scale} (rows) = {ours} scale {ours_scale}")
        return
    r.put(r.workload, "scale", max(scale, 1), "workload.scale", "scale")


def _mode(r: _Reader, value: Any, ours: str | None, key: str) -> None:
    if value is None:
        return
    mode = str(value)
    if ours == "imdb":
        r.put(r.workload, "mode", mode, "workload.mode", key)
    elif ours in ("ecommerce", "ecommerce_basic"):
        if mode not in _ECOMMERCE_MODES:
            raise r.error(key, "invalid mode", expected="one of " + ", ".join(_ECOMMERCE_MODES), found=value)
        _, preset, note = _ecommerce(ours, mode)
        for name, v in preset.items():
            r.put(r.workload, name, v, f"workload.{name}", key)
        if note:
            r.notes.append(note)
    elif ours == "simple" and mode in _SIMPLE_SCRIPTS:
        r.put(r.workload, "script", _SIMPLE_SCRIPTS[mode], "workload.script", key)
    else:
        r.ignored.append(key)


def _workload_config(r: _Reader, config: Mapping[str, Any], ours: str | None) -> None:
    handlers: dict[str, Callable[[str, Any], None]] = {
        "think_time": lambda p, v: r.put(r.run, "think_time", r.duration(p, v, unit=0.001), "run.think_time", p),
        "ramp_up_time": lambda p, v: r.put(r.run, "ramp", r.duration(p, v), "run.ramp", p),
        "connection_timeout": lambda p, v: r.put(r.run, "connect_timeout", max(r.duration(p, v), 0.1),
                                                 "run.connect_timeout", p),
        "query_timeout": lambda p, v: _statement_timeout(r, p, v),
        "retry_count": lambda p, v: r.put(r.run, "max_tries", r.integer(p, v, minimum=0) + 1, "run.max_tries", p),
        "data_seed": lambda p, v: r.put(r.run, "seed", v, "run.seed", p) if v else None,
        "mode": lambda p, v: _mode(r, v, ours, p),
    }
    specific = _WORKLOAD_KEYS.get(ours or "", {})
    for key, value in config.items():
        path = f"workload_config.{key}"
        if key in handlers:
            handlers[key](path, value)
        elif key in specific:
            specific[key](r, path, value)
        elif key in UNMAPPED_WORKLOAD_KEYS or key in _ALL_SPECIFIC_KEYS:
            r.ignored.append(path)
        else:
            # Not a StormDB key: one of our workload's own options, validated against its declarations.
            r.put(r.workload, str(key), value, f"workload.{key}", path)


def _statement_timeout(r: _Reader, path: str, value: Any) -> None:
    ms = round(r.duration(path, value, unit=0.001) * 1000)
    if ms <= 0:
        return
    db = r.out.setdefault("database", {})
    existing = db.get("options")
    db["options"] = ((existing + " ") if existing else "") + f"-c statement_timeout={ms}"
    r.aliases["database.options"] = path


def _mapped(name: str, convert: Callable[[_Reader, str, Any], Any] | None = None) -> Callable[[_Reader, str, Any], None]:
    def put(r: _Reader, path: str, value: Any) -> None:
        r.put(r.workload, name, convert(r, path, value) if convert else value, f"workload.{name}", path)

    return put


def _renamed_weights(table: Mapping[str, str]) -> Callable[[_Reader, str, Any], Any]:
    def convert(r: _Reader, path: str, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise r.error(path, "invalid value", expected="a mapping of operation: percentage", found=value)
        out = {}
        for key, weight in value.items():
            if key not in table:
                raise r.error(f"{path}.{key}", "unknown operation", expected="one of " + ", ".join(table), found=key)
            out[table[key]] = weight
        return out

    return convert


def _metric(r: _Reader, path: str, value: Any) -> str:
    if value not in _VECTOR_METRICS:
        raise r.error(path, "invalid similarity metric", expected="one of cosine, inner_product, l2_distance",
                      found=value)
    return _VECTOR_METRICS[value]


def _batch_sizes(r: _Reader, path: str, value: Any) -> None:
    sizes = value if isinstance(value, list) else [value]
    if not sizes or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes):
        raise r.error(path, "invalid batch sizes", expected="a list of positive integers", found=value)
    r.put(r.workload, "batch_sizes", [str(v) for v in sizes], "workload.batch_sizes", path)
    r.put(r.workload, "batch_rows", min(max(sizes), 1_000_000), "workload.batch_rows", path)


def _insert_method(r: _Reader, path: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise r.error(path, "invalid value", expected="true or false", found=value)
    r.put(r.workload, "methods", ["insert_multi", "copy"] if value else ["copy"], "workload.methods", path)


_WORKLOAD_KEYS: dict[str, dict[str, Callable[[_Reader, str, Any], None]]] = {
    "tpcc": {"transaction_mix": _mapped("mix")},
    "vector": {
        "vector_dimensions": _mapped("dimensions"),
        "similarity_metric": _mapped("metric", _metric),
        "index_type": _mapped("index"),
        "index_lists": _mapped("lists"),
        "index_probes": _mapped("probes"),
        "index_m": _mapped("m"),
        "index_ef_construction": _mapped("ef_construction"),
        "index_ef_search": _mapped("ef_search"),
        "top_k": _mapped("k"),
        "operation_mix": _mapped("weights", _renamed_weights(_VECTOR_OPS)),
    },
    "bulk_insert": {"batch_sizes": _batch_sizes, "test_insert_method": _insert_method},
}
_ALL_SPECIFIC_KEYS = frozenset(k for table in _WORKLOAD_KEYS.values() for k in table)


def _monitoring(r: _Reader, data: Mapping[str, Any]) -> None:
    mon: dict[str, Any] = {}
    section = data.get("metrics")
    metrics: Mapping[str, Any] = section if isinstance(section, Mapping) else {}
    for key, ours in (("collect_pg_stats", "enabled"), ("pg_stats_statements", "statements")):
        for path, container in ((key, data), (f"metrics.{key}", metrics)):
            if key in container:
                value = container[key]
                if not isinstance(value, bool):
                    raise r.error(path, "invalid value", expected="true or false", found=value)
                r.put(mon, ours, value, f"monitoring.{ours}", path)
    if mon:
        r.out["monitoring"] = mon


def _metrics(r: _Reader, data: Mapping[str, Any]) -> None:
    section = data.get("metrics")
    out: dict[str, Any] = {}
    if section is not None and not isinstance(section, Mapping):
        raise r.error("metrics", "metrics must be a mapping", expected="interval:, latency_percentiles:", found=section)
    for key, value in (section or {}).items():
        path = f"metrics.{key}"
        if key == "interval":
            r.put(out, "interval", r.duration(path, value), "metrics.interval", path)
        elif key in ("latency_percentiles", "percentiles"):
            r.put(out, "percentiles", value, "metrics.percentiles", path)
        elif key not in ("collect_pg_stats", "pg_stats_statements"):
            r.ignored.append(path)
    if "summary_interval" in data:
        seconds = r.duration("summary_interval", data["summary_interval"])
        if "interval" in out:
            # Two intervals, one sampler here: the explicit metrics interval wins.
            r.ignored.append("summary_interval (metrics.interval is used)")
        else:
            r.put(out, "interval", seconds, "metrics.interval", "summary_interval")
    if out:
        r.out["metrics"] = out


def _connection_mode(r: _Reader, value: Any, ours: str | None) -> None:
    if value is None:
        return
    if ours != "connection_overhead" or value not in _CONNECTION_MODES:
        r.ignored.append("connection_mode")
        return
    r.put(r.workload, "mode", _CONNECTION_MODES[value], "workload.mode", "connection_mode")


def _progressive(r: _Reader, section: Any) -> dict[str, Any] | None:
    """StormDB's progressive scaling bands as our sweep over workers (validated as StormDB does)."""
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise r.error("progressive", "progressive must be a mapping", expected="enabled:, strategy:, ...",
                      found=section)
    if not section.get("enabled"):
        r.ignored.append("progressive (enabled: false)")
        return None
    p = "progressive."
    strategy = section.get("strategy") or "linear"
    if strategy not in STRATEGIES:
        raise r.error(p + "strategy", "unsupported scaling strategy", expected="one of " + ", ".join(STRATEGIES),
                      found=strategy)
    lo = r.integer(p + "min_workers", section.get("min_workers"), minimum=1, what="min_workers must be positive")
    hi = r.integer(p + "max_workers", section.get("max_workers"), minimum=1, what="max_workers must be positive")
    if lo > hi:
        raise r.error(p + "min_workers", f"min_workers ({lo}) must be <= max_workers ({hi})")
    conns: tuple[int, int] | None = None
    if "min_connections" in section or "max_connections" in section:
        c_lo = r.integer(p + "min_connections", section.get("min_connections"), minimum=1,
                         what="min_connections must be positive")
        c_hi = r.integer(p + "max_connections", section.get("max_connections"), minimum=1,
                         what="max_connections must be positive")
        if c_lo > c_hi:
            raise r.error(p + "min_connections", f"min_connections ({c_lo}) must be <= max_connections ({c_hi})")
        conns = (c_lo, c_hi)
    bands = section.get("bands")
    if bands is not None:
        bands = r.integer(p + "bands", bands, minimum=1, maximum=64, what="invalid bands")
    spec: dict[str, Any] = {
        "setting": "run.workers",
        "strategy": strategy,
        "start": lo,
        "stop": hi,
        "steps": bands,
        "source": r.source,
    }
    if conns is not None:
        spec["connections"] = conns
    for key, ours in (("test_duration", "duration"), ("band_duration", "duration"),
                      ("warmup_duration", "warmup"), ("warmup_time", "warmup"),
                      ("cooldown_duration", "cooldown"), ("cooldown_time", "cooldown")):
        if key in section and ours not in spec:
            spec[ours] = r.duration(p + key, section[key])
    for key in section:
        if key not in ("enabled", "strategy", "min_workers", "max_workers", "min_connections", "max_connections",
                       "bands", "test_duration", "band_duration", "warmup_duration", "warmup_time",
                       "cooldown_duration", "cooldown_time"):
            r.ignored.append(p + str(key))
    r.notes.append("progressive: read as a worker sweep; run it with `stormdb-tui sweep -c FILE`")
    return spec
