"""Workload discovery: built-ins, shipped plugins, entry points and drop-in folders.

Sources, in the order they win a name clash (a clash keeps the first and
warns on stderr):

1. ``builtin`` — modules in :mod:`stormdb_tui.builtin`;
2. ``plugin`` — packages in :mod:`stormdb_tui.plugins` (the repository's ``workloads/`` folder, shipped in the wheel);
3. ``entry-point`` — the ``stormdb_tui.workloads`` entry-point group of installed distributions;
4. ``path`` — ``.py`` files and packages in folders from config ``plugins.paths``
   and then ``STORMDB_WORKLOAD_PATH`` (``os.pathsep``-separated), loaded by path.

A module exposes its workload as ``WORKLOAD = MyWorkload`` (or ``WORKLOADS``
for several); without either, the :class:`~stormdb_tui.workload.Workload`
subclasses defined in the module are taken. A module that fails to import
or whose metadata is invalid is listed as failed with the reason; the rest
still load.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

from stormdb_tui.errors import ConfigError
from stormdb_tui.options import Option, suggest
from stormdb_tui.workload import API_VERSION, Workload

ENTRY_POINT_GROUP = "stormdb_tui.workloads"
PATH_ENV = "STORMDB_WORKLOAD_PATH"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass
class WorkloadEntry:
    """One discovered workload, or one plugin that failed to load."""

    name: str
    source: str
    origin: str
    cls: type[Workload] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.cls is not None and self.error is None

    @property
    def status(self) -> str:
        return "ok" if self.ok else f"failed: {self.error}"


class Registry:
    """The workloads available to this process."""

    def __init__(self) -> None:
        self.entries: dict[str, WorkloadEntry] = {}
        self.failed: list[WorkloadEntry] = []
        self.warnings: list[str] = []

    def add(self, entry: WorkloadEntry) -> None:
        if not entry.ok:
            self.failed.append(entry)
            return
        known = self.entries.get(entry.name)
        if known is not None:
            if known.cls is entry.cls:
                return
            message = (
                f"stormdb-tui: workload {entry.name!r} from {entry.source} {entry.origin} is shadowed by "
                f"the {known.source} one from {known.origin}"
            )
            self.warnings.append(message)
            print(message, file=sys.stderr)
            return
        self.entries[entry.name] = entry

    def names(self) -> list[str]:
        return sorted(self.entries)

    def all(self) -> list[WorkloadEntry]:
        """Every entry, loaded ones sorted by name, then the failed ones."""
        return [self.entries[n] for n in self.names()] + list(self.failed)

    def get(self, name: str | None) -> type[Workload]:
        """The workload class called ``name``; a ConfigError naming the choices otherwise."""
        if not name:
            raise ConfigError(
                "no workload chosen", path="workload.name", hint="pass --workload NAME; choices: " + ", ".join(self.names())
            )
        entry = self.entries.get(name)
        if entry is not None:
            assert entry.cls is not None
            return entry.cls
        for failed in self.failed:
            if failed.name == name:
                raise ConfigError(f"workload {name!r} failed to load: {failed.error}", path="workload.name")
        near = suggest(name, self.names())
        hint = (f"did you mean {near!r}? " if near else "") + "choices: " + ", ".join(self.names())
        if self.failed:
            # A plugin that failed (or a plugin folder that does not exist) is the
            # usual reason a workload the user just wrote is "unknown": say so here.
            hint += "; not loaded: " + ", ".join(f"{f.origin} ({f.error})" for f in self.failed[:3])
        raise ConfigError(f"unknown workload {name!r}", path="workload.name", hint=hint)


def validate_workload_class(cls: object) -> str | None:
    """Why a class is not a usable workload, or None when it is."""
    if not isinstance(cls, type) or not issubclass(cls, Workload):
        return "WORKLOAD is not a subclass of stormdb_tui.workload.Workload"
    if not isinstance(cls.name, str) or not _NAME_RE.match(cls.name):
        return f"invalid name {cls.name!r} (lowercase letters, digits, _ and -)"
    if not isinstance(cls.version, str) or not cls.version:
        return "version must be a non-empty string"
    if not isinstance(cls.api_version, int) or not 1 <= cls.api_version <= API_VERSION:
        return f"api_version {cls.api_version!r} is not supported (this engine speaks 1..{API_VERSION})"
    if cls.transaction is Workload.transaction and cls.program is Workload.program:
        return "transaction(ctx) is not implemented (nor program(), for a declarative workload)"
    seen = set()
    for opt in cls.options:
        if not isinstance(opt, Option):
            return f"options must be Option declarations, found {opt!r}"
        if opt.name in seen:
            return f"option {opt.name!r} is declared twice"
        seen.add(opt.name)
        if opt.default is not None:
            try:
                opt.convert(opt.default)
            except ConfigError as exc:
                return f"option {opt.name!r} has an invalid default: {exc}"
    if not isinstance(cls.min_server_version, int) or cls.min_server_version < 0:
        return "min_server_version must be a server_version_num integer"
    if not all(isinstance(e, str) for e in cls.required_extensions):
        return "required_extensions must be extension names"
    return None


def _classes_of(module: ModuleType) -> list[type[Workload]]:
    if hasattr(module, "WORKLOADS"):
        return list(module.WORKLOADS)
    if hasattr(module, "WORKLOAD"):
        return [module.WORKLOAD]
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Workload) and obj is not Workload and obj.__module__ == module.__name__
    ]


def _entries_from_module(module: ModuleType, source: str, origin: str) -> list[WorkloadEntry]:
    classes = _classes_of(module)
    if not classes:
        return [WorkloadEntry(_short(origin), source, origin, error="defines no Workload subclass (set WORKLOAD = YourClass)")]
    entries = []
    for cls in classes:
        problem = validate_workload_class(cls)
        name = getattr(cls, "name", None) or _short(origin)
        entries.append(WorkloadEntry(str(name), source, origin, cls=None if problem else cls, error=problem))
    return entries


def _short(origin: str) -> str:
    return Path(origin).stem if os.sep in origin else origin.rsplit(".", 1)[-1]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or '?').name}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _import_package_modules(package: str, source: str, registry: Registry) -> None:
    try:
        pkg = importlib.import_module(package)
    except ModuleNotFoundError as exc:
        if exc.name == package:
            return
        registry.add(WorkloadEntry(package, source, package, error=_describe(exc)))
        return
    except Exception as exc:
        registry.add(WorkloadEntry(package, source, package, error=_describe(exc)))
        return
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        qualified = f"{package}.{info.name}"
        try:
            module = importlib.import_module(qualified)
        except Exception as exc:
            registry.add(WorkloadEntry(info.name, source, qualified, error=_describe(exc)))
            continue
        for entry in _entries_from_module(module, source, qualified):
            registry.add(entry)


def _load_entry_points(registry: Registry) -> None:
    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:
        return
    for ep in eps:
        origin = f"{ep.value} ({ep.dist.name if ep.dist else 'entry point'})"
        try:
            obj = ep.load()
        except Exception as exc:
            registry.add(WorkloadEntry(ep.name, "entry-point", origin, error=_describe(exc)))
            continue
        if isinstance(obj, ModuleType):
            for entry in _entries_from_module(obj, "entry-point", origin):
                registry.add(entry)
        else:
            problem = validate_workload_class(obj)
            registry.add(WorkloadEntry(getattr(obj, "name", ep.name) or ep.name, "entry-point", origin,
                                       cls=None if problem else obj, error=problem))


def load_path_module(path: Path) -> ModuleType:
    """Import a drop-in ``.py`` file or package folder by path under a private module name."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    mod_name = f"stormdb_plugin_{digest}_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            mod_name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def _load_paths(paths: Iterable[str], registry: Registry) -> None:
    for folder in paths:
        root = Path(folder).expanduser()
        if not root.is_dir():
            registry.add(WorkloadEntry(str(root), "path", str(root), error="plugin folder does not exist"))
            continue
        for item in sorted(root.iterdir()):
            if item.name.startswith(("_", ".")):
                continue
            if not ((item.is_file() and item.suffix == ".py") or (item.is_dir() and (item / "__init__.py").exists())):
                continue
            try:
                module = load_path_module(item)
            except Exception as exc:
                registry.add(WorkloadEntry(item.stem, "path", str(item), error=_describe(exc)))
                continue
            for entry in _entries_from_module(module, "path", str(item)):
                registry.add(entry)


def discover(paths: Sequence[str] = ()) -> Registry:
    """Find every workload; ``paths`` come from config ``plugins.paths``."""
    registry = Registry()
    _import_package_modules("stormdb_tui.builtin", "builtin", registry)
    _import_package_modules("stormdb_tui.plugins", "plugin", registry)
    _load_entry_points(registry)
    env_paths = [p for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    _load_paths(list(paths) + env_paths, registry)
    return registry
