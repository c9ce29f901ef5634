"""Python types for Falco event parameters, their wire codecs, and the typed-event base class.

Every ``PT_*`` parameter type of the libs event schema has a :class:`Codec` here that turns the
parameter's bytes into a Python value and back, losslessly: whatever decodes re-encodes to the same
bytes. A zero-length parameter (the driver's "empty" marker) and a parameter the event does not carry
at all (older event versions have fewer parameters) both decode to ``None`` (but a zero-length
byte buffer is ``b""``).

>>> Errno(-2).name
'ENOENT'
>>> RelTime(1_500_000_000).to_timedelta()
datetime.timedelta(seconds=1, microseconds=500000)
>>> print(CODECS["PT_SOCKTUPLE"].decode(memoryview(bytes.fromhex("02 7f000001 5000 0a000001 bb01"))))
127.0.0.1:80->10.0.0.1:443
"""

from __future__ import annotations

import datetime as _dt
import enum
import errno as _errno
import ipaddress
import posixpath
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

if TYPE_CHECKING:
    from .raw import RawEvent

__all__ = [
    "CODECS",
    "HEADER",
    "HEADER_SIZE",
    "UINT64_MAX",
    "AbsTime",
    "Codec",
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
    "Param",
    "Pid",
    "Port",
    "RelTime",
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
    "dynamic_codec",
    "enum_codec",
    "flags_codec",
    "frame_event",
    "raw_codec",
]


class EventError(ValueError):
    """A Falco event (or capture file) is malformed, or a value cannot be encoded.

    The message says what is wrong and where (event type, parameter index and name, offsets).
    It is the only exception the event module raises for bad input bytes.

    >>> from falco_plugin.event import RawEvent
    >>> try:
    ...     RawEvent(b"too short")
    ... except EventError as exc:
    ...     print(exc)
    truncated buffer: an event header needs 26 bytes at offset 0, only 9 available
    """


#: ``ts`` / ``tid`` value meaning "not set": the framework fills in the time, no thread.
UINT64_MAX = 0xFFFF_FFFF_FFFF_FFFF

#: The event header: ts (u64), tid (u64), len (u32), type (u16), nparams (u32), little-endian.
HEADER = struct.Struct("<QQIHI")
HEADER_SIZE = HEADER.size

_NS_PER_SEC = 1_000_000_000
_LENGTH_STRUCTS: dict[tuple[bool, int], struct.Struct] = {}


def length_table_struct(large_payload: bool, count: int) -> struct.Struct:
    """The (cached) struct of a parameter length table: ``count`` u16 or u32 entries."""
    key = (large_payload, count)
    packer = _LENGTH_STRUCTS.get(key)
    if packer is None:
        packer = struct.Struct(f"<{count}{'I' if large_payload else 'H'}")
        if count <= 64:
            _LENGTH_STRUCTS[key] = packer
    return packer


def frame_event(code: int, ts: int, tid: int, payloads: Sequence[bytes], large_payload: bool) -> bytes:
    """Frame parameter payloads as one event: header, length table, then the payloads.

    >>> frame_event(322, 1, UINT64_MAX, [b"\\xe7\\x03\\x00\\x00", b"hello"], True).hex(" ")[:35]
    '01 00 00 00 00 00 00 00 ff ff ff ff'
    """
    lengths = [len(p) for p in payloads]
    limit = 0xFFFF_FFFF if large_payload else 0xFFFF
    for index, size in enumerate(lengths):
        if size > limit:
            raise EventError(
                f"event type {code}: parameter {index} is {size} bytes, over the {limit}-byte limit "
                f"of its {'4' if large_payload else '2'}-byte length field"
            )
    total = HEADER_SIZE + (4 if large_payload else 2) * len(lengths) + sum(lengths)
    if total > 0xFFFF_FFFF:
        raise EventError(f"event type {code}: {total} bytes do not fit the 32-bit event length")
    try:
        header = HEADER.pack(ts, tid, total, code, len(lengths))
    except struct.error:
        raise EventError(
            f"event type {code}: header field out of range (ts={ts}, tid={tid}, type={code})"
        ) from None
    return b"".join((header, length_table_struct(large_payload, len(lengths)).pack(*lengths), *payloads))


# ---------------------------------------------------------------------------------------------
# Scalar value types
# ---------------------------------------------------------------------------------------------


class Errno(int):
    """A syscall result (``PT_ERRNO``): negative values are ``-errno``.

    >>> Errno(-13), Errno(-13).name, Errno(5).name
    (Errno(-13, 'EACCES'), 'EACCES', None)
    """

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The errno symbol of a negative value (``ENOENT``), else None."""
        return _errno.errorcode.get(-int(self)) if self < 0 else None

    @property
    def is_error(self) -> bool:
        """True for negative values."""
        return self < 0

    def __repr__(self) -> str:
        name = self.name
        return f"Errno({int(self)}, {name!r})" if name else f"Errno({int(self)})"


class Fd(int):
    """A file descriptor (``PT_FD``, ``PT_FD32``).

    >>> Fd(3) == 3, Fd(3)
    (True, Fd(3))
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Fd({int(self)})"


class Pid(int):
    """A process or thread id (``PT_PID``, ``PT_PID32``).

    >>> Pid(1) + 1
    2
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Pid({int(self)})"


class Uid(int):
    """A user id (``PT_UID``); ``0xFFFFFFFF`` means none.

    >>> Uid(0)
    Uid(0)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Uid({int(self)})"


class Gid(int):
    """A group id (``PT_GID``); ``0xFFFFFFFF`` means none.

    >>> Gid(100)
    Gid(100)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Gid({int(self)})"


class Port(int):
    """A TCP/UDP port (``PT_PORT``).

    >>> Port(443)
    Port(443)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Port({int(self)})"


class SyscallId(int):
    """A libs system call id (``PT_SYSCALLID``).

    >>> SyscallId(75)
    SyscallId(75)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SyscallId({int(self)})"


class L4Proto(int):
    """A layer-4 protocol number (``PT_L4PROTO``, the ``SCAP_L4_*`` values).

    >>> L4Proto(2)
    L4Proto(2)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"L4Proto({int(self)})"


class SockFamily(int):
    """A socket family (``PT_SOCKFAMILY``, the ``PPM_AF_*`` values).

    >>> SockFamily(10)
    SockFamily(10)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SockFamily({int(self)})"


class FsPath(str):
    """A filesystem path (``PT_FSPATH``): a ``str`` (undecodable bytes kept as surrogate escapes).

    >>> FsPath("/etc/hosts").as_path().name
    'hosts'
    """

    __slots__ = ()

    def as_path(self) -> PurePosixPath:
        """As a PurePosixPath (which normalises: use the str itself for the exact bytes)."""
        return PurePosixPath(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


class FsRelPath(FsPath):
    """A path relative to a directory fd (``PT_FSRELPATH``); the schema names that fd's parameter.

    >>> FsRelPath("lib/x.so").resolve("/usr"), FsRelPath("/abs").resolve("/usr")
    ('/usr/lib/x.so', '/abs')
    """

    __slots__ = ()

    def resolve(self, directory: str) -> str:
        """The path joined to ``directory`` (the dirfd's path) unless it is absolute."""
        return str(posixpath.join(directory, self))


class RelTime(int):
    """A duration in nanoseconds (``PT_RELTIME``).

    >>> RelTime.from_timedelta(_dt.timedelta(milliseconds=2))
    RelTime(2000000)
    """

    __slots__ = ()

    def to_timedelta(self) -> _dt.timedelta:
        """As a timedelta (microsecond precision: the sub-microsecond part is dropped)."""
        seconds, nanos = divmod(int(self), _NS_PER_SEC)
        return _dt.timedelta(seconds=seconds, microseconds=nanos // 1000)

    @classmethod
    def from_timedelta(cls, value: _dt.timedelta) -> RelTime:
        """From a timedelta."""
        return cls((value.days * 86_400 + value.seconds) * _NS_PER_SEC + value.microseconds * 1000)

    def __repr__(self) -> str:
        return f"RelTime({int(self)})"


class AbsTime(int):
    """A point in time in nanoseconds since the epoch (``PT_ABSTIME``; also the header ``ts``).

    >>> AbsTime(1_700_000_000_123_456_789).to_datetime().isoformat()
    '2023-11-14T22:13:20.123456+00:00'
    """

    __slots__ = ()

    def to_datetime(self) -> _dt.datetime:
        """As an aware UTC datetime (microsecond precision). Raises EventError when out of range."""
        seconds, nanos = divmod(int(self), _NS_PER_SEC)
        try:
            base = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise EventError(f"timestamp {int(self)} ns is outside the datetime range") from None
        return base.replace(microsecond=nanos // 1000)

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> AbsTime:
        """From a datetime (naive datetimes are taken as UTC)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return cls((delta.days * 86_400 + delta.seconds) * _NS_PER_SEC + delta.microseconds * 1000)

    def __repr__(self) -> str:
        return f"AbsTime({int(self)})"


# ---------------------------------------------------------------------------------------------
# Flag and enum bases
# ---------------------------------------------------------------------------------------------

_EnumT = TypeVar("_EnumT", bound="EventEnum")


class EventFlags(enum.IntFlag):
    """Base of the generated flag sets (``PT_FLAGS*``, ``PT_MODE``). Unknown bits are kept.

    :meth:`names` lists the set flags the way libsinsp prints them, in the schema's table order.

    >>> from falco_plugin.event import FileFlags
    >>> FileFlags(0x1001).names(), FileFlags(0x80000001).names()
    (['O_RDONLY', 'O_CLOEXEC'], ['O_RDONLY', '0x80000000'])
    """

    def names(self) -> list[str]:
        """Names of the flags in this value; leftover unknown bits as one hex number."""
        return flag_names(type(self), int(self))


class EventEnum(enum.IntEnum):
    """Base of the generated enumerations (``PT_ENUMFLAGS*``). Unknown values are kept.

    An unknown value becomes a pseudo-member named ``UNKNOWN_<value>``; :attr:`known` is False.

    >>> from falco_plugin.event import LseekWhence
    >>> LseekWhence(1), LseekWhence(9).name, LseekWhence(9).known
    (<LseekWhence.SEEK_CUR: 1>, 'UNKNOWN_9', False)
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        """Whether the value is one of the enumeration's own members."""
        return int(self) in type(self)._value2member_map_


_FLAG_TABLES: dict[type[enum.IntFlag], tuple[tuple[str, int], ...]] = {}


def flag_names(cls: type[enum.IntFlag], value: int) -> list[str]:
    """The libsinsp-style decomposition of ``value`` over the flag set ``cls``."""
    table = _FLAG_TABLES.get(cls)
    if table is None:
        table = tuple((name, int(member)) for name, member in cls.__members__.items())
        _FLAG_TABLES[cls] = table
    for name, bits in table:
        if bits == value:
            return [name]
    names: list[str] = []
    rest = value
    for name, bits in table:
        if bits and rest & bits == bits:
            names.append(name)
            rest &= ~bits
    if rest:
        names.append(hex(rest))
    return names


class Signal(EventEnum):
    """A Linux signal number (``PT_SIGTYPE``).

    >>> Signal(9), Signal(40).known
    (<Signal.SIGKILL: 9>, False)
    """

    SIGHUP = 1
    SIGINT = 2
    SIGQUIT = 3
    SIGILL = 4
    SIGTRAP = 5
    SIGABRT = 6
    SIGBUS = 7
    SIGFPE = 8
    SIGKILL = 9
    SIGUSR1 = 10
    SIGSEGV = 11
    SIGUSR2 = 12
    SIGPIPE = 13
    SIGALRM = 14
    SIGTERM = 15
    SIGSTKFLT = 16
    SIGCHLD = 17
    SIGCONT = 18
    SIGSTOP = 19
    SIGTSTP = 20
    SIGTTIN = 21
    SIGTTOU = 22
    SIGURG = 23
    SIGXCPU = 24
    SIGXFSZ = 25
    SIGVTALRM = 26
    SIGPROF = 27
    SIGWINCH = 28
    SIGIO = 29
    SIGPWR = 30
    SIGSYS = 31


class SigSet(int):
    """A signal mask (``PT_SIGSET``): bit ``n - 1`` set means signal ``n`` is in the set.

    >>> SigSet(0b100000001).signals()
    [<Signal.SIGHUP: 1>, <Signal.SIGKILL: 9>]
    """

    __slots__ = ()

    def signals(self) -> list[Signal]:
        """The signals in the set, in increasing order."""
        value = int(self)
        return [Signal(bit + 1) for bit in range(value.bit_length()) if value >> bit & 1]

    def __repr__(self) -> str:
        return f"SigSet({int(self):#x})"


# ---------------------------------------------------------------------------------------------
# Structured value types
# ---------------------------------------------------------------------------------------------

PPM_AF_UNSPEC = 0
PPM_AF_UNIX = 1
PPM_AF_INET = 2
PPM_AF_INET6 = 10


@dataclass(frozen=True, slots=True)
class SockAddrUnix:
    """A unix socket address (``PT_SOCKADDR``, family ``PPM_AF_UNIX``).

    >>> CODECS["PT_SOCKADDR"].decode(memoryview(b"\\x01/run/x.sock\\0"))
    SockAddrUnix(path='/run/x.sock')
    """

    path: str

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class SockAddrV4:
    """An IPv4 socket address.

    >>> str(SockAddrV4(ipaddress.IPv4Address("10.0.0.1"), 80))
    '10.0.0.1:80'
    """

    address: ipaddress.IPv4Address
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class SockAddrV6:
    """An IPv6 socket address.

    >>> str(SockAddrV6(ipaddress.IPv6Address("::1"), 443))
    '[::1]:443'
    """

    address: ipaddress.IPv6Address
    port: int

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}"


@dataclass(frozen=True, slots=True)
class SockAddrOther:
    """Any other family (or a malformed address): the ``PPM_AF_*`` family byte and the raw rest.

    >>> CODECS["PT_SOCKADDR"].decode(memoryview(b"\\x11ab"))
    SockAddrOther(family=17, data=b'ab')
    """

    family: int
    data: bytes

    def __str__(self) -> str:
        return f"<af={self.family}>{self.data.hex()}"


SockAddr = SockAddrUnix | SockAddrV4 | SockAddrV6 | SockAddrOther


@dataclass(frozen=True, slots=True)
class SockTupleV4:
    """Both ends of an IPv4 connection (``PT_SOCKTUPLE``).

    >>> a, b = ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2")
    >>> str(SockTupleV4(a, 5000, b, 80))
    '10.0.0.1:5000->10.0.0.2:80'
    """

    source_address: ipaddress.IPv4Address
    source_port: int
    dest_address: ipaddress.IPv4Address
    dest_port: int

    def __str__(self) -> str:
        return f"{self.source_address}:{self.source_port}->{self.dest_address}:{self.dest_port}"


@dataclass(frozen=True, slots=True)
class SockTupleV6:
    """Both ends of an IPv6 connection.

    >>> a = ipaddress.IPv6Address("::1")
    >>> str(SockTupleV6(a, 5000, a, 80))
    '[::1]:5000->[::1]:80'
    """

    source_address: ipaddress.IPv6Address
    source_port: int
    dest_address: ipaddress.IPv6Address
    dest_port: int

    def __str__(self) -> str:
        return f"[{self.source_address}]:{self.source_port}->[{self.dest_address}]:{self.dest_port}"


@dataclass(frozen=True, slots=True)
class SockTupleUnix:
    """A unix socket connection: kernel socket pointers of both ends and the path.

    >>> str(SockTupleUnix(0x10, 0x20, "/run/x.sock"))
    '10->20 /run/x.sock'
    """

    source_ptr: int
    dest_ptr: int
    path: str

    def __str__(self) -> str:
        return f"{self.source_ptr:x}->{self.dest_ptr:x} {self.path}"


@dataclass(frozen=True, slots=True)
class SockTupleOther:
    """Any other family (or a malformed tuple): the family byte and the raw rest.

    >>> str(SockTupleOther(16, b"\\x01"))
    '<af=16>01'
    """

    family: int
    data: bytes

    def __str__(self) -> str:
        return f"<af={self.family}>{self.data.hex()}"


SockTuple = SockTupleV4 | SockTupleV6 | SockTupleUnix | SockTupleOther


class FdListEntry(NamedTuple):
    """One entry of a ``PT_FDLIST`` (poll): the fd and its poll flags.

    >>> CODECS["PT_FDLIST"].decode(memoryview(bytes.fromhex("0100 0300000000000000 0100")))
    [FdListEntry(fd=3, flags=1)]
    """

    fd: int
    flags: int


@dataclass(frozen=True, slots=True)
class DynamicValue:
    """A ``PT_DYN`` parameter: a 1-byte tag selecting the value's type from the parameter's table.

    ``param_type`` is the ``PT_*`` name the tag selects, or None for a tag the table does not know
    (then ``value`` holds the raw bytes after the tag).

    >>> from falco_plugin.event import PTRACE_DYNAMIC_PARAM
    >>> PTRACE_DYNAMIC_PARAM.decode(memoryview(b"\\x01\\x09"))
    DynamicValue(index=1, param_type='PT_SIGTYPE', value=<Signal.SIGKILL: 9>)
    """

    index: int
    param_type: str | None
    value: Any


# ---------------------------------------------------------------------------------------------
# Codecs
# ---------------------------------------------------------------------------------------------

JsonValue = Any


class Codec:
    """How one parameter type is stored on the wire and represented in Python.

    ``decode`` takes the parameter's bytes (never empty: empty parameters are None without a codec
    call: they are :attr:`EMPTY`) and raises :class:`EventError` when they are malformed; ``encode``
    is its exact inverse.

    >>> codec = CODECS["PT_ERRNO"]
    >>> value = codec.decode(memoryview(codec.encode(-2)))
    >>> value, codec.format(value, "PF_DEC")
    (Errno(-2, 'ENOENT'), '-2(ENOENT)')
    """

    __slots__ = ("ptype",)

    #: The value of a zero-length parameter.
    EMPTY: ClassVar[Any] = None

    def __init__(self, ptype: str) -> None:
        self.ptype = ptype

    def decode(self, data: memoryview) -> Any:
        raise NotImplementedError

    def decode_at(self, view: memoryview, start: int, length: int) -> Any:
        """Decode the ``length`` (> 0) bytes at ``start`` of ``view``: :meth:`decode` of that slice."""
        return self.decode(view[start : start + length])

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def to_json(self, value: Any) -> JsonValue:
        """A JSON-compatible rendering of a decoded value."""
        return value

    def format(self, value: Any, print_format: str) -> str:
        """A sysdig-like text rendering of a decoded value."""
        return str(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ptype}>"


class IntCodec(Codec):
    """Fixed-size little-endian integers, optionally wrapped in an ``int`` subclass."""

    __slots__ = ("_struct", "_unpack", "_unpack_from", "size", "wrap")

    def __init__(self, ptype: str, struct_char: str, wrap: Callable[[int], Any] = int) -> None:
        super().__init__(ptype)
        self._struct = struct.Struct("<" + struct_char)
        self._unpack = self._struct.unpack
        self._unpack_from = self._struct.unpack_from
        self.size = self._struct.size
        self.wrap = wrap

    @property
    def signed(self) -> bool:
        return self._struct.format[-1].islower()

    @property
    def bounds(self) -> tuple[int, int]:
        """The smallest and largest storable value."""
        bits = self.size * 8
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if self.signed else (0, (1 << bits) - 1)

    def decode(self, data: memoryview) -> Any:
        try:
            (value,) = self._unpack(data)
        except struct.error:
            raise EventError(f"expected {self.size} bytes, found {data.nbytes}") from None
        wrap = self.wrap
        return value if wrap is int else wrap(value)

    def decode_at(self, view: memoryview, start: int, length: int) -> Any:
        if length != self.size:
            raise EventError(f"expected {self.size} bytes, found {length}")
        (value,) = self._unpack_from(view, start)
        wrap = self.wrap
        return value if wrap is int else wrap(value)

    def encode(self, value: Any) -> bytes:
        try:
            return self._struct.pack(value)
        except struct.error:
            raise EventError(f"{value!r} does not fit in {self.ptype} ({self.size} bytes)") from None

    def to_json(self, value: Any) -> JsonValue:
        return int(value)

    def format(self, value: Any, print_format: str) -> str:
        number = int(value)
        if print_format == "PF_HEX":
            return hex(number)
        if print_format == "PF_OCT":
            if number == 0:
                return "0"
            return "0" + format(number, "o") if number > 0 else "-0" + format(-number, "o")
        return str(number)


class ErrnoCodec(IntCodec):
    """``PT_ERRNO``: int64, shown with its errno name when negative."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("PT_ERRNO", "q", Errno)

    def format(self, value: Any, print_format: str) -> str:
        name = Errno(value).name
        return f"{int(value)}({name})" if name else str(int(value))


class _MemberCache:
    """Calls an enum class, remembering the members made for the first values seen (enum calls
    are slow, and the same few flag values recur in every capture)."""

    __slots__ = ("_cache", "_cls")

    LIMIT = 4096

    def __init__(self, cls: type[enum.IntEnum] | type[enum.IntFlag]) -> None:
        self._cls = cls
        self._cache: dict[int, Any] = {}

    def __call__(self, value: int) -> Any:
        member = self._cache.get(value)
        if member is None:
            member = self._cls(value)
            if len(self._cache) < self.LIMIT:
                self._cache[value] = member
        return member


class FlagsCodec(IntCodec):
    """``PT_FLAGS*`` and ``PT_MODE``: an integer decoded as an :class:`EventFlags` subclass."""

    __slots__ = ("flags_class",)

    def __init__(self, ptype: str, struct_char: str, flags_class: type[EventFlags]) -> None:
        super().__init__(ptype, struct_char, _MemberCache(flags_class))
        self.flags_class = flags_class

    def to_json(self, value: Any) -> JsonValue:
        return "|".join(flag_names(self.flags_class, int(value))) or str(int(value))

    def format(self, value: Any, print_format: str) -> str:
        names = flag_names(self.flags_class, int(value))
        number = IntCodec.format(self, value, print_format)
        return f"{number}({'|'.join(names)})" if names else number


class EnumCodec(IntCodec):
    """``PT_ENUMFLAGS*`` and ``PT_SIGTYPE``: an integer decoded as an :class:`EventEnum` subclass."""

    __slots__ = ("enum_class",)

    def __init__(self, ptype: str, struct_char: str, enum_class: type[EventEnum]) -> None:
        super().__init__(ptype, struct_char, _MemberCache(enum_class))
        self.enum_class = enum_class

    def to_json(self, value: Any) -> JsonValue:
        member = self.enum_class(int(value))
        return member.name if member.known else int(value)

    def format(self, value: Any, print_format: str) -> str:
        member = self.enum_class(int(value))
        number = IntCodec.format(self, value, print_format)
        return f"{number}({member.name})" if member.known else number


class BoolCodec(Codec):
    """``PT_BOOL``: a u32 that must be 0 or 1."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        if data.nbytes != 4:
            raise EventError(f"expected 4 bytes, found {data.nbytes}")
        number = int.from_bytes(data, "little")
        if number > 1:
            raise EventError(f"boolean value {number} is neither 0 nor 1")
        return number == 1

    def encode(self, value: Any) -> bytes:
        return (1 if value else 0).to_bytes(4, "little")


class DoubleCodec(Codec):
    """``PT_DOUBLE``: an IEEE 754 double."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        if data.nbytes != 8:
            raise EventError(f"expected 8 bytes, found {data.nbytes}")
        return struct.unpack("<d", data)[0]

    def encode(self, value: Any) -> bytes:
        try:
            return struct.pack("<d", value)
        except struct.error:
            raise EventError(f"{value!r} is not a number") from None


def _text(data: memoryview | bytes) -> str:
    return str(data, "utf-8", "surrogateescape")


def _text_bytes(value: str | bytes) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def _json_text(value: str) -> str:
    """Text for JSON: undecodable bytes (kept as surrogates) shown as backslash escapes."""
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _array_item(value: str | bytes) -> bytes:
    item = _text_bytes(value)
    if b"\0" in item:
        raise EventError(f"array item {value!r} contains a NUL byte")
    return item + b"\0"


def _split_strings(data: memoryview, what: str) -> list[str]:
    if data[-1] != 0:
        raise EventError(f"{what} is not NUL-terminated")
    return [_text(part) for part in data[:-1].tobytes().split(b"\0")]


def printable(data: bytes, limit: int | None = None) -> str:
    """Bytes as sysdig prints buffers: printable ASCII kept, anything else as a dot."""
    if limit is not None and len(data) > limit:
        return printable(data[:limit]) + "..."
    return data.decode("ascii", "replace").translate(_UNPRINTABLE)


_UNPRINTABLE = {i: "." for i in range(32)} | {127: ".", 0xFFFD: "."}


class StringCodec(Codec):
    """``PT_CHARBUF``, ``PT_FSPATH``, ``PT_FSRELPATH``: NUL-terminated text.

    Decoded as ``str`` (paths as :class:`FsPath` / :class:`FsRelPath`) with the
    ``surrogateescape`` error handler, so any bytes round-trip.
    """

    __slots__ = ("wrap",)

    def __init__(self, ptype: str, wrap: type[str] = str) -> None:
        super().__init__(ptype)
        self.wrap = wrap

    def decode(self, data: memoryview) -> Any:
        if data[-1] != 0:
            raise EventError("string is not NUL-terminated")
        return self.wrap(_text(data[:-1]))

    def decode_at(self, view: memoryview, start: int, length: int) -> Any:
        end = start + length - 1
        if view[end] != 0:
            raise EventError("string is not NUL-terminated")
        text = str(view[start:end], "utf-8", "surrogateescape")
        wrap = self.wrap
        return text if wrap is str else wrap(text)

    def encode(self, value: Any) -> bytes:
        return _text_bytes(value) + b"\0"

    def to_json(self, value: Any) -> JsonValue:
        return _json_text(value)

    def format(self, value: Any, print_format: str) -> str:
        return _json_text(value)


class BytesCodec(Codec):
    """``PT_BYTEBUF`` (and ``PT_NONE``): raw bytes; a zero-length parameter is ``b""``."""

    __slots__ = ()
    EMPTY: ClassVar[Any] = b""

    def decode(self, data: memoryview) -> Any:
        return data.tobytes()

    def decode_at(self, view: memoryview, start: int, length: int) -> Any:
        return view[start : start + length].tobytes()

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            raise EventError(f"{self.ptype} takes bytes, not str")
        return bytes(value)

    def to_json(self, value: Any) -> JsonValue:
        return bytes(value).decode("utf-8", "backslashreplace")

    def format(self, value: Any, print_format: str) -> str:
        return printable(bytes(value))


class StringListCodec(Codec):
    """``PT_CHARBUFARRAY``: consecutive NUL-terminated strings, as a list of str."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        return _split_strings(data, "string array")

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (str, bytes)):
            raise EventError(f"{self.ptype} takes a list of strings")
        return b"".join(_array_item(item) for item in value)

    def to_json(self, value: Any) -> JsonValue:
        return [_json_text(item) for item in value]

    def format(self, value: Any, print_format: str) -> str:
        return ",".join(_json_text(item) for item in value)


class StringPairsCodec(Codec):
    """``PT_CHARBUF_PAIR_ARRAY``: NUL-terminated strings taken two by two, as (key, value) tuples."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        items = _split_strings(data, "string pair array")
        if len(items) % 2:
            raise EventError(f"string pair array has an odd number ({len(items)}) of strings")
        return [(items[i], items[i + 1]) for i in range(0, len(items), 2)]

    def encode(self, value: Any) -> bytes:
        return b"".join(_array_item(key) + _array_item(val) for key, val in value)

    def to_json(self, value: Any) -> JsonValue:
        return [[_json_text(key), _json_text(val)] for key, val in value]

    def format(self, value: Any, print_format: str) -> str:
        return ",".join(f"{key}={val}" for key, val in self.to_json(value))


_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
_FD_ENTRY = struct.Struct("<qH")
_V4_ENDPOINT = struct.Struct("<4sH")
_V6_ENDPOINT = struct.Struct("<16sH")


class FdListCodec(Codec):
    """``PT_FDLIST``: u16 count, then (i64 fd, u16 flags) per entry; a list of :class:`FdListEntry`."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        if data.nbytes < 2:
            raise EventError(f"fd list needs a 2-byte count, found {data.nbytes} bytes")
        count = _U16.unpack_from(data)[0]
        if data.nbytes != 2 + count * _FD_ENTRY.size:
            raise EventError(
                f"fd list of {count} entries needs {2 + count * _FD_ENTRY.size} bytes, found {data.nbytes}"
            )
        return [FdListEntry(fd, flags) for fd, flags in _FD_ENTRY.iter_unpack(data[2:])]

    def encode(self, value: Any) -> bytes:
        try:
            return _U16.pack(len(value)) + b"".join(_FD_ENTRY.pack(fd, flags) for fd, flags in value)
        except struct.error as exc:
            raise EventError(f"cannot encode fd list {value!r}: {exc}") from None

    def to_json(self, value: Any) -> JsonValue:
        return [[int(fd), int(flags)] for fd, flags in value]

    def format(self, value: Any, print_format: str) -> str:
        return " ".join(f"{fd}:{flags:#x}" for fd, flags in value)


class SockAddrCodec(Codec):
    """``PT_SOCKADDR``: a family byte, then the address (port in host byte order)."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        family = data[0]
        size = data.nbytes
        if family == PPM_AF_INET and size == 7:
            address, port = _V4_ENDPOINT.unpack_from(data, 1)
            return SockAddrV4(ipaddress.IPv4Address(address), port)
        if family == PPM_AF_INET6 and size == 19:
            address, port = _V6_ENDPOINT.unpack_from(data, 1)
            return SockAddrV6(ipaddress.IPv6Address(address), port)
        if family == PPM_AF_UNIX and size >= 2 and data[-1] == 0:
            return SockAddrUnix(_text(data[1:-1]))
        return SockAddrOther(family, data[1:].tobytes())

    def encode(self, value: Any) -> bytes:
        try:
            if isinstance(value, SockAddrV4):
                return bytes([PPM_AF_INET]) + _V4_ENDPOINT.pack(value.address.packed, value.port)
            if isinstance(value, SockAddrV6):
                return bytes([PPM_AF_INET6]) + _V6_ENDPOINT.pack(value.address.packed, value.port)
            if isinstance(value, SockAddrUnix):
                return bytes([PPM_AF_UNIX]) + _text_bytes(value.path) + b"\0"
            if isinstance(value, SockAddrOther):
                return bytes([value.family]) + bytes(value.data)
        except (struct.error, ValueError) as exc:
            raise EventError(f"cannot encode socket address {value!r}: {exc}") from None
        raise EventError(f"not a socket address: {value!r}")

    def to_json(self, value: Any) -> JsonValue:
        if isinstance(value, (SockAddrV4, SockAddrV6)):
            family = "inet" if isinstance(value, SockAddrV4) else "inet6"
            return {"family": family, "address": str(value.address), "port": value.port}
        if isinstance(value, SockAddrUnix):
            return {"family": "unix", "path": _json_text(value.path)}
        return {"family": value.family, "data": value.data.hex()}


class SockTupleCodec(Codec):
    """``PT_SOCKTUPLE``: a family byte, then source and destination endpoints."""

    __slots__ = ()

    def decode(self, data: memoryview) -> Any:
        family = data[0]
        size = data.nbytes
        if family == PPM_AF_INET and size == 13:
            src, sport = _V4_ENDPOINT.unpack_from(data, 1)
            dst, dport = _V4_ENDPOINT.unpack_from(data, 7)
            return SockTupleV4(ipaddress.IPv4Address(src), sport, ipaddress.IPv4Address(dst), dport)
        if family == PPM_AF_INET6 and size == 37:
            src, sport = _V6_ENDPOINT.unpack_from(data, 1)
            dst, dport = _V6_ENDPOINT.unpack_from(data, 19)
            return SockTupleV6(ipaddress.IPv6Address(src), sport, ipaddress.IPv6Address(dst), dport)
        if family == PPM_AF_UNIX and size >= 18 and data[-1] == 0:
            source_ptr, dest_ptr = struct.unpack_from("<QQ", data, 1)
            return SockTupleUnix(source_ptr, dest_ptr, _text(data[17:-1]))
        return SockTupleOther(family, data[1:].tobytes())

    def encode(self, value: Any) -> bytes:
        try:
            if isinstance(value, SockTupleV4):
                return (
                    bytes([PPM_AF_INET])
                    + _V4_ENDPOINT.pack(value.source_address.packed, value.source_port)
                    + _V4_ENDPOINT.pack(value.dest_address.packed, value.dest_port)
                )
            if isinstance(value, SockTupleV6):
                return (
                    bytes([PPM_AF_INET6])
                    + _V6_ENDPOINT.pack(value.source_address.packed, value.source_port)
                    + _V6_ENDPOINT.pack(value.dest_address.packed, value.dest_port)
                )
            if isinstance(value, SockTupleUnix):
                return (
                    bytes([PPM_AF_UNIX])
                    + struct.pack("<QQ", value.source_ptr, value.dest_ptr)
                    + _text_bytes(value.path)
                    + b"\0"
                )
            if isinstance(value, SockTupleOther):
                return bytes([value.family]) + bytes(value.data)
        except (struct.error, ValueError) as exc:
            raise EventError(f"cannot encode socket tuple {value!r}: {exc}") from None
        raise EventError(f"not a socket tuple: {value!r}")

    def to_json(self, value: Any) -> JsonValue:
        if isinstance(value, (SockTupleV4, SockTupleV6)):
            return {
                "family": "inet" if isinstance(value, SockTupleV4) else "inet6",
                "source_address": str(value.source_address),
                "source_port": value.source_port,
                "dest_address": str(value.dest_address),
                "dest_port": value.dest_port,
            }
        if isinstance(value, SockTupleUnix):
            return {
                "family": "unix",
                "source_ptr": value.source_ptr,
                "dest_ptr": value.dest_ptr,
                "path": _json_text(value.path),
            }
        return {"family": value.family, "data": value.data.hex()}


_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpCodec(Codec):
    """IP addresses and networks (``PT_IPV4ADDR``, ``PT_IPV6ADDR``, ``PT_IPADDR`` and the ``*NET``
    types), raw in network byte order; the length (4 or 16) tells the version where both are allowed.

    A network is stored as its network address, as libsinsp stores it in events: a decoded network
    is a host network (/32 or /128), and encoding writes ``network_address``.
    """

    __slots__ = ("network", "sizes")

    def __init__(self, ptype: str, sizes: tuple[int, ...], network: bool) -> None:
        super().__init__(ptype)
        self.sizes = sizes
        self.network = network

    def decode(self, data: memoryview) -> Any:
        size = data.nbytes
        if size not in self.sizes:
            expected = " or ".join(str(s) for s in self.sizes)
            raise EventError(f"expected {expected} bytes, found {size}")
        raw = data.tobytes()
        address: _IpAddress = ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)
        if self.network:
            return ipaddress.ip_network(address)
        return address

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            value = value.network_address
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            packed = value.packed
            if len(packed) in self.sizes:
                return packed
        raise EventError(f"{value!r} is not a valid {self.ptype} value")

    def to_json(self, value: Any) -> JsonValue:
        return str(value)


class DynamicCodec(Codec):
    """``PT_DYN``: a 1-byte tag, then a value whose type the parameter's table gives for the tag."""

    __slots__ = ("table", "table_name")

    def __init__(self, table_name: str, table: dict[int, tuple[str, str, Codec]]) -> None:
        super().__init__("PT_DYN")
        self.table_name = table_name
        self.table = table

    def decode(self, data: memoryview) -> Any:
        index = data[0]
        rest = data[1:]
        entry = self.table.get(index)
        if entry is None:
            return DynamicValue(index, None, rest.tobytes())
        param_type, _fmt, codec = entry
        try:
            value = codec.decode(rest) if rest.nbytes else codec.EMPTY
        except EventError as exc:
            raise EventError(f"dynamic value (tag {index}, {param_type}): {exc}") from None
        return DynamicValue(index, param_type, value)

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, DynamicValue):
            raise EventError(f"PT_DYN takes a DynamicValue, not {value!r}")
        if not 0 <= value.index <= 255:
            raise EventError(f"dynamic value tag {value.index} does not fit in one byte")
        entry = self.table.get(value.index)
        tag = bytes([value.index])
        if entry is None:
            return tag + bytes(value.value if value.value is not None else b"")
        param_type, _fmt, codec = entry
        if value.param_type not in (None, param_type):
            raise EventError(
                f"tag {value.index} of {self.table_name} is {param_type}, not {value.param_type}"
            )
        return tag if value.value is None else tag + codec.encode(value.value)

    def to_json(self, value: Any) -> JsonValue:
        entry = self.table.get(value.index)
        if entry is None:
            inner: JsonValue = bytes(value.value or b"").hex()
        else:
            inner = None if value.value is None else entry[2].to_json(value.value)
        return {"index": value.index, "type": value.param_type, "value": inner}

    def format(self, value: Any, print_format: str) -> str:
        entry = self.table.get(value.index)
        if entry is None:
            return f"<tag {value.index}>{bytes(value.value or b'').hex()}"
        if value.value is None:
            return "<NA>"
        return entry[2].format(value.value, entry[1])


#: The codec of every parameter type that needs no table.
CODECS: dict[str, Codec] = {
    "PT_NONE": BytesCodec("PT_NONE"),
    "PT_INT8": IntCodec("PT_INT8", "b"),
    "PT_INT16": IntCodec("PT_INT16", "h"),
    "PT_INT32": IntCodec("PT_INT32", "i"),
    "PT_INT64": IntCodec("PT_INT64", "q"),
    "PT_UINT8": IntCodec("PT_UINT8", "B"),
    "PT_UINT16": IntCodec("PT_UINT16", "H"),
    "PT_UINT32": IntCodec("PT_UINT32", "I"),
    "PT_UINT64": IntCodec("PT_UINT64", "Q"),
    "PT_CHARBUF": StringCodec("PT_CHARBUF"),
    "PT_BYTEBUF": BytesCodec("PT_BYTEBUF"),
    "PT_ERRNO": ErrnoCodec(),
    "PT_SOCKADDR": SockAddrCodec("PT_SOCKADDR"),
    "PT_SOCKTUPLE": SockTupleCodec("PT_SOCKTUPLE"),
    "PT_FD": IntCodec("PT_FD", "q", Fd),
    "PT_PID": IntCodec("PT_PID", "q", Pid),
    "PT_FDLIST": FdListCodec("PT_FDLIST"),
    "PT_FSPATH": StringCodec("PT_FSPATH", FsPath),
    "PT_SYSCALLID": IntCodec("PT_SYSCALLID", "H", SyscallId),
    "PT_SIGTYPE": EnumCodec("PT_SIGTYPE", "B", Signal),
    "PT_RELTIME": IntCodec("PT_RELTIME", "Q", RelTime),
    "PT_ABSTIME": IntCodec("PT_ABSTIME", "Q", AbsTime),
    "PT_PORT": IntCodec("PT_PORT", "H", Port),
    "PT_L4PROTO": IntCodec("PT_L4PROTO", "B", L4Proto),
    "PT_SOCKFAMILY": IntCodec("PT_SOCKFAMILY", "B", SockFamily),
    "PT_BOOL": BoolCodec("PT_BOOL"),
    "PT_IPV4ADDR": IpCodec("PT_IPV4ADDR", (4,), network=False),
    "PT_FLAGS8": IntCodec("PT_FLAGS8", "B"),
    "PT_FLAGS16": IntCodec("PT_FLAGS16", "H"),
    "PT_FLAGS32": IntCodec("PT_FLAGS32", "I"),
    "PT_UID": IntCodec("PT_UID", "I", Uid),
    "PT_GID": IntCodec("PT_GID", "I", Gid),
    "PT_DOUBLE": DoubleCodec("PT_DOUBLE"),
    "PT_SIGSET": IntCodec("PT_SIGSET", "I", SigSet),
    "PT_CHARBUFARRAY": StringListCodec("PT_CHARBUFARRAY"),
    "PT_CHARBUF_PAIR_ARRAY": StringPairsCodec("PT_CHARBUF_PAIR_ARRAY"),
    "PT_IPV4NET": IpCodec("PT_IPV4NET", (4,), network=True),
    "PT_IPV6ADDR": IpCodec("PT_IPV6ADDR", (16,), network=False),
    "PT_IPV6NET": IpCodec("PT_IPV6NET", (16,), network=True),
    "PT_IPADDR": IpCodec("PT_IPADDR", (4, 16), network=False),
    "PT_IPNET": IpCodec("PT_IPNET", (4, 16), network=True),
    "PT_MODE": IntCodec("PT_MODE", "I"),
    "PT_FSRELPATH": StringCodec("PT_FSRELPATH", FsRelPath),
    "PT_ENUMFLAGS8": IntCodec("PT_ENUMFLAGS8", "B"),
    "PT_ENUMFLAGS16": IntCodec("PT_ENUMFLAGS16", "H"),
    "PT_ENUMFLAGS32": IntCodec("PT_ENUMFLAGS32", "I"),
    "PT_FD32": IntCodec("PT_FD32", "i", Fd),
    "PT_PID32": IntCodec("PT_PID32", "i", Pid),
}

_STRUCT_CHARS = {
    "PT_FLAGS8": "B",
    "PT_FLAGS16": "H",
    "PT_FLAGS32": "I",
    "PT_MODE": "I",
    "PT_ENUMFLAGS8": "B",
    "PT_ENUMFLAGS16": "H",
    "PT_ENUMFLAGS32": "I",
}


def flags_codec(ptype: str, flags_class: type[EventFlags]) -> FlagsCodec:
    """The codec of a ``PT_FLAGS*`` / ``PT_MODE`` parameter whose values are ``flags_class``."""
    return FlagsCodec(ptype, _STRUCT_CHARS[ptype], flags_class)


def enum_codec(ptype: str, enum_class: type[EventEnum]) -> EnumCodec:
    """The codec of a ``PT_ENUMFLAGS*`` parameter whose values are ``enum_class``."""
    return EnumCodec(ptype, _STRUCT_CHARS[ptype], enum_class)


def raw_codec(ptype: str) -> BytesCodec:
    """The codec for a parameter type this module does not know (a newer schema): raw bytes."""
    return BytesCodec(ptype)


def dynamic_codec(table_name: str, entries: Sequence[tuple[int, str, str]]) -> DynamicCodec:
    """The codec of a ``PT_DYN`` parameter from its table of ``(tag, PT_*, PF_*)``."""
    table = {index: (ptype, fmt, CODECS[ptype]) for index, ptype, fmt in entries}
    return DynamicCodec(table_name, table)


# ---------------------------------------------------------------------------------------------
# Typed events
# ---------------------------------------------------------------------------------------------


class Param(NamedTuple):
    """One parameter of an event type, as the schema describes it.

    ``attr`` is the Python attribute name: the schema name, with ``_`` appended where it would
    clash with the event header (``tid`` -> ``tid_``, the only such name in the schema). The
    keyword argument, the attribute, ``repr()`` and ``str()`` use ``attr``; ``to_dict()`` and
    ``items()`` keep the schema name.

    >>> from falco_plugin.event import PPME_SYSCALL_EXECVE_19_X
    >>> [(p.name, p.attr, p.ptype) for p in PPME_SYSCALL_EXECVE_19_X.PARAMS[2:4]]
    [('args', 'args', 'PT_BYTEBUF'), ('tid', 'tid_', 'PT_PID')]
    """

    name: str
    attr: str
    ptype: str
    print_format: str
    codec: Codec
    info: str | int | None = None


_TypedT = TypeVar("_TypedT", bound="TypedEvent")
_DECODE_ERRORS = (EventError, ValueError, struct.error, IndexError, TypeError)


class TypedEvent:
    """Base of the generated event classes (one per event code), e.g. ``PPME_SYSCALL_OPEN_X``.

    A typed event has the header fields ``ts`` and ``tid`` and one attribute per parameter,
    None when the parameter is empty or absent. It converts to and from bytes losslessly.

    >>> from falco_plugin.event import PPME_SYSCALL_CLOSE_X, RawEvent
    >>> event = PPME_SYSCALL_CLOSE_X(res=0, fd=3, ts=10, tid=42)
    >>> RawEvent.from_bytes(event.to_bytes()).load(PPME_SYSCALL_CLOSE_X) == event
    True
    >>> str(event)
    '< close res=0 fd=3'
    """

    __slots__ = ("_nparams", "tid", "ts")

    CODE: ClassVar[int] = -1
    PPME: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    DIRECTION: ClassVar[str] = ""
    CATEGORY: ClassVar[tuple[str, ...]] = ()
    EVENT_FLAGS: ClassVar[tuple[str, ...]] = ()
    LARGE_PAYLOAD: ClassVar[bool] = False
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    _DECODERS: ClassVar[tuple[tuple[str, Callable[[memoryview, int, int], Any], Any], ...]] = ()

    ts: int
    tid: int
    _nparams: int

    def __init__(self, ts: int | None = None, tid: int | None = None) -> None:
        self.ts = UINT64_MAX if ts is None else ts
        self.tid = UINT64_MAX if tid is None else tid
        self._nparams = len(self.PARAMS)

    # -- decoding ------------------------------------------------------------------------------

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._DECODERS = tuple((p.attr, p.codec.decode_at, p.codec.EMPTY) for p in cls.PARAMS)

    @classmethod
    def from_raw(cls: type[_TypedT], raw: RawEvent) -> _TypedT:
        """Decode a raw event of this class's type (EventError if the type or a parameter is bad)."""
        if raw.type != cls.CODE:
            raise EventError(
                f"cannot load a {raw.type_name} event (type {raw.type}) as {cls.PPME} (type {cls.CODE})"
            )
        lengths, position, view = raw.layout()
        count = len(lengths)
        decoders = cls._DECODERS
        if count > len(decoders):
            raise EventError(
                f"{cls.PPME} (type {cls.CODE}) has {len(decoders)} parameters in schema "
                f"but the event carries {count}"
            )
        event = cls.__new__(cls)
        event.ts = raw.ts
        event.tid = raw.tid
        event._nparams = count
        try:
            for (attr, decode_at, empty), length in zip(decoders, lengths, strict=False):
                if length:
                    setattr(event, attr, decode_at(view, position, length))
                    position += length
                else:
                    setattr(event, attr, empty)
        except _DECODE_ERRORS:
            raise cls._decode_error(raw.params) from None
        for attr, _decode, _empty in decoders[count:]:
            setattr(event, attr, None)
        return event

    @classmethod
    def _decode_error(cls, values: Sequence[memoryview]) -> EventError:
        """The error of the first parameter that does not decode (the slow path of from_raw)."""
        for index, (param, data) in enumerate(zip(cls.PARAMS, values, strict=False)):
            if not data:
                continue
            try:
                param.codec.decode(data)
            except EventError as exc:
                return EventError(cls._param_error(index, param, str(exc)))
            except _DECODE_ERRORS as exc:
                return EventError(cls._param_error(index, param, repr(exc)))
        return EventError(f"{cls.PPME} (type {cls.CODE}): parameters do not decode")

    @classmethod
    def from_bytes(cls: type[_TypedT], data: Any, offset: int = 0) -> _TypedT:
        """Decode from a buffer holding an event of this type at ``offset``."""
        from .raw import RawEvent

        return cls.from_raw(RawEvent.from_buffer(data, offset))

    @classmethod
    def _param_error(cls, index: int, param: Param, message: str) -> str:
        return f"{cls.PPME} (type {cls.CODE}) parameter {index} '{param.name}' ({param.ptype}): {message}"

    # -- encoding ------------------------------------------------------------------------------

    def values(self) -> list[Any]:
        """The parameter values in schema order."""
        return [getattr(self, param.attr) for param in self.PARAMS]

    def items(self) -> Iterator[tuple[str, Any]]:
        """(schema name, value) pairs in schema order."""
        for param in self.PARAMS:
            yield param.name, getattr(self, param.attr)

    def to_bytes(self) -> bytes:
        """The event as bytes: header, length table, parameters.

        The parameters written are those the event was decoded with (or all, for a new event), plus
        any later one set since; None is written as an empty parameter.
        """
        values = self.values()
        count = self._nparams
        for index in range(len(values) - 1, count - 1, -1):
            if values[index] is not None:
                count = index + 1
                break
        payloads: list[bytes] = []
        for index in range(count):
            value = values[index]
            if value is None:
                payloads.append(b"")
                continue
            param = self.PARAMS[index]
            try:
                payloads.append(param.codec.encode(value))
            except EventError as exc:
                raise EventError(self._param_error(index, param, str(exc))) from None
            except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                raise EventError(self._param_error(index, param, f"cannot encode {value!r}: {exc}")) from None
        return frame_event(self.CODE, self.ts, self.tid, payloads, self.LARGE_PAYLOAD)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def to_raw(self) -> RawEvent:
        """The event as a :class:`~falco_plugin.event.raw.RawEvent` over fresh bytes."""
        from .raw import RawEvent

        return RawEvent.from_bytes(self.to_bytes())

    # -- presentation --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict: type, name, direction, code, ts, tid and the params by name."""
        params: dict[str, Any] = {}
        for param in self.PARAMS:
            value = getattr(self, param.attr)
            params[param.name] = None if value is None else param.codec.to_json(value)
        return {
            "type": self.PPME,
            "name": self.NAME,
            "dir": self.DIRECTION,
            "code": self.CODE,
            "ts": self.ts,
            "tid": self.tid,
            "params": params,
        }

    def format_params(self) -> str:
        """The parameters as sysdig prints them: ``name=value`` separated by spaces.

        A parameter renamed to not clash with the header (``tid`` -> ``tid_``) is printed under
        its Python name, so ``tid=`` is always the header's thread id::

            >>> from falco_plugin.event import PPME_SYSCALL_EXECVE_19_X
            >>> PPME_SYSCALL_EXECVE_19_X(res=0, tid_=7, tid=1).format_params().split()[2:4]
            ['args=<NA>', 'tid_=7']
        """
        parts = []
        for param in self.PARAMS:
            value = getattr(self, param.attr)
            text = "<NA>" if value is None else param.codec.format(value, param.print_format)
            parts.append(f"{param.attr}={text}")
        return " ".join(parts)

    def __str__(self) -> str:
        params = self.format_params()
        return f"{self.DIRECTION} {self.NAME} {params}" if params else f"{self.DIRECTION} {self.NAME}"

    def __repr__(self) -> str:
        fields = [f"ts={self.ts}", f"tid={self.tid}"]
        fields += [f"{param.attr}={getattr(self, param.attr)!r}" for param in self.PARAMS]
        return f"{type(self).__name__}({', '.join(fields)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypedEvent) or other.CODE != self.CODE:
            return NotImplemented
        return self.ts == other.ts and self.tid == other.tid and self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]
