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

Vectorized batch fields. The payloads a batch method receives are a :class:`Payloads`: a list
of ``bytes`` that also holds the whole batch as one buffer (``payloads.buffer``) with the
offsets of each payload in it (``payloads.offsets``), for decoders that take many values at
once (``struct.iter_unpack``, ``array``, ``numpy.frombuffer``). And a batch method may return
its values packed, with no Python object per value, when every event has a value (declare
``type=``; the shim checks the length, the item type and that the buffer is contiguous):

- uint64, reltime, abstime and bool fields: one 8-byte integer per event, in any buffer
  (``array.array("Q")``, a numpy ``uint64``/``int64`` array, a ``memoryview``, or ``bytes``
  of native-endian uint64s); a bool field also takes a numpy ``bool`` array;
- string fields: the strings joined by NUL, as ``str`` or bytes (``"\\0".join(values)``), or a
  list of ``bytes``.

For example (stdlib only; with numpy, ``numpy.frombuffer(payloads.buffer, "<u8")[::8]``)::

        @field("bench.value", desc="the counter", type="uint64", batch=True)
        def value(self, payloads: Payloads) -> bytes:
            # the first 8 bytes of every 64-byte payload, copied out without an int per event
            return memoryview(payloads.buffer).cast("Q")[::8].tobytes()

Use it when the plugin sources the events it extracts from and the fields are asked for most
events (a rule condition): the per-event cost drops to a lookup in C. An event that is not
part of the plugin's current batch (another source's, a capture replay, an async event) is
extracted per event: the method is called with a batch of that one payload. A batch field
cannot take a typed event.
"""

from __future__ import annotations

import functools
import itertools
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, ClassVar, Generic, TypeVar

__all__ = [
    "HOST_DEFAULT_EVENT_TYPES",
    "PLUGIN_EVENT_PAYLOAD_OFFSET",
    "ExtractPlugin",
    "Field",
    "Index",
    "Key",
    "Located",
    "Payloads",
    "field",
    "per_batch",
    "per_event",
]

#: Where the payload of a plugin event (322) starts, counted from the event header.
PLUGIN_EVENT_PAYLOAD_OFFSET = 38
T = TypeVar("T")


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


class Payloads(list[bytes]):
    """The payloads of a batch, in order, as a batch field method receives them: a ``list`` of
    ``bytes`` that also offers the whole batch as one buffer, for decoders that work on many
    values at once. Both are computed on first use and shared by every batch field of the
    batch; do not modify the list.

    >>> p = Payloads([b"ab", b"", b"cde"])
    >>> p.buffer, p.offsets.tolist()
    (b'abcde', [0, 2, 2, 5])
    >>> p.buffer[p.offsets[2]:p.offsets[3]]
    b'cde'
    """

    # the shim sets both to None when it makes the list, so that the first use raises nothing
    __slots__ = ("_buffer", "_offsets")
    _buffer: bytes | None
    _offsets: memoryview | None

    @property
    def buffer(self) -> bytes:
        """Every payload of the batch, end to end (payload ``i`` is
        ``buffer[offsets[i]:offsets[i + 1]]``)."""
        buffer = getattr(self, "_buffer", None)
        if buffer is None:
            buffer = self._buffer = b"".join(self)
        return buffer

    @property
    def offsets(self) -> memoryview:
        """``len(self) + 1`` offsets into :attr:`buffer`, read-only, as uint64 (format ``"Q"``)."""
        offsets = getattr(self, "_offsets", None)
        if offsets is None:
            counts = array("Q", itertools.accumulate(map(len, self), initial=0))
            offsets = self._offsets = memoryview(counts).toreadonly()
        return offsets


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


class _HostDefaultTypes(tuple[int, ...]):
    """The type of :data:`HOST_DEFAULT_EVENT_TYPES`: an empty tuple that is not ``()``."""

    def __repr__(self) -> str:
        return "HOST_DEFAULT_EVENT_TYPES"


#: Declares zero event types (``get_*_event_types`` answers an empty list), which the host reads
#: as its default set: plugin events (322) for sources other than ``syscall``. ``()`` instead
#: means every event type. For a plugin whose sources include ``syscall`` (or every source) the
#: host's default is every type: say ``()``. Example: ``EXTRACT_EVENT_TYPES = HOST_DEFAULT_EVENT_TYPES``.
HOST_DEFAULT_EVENT_TYPES: Sequence[int] = _HostDefaultTypes()


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
