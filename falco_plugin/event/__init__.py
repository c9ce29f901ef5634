"""Falco events in Python: raw events, typed events for every event type, capture files.

Three rungs, as in the Rust ``falco_event`` crate: bytes -> :class:`RawEvent` (header and
zero-copy parameter slices) -> a typed event (one class per event code, generated from the libs
event schema) -> bytes again, byte for byte.

>>> from falco_plugin.event import PluginEvent, RawEvent
>>> raw = RawEvent.from_bytes(PluginEvent(999, b"hi").to_bytes())
>>> raw.load_any()
PluginEvent(ts=18446744073709551615, tid=18446744073709551615, plugin_id=999, event_data=b'hi')
"""

from ._generated import *  # noqa: F403
from ._generated import __all__ as _generated_names
from .raw import AsyncEvent, PluginEvent, RawEvent, event_class
from .scap import BlockInfo, CaptureEvent, CaptureReader, MachineInfo, ScapError, SectionHeader, read_capture
from .types import (
    UINT64_MAX,
    AbsTime,
    DynamicValue,
    Errno,
    EventEnum,
    EventError,
    EventFlags,
    Fd,
    FdListEntry,
    FsPath,
    FsRelPath,
    Gid,
    L4Proto,
    Param,
    Pid,
    Port,
    RelTime,
    Signal,
    SigSet,
    SockAddr,
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SockFamily,
    SockTuple,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
    SyscallId,
    TypedEvent,
    Uid,
)

__all__ = [
    "UINT64_MAX",
    "AbsTime",
    "AsyncEvent",
    "BlockInfo",
    "CaptureEvent",
    "CaptureReader",
    "DynamicValue",
    "Errno",
    "EventEnum",
    "EventError",
    "EventFlags",
    "Fd",
    "FdListEntry",
    "FsPath",
    "FsRelPath",
    "Gid",
    "L4Proto",
    "MachineInfo",
    "Param",
    "Pid",
    "PluginEvent",
    "Port",
    "RawEvent",
    "RelTime",
    "ScapError",
    "SectionHeader",
    "SigSet",
    "Signal",
    "SockAddr",
    "SockAddrOther",
    "SockAddrUnix",
    "SockAddrV4",
    "SockAddrV6",
    "SockFamily",
    "SockTuple",
    "SockTupleOther",
    "SockTupleUnix",
    "SockTupleV4",
    "SockTupleV6",
    "SyscallId",
    "TypedEvent",
    "Uid",
    "event_class",
    "read_capture",
]
__all__ += _generated_names
