"""Raw Falco events: the header and zero-copy parameter slices of one event in a buffer.

A :class:`RawEvent` reads the 26-byte header when built and splits the parameters only when they
are first asked for; the slices are memoryviews into the caller's buffer (no copy). From there,
:meth:`RawEvent.load` / :meth:`RawEvent.load_any` give a typed event.

>>> raw = RawEvent.from_bytes(PluginEvent(999, b"hello", ts=1).to_bytes())
>>> raw.type, raw.len, raw.nparams, bytes(raw.params[1])
(322, 43, 2, b'hello')
>>> raw.load_any().data
b'hello'
"""

from __future__ import annotations

import builtins
import struct
from collections.abc import Sequence
from typing import Any, TypeVar

from ._generated import (
    EVENT_CLASSES,
    EVENT_MAX,
    LARGE_PAYLOAD_CODES,
    PPME_ASYNCEVENT_E,
    PPME_PLUGINEVENT_E,
    SCHEMA_VERSION,
)
from .types import HEADER, HEADER_SIZE, UINT64_MAX, EventError, TypedEvent, frame_event, length_table_struct

__all__ = ["AsyncEvent", "EventError", "PluginEvent", "RawEvent", "event_class"]

_TypedT = TypeVar("_TypedT", bound=TypedEvent)
_unpack_header = HEADER.unpack_from
_unpack_u32 = struct.Struct("<I").unpack_from
_CACHED_TABLES = 40
_SMALL_TABLES = [length_table_struct(False, count) for count in range(_CACHED_TABLES)]
_LARGE_TABLES = [length_table_struct(True, count) for count in range(_CACHED_TABLES)]


class RawEvent:
    """One event in a buffer: header fields plus zero-copy parameter slices.

    ``RawEvent(buffer, offset=0)`` accepts bytes, bytearray, memoryview or any object with the
    buffer protocol (an mmap, a cffi buffer). The constructor checks the header: the buffer holds
    ``len`` bytes from ``offset``, ``len`` covers the header, and the parameter length table fits.
    The parameter lengths are checked against ``len`` when the parameters are first split (by
    :attr:`params`, :meth:`load`, :meth:`load_any` or :meth:`check`). Problems raise
    :class:`EventError`. The event keeps a view of the buffer: a bytearray cannot be resized while
    events (or their parameter slices) are alive.

    >>> event = RawEvent(bytes.fromhex("0100000000000000 0200000000000000 24000000 0500 01000000 0800")
    ...                  + bytes(8))
    >>> event.ts, event.tid, event.type_name, event.load_any().res
    (1, 2, 'PPME_SYSCALL_CLOSE_X', Errno(0))
    """

    __slots__ = (
        "_buffer",
        "_data_start",
        "_lengths",
        "_offset",
        "_params",
        "_view",
        "len",
        "nparams",
        "tid",
        "ts",
        "type",
    )

    ts: int
    tid: int
    len: int
    type: int
    nparams: int

    def __init__(self, buffer: Any, offset: int = 0) -> None:
        kind = type(buffer)
        if kind is bytes or kind is bytearray:
            size = len(buffer)
        else:
            view = memoryview(buffer)
            if view.format != "B" or view.ndim != 1:
                try:
                    view = view.cast("B")
                except TypeError as exc:
                    raise EventError(f"cannot read an event from this buffer: {exc}") from None
            buffer = view
            size = view.nbytes
        if offset < 0:
            raise EventError(f"negative event offset {offset}")
        if size - offset < HEADER_SIZE:
            raise EventError(
                f"truncated buffer: an event header needs {HEADER_SIZE} bytes at offset {offset}, "
                f"only {max(size - offset, 0)} available"
            )
        ts, tid, length, code, nparams = _unpack_header(buffer, offset)
        if length < HEADER_SIZE:
            raise EventError(
                f"event at offset {offset} (type {code}) declares length {length}, "
                f"less than the {HEADER_SIZE}-byte header"
            )
        if length > size - offset:
            raise EventError(
                f"truncated buffer: event at offset {offset} (type {code}) declares {length} bytes, "
                f"only {size - offset} available"
            )
        entry = 4 if code in LARGE_PAYLOAD_CODES else 2
        if nparams * entry > length - HEADER_SIZE:
            raise EventError(
                f"too many parameters: event at offset {offset} (type {code}) declares {nparams}, "
                f"whose {entry}-byte length table needs {nparams * entry} bytes but only "
                f"{length - HEADER_SIZE} follow the header"
            )
        self._buffer = buffer
        self._offset = offset
        self._params: tuple[memoryview, ...] | None = None
        self._lengths: tuple[int, ...] | None = None  # with _view and _data_start, set by _read_lengths
        self.ts = ts
        self.tid = tid
        self.len = length
        self.type = code
        self.nparams = nparams

    @classmethod
    def from_bytes(cls, data: Any, offset: int = 0) -> RawEvent:
        """The event at ``offset`` of ``data`` (bytes, bytearray, memoryview...)."""
        return cls(data, offset)

    @classmethod
    def from_buffer(cls, buffer: Any, offset: int = 0) -> RawEvent:
        """The event at ``offset`` of any buffer-protocol object, e.g. an ``ss_plugin_event`` view."""
        return cls(buffer, offset)

    @classmethod
    def build(
        cls, code: int, params: Sequence[bytes], ts: int | None = None, tid: int | None = None
    ) -> RawEvent:
        """Frame already-encoded parameters as a new event of type ``code``.

        >>> RawEvent.build(5, [b"\\0" * 8, b"\\3\\0\\0\\0\\0\\0\\0\\0"], ts=7).load_any().fd
        Fd(3)
        """
        data = frame_event(
            code,
            UINT64_MAX if ts is None else ts,
            UINT64_MAX if tid is None else tid,
            [bytes(p) for p in params],
            code in LARGE_PAYLOAD_CODES,
        )
        return cls(data)

    # -- parameters ----------------------------------------------------------------------------

    @property
    def large_payload(self) -> bool:
        """Whether parameter lengths are 4 bytes (EF_LARGE_PAYLOAD) rather than 2."""
        return self.type in LARGE_PAYLOAD_CODES

    @property
    def params(self) -> tuple[memoryview, ...]:
        """The parameters as memoryview slices of the buffer (split on first use)."""
        params = self._params
        if params is None:
            params = self._split()
        return params

    def param(self, index: int) -> memoryview:
        """The bytes of parameter ``index``."""
        return self.params[index]

    def layout(self) -> tuple[tuple[int, ...], int, memoryview]:
        """The parameter lengths, the buffer offset of the first parameter, and a view of the buffer.

        Checks (once) that the lengths add up to the event length. This is what typed decoding
        reads parameters through, without a slice per parameter.
        """
        if self._lengths is None:
            self._read_lengths()
        return self._lengths, self._data_start, self._view  # type: ignore[return-value]

    def _read_lengths(self) -> None:
        count = self.nparams
        start = self._offset + HEADER_SIZE
        if self.type in LARGE_PAYLOAD_CODES:
            tables, entry = _LARGE_TABLES, 4
        else:
            tables, entry = _SMALL_TABLES, 2
        packer = tables[count] if count < _CACHED_TABLES else length_table_struct(entry == 4, count)
        buffer = self._buffer
        lengths = packer.unpack_from(buffer, start)
        data_start = start + entry * count
        total = sum(lengths)
        if data_start + total != self._offset + self.len:
            raise EventError(
                f"length mismatch: the {count} parameter lengths of event at offset {self._offset} "
                f"(type {self.type}) add up to {total} bytes, but the event has "
                f"{self._offset + self.len - data_start} bytes of parameter data"
            )
        self._view = buffer if type(buffer) is memoryview else memoryview(buffer)
        self._data_start = data_start
        self._lengths = lengths

    def _split(self) -> tuple[memoryview, ...]:
        lengths, position, view = self.layout()
        slices: list[memoryview] = []
        append = slices.append
        for length in lengths:
            stop = position + length
            append(view[position:stop])
            position = stop
        params = self._params = tuple(slices)
        return params

    def check(self) -> RawEvent:
        """Check the parameter lengths now (EventError if they are wrong); returns self."""
        self.layout()
        return self

    # -- typed events --------------------------------------------------------------------------

    def load(self, event_class: builtins.type[_TypedT]) -> _TypedT:
        """Decode as ``event_class``; EventError if the type does not match or a parameter is bad."""
        return event_class.from_raw(self)

    def load_any(self) -> TypedEvent:
        """Decode as the class of this event's type; EventError for an unknown type."""
        return event_class(self.type).from_raw(self)

    # -- presentation --------------------------------------------------------------------------

    @property
    def type_name(self) -> str:
        """The ``PPME_*`` name of the type, or ``UNKNOWN_<code>``."""
        return EVENT_CLASSES[self.type].PPME if self.type < EVENT_MAX else f"UNKNOWN_{self.type}"

    @property
    def name(self) -> str:
        """The event name (``open``), or ``unknown``."""
        return EVENT_CLASSES[self.type].NAME if self.type < EVENT_MAX else "unknown"

    @property
    def direction(self) -> str:
        """``>`` for enter events (even codes), ``<`` for exit events."""
        return "<" if self.type & 1 else ">"

    def to_bytes(self) -> bytes:
        """A copy of the event's bytes."""
        return bytes(memoryview(self._buffer)[self._offset : self._offset + self.len])

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawEvent):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"RawEvent(type={self.type} {self.type_name}, ts={self.ts}, tid={self.tid}, "
            f"len={self.len}, nparams={self.nparams})"
        )


class PluginEvent(PPME_PLUGINEVENT_E):
    """A plugin event (``PPME_PLUGINEVENT_E``, code 322): a plugin id and an opaque payload.

    ``ts`` and ``tid`` default to ``UINT64_MAX`` (the framework fills in the time; plugin events
    have no thread). This is the Python framing of plugin events, byte for byte what libscap reads.

    >>> event = PluginEvent(999, b"hello", ts=1)
    >>> event.to_bytes()[16:].hex(" ")
    '2b 00 00 00 42 01 02 00 00 00 04 00 00 00 05 00 00 00 e7 03 00 00 68 65 6c 6c 6f'
    >>> PluginEvent.from_bytes(event.to_bytes()).data
    b'hello'
    """

    __slots__ = ()

    def __init__(
        self, plugin_id: int = 0, data: bytes = b"", ts: int | None = None, tid: int | None = None
    ) -> None:
        PPME_PLUGINEVENT_E.__init__(self, plugin_id=plugin_id, event_data=bytes(data), ts=ts, tid=tid)

    @property
    def data(self) -> bytes:
        """The payload (``event_data``); ``b""`` when absent."""
        return self.event_data if self.event_data is not None else b""

    @classmethod
    def from_raw(cls, raw: RawEvent) -> PluginEvent:
        """Decode (a fast path for the usual two-parameter layout, else the generic decoder)."""
        if raw.type == 322 and raw.nparams == 2:
            lengths, position, view = raw.layout()
            if lengths[0] == 4:
                event = cls.__new__(cls)
                event.ts = raw.ts
                event.tid = raw.tid
                event._nparams = 2
                event.plugin_id = _unpack_u32(view, position)[0]
                start = position + 4
                event.event_data = view[start : start + lengths[1]].tobytes()
                return event
        return super().from_raw(raw)


class AsyncEvent(PPME_ASYNCEVENT_E):
    """An async event (``PPME_ASYNCEVENT_E``, code 402): an event name and a payload.

    The plugin id is 0 when a plugin emits it; the framework writes the source's id.

    >>> event = AsyncEvent("sampleticker", b"x", ts=1)
    >>> len(event.to_bytes())
    56
    >>> back = AsyncEvent.from_bytes(event.to_bytes())
    >>> back.name, back.data, back.plugin_id
    ('sampleticker', b'x', 0)
    """

    __slots__ = ()

    def __init__(
        self,
        name: str = "",
        data: bytes = b"",
        plugin_id: int = 0,
        ts: int | None = None,
        tid: int | None = None,
    ) -> None:
        PPME_ASYNCEVENT_E.__init__(self, plugin_id=plugin_id, name=name, data=bytes(data), ts=ts, tid=tid)


_CLASS_BY_CODE: list[type[TypedEvent]] = list(EVENT_CLASSES)
_CLASS_BY_CODE[PluginEvent.CODE] = PluginEvent
_CLASS_BY_CODE[AsyncEvent.CODE] = AsyncEvent


def event_class(code: int) -> type[TypedEvent]:
    """The typed-event class of an event code (PluginEvent / AsyncEvent for 322 / 402)."""
    if 0 <= code < EVENT_MAX:
        return _CLASS_BY_CODE[code]
    raise EventError(f"unknown event type {code}: schema {SCHEMA_VERSION} defines types 0 to {EVENT_MAX - 1}")
