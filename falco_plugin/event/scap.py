"""Reading scap capture files (``.scap``, plain or gzip-compressed), as written by sysdig and Falco.

A capture is a sequence of blocks: ``type (u32) | total length (u32) | body | total length (u32)``,
starting with a section header block. Event blocks carry a CPU number, for the "flags" kinds a
32-bit flags word, and one event; version-1 event blocks store the event without the ``nparams``
header field, which the reader restores, as libscap does. Every other block (machine info, process,
fd, interface and user lists, unknown kinds) is recorded as a :class:`BlockInfo` and skipped.

>>> import gzip, io
>>> from falco_plugin.event.raw import PluginEvent
>>> data = build_capture([PluginEvent(1, b"a", ts=5).to_bytes()])
>>> [(e.number, e.event.type, e.cpu) for e in CaptureReader(io.BytesIO(gzip.compress(data)))]
[(1, 322, 0)]
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, cast

from ._generated import EVENT_CLASSES, EVENT_MAX, LARGE_PAYLOAD_CODES
from .raw import RawEvent
from .types import HEADER, HEADER_SIZE, EventError, length_table_struct

__all__ = [
    "BLOCK_KINDS",
    "EVENT_BLOCK_TYPES",
    "SECTION_HEADER_BLOCK",
    "BlockInfo",
    "CaptureEvent",
    "CaptureReader",
    "MachineInfo",
    "ScapError",
    "SectionHeader",
    "build_capture",
    "read_capture",
]

SECTION_HEADER_BLOCK = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MACHINE_INFO_BLOCKS = (0x201, 0x8002ABCD)

#: Names of the block kinds of the format (several numbers per kind: versions and pre-release ids).
BLOCK_KINDS: dict[int, str] = {
    SECTION_HEADER_BLOCK: "section header",
    0x201: "machine info",
    0x8002ABCD: "machine info",
    0x202: "process list v1",
    0x8000ABCD: "process list v1",
    0x207: "process list v2",
    0x8013ABCD: "process list v2",
    0x209: "process list v3",
    0x8014ABCD: "process list v3",
    0x210: "process list v4",
    0x211: "process list v5",
    0x212: "process list v6",
    0x213: "process list v7",
    0x214: "process list v8",
    0x215: "process list v9",
    0x203: "fd list",
    0x8001ABCD: "fd list",
    0x218: "fd list v2",
    0x204: "event",
    0x8010ABCD: "event",
    0x216: "event v2",
    0x221: "event v2 large",
    0x205: "interface list",
    0x8011ABCD: "interface list",
    0x219: "interface list v2",
    0x206: "user list",
    0x8012ABCD: "user list",
    0x220: "user list v2",
    0x208: "event with flags",
    0x217: "event with flags v2",
    0x222: "event with flags v2 large",
}

#: Event block types -> (has a flags word, event header has nparams).
EVENT_BLOCK_TYPES: dict[int, tuple[bool, bool]] = {
    0x204: (False, False),
    0x8010ABCD: (False, False),
    0x216: (False, True),
    0x221: (False, True),
    0x208: (True, False),
    0x217: (True, True),
    0x222: (True, True),
}

# Old captures store a length 3 bytes too long for these two types (libscap corrects it too).
_V1_LENGTH_QUIRK_TYPES = frozenset(
    cls.CODE for cls in EVENT_CLASSES if cls.PPME in ("PPME_NOTIFICATION_E", "PPME_INFRASTRUCTURE_EVENT_E")
)

_BLOCK_HEADER = struct.Struct("<II")
_TRAILER = struct.Struct("<I")
_SECTION = struct.Struct("<IHHq")
_V1_HEADER = struct.Struct("<QQIH")
_MACHINE_INFO = struct.Struct("<IQQ128sQQ")
_CHUNK = 1 << 20
# How many parameters to try for a version-1 event of a type the schema does not know.
_V1_MAX_UNKNOWN_PARAMS = 32
_GZIP_MAGIC = b"\x1f\x8b"


class ScapError(EventError):
    """A capture file is malformed or unsupported; the message gives the block and file offset.

    >>> try:
    ...     list(CaptureReader(b"not a capture"))
    ... except ScapError as exc:
    ...     print(exc)
    not a scap capture: first block type is 0x20746f6e, expected a section header (0xa0d0d0a)
    """


@dataclass(frozen=True, slots=True)
class SectionHeader:
    """A section header block: format version and section length (-1: unknown).

    >>> reader = CaptureReader(build_capture([])); _ = list(reader); reader.sections
    [SectionHeader(major_version=1, minor_version=2, section_length=-1, offset=0)]
    """

    major_version: int
    minor_version: int
    section_length: int
    offset: int


@dataclass(frozen=True, slots=True)
class MachineInfo:
    """The machine-info block: the capturing host (:attr:`CaptureReader.machine_info`).

    >>> MachineInfo(2, 1 << 30, 32768, "host", 0, 0).hostname
    'host'
    """

    num_cpus: int
    memory_size_bytes: int
    max_pid: int
    hostname: str
    boot_ts_epoch: int
    flags: int


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A block that is not an event: its type, kind name, file offset and total length.

    >>> reader = CaptureReader(build_capture([])); _ = list(reader); reader.blocks
    [BlockInfo(block_type=168627466, kind='section header', offset=0, length=28)]
    """

    block_type: int
    kind: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """One event block: its 1-based number among event blocks, the event, and the block fields.

    >>> from falco_plugin.event.raw import PluginEvent
    >>> data = build_capture([PluginEvent(1, b"a").to_bytes()], cpu=2)
    >>> (item,) = CaptureReader(data)
    >>> item.number, item.cpu, item.event.type, item.block_bytes() == data[28:]
    (1, 2, 322, True)
    """

    number: int
    event: RawEvent
    cpu: int
    flags: int | None
    block_type: int
    offset: int

    def block_bytes(self) -> bytes:
        """The event block re-encoded in its original block type (padded to 4 bytes, with trailer)."""
        data = self.event.to_bytes()
        has_flags, has_nparams = EVENT_BLOCK_TYPES[self.block_type]
        if not has_nparams:
            ts, tid, length, code, _nparams = HEADER.unpack_from(data)
            length -= 4
            if code in _V1_LENGTH_QUIRK_TYPES:
                length += 3
            data = _V1_HEADER.pack(ts, tid, length, code) + data[HEADER_SIZE:]
        prefix = struct.pack("<HI", self.cpu, self.flags or 0) if has_flags else struct.pack("<H", self.cpu)
        body = prefix + data
        body += b"\0" * (-len(body) % 4)
        total = _BLOCK_HEADER.size + len(body) + _TRAILER.size
        return _BLOCK_HEADER.pack(self.block_type, total) + body + _TRAILER.pack(total)


def _open_source(source: str | os.PathLike[str] | bytes | bytearray | IO[bytes]) -> tuple[IO[bytes], bool]:
    """A binary stream of the (decompressed) capture, and whether we opened it (so must close it)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data[:2] == _GZIP_MAGIC:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise ScapError(f"cannot decompress capture: {exc}") from None
        return io.BytesIO(data), True
    if isinstance(source, (str, os.PathLike)):
        try:
            stream: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed by CaptureReader.close
        except OSError as exc:
            raise ScapError(f"cannot open capture {os.fspath(source)!r}: {exc.strerror}") from None
        owned = True
    else:
        stream = source
        owned = False
    magic = _peek(stream, 2)
    if magic == _GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb")), True
    return stream, owned


def _peek(stream: IO[bytes], size: int) -> bytes:
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return bytes(peek(size)[:size])
    position = stream.tell()
    data = stream.read(size)
    stream.seek(position)
    return data


class CaptureReader:
    """Iterate the events of a scap capture file, plain or gzip-compressed.

    ``source`` is a path, the file's bytes, or a binary stream. Iterating yields
    :class:`CaptureEvent` objects (event number, :class:`RawEvent`, CPU, block flags) in file order;
    the other blocks are recorded in :attr:`blocks`, the section headers in :attr:`sections` and the
    machine info in :attr:`machine_info` as they are read. Malformed files raise :class:`ScapError`.
    The reader streams: memory use does not grow with the file.

    >>> with CaptureReader(build_capture([])) as capture:
    ...     list(capture), capture.sections[0].major_version
    ([], 1)
    """

    def __init__(self, source: str | os.PathLike[str] | bytes | bytearray | IO[bytes]) -> None:
        self._stream, self._owned = _open_source(source)
        self.sections: list[SectionHeader] = []
        self.blocks: list[BlockInfo] = []
        self.machine_info: MachineInfo | None = None
        self.event_count = 0
        self._iterating = False

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the stream if the reader opened it."""
        if self._owned:
            self._stream.close()

    def __iter__(self) -> Iterator[CaptureEvent]:
        return self.events()

    def events(self) -> Iterator[CaptureEvent]:
        """The capture's events, numbered from 1. Can be consumed once."""
        if self._iterating:
            raise ScapError("a CaptureReader can be iterated only once")
        self._iterating = True
        for block_type, body, offset in self._blocks():
            kinds = EVENT_BLOCK_TYPES.get(block_type)
            if kinds is None:
                self._other_block(block_type, body, offset)
                continue
            self.event_count += 1
            yield self._event(self.event_count, block_type, kinds, body, offset)

    def _blocks(self) -> Iterator[tuple[int, memoryview, int]]:
        """(block type, body, file offset) of each block; checks lengths and trailers."""
        buffer = b""
        position = 0
        file_offset = 0
        first = True
        while True:
            if len(buffer) - position < _BLOCK_HEADER.size:
                buffer, position = self._fill(buffer, position, _BLOCK_HEADER.size)
                if position == len(buffer):
                    if first:
                        raise ScapError("empty capture file")
                    return
                if len(buffer) - position < _BLOCK_HEADER.size:
                    raise ScapError(f"truncated block header at file offset {file_offset}")
            block_type, total = _BLOCK_HEADER.unpack_from(buffer, position)
            if first and block_type != SECTION_HEADER_BLOCK:
                raise ScapError(
                    f"not a scap capture: first block type is {block_type:#x}, "
                    f"expected a section header ({SECTION_HEADER_BLOCK:#x})"
                )
            if total < _BLOCK_HEADER.size + _TRAILER.size:
                raise ScapError(f"block of type {block_type:#x} at file offset {file_offset}: length {total}")
            if len(buffer) - position < total:
                buffer, position = self._fill(buffer, position, total)
                if len(buffer) - position < total:
                    raise ScapError(
                        f"truncated capture: block of type {block_type:#x} at file offset {file_offset} "
                        f"has length {total}, only {len(buffer) - position} bytes left"
                    )
            (trailer,) = _TRAILER.unpack_from(buffer, position + total - _TRAILER.size)
            if trailer != total:
                raise ScapError(
                    f"block of type {block_type:#x} at file offset {file_offset}: "
                    f"length {total} in header, {trailer} in trailer"
                )
            view = memoryview(buffer)[position + _BLOCK_HEADER.size : position + total - _TRAILER.size]
            if block_type == SECTION_HEADER_BLOCK:
                self._section_header(view, file_offset)
            first = False
            yield block_type, view, file_offset
            position += total
            file_offset += total

    def _fill(self, buffer: bytes, position: int, need: int) -> tuple[bytes, int]:
        """Read until ``need`` bytes follow ``position`` (or the stream ends); returns the new buffer."""
        parts = [buffer[position:]]
        have = len(buffer) - position
        while have < need:
            chunk = self._read(max(_CHUNK, need - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts), 0

    def _read(self, size: int) -> bytes:
        try:
            data = self._stream.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise ScapError(f"cannot read capture: {exc}") from None
        return bytes(data) if data else b""

    def _section_header(self, body: memoryview, offset: int) -> None:
        if body.nbytes < _SECTION.size:
            raise ScapError(f"section header block at file offset {offset} is {body.nbytes} bytes long")
        magic, major, minor, length = _SECTION.unpack_from(body)
        if magic != BYTE_ORDER_MAGIC:
            if magic == int.from_bytes(BYTE_ORDER_MAGIC.to_bytes(4, "little"), "big"):
                raise ScapError("big-endian capture files are not supported")
            raise ScapError(f"bad byte-order magic {magic:#x} in section header at file offset {offset}")
        if major > 1:
            raise ScapError(f"capture format version {major}.{minor} is newer than this reader (1.x)")
        self.sections.append(SectionHeader(major, minor, length, offset))

    def _other_block(self, block_type: int, body: memoryview, offset: int) -> None:
        kind = BLOCK_KINDS.get(block_type, "unknown")
        self.blocks.append(BlockInfo(block_type, kind, offset, body.nbytes + 12))
        if block_type in MACHINE_INFO_BLOCKS and body.nbytes >= _MACHINE_INFO.size:
            cpus, memory, max_pid, hostname, boot_ts, flags = _MACHINE_INFO.unpack_from(body)
            name = hostname.split(b"\0", 1)[0].decode("utf-8", "replace")
            self.machine_info = MachineInfo(cpus, memory, max_pid, name, boot_ts, flags)

    def _event(
        self, number: int, block_type: int, kinds: tuple[bool, bool], body: memoryview, offset: int
    ) -> CaptureEvent:
        has_flags, has_nparams = kinds
        start = 6 if has_flags else 2
        if body.nbytes < start:
            raise ScapError(f"event block {number} at file offset {offset} is {body.nbytes} bytes long")
        cpu = body[0] | body[1] << 8
        flags = int.from_bytes(body[2:6], "little") if has_flags else None
        try:
            event = RawEvent(body, start) if has_nparams else RawEvent(_upgrade_v1_event(body[start:]))
        except EventError as exc:
            raise ScapError(f"event block {number} at file offset {offset}: {exc}") from None
        return CaptureEvent(number, event, cpu, flags, block_type, offset)


def _upgrade_v1_event(data: memoryview) -> bytes:
    """A version-1 event (header without nparams) rewritten with nparams, as libscap does."""
    if data.nbytes < _V1_HEADER.size:
        raise EventError(f"version-1 event of {data.nbytes} bytes is shorter than its 22-byte header")
    ts, tid, length, code = _V1_HEADER.unpack_from(data)
    if code in _V1_LENGTH_QUIRK_TYPES:
        length -= 3
    if not _V1_HEADER.size <= length <= data.nbytes:
        raise EventError(f"version-1 event (type {code}) declares length {length}, block holds {data.nbytes}")
    payload = data[_V1_HEADER.size : length]
    entry = 4 if code in LARGE_PAYLOAD_CODES else 2
    most = len(EVENT_CLASSES[code].PARAMS) if code < EVENT_MAX else _V1_MAX_UNKNOWN_PARAMS
    for count in range(min(most, payload.nbytes // entry), -1, -1):
        table = length_table_struct(entry == 4, count).unpack_from(payload)
        if count * entry + sum(table) == payload.nbytes:
            return HEADER.pack(ts, tid, length + 4, code, count) + payload.tobytes()
    raise EventError(f"version-1 event (type {code}): no parameter count matches its {length} bytes")


def read_capture(source: str | os.PathLike[str] | bytes | bytearray | IO[bytes]) -> Iterator[CaptureEvent]:
    """Iterate the events of a capture file (see :class:`CaptureReader`), closing it at the end."""
    with CaptureReader(source) as reader:
        yield from reader


def build_capture(events: Iterable[bytes], cpu: int = 0, block_type: int = 0x216) -> bytes:
    """A minimal capture (section header + one event block per event) for tests and tools.

    ``block_type`` is one of the v2 event block types (``0x216``, ``0x217``, ``0x221``, ``0x222``).
    """
    has_flags, has_nparams = EVENT_BLOCK_TYPES[block_type]
    if not has_nparams:
        raise ValueError("build_capture writes v2 event blocks only")
    section = _SECTION.pack(BYTE_ORDER_MAGIC, 1, 2, -1)
    parts = [_BLOCK_HEADER.pack(SECTION_HEADER_BLOCK, 28), section, _TRAILER.pack(28)]
    for number, data in enumerate(events, 1):
        event = RawEvent(data)
        parts.append(CaptureEvent(number, event, cpu, 0 if has_flags else None, block_type, 0).block_bytes())
    return b"".join(parts)
