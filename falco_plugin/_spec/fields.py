"""What an ExtractPlugin declares: its fields (checked, typed), sources and event types.

Read by the build (``get_fields`` JSON baked into the ``.so``) and by the runtime.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Union

from ..base import Plugin, PluginDefinitionError
from ..extract import Field, Located, _HostDefaultTypes
from .plugin import PLUGIN_EVENT, event_sources

FIELD_TYPES = ("uint64", "string", "reltime", "abstime", "bool", "ipaddr", "ipnet")
# ss_plugin_field_type codes, in the order of FIELD_TYPES
FIELD_TYPE_CODES = {"uint64": 8, "string": 9, "reltime": 20, "abstime": 21, "bool": 25, "ipaddr": 40, "ipnet": 41}
FIELD_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)+$")
PROPERTIES = ("hidden", "info", "conversation")
_TYPE_BY_NAME = {
    "builtins.int": "uint64",
    "builtins.str": "string",
    "builtins.bool": "bool",
    "datetime.timedelta": "reltime",
    "datetime.datetime": "abstime",
    "ipaddress.IPv4Address": "ipaddr",
    "ipaddress.IPv6Address": "ipaddr",
    "ipaddress.IPv4Network": "ipnet",
    "ipaddress.IPv6Network": "ipnet",
}


def _type_by_hint(hint: Any) -> str | None:
    """The field type of a return type hint. By name, so that a plugin that returns no
    datetime or ipaddress values never imports those modules."""
    if not isinstance(hint, type):
        return None
    kind = _TYPE_BY_NAME.get(f"{hint.__module__}.{hint.__qualname__}")
    module = sys.modules.get(hint.__module__)
    return kind if kind and getattr(module, hint.__qualname__, None) is hint else None


def _unwrap_optional(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        kinds = {_type_by_hint(a) for a in args}
        if len(kinds) == 1 and None not in kinds:
            return args[0]  # e.g. IPv4Address | IPv6Address
    return hint


def _unwrap_located(hint: Any) -> Any:
    if hint is Located or typing.get_origin(hint) is Located:
        args = typing.get_args(hint)
        return _unwrap_optional(args[0]) if args else hint
    return hint


def _type_from_hint(owner: str, hint: Any) -> tuple[str, bool]:
    hint = _unwrap_located(_unwrap_optional(hint))
    is_list = False
    if typing.get_origin(hint) in (list, Sequence, typing.Sequence, tuple):
        args = typing.get_args(hint)
        if not args:
            raise PluginDefinitionError(f"{owner}: give the element type of the list, e.g. list[int]")
        hint, is_list = _unwrap_located(_unwrap_optional(args[0])), True
    kind = _type_by_hint(hint)
    if kind is None:
        raise PluginDefinitionError(
            f"{owner}: cannot tell the field type from the return type {hint!r}; "
            f"return one of int, str, bool, timedelta, datetime, ipaddress types (or a list of them), "
            f"or pass type= one of {', '.join(FIELD_TYPES)}"
        )
    return kind, is_list


def declared_fields(cls: type[Plugin]) -> list[Field]:
    """The fields of a plugin class, in declaration order, with types resolved and checked."""
    specs: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            spec = getattr(value, "__falco_field__", None)
            if isinstance(spec, Field):
                specs.pop(attr, None)  # an override takes the place of its own declaration
                specs[attr] = spec
    # resolved once overrides are known: a base class's spec never meets a subclass's method
    found = [_resolve(cls, attr, spec) for attr, spec in specs.items()]
    names = [f.name for f in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PluginDefinitionError(f"{cls.__qualname__}: field declared twice: {', '.join(dupes)}")
    return found


def _resolve(cls: type, attr: str, spec: Field) -> Field:
    owner = f"{cls.__qualname__}.{attr} (field {spec.name})"
    method = getattr(cls, attr)
    if not FIELD_NAME_RE.match(spec.name):
        raise PluginDefinitionError(f"{owner}: field names look like 'plugin.field', got {spec.name!r}")
    if not spec.desc:
        raise PluginDefinitionError(f"{owner}: desc must not be empty")
    bad = [p for p in spec.properties if p not in PROPERTIES]
    if bad:
        raise PluginDefinitionError(f"{owner}: unknown properties {bad}; known: {', '.join(PROPERTIES)}")
    if spec.offset is not None:
        off = spec.offset
        if not (isinstance(off, tuple) and len(off) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in off)):
            raise PluginDefinitionError(f"{owner}: offset must be (start, length), two ints counted from the "
                                        f"event header, got {off!r}")
    params = list(inspect.signature(method).parameters)
    wanted = 3 if spec.arg is not None else 2
    first = "payloads" if spec.batch else "event"
    if len(params) != wanted:
        shape = f"(self, {first}, arg)" if spec.arg is not None else f"(self, {first})"
        raise PluginDefinitionError(f"{owner}: the method must take {shape}, it takes ({', '.join(params)})")
    resolved = Field(**{**spec.__dict__})
    hints = typing.get_type_hints(method)
    hint = hints.get("return")
    if spec.batch:
        if spec.located:
            raise PluginDefinitionError(f"{owner}: a batch field cannot be located (value offsets are per event)")
        if typed_event_classes(method):
            raise PluginDefinitionError(f"{owner}: a batch field takes the batch's payloads, not typed events")
        if hint is not None and typing.get_origin(hint) not in (list, Sequence, typing.Sequence):
            if not spec.type:  # values packed in a buffer (or joined strings): the hint cannot say the type
                raise PluginDefinitionError(
                    f"{owner}: a batch field returns one value per event: annotate it as list[...], "
                    f"or pass type= when it returns them packed in a buffer (not {hint!r})"
                )
            hint = None
        elif hint is not None:
            hint = typing.get_args(hint)[0] if typing.get_args(hint) else None
    if spec.type:
        if spec.type not in FIELD_TYPES:
            raise PluginDefinitionError(f"{owner}: type {spec.type!r} is not one of {', '.join(FIELD_TYPES)}")
        resolved.is_list = hint is not None and typing.get_origin(_unwrap_optional(hint)) in (list, Sequence)
    elif hint is not None:
        resolved.type, resolved.is_list = _type_from_hint(owner, hint)
    else:
        raise PluginDefinitionError(f"{owner}: annotate the return type or pass type=")
    return resolved


def fields_json(fields: Sequence[Field]) -> str:
    return json.dumps([f.to_json() for f in fields], separators=(",", ":"))


def extract_sources(cls: type[Plugin]) -> list[str]:
    """The extract event sources: explicit, else the plugin's own source."""
    sources = event_sources(cls, "EXTRACT_EVENT_SOURCES")
    if sources is not None:
        return sources
    raise PluginDefinitionError(
        f"{cls.__qualname__}: an extract-only plugin must set EXTRACT_EVENT_SOURCES to the sources whose "
        "events it understands (e.g. ['dummy']); an empty list means every source"
    )


def typed_event_classes(method: Callable[..., Any]) -> tuple[type, ...]:
    """The typed event classes a field method takes as its event (empty: a plain Event)."""
    events = sys.modules.get("falco_plugin.event")
    if events is None:  # nobody imported the typed events, so no method can name one
        return ()
    params = list(inspect.signature(method).parameters)
    first = 1 if params and params[0] == "self" else 0
    if len(params) <= first:
        return ()
    hint = typing.get_type_hints(method).get(params[first])
    if typing.get_origin(hint) in (Union, types.UnionType):
        candidates = [a for a in typing.get_args(hint) if a is not type(None)]
    else:
        candidates = [hint]
    classes = tuple(c for c in candidates if isinstance(c, type) and issubclass(c, events.TypedEvent))
    if classes and len(classes) != len(candidates):
        raise PluginDefinitionError(f"{method.__qualname__}: the event is either typed events or a plain Event")
    return classes


def all_event_types() -> list[int]:
    """Every event type code of the schema: what an empty list of event types stands for."""
    from ..event import EVENT_MAX

    return list(range(EVENT_MAX))


def event_codes(what: str, value: Any, sources: Sequence[str] = ()) -> list[int]:
    """Check a list of event type codes (``what`` names it in the message); ``()`` is every type,
    :data:`HOST_DEFAULT_EVENT_TYPES` none (allowed only when ``sources`` are named, without ``syscall``).

    >>> from falco_plugin import HOST_DEFAULT_EVENT_TYPES
    >>> event_codes("X.TYPES", [402, 322, 322])
    [322, 402]
    >>> len(event_codes("X.TYPES", ())) > 400, event_codes("X.TYPES", HOST_DEFAULT_EVENT_TYPES, ["k8s_audit"])
    (True, [])
    """
    if isinstance(value, _HostDefaultTypes):
        if not sources or "syscall" in sources:
            raise PluginDefinitionError(
                f"{what} is HOST_DEFAULT_EVENT_TYPES, but the sources are {list(sources) or 'every source'}: the "
                "host's default there is every event type, which () says; HOST_DEFAULT_EVENT_TYPES is for "
                "sources other than syscall (the host's default: plugin events, 322)")
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
        raise PluginDefinitionError(f"{what} must be a list of event type codes, got {value!r}")
    codes = list(value)
    bad = [t for t in codes if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < 65536]
    if bad:
        raise PluginDefinitionError(f"{what}: {bad[0]!r} is not an event type code (0..65535)")
    return sorted(set(codes)) if codes else all_event_types()


def where(fn: Any) -> str:
    """``file:line`` of a function, for messages about what it returned."""
    code = getattr(inspect.unwrap(getattr(fn, "__func__", fn)), "__code__", None)
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno}" if code else "?"


def extract_types(cls: type[Plugin]) -> list[int]:
    """The event types of ``get_extract_event_types``: explicit, else derived from the fields."""
    explicit = getattr(cls, "EXTRACT_EVENT_TYPES", None)
    if explicit is not None:
        return event_codes(f"{cls.__qualname__}.EXTRACT_EVENT_TYPES", explicit, extract_sources(cls))
    codes: set[int] = set()
    for f in declared_fields(cls):
        classes = typed_event_classes(getattr(cls, f.method))
        if classes:
            codes.update(c.CODE for c in classes)  # type: ignore[attr-defined]
        else:
            codes.add(PLUGIN_EVENT)
    return sorted(codes)


def check_extract(cls: type[Plugin]) -> list[Field]:
    fields = declared_fields(cls)
    if not fields:
        raise PluginDefinitionError(f"{cls.__qualname__} is an ExtractPlugin without fields: declare some with @field")
    extract_sources(cls)
    extract_types(cls)
    return fields
