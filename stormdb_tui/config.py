"""Run configuration: YAML files, StormDB's flat files, CLI overrides, validation.

A config has these sections (all optional)::

    database:   {host, port, dbname, user, password | password_env, sslmode, options, dsn}
    workload:   {name: simple, <the workload's own options>...}
    run:        {workers, connections, processes, driver, duration | transactions, warmup,
                 think_time, rate, arrival, latency_limit, seed, max_tries, connect_timeout,
                 max_error_rate, transaction_timeout, stop_grace}
    metrics:    {interval, percentiles}
    monitoring: {enabled, interval, statements}
    report:     {json, markdown, journal}
    plugins:    {paths}            (relative paths are relative to the config file)

Every error names the file, the line, the key path, what was expected and
what was found. Workload options are validated against the workload's own
declarations once the workload is known (:meth:`RunConfig.workload_options`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import yaml

from stormdb_tui import config_stormdb
from stormdb_tui.errors import ConfigError
from stormdb_tui.options import Option, suggest, validate_options

RUN_OPTIONS: tuple[Option, ...] = (
    Option("workers", "int", 4, "concurrent worker threads (clients)", minimum=1, maximum=10000),
    Option(
        "connections",
        "int",
        None,
        "connection pool size; default one per worker. Fewer than workers makes workers "
        "wait for a connection per transaction, like an application server's pool",
        minimum=1,
        maximum=10000,
    ),
    Option(
        "processes",
        "int",
        "auto",
        "client processes the workers are spread over; auto: one per usable core with the multiplexed "
        "driver, one with threads",
        minimum=1,
        maximum=64,
        extra={"words": ("auto",)},
    ),
    Option(
        "driver",
        "choice",
        "auto",
        "how clients run: multiplex (one event loop per process, for declarative workloads such as "
        "simple), threads (a thread per worker, any workload), auto (multiplex when the workload offers it)",
        choices=("auto", "threads", "multiplex"),
    ),
    Option("duration", "duration", 60.0, "measured run time (after warm-up), e.g. 30s, 2m", minimum=0),
    Option(
        "transactions",
        "int",
        None,
        "stop after this many transactions in total instead of after a duration",
        minimum=1,
    ),
    Option("warmup", "duration", 0.0, "time run before measuring starts; excluded from all statistics", minimum=0),
    Option("think_time", "duration", 0.0, "pause between a worker's transactions (closed model)", minimum=0),
    Option(
        "ramp",
        "duration",
        0.0,
        "start the workers one by one, evenly over this long from the start of the run "
        "(warm-up included; keep it within warmup to measure only the full load)",
        minimum=0,
    ),
    Option(
        "rate",
        "float",
        None,
        "target transactions/s over all workers (open model); latency counts from the scheduled start",
        minimum=0.001,
    ),
    Option("arrival", "choice", "poisson", "open-model arrivals", choices=("poisson", "uniform")),
    Option(
        "schedule",
        "choice",
        "shared",
        "open model: one arrival schedule per process taken by whichever worker is free (shared, as "
        "pgbench -R), or one per worker at rate/workers (per_worker)",
        choices=("shared", "per_worker"),
    ),
    Option(
        "latency_limit",
        "duration",
        None,
        "transactions slower than this are counted late; in the open model those already later "
        "than this at their start are skipped (pgbench -L)",
        minimum=0,
    ),
    Option("seed", "int", None, "random seed; each worker uses seed + worker id (default: random)"),
    Option("max_tries", "int", 10, "attempts per transaction on serialization failure or deadlock", minimum=1),
    Option("connect_timeout", "duration", 10.0, "how long to wait for the server at start", minimum=0.1),
    Option(
        "max_error_rate",
        "float",
        None,
        "fail the run when more than this share of transactions failed (0.05 is one in twenty); default: off",
        minimum=0,
        maximum=1,
    ),
    Option(
        "transaction_timeout",
        "duration",
        60.0,
        "a transaction that has not returned after this long is reported as hung (the run fails)",
        minimum=0.1,
    ),
    Option(
        "stop_grace",
        "duration",
        10.0,
        "at the end, how long workers still inside a call are waited for before they are abandoned",
        minimum=0.1,
    ),
)

@dataclass(frozen=True)
class RunSettings:
    """The run section, typed once: what the engine reads instead of a dict.

    The fields are the names of :data:`RUN_OPTIONS` and have no defaults of
    their own: :meth:`parse` fills every field from the declarations, so a
    default lives in one place (the option) and cannot drift between the
    runner, the worker groups and the child processes.
    """

    workers: int
    connections: int | None
    processes: int | Literal["auto"]
    driver: Literal["auto", "threads", "multiplex"]
    duration: float
    transactions: int | None
    warmup: float
    think_time: float
    ramp: float
    rate: float | None
    arrival: Literal["poisson", "uniform"]
    schedule: Literal["shared", "per_worker"]
    latency_limit: float | None
    seed: int | None
    max_tries: int
    connect_timeout: float
    max_error_rate: float | None
    transaction_timeout: float
    stop_grace: float

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None = None) -> RunSettings:
        """Typed settings from a run section (raw or already validated); missing keys take their defaults."""
        typed = validate_options(RUN_OPTIONS, values)
        known = {f.name for f in fields(cls)}
        missing = sorted(set(typed) - known)
        if missing:
            raise TypeError(f"RUN_OPTIONS declares {', '.join(missing)}, which RunSettings has no field for")
        return cls(**typed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


METRICS_OPTIONS: tuple[Option, ...] = (
    Option("interval", "duration", 1.0, "sampling interval of the time series", minimum=0.1, maximum=3600),
    Option(
        "percentiles",
        "list",
        ["50", "90", "95", "99", "99.9"],
        "percentiles shown in progress lines and summaries",
    ),
)

MONITORING_OPTIONS: tuple[Option, ...] = (
    Option("enabled", "bool", None, "poll server statistics (default: on in the TUI, off headless)", nullable=True),
    Option("interval", "duration", 1.0, "server polling interval", minimum=0.2, maximum=3600),
    Option("statements", "bool", True, "collect top statements from pg_stat_statements when installed"),
    Option("wait_sample_rate", "float", 10.0, "wait-event samples of our sessions per second (0: off)",
           minimum=0, maximum=1000),
)

class _PathOrOff(Option):
    """A path, or ``off``: YAML reads a bare ``off``/``no``/``false`` as a boolean, which means off here."""

    def _convert(self, value: object) -> Any:
        if value is False:
            return "off"
        return super()._convert(value)


REPORT_OPTIONS: tuple[Option, ...] = (
    Option("json", "str", None, "write the JSON report to this path"),
    Option("markdown", "str", None, "write the Markdown report to this path"),
    _PathOrOff(
        "journal",
        "str",
        None,
        "the run journal (JSON Lines, one interval a line, kept if the run is killed); default: beside the "
        "report, or in the runs folder of the data directory; 'off' writes none",
    ),
)

PLUGINS_OPTIONS: tuple[Option, ...] = (
    Option("paths", "list", [], "folders with drop-in workload files or packages"),
)

DATABASE_OPTIONS: tuple[Option, ...] = (
    Option("dsn", "str", None, "a libpq conninfo string or URI"),
    Option("host", "str", None, "server host or socket directory"),
    Option("port", "int", None, "server port", minimum=1, maximum=65535),
    Option("dbname", "str", None, "database name"),
    Option("user", "str", None, "user name"),
    Option("password", "str", None, "password (prefer password_env or ~/.pgpass)"),
    Option("password_env", "str", None, "environment variable holding the password"),
    Option("sslmode", "choice", None, "libpq sslmode", choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full")),
    Option("options", "str", None, "server options, e.g. -c statement_timeout=5s"),
    Option("connect_timeout", "int", None, "libpq connect timeout in seconds", minimum=1),
    Option("data_dir", "str", None, "data directory of the embedded server"),
)

SECTIONS: dict[str, tuple[Option, ...]] = {
    "database": DATABASE_OPTIONS,
    "run": RUN_OPTIONS,
    "metrics": METRICS_OPTIONS,
    "monitoring": MONITORING_OPTIONS,
    "report": REPORT_OPTIONS,
    "plugins": PLUGINS_OPTIONS,
}
ALL_SECTIONS = ("database", "workload", "run", "metrics", "monitoring", "report", "plugins")

@dataclass
class RunConfig:
    """A parsed, section-validated configuration.

    ``workload_raw`` holds the workload's options as given; they are typed
    by :meth:`workload_options` against the workload's declarations.
    """

    source: str | None = None
    database: dict[str, Any] = field(default_factory=lambda: validate_options(DATABASE_OPTIONS, {}))
    workload: str | None = None
    workload_raw: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=lambda: validate_options(RUN_OPTIONS, {}))
    metrics: dict[str, Any] = field(default_factory=lambda: validate_options(METRICS_OPTIONS, {}))
    monitoring: dict[str, Any] = field(default_factory=lambda: validate_options(MONITORING_OPTIONS, {}))
    report: dict[str, Any] = field(default_factory=lambda: validate_options(REPORT_OPTIONS, {}))
    plugins: dict[str, Any] = field(default_factory=lambda: validate_options(PLUGINS_OPTIONS, {}))
    lines: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    """Our key path -> the key as the file spells it (StormDB files), so messages name the file's key."""
    sweep: dict[str, Any] | None = None
    """A sweep read from the file (StormDB's ``progressive:`` section), for ``stormdb-tui sweep``."""

    def workload_options(self, decls: tuple[Option, ...] | list[Option]) -> dict[str, Any]:
        """The workload's options typed against its declarations, errors located in the file."""
        try:
            return validate_options(decls, self.workload_raw, prefix="workload.", lines=self.lines)
        except ConfigError as exc:
            raise _aliased(exc, self.aliases).located(self.source, None) from None

    def percentiles(self) -> list[float]:
        """The standard percentiles plus any extra ones the config asks for.

        The standard set is always kept: progress lines, the summary table and
        every report consumer read p50/p90/p95/p99/p99.9, so a config listing
        only ``[50, 99.99]`` must add p99.99, not blank out p95.
        """
        extra = check_percentiles(self.metrics["percentiles"])
        return sorted(set(STANDARD_PERCENTILES) | set(extra))

    def settings(self) -> RunSettings:
        """The run section as typed settings (parsed now: overrides may have changed the section)."""
        try:
            return RunSettings.parse(self.run)
        except ConfigError as exc:
            raise exc.located(self.source, None) from None

    def echo(self) -> dict[str, Any]:
        """The config as the report shows it, passwords redacted."""
        database = {k: v for k, v in self.database.items() if v is not None}
        if database.get("password"):
            database["password"] = "***"
        if database.get("dsn"):
            from stormdb_tui.db import redact

            database["dsn"] = redact(database["dsn"])
        return {
            "source": self.source,
            "database": database,
            "workload": {"name": self.workload, **self.workload_raw},
            "run": dict(self.run),
            "metrics": dict(self.metrics),
            "monitoring": dict(self.monitoring),
            "report": dict(self.report),
            "plugins": dict(self.plugins),
        }


def _line_map(text: str, source: str | None = None) -> dict[str, int]:
    """Key path -> 1-based line number, from the YAML node tree; rejects duplicate keys."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                path = f"{prefix}{key_node.value}"
                if key_node.value in seen:
                    # YAML keeps the last value silently; a second `duration:` is
                    # almost always an edit that forgot the first one.
                    raise ConfigError(
                        "duplicate key",
                        path=path,
                        file=source,
                        line=key_node.start_mark.line + 1,
                        hint=f"first given on line {lines.get(path)}; keep one",
                    )
                seen.add(key_node.value)
                lines.setdefault(path, key_node.start_mark.line + 1)
                walk(value_node, path + ".")

    if root is not None:
        walk(root, "")
    return lines


MAX_CONFIG_BYTES = 1024 * 1024
MAX_YAML_NODES = 20_000
"""Values a config may expand to, aliases followed: real configs have a few hundred."""
MAX_YAML_DEPTH = 32


def check_yaml_shape(text: str, source: str = "<config>") -> None:
    """Reject YAML that would cost far more than it looks: alias bombs, deep nesting.

    The text is composed into nodes (aliases stay shared references, so this
    is linear in the text) and walked with a budget, following aliases, before
    anything is built from it.
    """
    depth = 0
    # Events first: the parser is a state machine, so a deep file is refused
    # at its 33rd level instead of recursing through all of it.
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise ConfigError(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)", file=source,
                                  line=event.start_mark.line + 1 if event.start_mark else None)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)", file=source) from None
    if root is None:
        return
    budget = MAX_YAML_NODES
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        line = node.start_mark.line + 1
        if budget < 0:
            raise ConfigError(
                f"expands to more than {MAX_YAML_NODES:,} values (YAML aliases repeating aliases?)",
                file=source, line=line,
            )
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)", file=source, line=line)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def _yaml_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    line = mark.line + 1 if mark is not None else None
    hint = None
    if "\\t" in str(problem) or re.search(r"\btabs?\b", str(problem).lower()):
        hint = "YAML indents with spaces, not tabs"
    return ConfigError(f"invalid YAML: {problem}", file=source, line=line, hint=hint)


def load_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and validate a YAML config file (ours or StormDB's flat format)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("config file not found", file=source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=source) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"too large for a config file (more than {MAX_CONFIG_BYTES:,} bytes)", file=source)
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise ConfigError("cannot read config file: binary content (a NUL byte), not YAML text", file=source, line=line)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("cannot read config file: not UTF-8 text (binary content?)", file=source, line=line) from None
    cfg = parse_config(text, source)
    base = os.path.dirname(os.path.abspath(source))
    cfg.plugins["paths"] = [
        p if os.path.isabs(os.path.expanduser(p)) else os.path.join(base, p) for p in cfg.plugins.get("paths") or []
    ]
    return cfg


def parse_config(text: str, source: str = "<config>") -> RunConfig:
    """Validate YAML text; ``source`` names it in error messages."""
    try:
        check_yaml_shape(text, source)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping of sections",
            file=source,
            line=1,
            expected="sections such as workload:, run:",
            found=type(data).__name__,
        )
    lines = _line_map(text, source)
    if not config_stormdb.is_stormdb(data):
        return build_config(data, source, lines)
    foreign = config_stormdb.translate(data, source, lines)
    ours_lines = {**lines, **{ours: lines[theirs] for ours, theirs in foreign.aliases.items() if theirs in lines}}
    try:
        cfg = build_config(foreign.data, source, ours_lines, foreign.warnings)
    except ConfigError as exc:
        raise _aliased(exc, foreign.aliases) from None
    cfg.aliases = foreign.aliases
    cfg.sweep = foreign.sweep
    return cfg


def _aliased(exc: ConfigError, aliases: Mapping[str, str]) -> ConfigError:
    """The error with its key path spelt as in the file (``workload_config.think_time``, not ours)."""
    if not exc.path or exc.path not in aliases:
        return exc
    return ConfigError(exc.detail, path=aliases[exc.path], file=exc.file, line=exc.line, expected=exc.expected,
                       found=exc.found, hint=exc.hint)


def build_config(
    data: Mapping[str, Any],
    source: str | None = None,
    lines: Mapping[str, int] | None = None,
    warnings: list[str] | None = None,
) -> RunConfig:
    """A RunConfig from a nested mapping (already parsed YAML or built in code)."""
    lines = dict(lines or {})
    cfg = RunConfig(source=source, lines=lines, warnings=list(warnings or []))
    for key, value in data.items():
        if key not in ALL_SECTIONS:
            near = suggest(str(key), ALL_SECTIONS)
            raise ConfigError(
                "unknown section",
                path=str(key),
                file=source,
                line=lines.get(str(key)),
                hint=f"did you mean {near!r}?" if near else "sections: " + ", ".join(ALL_SECTIONS),
            )
        if value is None:
            continue
        if key == "workload":
            _take_workload(cfg, value, source, lines)
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(
                "a section must be a mapping",
                path=key,
                file=source,
                line=lines.get(key),
                expected="key: value pairs",
                found=value,
            )
        try:
            setattr(cfg, key, validate_options(SECTIONS[key], value, prefix=f"{key}.", lines=lines))
        except ConfigError as exc:
            raise exc.located(source, lines.get(key)) from None
    check_run(cfg.run, source, lines)
    check_percentiles(cfg.metrics["percentiles"], source, lines)
    return cfg


def _take_workload(cfg: RunConfig, value: Any, source: str | None, lines: Mapping[str, int]) -> None:
    if isinstance(value, str):
        cfg.workload = value
        return
    if not isinstance(value, Mapping):
        raise ConfigError(
            "the workload section must be a mapping",
            path="workload",
            file=source,
            line=lines.get("workload"),
            expected="name: and the workload's options",
            found=value,
        )
    options = dict(value)
    name = options.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise ConfigError(
            "invalid workload name",
            path="workload.name",
            file=source,
            line=lines.get("workload.name"),
            expected="a workload name such as simple or tpcc",
            found=name,
        )
    nested = options.pop("options", None)
    if isinstance(nested, Mapping):
        options.update(nested)
    cfg.workload = name
    cfg.workload_raw = options


STANDARD_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def check_percentiles(
    values: Any, source: str | None = None, lines: Mapping[str, int] | None = None
) -> list[float]:
    """``metrics.percentiles`` as numbers strictly between 0 and 100, or a located ConfigError."""
    out = []
    for value in values or ():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not 0 < number <= 100:
            raise ConfigError(
                "invalid value",
                path="metrics.percentiles",
                file=source,
                line=(lines or {}).get("metrics.percentiles"),
                expected="percentiles between 0 and 100, such as 50, 99 or 99.9",
                found=value,
            )
        out.append(number)
    return out


def check_window(run: Mapping[str, Any], source: str | None = None, lines: Mapping[str, int] | None = None) -> None:
    """The measured window is at least 1 s unless a transaction count ends the run.

    Checked once every override is applied (``--duration 0 --transactions 100``
    is valid in either order). A zero-length window measured only the drain
    of in-flight transactions and reported it as throughput.
    """
    if run.get("transactions") is None and run.get("duration") is not None and run["duration"] < 1:
        raise ConfigError(
            "a run must measure for at least 1 s (or give run.transactions)",
            path="run.duration",
            file=source,
            line=(lines or {}).get("run.duration"),
            expected="a duration of 1s or more",
            found=run["duration"],
        )


def check_run(run: Mapping[str, Any], source: str | None = None, lines: Mapping[str, int] | None = None) -> None:
    """Cross-field rules of the run section."""
    lines = lines or {}
    connections = run.get("connections")
    processes = run.get("processes", 1)
    processes = 1 if processes in (None, "auto") else processes  # auto never exceeds the workers
    if connections is not None and processes > 1 and connections < run["workers"]:
        raise ConfigError(
            "a pool smaller than the worker count needs processes: 1",
            path="run.connections",
            file=source,
            line=lines.get("run.connections"),
        )
    if processes > run.get("workers", 1):
        raise ConfigError(
            "more processes than workers",
            path="run.processes",
            file=source,
            line=lines.get("run.processes"),
            expected=f"at most {run.get('workers')}",
            found=run.get("processes"),
        )


def apply_override(cfg: RunConfig, key: str, value: Any, workload_decls: tuple[Option, ...] | list[Option] = ()) -> None:
    """Apply ``--set key=value`` (or a CLI flag) on top of the file.

    ``key`` may name a section (``run.workers``, ``workload.scale``) or be
    bare: a bare key is a workload option when the workload declares it,
    otherwise a run setting.
    """
    section, _, name = key.rpartition(".")
    names = {o.name for o in workload_decls}
    if not section:
        if name in names:
            section = "workload"
        elif name in {o.name for o in RUN_OPTIONS}:
            section = "run"
        else:
            candidates = sorted(names | {o.name for o in RUN_OPTIONS})
            near = suggest(name, candidates)
            raise ConfigError(
                "unknown setting",
                path=f"--set {key}",
                hint=f"did you mean {near!r}?" if near else "use section.key, e.g. run.workers or workload.scale",
            )
    if section == "workload":
        if name == "name":
            cfg.workload = str(value)
        else:
            if workload_decls and name not in names:
                near = suggest(name, names)
                raise ConfigError(
                    "unknown workload option",
                    path=f"--set {key}",
                    hint=f"did you mean {near!r}?" if near else "known: " + ", ".join(sorted(names)),
                )
            cfg.workload_raw[name] = value
        return
    if section not in SECTIONS:
        near = suggest(section, ALL_SECTIONS)
        raise ConfigError(
            "unknown section", path=f"--set {key}", hint=f"did you mean {near!r}?" if near else None
        )
    decls = {o.name: o for o in SECTIONS[section]}
    if name not in decls:
        near = suggest(name, decls)
        raise ConfigError(
            "unknown setting", path=f"--set {key}", hint=f"did you mean {near!r}?" if near else None
        )
    getattr(cfg, section)[name] = decls[name].convert(value, f"{section}.{name}")
    if section == "run":
        check_run(cfg.run)
    if section == "metrics":
        check_percentiles(cfg.metrics["percentiles"])
