"""``falco-plugin build``: from a Python plugin class to a plugin ``.so``.

The class is imported and validated, its metadata are baked into a generated C header,
and the shim is compiled against the running Python with exactly the exported symbols of
the plugin's capabilities::

    falco-plugin build examples/dummy/dummy_plugin.py:DummyPlugin -o libdummy_py.so

The ``.so`` starts Python from this environment (``sys.executable``) when the host first
calls ``plugin_init``; rebuild it if the environment moves or Python's version changes.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import struct
import sys
import sysconfig
import tempfile
import traceback
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._spec.capabilities import capabilities as checked_capabilities
from .._spec.fields import FIELD_TYPE_CODES, check_extract, extract_sources, extract_types
from .._spec.parse import parse_sources, parse_types
from .._spec.plugin import (
    UNSET,
    check_metadata,
    declared_schema_version,
    derived_schema_version,
    init_schema,
    overrides,
    takes_tables,
)
from ..async_event import AsyncEventPlugin
from ..base import Plugin, PluginDefinitionError
from ..extract import ExtractPlugin, Field, Index
from ..listen import CaptureListenPlugin
from ..parse import ParsePlugin
from ..source import SourceInstance, SourcePlugin
from . import cc

__all__ = ["BuildError", "PluginSpec", "build", "exported_symbols", "load_plugin_class", "plugin_spec", "read_meta"]

REQUIRED_SYMBOLS = (
    "get_required_api_version",
    "get_version",
    "get_last_error",
    "get_name",
    "get_description",
    "get_contact",
    "init",
    "destroy",
)
# log_fn in ss_plugin_init_input appeared in API 3.3: the lowest version we can declare.
BASE_API_VERSION = (3, 3, 0)
# the plugin API the shim implements: the highest version a plugin may ask for
SHIM_API_VERSION = (3, 12, 0)

# The plugin API version that brought each exported symbol and each feature of the input
# structs or JSON the shim uses (from the history of userspace/plugin/plugin_api.h in
# falcosecurity/libs). The required version of a plugin is the maximum over what its .so
# exports and uses: declaring less makes libsinsp drop or shift what it does not expect (a
# static vtable below 3.10 loses dump_state). Symbols not listed date from 3.0. Add a row when
# the shim starts to use something new.
SYMBOL_API: dict[str, tuple[int, int, int]] = {
    "plugin_set_config": (3, 4, 0),
    "plugin_get_metrics": (3, 6, 0),  # in 3.5 already, but with other enum values
    "plugin_capture_open": (3, 7, 0),
    "plugin_capture_close": (3, 7, 0),
    "plugin_dump_state": (3, 10, 0),
    "plugin_get_required_event_schema_version": (3, 12, 0),
}
FEATURE_API: dict[str, tuple[int, int, int]] = {
    "log_fn": (3, 3, 0),  # ss_plugin_init_input.log_fn: every plugin logs through it
    "init_tables": (3, 5, 0),  # reader_ext / writer_ext of ss_plugin_init_tables_input: entries at init
    "add_output": (3, 8, 0),  # "addOutput" in the get_fields JSON
    "value_offsets": (3, 11, 0),  # ss_plugin_field_extract_input.value_offsets: located fields
}


class BuildError(RuntimeError):
    """The plugin could not be built; the message says why."""


@dataclass
class PluginSpec:
    """Everything the shim needs to know about a plugin class, at build time."""

    module: str
    qualname: str
    sys_path: list[str]
    name: str
    version: str
    description: str
    contact: str
    required_api_version: str
    init_schema: str
    capabilities: list[str]
    plugin_id: int = 0
    event_source: str = ""
    timeout_pause: float = 0.01
    has_list_open_params: bool = False
    has_event_to_string: bool = False
    fields: list[Field] = field(default_factory=list)
    extract_sources: list[str] = field(default_factory=list)
    extract_types: list[int] = field(default_factory=list)
    async_events: list[str] = field(default_factory=list)
    async_sources: list[str] = field(default_factory=list)
    has_dump_state: bool = False
    check_async_names: bool = True
    parse_sources: list[str] = field(default_factory=list)
    parse_types: list[int] = field(default_factory=list)
    uses_tables: bool = False
    has_metrics: bool = False
    event_schema_version: str = ""
    extract_types_at_init: bool = False
    parse_types_at_init: bool = False
    schema_version_at_init: bool = False
    symbols: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)  # keys of FEATURE_API


def load_plugin_class(target: str) -> tuple[type[Plugin], list[str]]:
    """Import ``module:Class`` or ``path/to/file.py:Class``; return it and the sys.path it needs."""
    if ":" not in target:
        raise BuildError(f"expected MODULE:CLASS or FILE.py:CLASS, got {target!r}")
    where, qualname = target.rsplit(":", 1)
    if where.endswith(".py") or os.sep in where:
        path = Path(where).resolve()
        if not path.is_file():
            raise BuildError(f"no such file: {where}")
        module_name, search_dir = path.stem, str(path.parent)
    else:
        module_name, search_dir = where, os.getcwd()
    if search_dir not in sys.path:
        sys.path.insert(0, search_dir)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise BuildError(f"cannot import {module_name}: {import_error_text(exc, module_name)}") from exc
    obj: object = module
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise BuildError(f"{module_name} has no attribute {qualname!r}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        raise BuildError(f"{target} is not a subclass of falco_plugin.Plugin")
    # The directory that holds the module's top-level package, for the shim's sys.path.
    file = Path(getattr(module, "__file__", "") or search_dir).resolve()
    root = file.parent
    for _ in range(module_name.count(".")):
        root = root.parent
    return obj, [str(root)]


def import_error_text(exc: Exception, module_name: str) -> str:
    """``SyntaxError: invalid syntax (at myplugin.py:3)``: the error with the plugin's file:line."""
    from .._runtime import plugin_root, where

    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} (at {Path(exc.filename).name}:{exc.lineno})"
    root = plugin_root(module_name)
    frames = traceback.extract_tb(exc.__traceback__)
    # the frames of the import machinery come first; the plugin's own are the interesting ones
    return f"{type(exc).__name__}: {exc}" + where(frames, {root} if root else set())


def plugin_spec(cls: type[Plugin], sys_path: list[str]) -> PluginSpec:
    """Validate the class and collect its metadata. Raises PluginDefinitionError."""
    check_metadata(cls)
    capabilities = checked_capabilities(cls)
    uses_tables = takes_tables(cls)
    if uses_tables and not ({"parsing", "extraction"} & set(capabilities)):
        raise PluginDefinitionError(
            f"{cls.__qualname__}.__init__ takes tables, but the host gives them only to plugins that parse "
            "events or extract fields: subclass ParsePlugin or ExtractPlugin too"
        )
    if not capabilities:
        raise PluginDefinitionError(
            f"{cls.__qualname__} has no capability: subclass SourcePlugin (or another capability mixin) too"
        )
    spec = PluginSpec(
        module=cls.__module__,
        qualname=cls.__qualname__,
        sys_path=sys_path,
        name=cls.NAME,
        version=cls.PLUGIN_VERSION,
        description=cls.DESCRIPTION,
        contact=cls.CONTACT,
        required_api_version="",  # from the symbols and features, below
        init_schema=init_schema(cls),
        capabilities=capabilities,
    )
    # the required symbols, and each optional one only where the plugin defines its behaviour
    symbols = list(REQUIRED_SYMBOLS)
    if spec.init_schema:
        symbols.append("get_init_schema")
    if overrides(cls, Plugin, "set_config"):
        symbols.append("set_config")
    if issubclass(cls, SourcePlugin):
        spec.plugin_id = cls.PLUGIN_ID
        spec.event_source = cls.EVENT_SOURCE if cls.PLUGIN_ID else ""  # id 0: the syscall source
        spec.timeout_pause = float(cls.TIMEOUT_PAUSE)
        spec.has_list_open_params = overrides(cls, SourcePlugin, "list_open_params")
        spec.has_event_to_string = overrides(cls, SourcePlugin, "event_to_string")
        if cls.PLUGIN_ID:  # neither symbol: a syscall-source plugin (libsinsp reads no id, no source)
            symbols += ["get_id", "get_event_source"]
        symbols += ["open", "close", "next_batch"]
        if progress_defined(cls, sys_path):
            symbols.append("get_progress")
        if spec.has_list_open_params:
            symbols.append("list_open_params")
        if spec.has_event_to_string:
            symbols.append("event_to_string")
    if issubclass(cls, ExtractPlugin):
        spec.fields = check_extract(cls)
        spec.extract_sources = extract_sources(cls)
        spec.extract_types = extract_types(cls)
        spec.extract_types_at_init = overrides(cls, ExtractPlugin, "extract_event_types")
        symbols += ["get_fields", "extract_fields", "get_extract_event_sources", "get_extract_event_types"]
    if issubclass(cls, AsyncEventPlugin):
        spec.async_events = list(cls.ASYNC_EVENTS)
        spec.async_sources = list(cls.EVENT_SOURCES)
        spec.has_dump_state = overrides(cls, AsyncEventPlugin, "dump_state")
        spec.check_async_names = bool(cls.CHECK_ASYNC_EVENT_NAMES)
        symbols += ["get_async_events", "get_async_event_sources", "set_async_event_handler"]
        if spec.has_dump_state:
            symbols.append("dump_state")
    if issubclass(cls, ParsePlugin):
        spec.parse_types = parse_types(cls)
        spec.parse_types_at_init = overrides(cls, ParsePlugin, "parse_event_types")
        spec.parse_sources = parse_sources(cls)
        symbols += ["parse_event", "get_parse_event_types", "get_parse_event_sources"]
    if issubclass(cls, CaptureListenPlugin):
        symbols += ["capture_open", "capture_close"]
    # Falco checks the event schema of a plugin that takes other events than plugin events
    # against the driver's (check_required_schema_version in libsinsp's plugin.cpp); without
    # this symbol it assumes 3.0.0, which a 4.x driver refuses. Declared (a constant, or a
    # method asked at init), else derived from the event types (at init too when those are
    # decided at init).
    declared = declared_schema_version(cls)
    if overrides(cls, Plugin, "required_event_schema_version") or (
        declared is UNSET and (spec.extract_types_at_init or spec.parse_types_at_init)
    ):
        spec.schema_version_at_init = True
    elif declared is UNSET:
        spec.event_schema_version = derived_schema_version(spec.extract_types + spec.parse_types) or ""
    else:
        spec.event_schema_version = declared or ""
    if spec.schema_version_at_init or spec.event_schema_version:
        symbols.append("get_required_event_schema_version")
    spec.uses_tables = uses_tables
    spec.has_metrics = overrides(cls, Plugin, "get_metrics")
    if spec.has_metrics:
        symbols.append("get_metrics")
    spec.symbols = ["plugin_" + s for s in symbols]
    spec.features = ["log_fn"]
    if uses_tables:
        spec.features.append("init_tables")
    if any(f.add_output for f in spec.fields):
        spec.features.append("add_output")
    if any(f.located for f in spec.fields):
        spec.features.append("value_offsets")
    spec.required_api_version = required_api_version(cls, spec.symbols, spec.features)
    return spec


def progress_defined(cls: type, sys_path: Sequence[str] = ()) -> bool:
    """Whether an instance the plugin's ``open`` returns may define ``progress()``: one of the
    ``SourceInstance`` subclasses ``open``'s return annotation names, or, without one, of those
    defined in the plugin's own modules (its class's, and those under ``sys_path``)."""
    try:
        hint = typing.get_type_hints(cls.open).get("return")  # type: ignore[attr-defined]
    except Exception:  # an annotation that does not resolve: look at the modules instead
        hint = None
    named = [c for c in (typing.get_args(hint) or (hint,)) if isinstance(c, type) and issubclass(c, SourceInstance)]
    if named and SourceInstance not in named:
        candidates = named
    else:
        roots = [Path(p).resolve() for p in sys_path]

        def own(c: type) -> bool:
            if c.__module__ == cls.__module__:
                return True
            file = getattr(sys.modules.get(c.__module__), "__file__", None)
            if not isinstance(file, str) or c.__module__.startswith("falco_plugin"):
                return False
            return any(Path(file).resolve().is_relative_to(r) for r in roots)

        candidates = [c for c in _subclasses(SourceInstance) if own(c)]
    return any(overrides(c, SourceInstance, "progress") for c in candidates)


def _subclasses(base: type) -> list[type]:
    out: list[type] = []
    todo: list[type] = list(base.__subclasses__())
    while todo:
        c = todo.pop()
        out.append(c)
        todo += c.__subclasses__()
    return out


def required_api_version(cls: type, symbols: Iterable[str], features: Iterable[str]) -> str:
    """The plugin API version the plugin declares: what its symbols and features need
    (:func:`api_version`), or its ``REQUIRED_API_VERSION`` if that is higher (never lower)."""
    symbols, features = list(symbols), list(features)
    needed = api_version(symbols, features)
    declared = getattr(cls, "REQUIRED_API_VERSION", None)
    if declared is None:
        return needed
    what = f"{cls.__qualname__}.REQUIRED_API_VERSION = {declared!r} (at {_constant_line(cls, 'REQUIRED_API_VERSION')})"
    match = re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", declared) if isinstance(declared, str) else None
    if match is None:
        raise PluginDefinitionError(f"{what} must be 'MAJOR.MINOR.PATCH', e.g. '3.10.0'")
    version = tuple(int(g) for g in match.groups())
    shim = ".".join(map(str, SHIM_API_VERSION))
    if version[0] != SHIM_API_VERSION[0] or version > SHIM_API_VERSION:
        raise PluginDefinitionError(f"{what} is not a plugin API this SDK implements (3.0.0 to {shim})")
    if version < tuple(int(x) for x in needed.split(".")):
        def above(v: str) -> bool:
            return tuple(int(x) for x in v.split(".")) > version

        why = sorted({s for s in symbols if above(api_version([s]))}
                     | {f for f in features if above(api_version([], [f]))})
        raise PluginDefinitionError(
            f"{what} is lower than the {needed} the plugin needs ({', '.join(why) or 'the log function'}): "
            f"it may raise the version, never lower it: remove the constant or set it to {needed} or higher")
    return str(declared)


def _constant_line(cls: type, name: str) -> str:
    """``file.py:LINE`` of the class statement that sets constant ``name`` (of the class, else)."""
    for klass in cls.__mro__:
        if name not in vars(klass):
            continue
        try:
            lines, start = inspect.getsourcelines(klass)
            file = Path(inspect.getsourcefile(klass) or "?").name
        except (OSError, TypeError):
            return klass.__module__
        for offset, line in enumerate(lines):
            if re.match(rf"\s*{name}\b", line):
                return f"{file}:{start + offset}"
        return f"{file}:{start}"
    return cls.__module__


def api_version(symbols: Iterable[str], features: Iterable[str] = ()) -> str:
    """The lowest plugin API that has every symbol and feature (``SYMBOL_API``, ``FEATURE_API``),
    so that older Falcos still load the plugin.

    >>> api_version(["plugin_init", "plugin_dump_state"], ["log_fn"])
    '3.10.0'
    """
    needed = max([BASE_API_VERSION, *(SYMBOL_API.get(s, (3, 0, 0)) for s in symbols),
                  *(FEATURE_API[f] for f in features)])
    return ".".join(map(str, needed))


# -- code generation ------------------------------------------------------------------


def c_string(text: str) -> str:
    """A C string literal holding ``text`` as UTF-8.

    >>> c_string('a"b\\n')
    '"a\\\\"b\\\\012"'
    """
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":  # '?' would risk trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def meta_header(spec: PluginSpec, python_executable: str, build_info: dict[str, Any] | None = None,
                packaged: bool = False, runtime_dir: str = "") -> str:
    caps = set(spec.capabilities)
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lines = [
        "/* Generated by falco-plugin build: the baked metadata of one plugin. */",
        "#ifndef FALCO_PLUGIN_META_H",
        "#define FALCO_PLUGIN_META_H",
        f"#define FPY_NAME {c_string(spec.name)}",
        f"#define FPY_VERSION {c_string(spec.version)}",
        f"#define FPY_DESCRIPTION {c_string(spec.description)}",
        f"#define FPY_CONTACT {c_string(spec.contact)}",
        f"#define FPY_REQUIRED_API_VERSION {c_string(spec.required_api_version)}",
        f"#define FPY_INIT_SCHEMA {c_string(spec.init_schema)}",
        f"#define FPY_ENTRY_MODULE {c_string(spec.module)}",
        f"#define FPY_ENTRY_CLASS {c_string(spec.qualname)}",
        f"#define FPY_PY_EXECUTABLE {c_string(python_executable)}",
        f"#define FPY_PY_VERSION {c_string(py)}",
        f"#define FPY_PY_NODOT {c_string(py.replace('.', ''))}",
        f"#define FPY_PACKAGED {int(packaged)}",
        f"#define FPY_RUNTIME_DIR {c_string(runtime_dir or runtime_dir_name(spec.name))}",
        f"#define FPY_BUILD_JSON {c_string(json.dumps(build_info or {}))}",
        f"#define FPY_SYS_PATH {c_string(chr(10).join(spec.sys_path))}",
        f"#define FPY_CAP_SOURCING {int('sourcing' in caps)}",
        f"#define FPY_PLUGIN_ID {spec.plugin_id}u",
        f"#define FPY_EVENT_SOURCE {c_string(spec.event_source)}",
        f"#define FPY_TIMEOUT_PAUSE_NS {int(spec.timeout_pause * 1e9)}ull",
        f"#define FPY_HAS_LIST_OPEN_PARAMS {int(spec.has_list_open_params)}",
        f"#define FPY_HAS_EVENT_TO_STRING {int(spec.has_event_to_string)}",
        f"#define FPY_HAS_PROGRESS {int('plugin_get_progress' in spec.symbols)}",
        f"#define FPY_CAP_EXTRACTION {int('extraction' in caps)}",
        f"#define FPY_CAP_ASYNC {int('async' in caps)}",
        f"#define FPY_CAP_PARSING {int('parsing' in caps)}",
        f"#define FPY_CAP_LISTENING {int('capture_listening' in caps)}",
        f"#define FPY_USES_TABLES {int(spec.uses_tables)}",
        f"#define FPY_HAS_METRICS {int(spec.has_metrics)}",
        f"#define FPY_EVENT_SCHEMA_VERSION {c_string(spec.event_schema_version)}",
        f"#define FPY_EXTRACT_TYPES_AT_INIT {int(spec.extract_types_at_init)}",
        f"#define FPY_PARSE_TYPES_AT_INIT {int(spec.parse_types_at_init)}",
        f"#define FPY_SCHEMA_AT_INIT {int(spec.schema_version_at_init)}",
    ]
    if "parsing" in caps:
        lines += [
            f"#define FPY_PARSE_SOURCES_JSON {c_string(json.dumps(spec.parse_sources))}",
            f"#define FPY_PARSE_TYPES {c_array(spec.parse_types or [0])}",  # C has no empty array
            f"#define FPY_PARSE_NTYPES {len(spec.parse_types)}u",
        ]
    if "async" in caps:
        lines += [
            f"#define FPY_ASYNC_EVENTS_JSON {c_string(json.dumps(spec.async_events))}",
            f"#define FPY_ASYNC_SOURCES_JSON {c_string(json.dumps(spec.async_sources))}",
            "#define FPY_ASYNC_NAMES {" + ", ".join(c_string(n) for n in spec.async_events) + "}",
            f"#define FPY_HAS_DUMP_STATE {int(spec.has_dump_state)}",
            f"#define FPY_CHECK_ASYNC_NAMES {int(spec.check_async_names)}",
        ]
    if "extraction" in caps:
        fields = spec.fields
        lines += [
            f"#define FPY_FIELDS_JSON {c_string(json.dumps([f.to_json() for f in fields]))}",
            f"#define FPY_EXTRACT_SOURCES_JSON {c_string(json.dumps(spec.extract_sources))}",
            f"#define FPY_EXTRACT_TYPES {c_array(spec.extract_types or [0])}",
            f"#define FPY_EXTRACT_NTYPES {len(spec.extract_types)}u",
            f"#define FPY_FIELD_TYPES {c_array(FIELD_TYPE_CODES[f.type] for f in fields)}",
            f"#define FPY_FIELD_IS_LIST {c_array(int(f.is_list) for f in fields)}",
            f"#define FPY_FIELD_ARG {c_array(arg_kind(f) for f in fields)}",
            f"#define FPY_FIELD_LOCATED {c_array(int(f.located) for f in fields)}",
            f"#define FPY_VALUE_OFFSETS {int(any(f.located for f in fields))}",
        ]
    lines += [
        "#endif",
        "",
    ]
    return "\n".join(lines)


META_SECTION = ".falco_plugin_meta"


def meta_section_c(spec: PluginSpec) -> str:
    """A C file putting what ``falco-plugin info`` shows beyond the plugin API (event types,
    which libsinsp asks for only after ``init``) into an ELF section, read without loading the .so."""
    meta = {
        "sdk": "falco-plugin",
        "entry": f"{spec.module}:{spec.qualname}",
        "extract_event_types": spec.extract_types if "extraction" in spec.capabilities else None,
        "parse_event_types": spec.parse_types if "parsing" in spec.capabilities else None,
    }
    return (
        "/* Generated by falco-plugin build. */\n"
        f'__attribute__((used, section("{META_SECTION}"))) static const char fp_meta[] = '
        f"{c_string(json.dumps(meta))};\n"
    )


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metadata ``build`` stored in an SDK plugin's ELF section, or None for another library."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_offset = sections[shstrndx][4]
    for name, _type, _flags, _addr, offset, size, *_rest in sections:
        end = data.index(b"\0", names_offset + name)
        if data[names_offset + name : end].decode() == META_SECTION:
            meta: dict[str, Any] = json.loads(data[offset : offset + size].rstrip(b"\0"))
            return meta
    return None


def arg_kind(f: Field) -> int:
    """0: no argument, 1: index, 2: key (the shim's ARG_* values)."""
    return 0 if f.arg is None else 1 if isinstance(f.arg, Index) else 2


def c_array(values: Iterable[int]) -> str:
    return "{" + ", ".join(str(v) for v in values) + "}"


def version_script(symbols: list[str]) -> str:
    return "{\n  global:\n" + "".join(f"    {s};\n" for s in symbols) + "  local: *;\n};\n"


# -- compiling --------------------------------------------------------------------------


def libpython() -> Path:
    """The shared libpython of the running interpreter, or a BuildError that says what to install."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    candidates = [Path(libdir) / soname]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        candidates.append(Path(libdir) / multiarch / soname)
    for candidate in candidates:
        if (soname.endswith(".so") or ".so." in soname) and candidate.is_file():
            return candidate
    raise BuildError(
        f"Python {sys.version.split()[0]} at {sys.executable} has no shared libpython ({soname or '?'} "
        f"not found in {libdir}). Install it (Debian: apt-get install libpython3-dev python3-dev) or "
        "use a Python built with --enable-shared."
    )


def python_include() -> Path:
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise BuildError(f"Python.h not found in {include}: install the Python headers (apt-get install python3-dev)")
    return include


def runtime_dir_name(name: str) -> str:
    """The directory next to a packaged ``libNAME.so`` that holds its Python."""
    return f"{name}.python"


def own_sources(cls: type[Plugin], roots: list[str]) -> list[Path]:
    """The source files of the plugin's own modules: the class's module and, transitively, the
    modules under ``roots`` that its modules' globals refer to (modules, classes, functions)."""
    bases = [Path(r).resolve() for r in roots]
    exclude = [Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib", "stdlib", "platstdlib")]

    def own(name: str) -> Path | None:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py") or name.split(".")[0] == "falco_plugin":
            return None
        path = Path(file).resolve()
        if any(path.is_relative_to(e) for e in exclude) or not any(path.is_relative_to(b) for b in bases):
            return None
        return path

    seen: dict[str, Path] = {}
    todo = [cls.__module__]
    while todo:
        name = todo.pop()
        path = own(name) if name not in seen else None
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # its parent packages
        for value in vars(sys.modules[name]).values():
            ref = value.__name__ if isinstance(value, type(sys)) else getattr(value, "__module__", None)
            if isinstance(ref, str):
                todo.append(ref)
    return sorted(set(seen.values()))


def build(
    target: str, output: str | os.PathLike[str] | None = None, cflags: Sequence[str] = ()
) -> tuple[Path, PluginSpec]:
    """Build ``target`` ("module:Class" or "file.py:Class") into a plugin .so; return its path and spec.

    ``cflags`` (then ``$FALCO_PLUGIN_CFLAGS``) go last on the compiler's command line, e.g.
    ``["-fsanitize=address,undefined", "-g"]`` for a sanitizer build (its host must be one too)."""
    from .._runtime.environment import build_info, sdk_distributions

    cls, sys_path = load_plugin_class(target)
    try:
        spec = plugin_spec(cls, sys_path)
    except PluginDefinitionError as exc:
        raise BuildError(str(exc)) from exc
    out = Path(output) if output else Path(f"lib{spec.name}.so")
    info = build_info(spec.name, packaged=False, distributions=sdk_distributions(),
                      sources=own_sources(cls, sys_path))
    return compile_plugin(spec, out, info, packaged=False, cflags=cflags), spec


def compile_plugin(
    spec: PluginSpec, out: Path, info: dict[str, Any], packaged: bool, cflags: Sequence[str] = (),
    runtime_dir: str = "",
) -> Path:
    """Generate the metadata header and compile the shim into ``out``. A packaged plugin finds its
    libpython through an RPATH relative to itself (``$ORIGIN/NAME.python/lib``), which the
    loader searches before LD_LIBRARY_PATH and the system's libraries. Several plugins packaged
    together share one ``runtime_dir``."""
    shim = cc.c_source_dir("shim")
    lib = libpython()
    if packaged:
        runtime_dir = runtime_dir or runtime_dir_name(spec.name)
        rpath = ["-Wl,--disable-new-dtags", f"-Wl,-rpath,$ORIGIN/{runtime_dir}/lib"]
    else:
        rpath = [f"-Wl,-rpath,{lib.parent}"]
    with tempfile.TemporaryDirectory(prefix="falco-plugin-build-") as tmp:
        gen = Path(tmp)
        (gen / "plugin_meta.h").write_text(meta_header(spec, "" if packaged else sys.executable, info, packaged,
                                                             runtime_dir))
        (gen / "exports.map").write_text(version_script(spec.symbols))
        (gen / "fp_meta_section.c").write_text(meta_section_c(spec))
        tmp_out = gen / out.name
        cc.run_compiler(
            [
                *cc.WARNINGS,
                "-O2",
                "-fPIC",
                "-shared",
                "-fvisibility=hidden",
                f"-I{gen}",
                f"-I{shim}",
                f"-I{python_include()}",
                *map(str, sorted(shim.glob("*.c"))),
                str(gen / "fp_meta_section.c"),
                str(lib),
                *rpath,
                f"-Wl,--version-script={gen / 'exports.map'}",
                "-Wl,-z,nodelete",
                "-Wl,--no-undefined",
                "-ldl",
                "-lpthread",
                "-o",
                str(tmp_out),
            ],
            cflags,
        )
        found = set(exported_symbols(tmp_out))
        if found != set(spec.symbols):
            raise BuildError(
                f"the built library exports {sorted(found)}, expected {sorted(spec.symbols)} "
                f"(missing {sorted(set(spec.symbols) - found)}, extra {sorted(found - set(spec.symbols))})"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_copy = out.with_name(f".{out.name}.{os.getpid()}")
        tmp_copy.write_bytes(tmp_out.read_bytes())
        tmp_copy.chmod(0o755)
        os.replace(tmp_copy, out)
    return out


def exported_symbols(path: str | os.PathLike[str]) -> list[str]:
    """The defined global function symbols of an ELF64 little-endian shared object."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise BuildError(f"{path} is not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if sh_type != 11:  # SHT_DYNSYM
            continue
        strtab = sections[link]
        str_off = strtab[4]
        for i in range(1, size // entsize):
            st_name, st_info, _other, st_shndx = struct.unpack_from("<IBBH", data, offset + i * entsize)
            if st_shndx == 0 or (st_info >> 4) not in (1, 2) or (st_info & 0xF) != 2:  # defined global FUNC
                continue
            end = data.index(b"\0", str_off + st_name)
            names.append(data[str_off + st_name : end].decode())
    return names


def describe(spec: PluginSpec) -> str:
    return json.dumps({"name": spec.name, "capabilities": spec.capabilities, "symbols": spec.symbols})
