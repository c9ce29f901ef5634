"""Field extraction: methods decorated with :func:`field` become fields for Falco rules.

The field type comes from the return type hint (``int`` → uint64, ``str`` → string,
``bool``, ``timedelta`` → reltime, ``datetime`` → abstime, ``IPv4Address | IPv6Address``
→ ipaddr, ``IPv4Network | IPv6Network`` → ipnet, ``list[...]`` → a list field), or from
``type=`` for ints that are times. Returning ``None`` means "no value"::

    from falco_plugin import Event, ExtractPlugin, Index, Plugin, SourcePlugin, field

    class Dummy(Plugin, SourcePlugin, ExtractPlugin):
        ...
        @field("dummy.value", desc="The sample value in the event")
        def value(self, event: Event) -> int:
            return int.from_bytes(event.payload, "little")

        @field("dummy.divisible", desc="1 if the value is divisible by the argument",
               arg=Index(required=True))
        def divisible(self, event: Event, n: int) -> int:
            return int(self.value(event) % n == 0)

Falco asks for one field per call, often several times per event. ``event`` is the same
object for every field of one event, so :func:`per_event` memoizes a decode once per event.

A field can say where its value lies in the event (value offsets, plugin API 3.11, used by
Stratoshark and Falco's output highlighting): declare it ``located=True`` and return
:class:`Located` values, counted from the first byte of the event header (or
``Located.in_payload`` for offsets within a plugin event's payload)::

        @field("dummy.word", desc="the first word of the payload", located=True)
        def word(self, event: Event) -> Located[str]:
            word = (event.payload or b"").split(b" ")[0]
            return Located.in_payload(word.decode(), 0, len(word))

A field read straight from a fixed place of the event can declare it instead,
``offset=(start, length)`` counted from the event header, e.g. the first 8 bytes of a plugin
event's payload::

        @field("dummy.value", desc="the counter", offset=(PLUGIN_EVENT_PAYLOAD_OFFSET, 8))
        def value(self, event: Event) -> int:
            return int.from_bytes(event.payload[:8], "little")

When the host asks for offsets, every field of such a plugin reports them: ``{0, 0}`` ("not
from the event bytes") for plain values.

A field method may instead take a typed event of :mod:`falco_plugin.event` (annotate the
parameter, e.g. ``event: PPME_SYSCALL_OPEN_X`` or ``event: PluginEvent | AsyncEvent``): the
event is decoded when such a field is asked for, once per event, and the plugin's event-type
filter is derived from those classes unless ``EXTRACT_EVENT_TYPES`` is set.

Batch fields. A plugin that sources its own events can compute a field for a whole batch at
once: ``@field(..., batch=True)`` on a method that takes the payloads of the batch (the
``bytes`` that ``next_batch`` returned, in order) and returns one value per payload (``None``:
no value for that event). The shim calls it at most once per batch, on the first request for
the field, keeps the converted values in C and answers every later request for an event of
that batch without entering Python. :func:`per_batch` shares one decode of the batch between
fields::

    class Bench(Plugin, SourcePlugin, ExtractPlugin):
        ...
        @per_batch
        def values(self, payloads: Sequence[bytes]) -> list[int]:
            return memoryview(b"".join(payloads)).cast("Q")[::8].tolist()

        @field("bench.value", desc="the counter", batch=True)
        def value(self, payloads: Sequence[bytes]) -> list[int]:
            return self.values(payloads)

Use it when the plugin sources the events it extracts from and the fields are asked for most
events (a rule condition): the per-event cost drops to a lookup in C. An event that is not
part of the plugin's current batch (another source's, a capture replay, an async event) is
extracted per event: the method is called with a batch of that one payload. A batch field
cannot take a typed event.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, ClassVar, Generic, TypeVar, Union

from .base import Plugin, PluginDefinitionError

__all__ = [
    "PLUGIN_EVENT_PAYLOAD_OFFSET",
    "ExtractPlugin",
    "Field",
    "Index",
    "Key",
    "Located",
    "field",
    "per_batch",
    "per_event",
]

FIELD_TYPES = ("uint64", "string", "reltime", "abstime", "bool", "ipaddr", "ipnet")
# ss_plugin_field_type codes, in the order of FIELD_TYPES
FIELD_TYPE_CODES = {"uint64": 8, "string": 9, "reltime": 20, "abstime": 21, "bool": 25, "ipaddr": 40, "ipnet": 41}
FIELD_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)+$")
PROPERTIES = ("hidden", "info", "conversation")
PLUGIN_EVENT = 322
#: Where the payload of a plugin event (322) starts, counted from the event header.
PLUGIN_EVENT_PAYLOAD_OFFSET = 38
T = TypeVar("T")

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


@dataclass(frozen=True)
class Index:
    """The field takes a numeric argument, ``field[3]``; the method receives an ``int``."""

    required: bool = False


@dataclass(frozen=True)
class Key:
    """The field takes a string argument, ``field[name]``; the method receives a ``str``."""

    required: bool = False


class Located(Generic[T]):
    """A field value and where it lies in the event: ``start`` and ``length`` in bytes,
    counted from the first byte of the event header.

    >>> Located.in_payload("hello", 0, 5).start
    38
    """

    __slots__ = ("length", "start", "value")

    def __init__(self, value: T, start: int, length: int) -> None:
        if not (0 <= start < 2**32 and 0 <= length < 2**32):
            raise ValueError(f"Located offsets must fit 32 bits, got start={start!r} length={length!r}")
        self.value = value
        self.start = start
        self.length = length

    @classmethod
    def in_payload(cls, value: T, start: int, length: int) -> Located[T]:
        """A value at ``start`` within a plugin event's payload."""
        return cls(value, PLUGIN_EVENT_PAYLOAD_OFFSET + start, length)

    def __repr__(self) -> str:
        return f"Located({self.value!r}, {self.start}, {self.length})"


@dataclass
class Field:
    """One declared field (what :func:`field` records on the method)."""

    name: str
    desc: str
    type: str = ""
    is_list: bool = False
    arg: Index | Key | None = None
    display: str = ""
    add_output: bool = False
    properties: Sequence[str] = dataclass_field(default_factory=tuple)
    method: str = ""
    batch: bool = False
    located: bool = False
    offset: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "desc": self.desc}
        if self.is_list:
            out["isList"] = True
        if self.arg is not None:
            out["arg"] = {
                "isRequired": self.arg.required,
                "isIndex": isinstance(self.arg, Index),
                "isKey": isinstance(self.arg, Key),
            }
        if self.display:
            out["display"] = self.display
        if self.properties:
            out["properties"] = list(self.properties)
        if self.add_output:
            out["addOutput"] = True
        return out


F = TypeVar("F", bound=Callable[..., Any])


def field(
    name: str,
    *,
    desc: str,
    type: str | None = None,
    arg: Index | Key | None = None,
    display: str = "",
    add_output: bool = False,
    properties: Sequence[str] = (),
    located: bool = False,
    batch: bool = False,
    offset: tuple[int, int] | None = None,
) -> Callable[[F], F]:
    """Declare the decorated method as the extractor of field ``name``; ``located=True``: it
    may return :class:`Located` values; ``offset=(start, length)``: its value always lies there
    (both need plugin API 3.11). With ``batch=True`` the method takes the payloads of a whole
    batch and returns one value per payload (see the module documentation)."""

    def mark(method: F) -> F:
        method.__falco_field__ = Field(  # type: ignore[attr-defined]
            name=name, desc=desc, type=type or "", arg=arg, display=display, add_output=add_output,
            properties=tuple(properties), method=method.__name__, located=located or offset is not None,
            offset=offset, batch=batch,
        )
        return method

    return mark


_MISSING = object()
# Inside a built plugin the shim registers "falco_plugin._shim" before any import; elsewhere
# (build, tests, plain Python) the Python memo below is the one.
_shim_per_event: Callable[[Any], Any] | None = getattr(sys.modules.get("falco_plugin._shim"), "per_event", None)


def per_event(method: F) -> F:
    """Memoize ``method(self, event)`` for the event being extracted.

    Falco extracts fields one call at a time; with this, every field of one event shares
    one decode of the payload::

        @per_event
        def record(self, event: Event) -> dict[str, Any]:
            return json.loads(event.payload)
    """
    if _shim_per_event is not None:  # inside the shim: the same memo, in C
        memo = _shim_per_event(method)
        functools.update_wrapper(memo, method)
        return memo  # type: ignore[no-any-return]
    key = f"__per_event_{method.__name__}"

    @functools.wraps(method)
    def cached(self: Any, event: Any) -> Any:
        cache = event.__dict__
        value = cache.get(key, _MISSING)
        if value is _MISSING:  # not a KeyError: a miss happens once per event, raising costs
            value = cache[key] = method(self, event)
        return value

    return cached  # type: ignore[return-value]


def per_batch(method: F) -> F:
    """Memoize ``method(self, payloads)`` for the batch being extracted.

    Every batch field of one batch receives the same payloads object, so the fields can
    share one decode of the batch::

        @per_batch
        def records(self, payloads: Sequence[bytes]) -> list[dict[str, Any]]:
            return [json.loads(p) for p in payloads]
    """
    key = f"__per_batch_{method.__name__}"

    @functools.wraps(method)
    def cached(self: Any, payloads: Any) -> Any:
        hit = self.__dict__.get(key)
        if hit is not None and hit[0] is payloads:
            return hit[1]
        value = method(self, payloads)
        self.__dict__[key] = (payloads, value)
        return value

    return cached  # type: ignore[return-value]


class ExtractPlugin:
    """Capability mixin: the plugin extracts fields (declared with :func:`field`)."""

    #: Event sources the fields apply to. Default: the plugin's own ``EVENT_SOURCE``;
    #: an extract-only plugin must name the sources it understands.
    EXTRACT_EVENT_SOURCES: ClassVar[Sequence[str] | None] = None
    #: Event type codes the host sends to the plugin. Default: the codes of the typed events
    #: the field methods take, and plugin events (322) for fields that take a plain Event.
    #: ``()`` means every event type; :data:`HOST_DEFAULT_EVENT_TYPES` declares none, so that
    #: the host applies its default (plugin events, 322, for sources other than ``syscall``).
    EXTRACT_EVENT_TYPES: ClassVar[Sequence[int] | None] = None

    def extract_event_types(self) -> Sequence[int] | None:
        """Override to decide the event types once the plugin is initialized, e.g. from its
        configuration (the host asks right after ``__init__``). ``None``: the class default
        above; ``()``: every event type; :data:`HOST_DEFAULT_EVENT_TYPES`: none declared::

            def extract_event_types(self) -> list[int]:
                return self.config.event_types    # e.g. [322, 402]
        """
        return None


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
    found: list[Field] = []
    seen_methods: set[str] = set()
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            spec = getattr(value, "__falco_field__", None)
            if isinstance(spec, Field):
                if attr in seen_methods:
                    found = [f for f in found if f.method != attr]
                seen_methods.add(attr)
                found.append(_resolve(cls, attr, spec))
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
        if hint is not None:
            if typing.get_origin(hint) not in (list, Sequence, typing.Sequence):
                raise PluginDefinitionError(
                    f"{owner}: a batch field returns one value per event: annotate it as list[...], "
                    f"not {hint!r}"
                )
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
    explicit = getattr(cls, "EXTRACT_EVENT_SOURCES", None)
    if explicit is not None:
        if isinstance(explicit, str) or not all(isinstance(s, str) and s for s in explicit):
            raise PluginDefinitionError(f"{cls.__qualname__}.EXTRACT_EVENT_SOURCES must be a list of names")
        return list(explicit)
    own = getattr(cls, "EVENT_SOURCE", None)
    if getattr(cls, "PLUGIN_ID", None) == 0 and own is not None:  # a syscall-source plugin
        return ["syscall"]
    if own:
        return [own]
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
    from .event import EVENT_MAX

    return list(range(EVENT_MAX))


class _HostDefaultTypes(tuple[int, ...]):
    """The type of :data:`HOST_DEFAULT_EVENT_TYPES`: an empty tuple that is not ``()``."""

    def __repr__(self) -> str:
        return "HOST_DEFAULT_EVENT_TYPES"


#: Declares zero event types (``get_*_event_types`` answers an empty list), which the host reads
#: as its default set: plugin events (322) for sources other than ``syscall``. ``()`` instead
#: means every event type. For a plugin whose sources include ``syscall`` (or every source) the
#: host's default is every type: say ``()``. Example: ``EXTRACT_EVENT_TYPES = HOST_DEFAULT_EVENT_TYPES``.
HOST_DEFAULT_EVENT_TYPES: Sequence[int] = _HostDefaultTypes()


def event_codes(what: str, value: Any, sources: Sequence[str] = ()) -> list[int]:
    """Check a list of event type codes (``what`` names it in the message); ``()`` is every type,
    :data:`HOST_DEFAULT_EVENT_TYPES` none (allowed only when ``sources`` are named, without ``syscall``).

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
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno}" if code else "?"


def types_at_init(plugin: Any, base: type, method: str, default: Callable[[Any], list[int]],
                  sources: Callable[[Any], list[str]]) -> list[int] | None:
    """What the overridden ``method`` of an initialized plugin decides (None: not overridden).

    A method that returns None keeps the class default; one that returns something that is not
    a list of codes raises, naming the method and where it is.
    """
    fn = getattr(type(plugin), method, None)
    if fn is None or fn is getattr(base, method, None):
        return None
    value = getattr(plugin, method)()
    if value is None:
        return default(type(plugin))
    return event_codes(f"{type(plugin).__qualname__}.{method}() (at {where(fn)})", value, sources(type(plugin)))


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


def field_methods(plugin: Plugin) -> tuple[Callable[..., Any], ...]:
    """The extractor of every field, indexed by field id (the shim's dispatch table)."""
    methods: list[Callable[..., Any]] = []
    for f in declared_fields(type(plugin)):
        method = getattr(plugin, f.method)
        if f.batch:
            methods.append(_one_event_caller(_checked_batch(method, f)))
            continue
        classes = typed_event_classes(method)
        call = _typed_caller(method, classes) if classes else method
        methods.append(_at_offset(call, f.offset, f.is_list) if f.offset is not None else call)
    return tuple(methods)


def batch_methods(plugin: Plugin) -> tuple[Callable[..., Any] | None, ...]:
    """By field id: the batch extractor of a batch field, else None (the shim's batch table)."""
    return tuple(
        _checked_batch(getattr(plugin, f.method), f) if f.batch else None for f in declared_fields(type(plugin))
    )


def _where(method: Callable[..., Any]) -> str:
    code = getattr(inspect.unwrap(getattr(method, "__func__", method)), "__code__", None)
    return f" (at {code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})" if code else ""


def _checked_batch(method: Callable[..., Any], spec: Field) -> Callable[..., Any]:
    """The batch method, checked to return one value per payload."""
    qualname = getattr(method, "__qualname__", spec.method)

    def call(payloads: Sequence[Any], *arg: Any) -> Any:
        values = method(payloads, *arg)
        if not isinstance(values, (list, tuple)) or len(values) != len(payloads):
            got = f"{len(values)} values" if isinstance(values, (list, tuple)) else type(values).__name__
            raise ValueError(
                f"{qualname} (batch field {spec.name}) must return a list of one value per event: "
                f"got {got} for {len(payloads)} events{_where(method)}"
            )
        return values

    call.__qualname__ = qualname
    call.__falco_where__ = f" (in {qualname}{_where(method)})"  # type: ignore[attr-defined]
    return call


def _one_event_caller(batch: Callable[..., Any]) -> Callable[..., Any]:
    """A batch field asked for an event outside the current batch: a batch of one."""

    def call(event: Any, *arg: Any) -> Any:
        return batch([event.payload], *arg)[0]

    call.__qualname__ = batch.__qualname__
    return call


def _at_offset(call: Callable[..., Any], offset: tuple[int, int], is_list: bool) -> Callable[..., Any]:
    """A field declared ``offset=``: its values as Located at that range."""
    start, length = offset

    def located(*args: Any) -> Any:
        value = call(*args)
        if value is None:
            return None
        if is_list:
            return [v if isinstance(v, Located) else Located(v, start, length) for v in value]
        return value if isinstance(value, Located) else Located(value, start, length)

    located.__qualname__ = getattr(call, "__qualname__", "field")
    return located


_TYPED = "__falco_typed_event"


def typed_event(event: Any) -> Any:
    """The typed form of a host event, decoded on first use and kept for the rest of the event."""
    cache = event.__dict__
    typed = cache.get(_TYPED)
    if typed is None:
        from .event import RawEvent

        typed = cache[_TYPED] = RawEvent.from_bytes(event.raw).load_any()
    return typed


def _typed_caller(method: Callable[..., Any], classes: tuple[type, ...]) -> Callable[..., Any]:
    def call(event: Any, *arg: Any) -> Any:
        typed = typed_event(event)
        return method(typed, *arg) if isinstance(typed, classes) else None

    call.__qualname__ = method.__qualname__
    return call
