"""Decoding of every PT_* parameter type from hand-built events, with boundary values.

Parameter types that no event of the schema uses (PT_BOOL, PT_DOUBLE, the IP network types...) are
exercised through a probe event class built here with the same machinery as the generated ones.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import struct
from typing import Any, ClassVar

import pytest

from falco_plugin.event import (
    PPME_GENERIC_E,
    PPME_ITER_TASK_FILE_SOCKET_INET6_E,
    PPME_ITER_TASK_FILE_SOCKET_INET_E,
    PPME_PROCEXIT_1_E,
    PPME_SOCKET_ACCEPT_5_X,
    PPME_SOCKET_CONNECT_X,
    PPME_SOCKET_SETSOCKOPT_X,
    PPME_SOCKET_SOCKET_E,
    PPME_SYSCALL_CLOSE_X,
    PPME_SYSCALL_EPOLLWAIT_X,
    PPME_SYSCALL_KEYCTL_X,
    PPME_SYSCALL_MKNOD_X,
    PPME_SYSCALL_OPEN_X,
    PPME_SYSCALL_OPENAT2_X,
    PPME_SYSCALL_PPOLL_E,
    PPME_SYSCALL_PTRACE_X,
    PPME_SYSCALL_SETUID_E,
    PPME_TRACER_E,
    PTRACE_DYNAMIC_PARAM,
    AbsTime,
    DynamicValue,
    Errno,
    EventError,
    Fd,
    FdListEntry,
    FileFlags,
    FsPath,
    FsRelPath,
    LseekWhence,
    MknodMode,
    Param,
    Pid,
    RawEvent,
    RelTime,
    Signal,
    SigSet,
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SocketFamilies,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
    SyscallId,
    TypedEvent,
    Uid,
)
from falco_plugin.event.types import CODECS

HEADER = struct.Struct("<QQIHI")


def frame(code: int, params: list[bytes], large: bool = False) -> bytes:
    """An event built by hand: header, length table, parameters."""
    table = b"".join(struct.pack("<I" if large else "<H", len(p)) for p in params)
    body = table + b"".join(params)
    return HEADER.pack(1, 2, 26 + len(body), code, len(params)) + body


def decode(event_class: type[TypedEvent], params: list[bytes]) -> Any:
    """Decode a hand-built event and check it re-encodes to the same bytes."""
    data = frame(event_class.CODE, params, event_class.LARGE_PAYLOAD)
    event = RawEvent(data).load(event_class)
    assert event.to_bytes() == data
    json.dumps(event.to_dict())  # always JSON-serialisable
    str(event)
    repr(event)
    return event


def probe(ptype: str, codec: Any = None) -> type[TypedEvent]:
    """A one-parameter event class (code 5000) for a parameter type no real event uses."""

    class Probe(TypedEvent):
        __slots__ = ("value",)
        CODE: ClassVar[int] = 5000
        PPME: ClassVar[str] = "PROBE"
        NAME: ClassVar[str] = "probe"
        DIRECTION: ClassVar[str] = ">"
        PARAMS: ClassVar[tuple[Param, ...]] = (
            Param("value", "value", ptype, "PF_DEC", codec if codec is not None else CODECS[ptype]),
        )

        def __init__(self, value: Any = None) -> None:
            TypedEvent.__init__(self)
            self.value = value

    return Probe


def probe_value(ptype: str, data: bytes) -> Any:
    return decode(probe(ptype), [data]).value


# --- integers ------------------------------------------------------------------------------------

INTEGER_CASES = [
    ("PT_INT8", "<b", [-128, -1, 0, 127]),
    ("PT_INT16", "<h", [-32768, 32767]),
    ("PT_INT32", "<i", [-(2**31), 2**31 - 1]),
    ("PT_INT64", "<q", [-(2**63), 2**63 - 1]),
    ("PT_UINT8", "<B", [0, 255]),
    ("PT_UINT16", "<H", [0, 65535]),
    ("PT_UINT32", "<I", [0, 2**32 - 1]),
    ("PT_UINT64", "<Q", [0, 2**64 - 1]),
    ("PT_FD32", "<i", [-(2**31), -1, 2**31 - 1]),
    ("PT_PID32", "<i", [-(2**31), 2**31 - 1]),
    ("PT_SYSCALLID", "<H", [0, 65535]),
    ("PT_PORT", "<H", [0, 65535]),
    ("PT_L4PROTO", "<B", [0, 255]),
    ("PT_SOCKFAMILY", "<B", [0, 255]),
    ("PT_UID", "<I", [0, 2**32 - 1]),
    ("PT_GID", "<I", [0, 2**32 - 1]),
    ("PT_SIGSET", "<I", [0, 2**32 - 1]),
    ("PT_RELTIME", "<Q", [0, 2**64 - 1]),
    ("PT_ABSTIME", "<Q", [0, 2**64 - 1]),
    ("PT_ERRNO", "<q", [-(2**63), 2**63 - 1]),
    ("PT_FD", "<q", [-(2**63), -1, 2**63 - 1]),
    ("PT_PID", "<q", [-(2**63), 2**63 - 1]),
]


@pytest.mark.parametrize(("ptype", "fmt", "values"), INTEGER_CASES)
def test_integer_boundaries(ptype: str, fmt: str, values: list[int]) -> None:
    for value in values:
        assert probe_value(ptype, struct.pack(fmt, value)) == value
    size = struct.calcsize(fmt)
    with pytest.raises(
        EventError, match=f"parameter 0 'value' \\({ptype}\\): expected {size} bytes, found {size + 1}"
    ):
        probe_value(ptype, b"\0" * (size + 1))
    codec = CODECS[ptype]
    with pytest.raises(EventError, match="does not fit"):
        codec.encode(values[-1] + 1)


def test_integer_wrapper_types() -> None:
    close = decode(PPME_SYSCALL_CLOSE_X, [struct.pack("<q", -9), struct.pack("<q", 3)])
    assert type(close.res) is Errno and close.res.name == "EBADF" and close.res.is_error
    assert type(close.fd) is Fd and close.fd == 3 and repr(close.fd) == "Fd(3)"
    assert str(close) == "< close res=-9(EBADF) fd=3"
    assert type(probe_value("PT_PID", struct.pack("<q", 42))) is Pid
    assert type(probe_value("PT_SYSCALLID", struct.pack("<H", 42))) is SyscallId
    setuid = decode(PPME_SYSCALL_SETUID_E, [struct.pack("<I", 0xFFFFFFFF)])
    assert type(setuid.uid) is Uid and setuid.uid == 0xFFFFFFFF
    generic = decode(PPME_GENERIC_E, [struct.pack("<H", 65535), struct.pack("<H", 0)])
    assert generic.ID == 65535 and generic.nativeID == 0


def test_errno_values() -> None:
    assert Errno(0).name is None and not Errno(0).is_error
    assert Errno(-2).name == "ENOENT"
    assert Errno(-(2**63)).name is None
    assert repr(Errno(-2)) == "Errno(-2, 'ENOENT')"


def test_times() -> None:
    interval = probe_value("PT_RELTIME", struct.pack("<Q", 1_500_000_999))
    assert isinstance(interval, RelTime)
    assert interval.to_timedelta() == dt.timedelta(seconds=1, microseconds=500_000)
    assert RelTime.from_timedelta(dt.timedelta(days=1, microseconds=3)) == 86_400_000_003_000
    stamp = probe_value("PT_ABSTIME", struct.pack("<Q", 1_534_527_342_999_999_999))
    assert isinstance(stamp, AbsTime)
    assert stamp.to_datetime() == dt.datetime(2018, 8, 17, 17, 35, 42, 999_999, tzinfo=dt.UTC)
    assert AbsTime.from_datetime(dt.datetime(1970, 1, 1, 0, 0, 1)) == 1_000_000_000
    assert AbsTime(0).to_datetime().year == 1970
    assert AbsTime(2**64 - 1).to_datetime().year == 2554  # the largest u64 is still a datetime
    with pytest.raises(EventError, match="outside the datetime range"):
        AbsTime(10**30).to_datetime()


def test_signals() -> None:
    procexit = decode(
        PPME_PROCEXIT_1_E,
        [struct.pack("<q", 0), struct.pack("<q", 0), b"\x09", b"\x01", struct.pack("<q", 1)],
    )
    assert procexit.sig is Signal.SIGKILL and procexit.sig.known
    assert "sig=9(SIGKILL)" in str(procexit)
    unknown = probe_value("PT_SIGTYPE", b"\x40")  # 64, a real-time signal: kept, not an error
    assert unknown == 64 and not unknown.known and unknown.name == "UNKNOWN_64"
    assert probe_value("PT_SIGTYPE", b"\xff") == 255
    sigset = probe_value("PT_SIGSET", struct.pack("<I", 1 << 8 | 1 << 14 | 1 << 31))
    assert isinstance(sigset, SigSet)
    assert sigset.signals() == [Signal.SIGKILL, Signal.SIGTERM, 32]


def test_bool_and_double() -> None:
    assert probe_value("PT_BOOL", struct.pack("<I", 0)) is False
    assert probe_value("PT_BOOL", struct.pack("<I", 1)) is True
    with pytest.raises(EventError, match="boolean value 2 is neither 0 nor 1"):
        probe_value("PT_BOOL", struct.pack("<I", 2))
    for value in (0.0, -1.5, 1e308, float("inf")):
        assert probe_value("PT_DOUBLE", struct.pack("<d", value)) == value
    with pytest.raises(EventError, match="expected 8 bytes, found 4"):
        probe_value("PT_DOUBLE", b"\0" * 4)


# --- flags and enumerations ---------------------------------------------------------------------


def test_flags() -> None:
    opened = decode(
        PPME_SYSCALL_OPEN_X,
        [
            struct.pack("<q", 3),
            b"/etc/passwd\0",
            struct.pack("<I", 4097),
            struct.pack("<I", 0o644),
            struct.pack("<I", 0x803),
            struct.pack("<Q", 12345),
        ],
    )
    assert isinstance(opened.flags, FileFlags)
    assert opened.flags == FileFlags.O_RDONLY | FileFlags.O_CLOEXEC
    assert opened.flags.names() == ["O_RDONLY", "O_CLOEXEC"]
    assert "flags=0x1001(O_RDONLY|O_CLOEXEC) mode=0644 dev=0x803" in str(opened)
    assert opened.to_dict()["params"]["flags"] == "O_RDONLY|O_CLOEXEC"


def test_flags_keep_unknown_bits_and_zero() -> None:
    codec = PPME_SYSCALL_OPEN_X.PARAMS[2].codec
    value = codec.decode(memoryview(struct.pack("<I", 0x8000_0001)))
    assert int(value) == 0x8000_0001  # bit 31 is in no table entry: kept, never an error
    assert value.names() == ["O_RDONLY", "0x80000000"]
    assert codec.encode(value) == struct.pack("<I", 0x8000_0001)
    zero = codec.decode(memoryview(b"\0\0\0\0"))
    assert zero == 0 and zero.names() == ["O_NONE"]
    top = codec.decode(memoryview(b"\xff\xff\xff\xff"))
    assert int(top) == 0xFFFF_FFFF


def test_mode_flags() -> None:
    mknod = decode(
        PPME_SYSCALL_MKNOD_X,
        [struct.pack("<q", 0), b"/dev/x\0", struct.pack("<I", 0o100644), struct.pack("<I", 0)],
    )
    assert isinstance(mknod.mode, MknodMode)
    assert mknod.mode & MknodMode.S_IFREG
    assert set(mknod.mode.names()) == {"S_IROTH", "S_IRGRP", "S_IWUSR", "S_IRUSR", "S_IFREG"}


def test_enum_flags_known_and_unknown() -> None:
    socket = decode(PPME_SOCKET_SOCKET_E, [struct.pack("<I", 10), struct.pack("<I", 1), struct.pack("<I", 0)])
    assert socket.domain is SocketFamilies.AF_INET6
    assert socket.to_dict()["params"]["domain"] == "AF_INET6"
    odd = decode(PPME_SOCKET_SOCKET_E, [struct.pack("<I", 0xFFFF_FFFF), b"\0" * 4, b"\0" * 4])
    assert isinstance(odd.domain, SocketFamilies) and odd.domain == 0xFFFF_FFFF and not odd.domain.known
    assert odd.to_dict()["params"]["domain"] == 0xFFFF_FFFF
    whence = LseekWhence(7)
    assert whence.name == "UNKNOWN_7" and int(whence) == 7
    assert LseekWhence(0) is LseekWhence.SEEK_SET


# --- strings, paths, buffers, arrays ------------------------------------------------------------


def test_strings() -> None:
    assert probe_value("PT_CHARBUF", b"\0") == ""
    assert probe_value("PT_CHARBUF", b"hello\0") == "hello"
    assert probe_value("PT_CHARBUF", "h\u00e9\u2603\0".encode()) == "h\u00e9\u2603"
    assert probe_value("PT_CHARBUF", b"a\0b\0") == "a\0b"  # embedded NULs kept
    invalid = probe_value("PT_CHARBUF", b"\xff\xfe/x\0")  # not UTF-8: kept via surrogateescape
    assert invalid.encode("utf-8", "surrogateescape") == b"\xff\xfe/x"
    assert probe("PT_CHARBUF")(value=invalid).to_dict()["params"]["value"] == "\\xff\\xfe/x"  # type: ignore[call-arg]
    with pytest.raises(EventError, match="'value' \\(PT_CHARBUF\\): string is not NUL-terminated"):
        probe_value("PT_CHARBUF", b"abc")
    assert probe_value("PT_CHARBUF", b"x" * 65534 + b"\0") == "x" * 65534  # the 2-byte length maximum


def test_paths() -> None:
    path = probe_value("PT_FSPATH", b"/etc/hosts\0")
    assert path == "/etc/hosts" and isinstance(path, FsPath) and path.as_path().parent.name == "etc"
    assert probe_value("PT_FSPATH", b"\0") == ""
    openat2 = decode(
        PPME_SYSCALL_OPENAT2_X,
        [struct.pack("<q", 3), struct.pack("<q", -100), b"rel/path\0"]
        + [b"\0" * 4] * 3
        + [b"\0" * 4, b"\0" * 8],
    )
    assert openat2.name == "rel/path" and isinstance(openat2.name, FsRelPath)
    assert openat2.name.resolve("/home/u") == "/home/u/rel/path"
    assert PPME_SYSCALL_OPENAT2_X.PARAMS[2].ptype == "PT_FSRELPATH"
    assert PPME_SYSCALL_OPENAT2_X.PARAMS[2].info == 1  # the dirfd parameter's index


def test_byte_buffers() -> None:
    assert probe_value("PT_BYTEBUF", b"\x00\xff") == b"\x00\xff"
    assert probe_value("PT_BYTEBUF", b"") == b""  # zero-length buffer: empty bytes
    assert probe_value("PT_NONE", b"raw") == b"raw"
    with pytest.raises(EventError, match="takes bytes, not str"):
        CODECS["PT_BYTEBUF"].encode("text")


def test_large_payload_parameter() -> None:
    big = b"y" * 70_000  # over the 2-byte limit: fine with 4-byte lengths
    event = decode(type(RawEvent(frame(322, [b"\1\0\0\0", big], large=True)).load_any()), [b"\1\0\0\0", big])
    assert event.event_data == big
    with pytest.raises(EventError, match="over the 65535-byte limit"):
        probe("PT_BYTEBUF")(value=big).to_bytes()  # type: ignore[call-arg]


def test_string_arrays() -> None:
    tracer = decode(PPME_TRACER_E, [struct.pack("<q", 5), b"a\0bc\0", b"k\0v\0k2\0\0"])
    assert tracer.tags == ["a", "bc"]
    assert tracer.args == [("k", "v"), ("k2", "")]
    assert probe_value("PT_CHARBUFARRAY", b"\0") == [""]
    assert probe_value("PT_CHARBUFARRAY", b"\0\0") == ["", ""]
    with pytest.raises(EventError, match="string array is not NUL-terminated"):
        probe_value("PT_CHARBUFARRAY", b"a\0b")
    with pytest.raises(EventError, match="odd number \\(3\\) of strings"):
        probe_value("PT_CHARBUF_PAIR_ARRAY", b"a\0b\0c\0")


def test_fd_list() -> None:
    ppoll = decode(
        PPME_SYSCALL_PPOLL_E,
        [
            struct.pack("<H", 2) + struct.pack("<qH", 3, 1) + struct.pack("<qH", -1, 0xFFFF),
            struct.pack("<Q", 10),
            struct.pack("<I", 0),
        ],
    )
    assert ppoll.fds == [FdListEntry(3, 1), FdListEntry(-1, 0xFFFF)]
    assert "fds=3:0x1 -1:0xffff" in str(ppoll)
    assert probe_value("PT_FDLIST", b"\0\0") == []
    with pytest.raises(EventError, match="fd list of 2 entries needs 22 bytes, found 12"):
        probe_value("PT_FDLIST", struct.pack("<H", 2) + struct.pack("<qH", 1, 1))
    with pytest.raises(EventError, match="2-byte count"):
        probe_value("PT_FDLIST", b"\1")


# --- network types ------------------------------------------------------------------------------


def test_sockaddr_families() -> None:
    v4 = probe_value("PT_SOCKADDR", b"\x02" + bytes([10, 0, 0, 1]) + struct.pack("<H", 8080))
    assert v4 == SockAddrV4(ipaddress.IPv4Address("10.0.0.1"), 8080) and str(v4) == "10.0.0.1:8080"
    v6 = probe_value("PT_SOCKADDR", b"\x0a" + ipaddress.IPv6Address("2001:db8::1").packed + b"\xff\xff")
    assert v6 == SockAddrV6(ipaddress.IPv6Address("2001:db8::1"), 65535) and str(v6) == "[2001:db8::1]:65535"
    unix = probe_value("PT_SOCKADDR", b"\x01/run/x.sock\0")
    assert unix == SockAddrUnix("/run/x.sock")
    abstract = probe_value("PT_SOCKADDR", b"\x01\0abstract\0")
    assert abstract == SockAddrUnix("\0abstract")
    assert probe_value("PT_SOCKADDR", b"\x00") == SockAddrOther(0, b"")  # AF_UNSPEC
    assert probe_value("PT_SOCKADDR", b"\x11raw") == SockAddrOther(17, b"raw")
    short = probe_value("PT_SOCKADDR", b"\x02\x01\x02")  # malformed: kept raw, not an error
    assert short == SockAddrOther(2, b"\x01\x02")
    assert probe_value("PT_SOCKADDR", b"\x01noterm") == SockAddrOther(1, b"noterm")


def test_socktuple_families() -> None:
    v4 = decode(
        PPME_SOCKET_CONNECT_X,
        [
            struct.pack("<q", 0),
            b"\x02"
            + bytes([172, 31, 33, 48])
            + struct.pack("<H", 47263)
            + bytes([172, 31, 0, 2])
            + b"\x35\x00",
            struct.pack("<q", 4),
            b"\x02" + bytes([172, 31, 0, 2]) + b"\x35\x00",
        ],
    )
    assert v4.tuple == SockTupleV4(
        ipaddress.IPv4Address("172.31.33.48"), 47263, ipaddress.IPv4Address("172.31.0.2"), 53
    )
    assert str(v4.tuple) == "172.31.33.48:47263->172.31.0.2:53"
    assert v4.addr == SockAddrV4(ipaddress.IPv4Address("172.31.0.2"), 53)
    src, dst = ipaddress.IPv6Address("2001:4860::8844"), ipaddress.IPv6Address("::1")
    v6 = probe_value("PT_SOCKTUPLE", b"\x0a" + src.packed + b"\x01\x00" + dst.packed + b"\x02\x00")
    assert v6 == SockTupleV6(src, 1, dst, 2)
    unix = probe_value(
        "PT_SOCKTUPLE", b"\x01" + struct.pack("<QQ", 0, 0xFFFF98BC4ECF2000) + b"/var/run/nscd/socket\0"
    )
    assert unix == SockTupleUnix(0, 0xFFFF98BC4ECF2000, "/var/run/nscd/socket")
    assert probe_value("PT_SOCKTUPLE", b"\x02" + b"\0" * 11) == SockTupleOther(2, b"\0" * 11)
    accept = decode(
        PPME_SOCKET_ACCEPT_5_X,
        [struct.pack("<q", 4), b"\x0a" + src.packed + b"\x01\x00" + dst.packed + b"\x02\x00", b"\x00"]
        + [struct.pack("<I", 0)] * 2,
    )
    assert accept.to_dict()["params"]["tuple"]["source_address"] == "2001:4860::8844"


def test_ip_addresses_and_networks() -> None:
    inet = decode(
        PPME_ITER_TASK_FILE_SOCKET_INET_E,
        [
            struct.pack("<i", 3),
            b"\1\0",
            b"\6\0",
            bytes([127, 0, 0, 1]),
            b"\x50\x00",
            bytes([8, 8, 8, 8]),
            b"\0\1",
            b"\0" * 8,
        ],
    )
    assert inet.local_ip == ipaddress.IPv4Address("127.0.0.1") and inet.local_port == 80
    assert inet.remote_port == 256
    inet6 = decode(
        PPME_ITER_TASK_FILE_SOCKET_INET6_E,
        [
            struct.pack("<i", 3),
            b"\1\0",
            b"\6\0",
            b"\0" * 15 + b"\1",
            b"\0\0",
            b"\xff" * 16,
            b"\0\0",
            b"\0" * 8,
        ],
    )
    assert inet6.local_ip == ipaddress.IPv6Address("::1")
    assert inet6.remote_ip == ipaddress.IPv6Address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    assert probe_value("PT_IPADDR", bytes([1, 2, 3, 4])) == ipaddress.IPv4Address("1.2.3.4")
    assert probe_value("PT_IPADDR", b"\0" * 16) == ipaddress.IPv6Address("::")
    assert probe_value("PT_IPV4NET", bytes([10, 0, 0, 0])) == ipaddress.IPv4Network("10.0.0.0/32")
    assert probe_value("PT_IPV6NET", b"\0" * 16) == ipaddress.IPv6Network("::/128")
    assert probe_value("PT_IPNET", bytes([10, 1, 1, 1])) == ipaddress.IPv4Network("10.1.1.1/32")
    with pytest.raises(EventError, match="expected 4 or 16 bytes, found 5"):
        probe_value("PT_IPADDR", b"\0" * 5)
    with pytest.raises(EventError, match="expected 16 bytes, found 4"):
        probe_value("PT_IPV6ADDR", b"\0" * 4)
    assert CODECS["PT_IPV4NET"].encode(ipaddress.IPv4Network("10.0.0.0/8")) == bytes([10, 0, 0, 0])


# --- dynamic parameters -------------------------------------------------------------------------


def test_dynamic_params() -> None:
    ptrace = decode(
        PPME_SYSCALL_PTRACE_X,
        [
            struct.pack("<q", 0),
            b"\x00" + struct.pack("<Q", 0xDEAD),
            b"\x01\x09",
            b"\x10\x00",
            struct.pack("<q", 7),
        ],
    )
    assert ptrace.addr == DynamicValue(0, "PT_UINT64", 0xDEAD)
    assert ptrace.data == DynamicValue(1, "PT_SIGTYPE", Signal.SIGKILL)
    assert "addr=0xdead data=9(SIGKILL)" in str(ptrace)
    assert ptrace.to_dict()["params"]["data"] == {"index": 1, "type": "PT_SIGTYPE", "value": "SIGKILL"}
    setsockopt = decode(
        PPME_SOCKET_SETSOCKOPT_X,
        [struct.pack("<q", 0), struct.pack("<q", 3), b"\x01", b"\x02", b"\x00" + b"\xab\xcd", b"\2\0\0\0"],
    )
    assert setsockopt.val == DynamicValue(0, "PT_BYTEBUF", b"\xab\xcd")
    keyctl = decode(
        PPME_SYSCALL_KEYCTL_X,
        [
            struct.pack("<q", 0),
            struct.pack("<I", 2),
            b"\x01key\0",
            b"\x00" + struct.pack("<q", -5),
            b"\x01",
            b"\x09x",
        ],
    )
    assert keyctl.arg2 == DynamicValue(1, "PT_CHARBUF", "key")
    assert keyctl.arg3 == DynamicValue(0, "PT_INT64", -5)
    assert keyctl.arg4 == DynamicValue(1, "PT_CHARBUF", None)  # a tag and nothing else
    assert keyctl.arg5 == DynamicValue(9, None, b"x")  # a tag the table does not know: kept raw
    with pytest.raises(EventError, match=r"dynamic value \(tag 0, PT_UINT64\): expected 8 bytes, found 2"):
        PTRACE_DYNAMIC_PARAM.decode(memoryview(b"\x00\x01\x02"))
    with pytest.raises(EventError, match="is PT_UINT64, not PT_FD"):
        PTRACE_DYNAMIC_PARAM.encode(DynamicValue(0, "PT_FD", 1))


# --- empty and absent parameters ----------------------------------------------------------------


def test_empty_and_absent_parameters_are_none() -> None:
    empty = decode(PPME_SYSCALL_OPEN_X, [b""] * 6)
    assert empty.values() == [None] * 6
    assert "fd=<NA>" in str(empty)
    older = decode(PPME_SYSCALL_OPEN_X, [struct.pack("<q", 3), b"/x\0"])  # an old event: 2 of 6 params
    assert older.fd == 3 and older.name == "/x"
    assert older.flags is None and older.ino is None
    assert RawEvent(older.to_bytes()).nparams == 2  # re-encoded as it came
    older.ino = 7  # setting a later parameter writes the ones before it as empty
    assert RawEvent(older.to_bytes()).nparams == 6
    none_at_all = decode(PPME_SYSCALL_EPOLLWAIT_X, [])
    assert none_at_all.res is None and none_at_all.maxevents is None


def test_more_parameters_than_the_schema() -> None:
    data = frame(PPME_SYSCALL_CLOSE_X.CODE, [b"\0" * 8, b"\0" * 8, b"extra"])
    with pytest.raises(
        EventError,
        match="PPME_SYSCALL_CLOSE_X \\(type 5\\) has 2 parameters in schema but the event carries 3",
    ):
        RawEvent(data).load_any()


def test_encoding_errors_name_the_parameter() -> None:
    with pytest.raises(EventError, match="PPME_SYSCALL_CLOSE_X \\(type 5\\) parameter 1 'fd' \\(PT_FD\\)"):
        PPME_SYSCALL_CLOSE_X(res=0, fd=2**70).to_bytes()
    with pytest.raises(EventError, match="parameter 0 'res'"):
        PPME_SYSCALL_CLOSE_X(res="zero").to_bytes()  # type: ignore[arg-type]
    with pytest.raises(EventError, match="not a socket address"):
        CODECS["PT_SOCKADDR"].encode("1.2.3.4")
