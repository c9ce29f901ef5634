"""The in-plugin runtime, the Python counterpart of ``shim/interpreter.c``: the adapter between
the C shim and a plugin class. Only the shim calls these; every name it looks up is listed and
typed in :mod:`.contract`. Beside it: ``dispatch`` (what the shim calls per event), ``log``,
``signals``, ``environment`` (can this plugin join the interpreter), ``on_import``.

Every function here runs with the GIL held, on whichever host thread the shim entered
from. Exceptions propagate to the shim, which turns them into ``SS_PLUGIN_FAILURE`` with
the text of :func:`format_exception` available from ``get_last_error``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from .._spec.fields import declared_fields, extract_sources, extract_types
from .._spec.parse import parse_sources, parse_types
from .._spec.plugin import check_metadata, parse_config, schema_version_at_init, takes_tables
from ..base import ConfigError, Plugin, PluginDefinitionError
from ..extract import ExtractPlugin
from ..parse import ParsePlugin
from ..source import EndOfStream, SourceInstance, SourcePlugin, Timeout
from . import environment, log, signals
from .dispatch import batch_methods, capture_listen, field_methods, metric_tuples, parse_method, types_at_init

if TYPE_CHECKING:  # what only some plugins need is imported where it is used
    import datetime
    import traceback

    from .. import _shim

# What the shim looks up by name (listed and typed in .contract), and what the build uses.
__all__ = [
    "EndOfStream",
    "Timeout",
    "batch_methods",
    "capture_listen",
    "create",
    "datetime_ns",
    "decide_at_init",
    "destroy",
    "embedded",
    "field_location",
    "field_methods",
    "format_exception",
    "has_progress",
    "ip_packed",
    "list_open_params",
    "metrics",
    "open_instance",
    "parse_method",
    "plugin_root",
    "set_config",
    "syscall_events",
    "where",
]


def embedded() -> None:
    """Called by the shim once it has started (or joined) the interpreter of a host process."""
    signals.guard()
    if os.environ.get("COVERAGE_PROCESS_CONFIG") or os.environ.get("COVERAGE_PROCESS_START"):
        start_coverage()


def start_coverage() -> None:
    """Measure the plugin's code in this interpreter when coverage.py measures subprocesses
    (pytest-cov with ``patch = ["subprocess"]``, or ``COVERAGE_PROCESS_START``): the data go to
    a file per process, which ``coverage combine`` (pytest-cov does) merges with the tests'.
    The interpreter is never finalized, so :func:`save_coverage` writes it at ``destroy``."""
    try:
        import coverage
    except ImportError:
        return
    coverage.process_startup()  # does nothing if a .pth file of coverage has started it already


def save_coverage() -> None:
    coverage = sys.modules.get("coverage")
    current = coverage.Coverage.current() if coverage is not None else None
    if current is not None:
        current.save()


def metrics(plugin: Plugin) -> list[tuple[str, bool, int, int | float]]:
    """``get_metrics``: the plugin's metrics as (name, monotonic, value type, value)."""
    return metric_tuples(plugin.get_metrics())

def load_class(module: str, qualname: str) -> type[Plugin]:
    try:
        obj: Any = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{exc}; searched sys.path: {', '.join(sys.path)}", name=exc.name, path=exc.path
        ) from None
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        raise PluginDefinitionError(f"{module}:{qualname} is not a falco_plugin.Plugin subclass")
    check_metadata(obj)
    root = plugin_root(module)
    if root:
        _PLUGIN_ROOTS.add(root)
    return obj


def add_sys_path(paths: str) -> None:
    """Put the plugin's module directories ("\n"-separated) first on sys.path, once each."""
    for index, path in enumerate(p for p in paths.split("\n") if p):
        if path not in sys.path:
            sys.path.insert(index, path)


def create(
    module: str, qualname: str, config: str, link: log.HostLink, tables: _shim.HostTables | None,
    sys_path: str = "", build: str = "{}"
) -> Plugin:
    """``plugin_init``: check that the plugin's environment can join this interpreter, import the
    class, validate the config, construct the plugin.

    ``tables`` is the shim's HostTables (None when the host gives none); a plugin whose
    ``__init__`` takes a ``tables`` parameter gets it as a :class:`TablesInput`. ``build`` is the
    JSON of :func:`.environment.build_info` baked into the ``.so``.
    """
    info = json.loads(build)
    if info:
        environment.join(info)
    add_sys_path(sys_path)
    cls = load_class(module, qualname)
    value = parse_config(cls, config)
    plugin = cls.__new__(cls)
    log.attach(cls.__module__, link)
    changed = environment.changed_sources(info) if info else []
    if changed:
        plugin.logger.warning(
            "source files changed since falco-plugin build, but the library still declares the fields, "
            "config schema and capabilities of the build (build it again): %s", ", ".join(changed)
        )
    try:
        if takes_tables(cls):
            if tables is None:
                raise PluginDefinitionError(
                    f"{qualname}.__init__ takes tables, but the host gives tables only to plugins that "
                    "parse events or extract fields"
                )
            from ..tables import TablesInput  # only for a plugin that takes tables

            plugin.__init__(value, TablesInput(tables))  # type: ignore[misc]
        else:
            plugin.__init__(value)  # type: ignore[misc]
    except BaseException:
        log.detach(cls.__module__, link)
        raise
    return plugin


def syscall_events(batch: Any) -> list[bytes]:
    """A syscall-source plugin's ``next_batch`` items as the bytes of whole events."""
    out: list[bytes] = []
    for i, item in enumerate(batch):
        if isinstance(item, (bytes, bytearray, memoryview)):
            out.append(bytes(item))
        elif callable(getattr(item, "to_bytes", None)):
            out.append(item.to_bytes())
        else:
            raise TypeError(
                f"next_batch: item {i} is {type(item).__name__}; a syscall-source plugin (PLUGIN_ID = 0) returns "
                "typed events of falco_plugin.event (e.g. PPME_SYSCALL_OPEN_X(...)) or their bytes"
            )
    return out


def decide_at_init(plugin: Plugin) -> tuple[list[int] | None, list[int] | None, str | None]:
    """Right after ``__init__``: the event types and the event schema version decided by the
    initialized plugin (None where the baked value stands; the shim asks only for what the
    build marked as decided at init)."""
    extract = parse = None
    codes: list[int] = []
    if isinstance(plugin, ExtractPlugin):
        extract = types_at_init(plugin, ExtractPlugin, "extract_event_types", extract_types, extract_sources)
        codes += extract if extract is not None else extract_types(type(plugin))
    if isinstance(plugin, ParsePlugin):
        parse = types_at_init(plugin, ParsePlugin, "parse_event_types", parse_types, parse_sources)
        codes += parse if parse is not None else parse_types(type(plugin))
    return extract, parse, schema_version_at_init(plugin, codes)


def destroy(plugin: Plugin, link: log.HostLink) -> None:
    try:
        plugin.destroy()
    finally:
        log.detach(type(plugin).__module__, link)
        save_coverage()


def set_config(plugin: Plugin, config: str) -> None:
    plugin.set_config(parse_config(type(plugin), config))


def open_instance(plugin: SourcePlugin, params: str) -> SourceInstance:
    instance = plugin.open(params)
    if not callable(getattr(instance, "next_batch", None)):
        raise TypeError(
            f"{type(plugin).__qualname__}.open() must return a SourceInstance, got {type(instance).__name__}"
        )
    return instance


_PROGRESS_WARNED: set[type] = set()


def has_progress(instance: object, exported: bool) -> bool:
    """Whether the instance defines ``progress()``; if it does but the build did not export
    ``get_progress`` (it could not tell from ``open``), say so once per class."""
    cls = type(instance)
    defined = getattr(cls, "progress", SourceInstance.progress) is not SourceInstance.progress
    if defined and not exported and cls not in _PROGRESS_WARNED:
        import logging  # only here: a plugin that never logs never imports it

        _PROGRESS_WARNED.add(cls)
        logging.getLogger(cls.__module__).warning(
            "%s.progress() is never called: the plugin does not export get_progress, because open() is not "
            "annotated to return %s and it is not defined in the plugin's own modules", cls.__qualname__,
            cls.__qualname__)
    return defined


def list_open_params(plugin: SourcePlugin) -> str:
    params = list(plugin.list_open_params())
    return json.dumps([p.to_json() for p in params]) if params else ""


def format_exception(exc: BaseException) -> str:
    """One line: what was raised and where: the innermost frame of the plugin's own code
    (``at myplugin.py:42 in value``), then where it was raised if that is elsewhere
    (``raised in decoder.py:355``)."""
    if isinstance(exc, (ConfigError, PluginDefinitionError, environment.EnvironmentConflict)):
        return str(exc)
    import traceback

    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text + where(traceback.extract_tb(exc.__traceback__), _PLUGIN_ROOTS)


# Files or package directories of the plugin classes loaded here: "the plugin's own code".
_PLUGIN_ROOTS: set[str] = set()
_library_dirs: tuple[str, ...] = ()


def library_dirs() -> tuple[str, ...]:
    """The directories of the standard library, site-packages and the SDK (found on the first error)."""
    global _library_dirs
    if not _library_dirs:
        import site
        import sysconfig

        _library_dirs = tuple(
            os.path.join(os.path.realpath(d), "")
            for d in {
                *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
                *site.getsitepackages(),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # falco_plugin
            }
        )
    return _library_dirs


def plugin_root(module_name: str) -> str | None:
    """The file of a single-module plugin, or the directory of its top-level package."""
    top = sys.modules.get(module_name.partition(".")[0])
    file: str | None = getattr(top, "__file__", None)
    if not file:
        return None
    file = os.path.realpath(file)
    return os.path.dirname(file) if os.path.basename(file) == "__init__.py" else file


def where(frames: traceback.StackSummary, roots: set[str]) -> str:
    """`` (at file.py:N in func[; raised in other.py:M])`` for the frame a plugin author wants."""
    if not frames:
        return ""

    def short(frame: traceback.FrameSummary) -> str:
        return f"{os.path.basename(frame.filename)}:{frame.lineno}"

    def own(frame: traceback.FrameSummary) -> bool:
        path = os.path.realpath(frame.filename)
        return any(path == root or path.startswith(os.path.join(root, "")) for root in roots)

    def library(frame: traceback.FrameSummary) -> bool:
        return frame.filename.startswith("<") or os.path.realpath(frame.filename).startswith(library_dirs())

    last = frames[-1]
    chosen = next((f for f in reversed(frames) if own(f)), None)
    if chosen is None:
        chosen = next((f for f in reversed(frames) if not library(f)), last)
    text = f" (at {short(chosen)} in {chosen.name}"
    if chosen is not last:
        text += f"; raised in {short(last)}"
    return text + ")"


def field_location(plugin: Plugin, field_id: int) -> str:
    """``at file.py:line in method`` of a field's method, for a failure that names no line of the
    plugin's own (a value of the wrong type, found by the shim)."""
    import inspect

    name = declared_fields(type(plugin))[field_id].method
    method = inspect.unwrap(getattr(type(plugin), name))
    code = getattr(method, "__code__", None)
    at = f"at {os.path.basename(code.co_filename)}:{code.co_firstlineno} " if code else ""
    return f"{at}in {type(plugin).__qualname__}.{name}"


def datetime_ns(value: datetime.datetime) -> int:
    """An abstime field's datetime as ns since the epoch (naive datetimes are UTC)."""
    import datetime  # already loaded: the value comes from it

    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def ip_packed(value: object) -> bytes:
    """An ipaddr / ipnet field's value as 4 or 16 bytes in network order."""
    import ipaddress

    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value.network_address.packed
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value.packed
    if isinstance(value, str):
        return ipaddress.ip_network(value, strict=False).network_address.packed
    raise TypeError(f"an IP field must return an ipaddress address or network, not {type(value).__name__}")
