"""RawEvent: header parsing, zero-copy parameters, length encodings, sanity checks, plugin/async framing."""

from __future__ import annotations

import mmap
import struct

import pytest

from falco_plugin.event import (
    PPME_ASYNCEVENT_E,
    PPME_PLUGINEVENT_E,
    PPME_SYSCALL_CLOSE_X,
    PPME_SYSCALL_OPEN_E,
    UINT64_MAX,
    AsyncEvent,
    EventError,
    PluginEvent,
    RawEvent,
    event_class,
)

HEADER = struct.Struct("<QQIHI")

# The two examples of plugin-api.md section 5, byte for byte.
PLUGIN_EVENT_EXAMPLE = bytes.fromhex(
    "0100000000000000 ffffffffffffffff 2b000000 4201 02000000 04000000 05000000 e7030000 68656c6c6f"
)
ASYNC_EVENT_EXAMPLE = (
    bytes.fromhex("0100000000000000 ffffffffffffffff 38000000 9201 03000000 04000000 0d000000 01000000")
    + bytes.fromhex("00000000")
    + b"sampleticker\0x"
)


def close_x(res: int = 0, fd: int = 3, ts: int = 10, tid: int = 20) -> bytes:
    """A PPME_SYSCALL_CLOSE_X (type 5) built by hand: two 8-byte params, 2-byte lengths."""
    payload = struct.pack("<HH", 8, 8) + struct.pack("<qq", res, fd)
    return HEADER.pack(ts, tid, 26 + len(payload), 5, 2) + payload


def test_header_fields() -> None:
    raw = RawEvent(close_x(ts=123, tid=456))
    assert (raw.ts, raw.tid, raw.len, raw.type, raw.nparams) == (123, 456, 46, 5, 2)
    assert raw.type_name == "PPME_SYSCALL_CLOSE_X"
    assert raw.name == "close"
    assert raw.direction == "<"
    assert not raw.large_payload


def test_params_are_zero_copy_slices_of_the_buffer() -> None:
    data = bytearray(close_x(res=-9, fd=7))
    raw = RawEvent(data)
    first, second = raw.params
    assert isinstance(first, memoryview)
    assert struct.unpack("<q", first)[0] == -9
    data[-8:] = struct.pack("<q", 99)  # change the buffer in place: the slice sees it
    assert struct.unpack("<q", second)[0] == 99
    assert raw.param(1).obj is data


def test_from_bytes_memoryview_and_offset() -> None:
    event = close_x(fd=5)
    blob = b"junk!" + event + b"trailing bytes are fine"
    for source in (blob, bytearray(blob), memoryview(blob)):
        raw = RawEvent.from_bytes(source, 5)
        assert raw.len == len(event)
        assert raw.to_bytes() == event
        assert raw.load(PPME_SYSCALL_CLOSE_X).fd == 5


def test_from_buffer_accepts_buffer_protocol_objects() -> None:
    event = close_x(fd=11)
    with mmap.mmap(-1, len(event) + 16) as region:
        region[8 : 8 + len(event)] = event
        raw = RawEvent.from_buffer(region, 8)
        assert raw.load_any().fd == 11  # type: ignore[attr-defined]
        del raw
    words = memoryview(bytearray(event + b"\0\0")).cast("H")  # a non-byte format is re-cast
    assert RawEvent.from_buffer(words).type == 5


def test_several_events_in_one_buffer() -> None:
    batch = close_x(fd=1) + close_x(fd=2) + close_x(fd=3)
    offset, fds = 0, []
    while offset < len(batch):
        raw = RawEvent.from_buffer(batch, offset)
        fds.append(raw.load_any().fd)  # type: ignore[attr-defined]
        offset += raw.len
    assert fds == [1, 2, 3]


def test_large_payload_events_use_four_byte_lengths() -> None:
    raw = RawEvent(PLUGIN_EVENT_EXAMPLE)
    assert raw.large_payload
    assert [bytes(p) for p in raw.params] == [struct.pack("<I", 999), b"hello"]
    small = RawEvent(close_x())
    assert [p.nbytes for p in small.params] == [8, 8]


def test_plugin_event_matches_the_reference_bytes() -> None:
    event = PluginEvent(999, b"hello", ts=1)
    assert event.to_bytes() == PLUGIN_EVENT_EXAMPLE
    assert len(PLUGIN_EVENT_EXAMPLE) == 43
    parsed = RawEvent(PLUGIN_EVENT_EXAMPLE).load_any()
    assert isinstance(parsed, PluginEvent) and isinstance(parsed, PPME_PLUGINEVENT_E)
    assert (parsed.plugin_id, parsed.data, parsed.ts, parsed.tid) == (999, b"hello", 1, UINT64_MAX)
    assert PluginEvent.from_bytes(PLUGIN_EVENT_EXAMPLE) == event
    assert RawEvent(PLUGIN_EVENT_EXAMPLE).load(PPME_PLUGINEVENT_E).event_data == b"hello"


def test_plugin_event_defaults_and_empty_payload() -> None:
    event = PluginEvent(5, b"")
    assert event.ts == UINT64_MAX and event.tid == UINT64_MAX
    data = event.to_bytes()
    assert len(data) == 38  # PLUGIN_EVENT_PAYLOAD_OFFSET: no payload bytes
    assert PluginEvent.from_bytes(data).data == b""


def test_async_event_matches_the_reference_bytes() -> None:
    event = AsyncEvent("sampleticker", b"x", ts=1)
    assert event.to_bytes() == ASYNC_EVENT_EXAMPLE
    assert len(ASYNC_EVENT_EXAMPLE) == 56
    parsed = RawEvent(ASYNC_EVENT_EXAMPLE).load_any()
    assert isinstance(parsed, AsyncEvent) and isinstance(parsed, PPME_ASYNCEVENT_E)
    assert (parsed.plugin_id, parsed.name, parsed.data) == (0, "sampleticker", b"x")
    assert ASYNC_EVENT_EXAMPLE[42:55] == b"sampleticker\0"  # name at the fixed offset the host reads


def test_build_frames_encoded_params() -> None:
    raw = RawEvent.build(322, [struct.pack("<I", 7), b"data"], ts=3)
    assert raw.large_payload and raw.ts == 3 and raw.tid == UINT64_MAX
    assert raw.load_any().data == b"data"  # type: ignore[attr-defined]


def test_load_checks_the_type() -> None:
    raw = RawEvent(close_x())
    with pytest.raises(
        EventError, match=r"cannot load a PPME_SYSCALL_CLOSE_X event \(type 5\) as PPME_SYSCALL_OPEN_E"
    ):
        raw.load(PPME_SYSCALL_OPEN_E)


def test_unknown_type_is_raw_only() -> None:
    data = HEADER.pack(1, 2, 30, 999, 1) + struct.pack("<H", 2) + b"ab"
    raw = RawEvent(data)
    assert raw.type_name == "UNKNOWN_999" and raw.name == "unknown"
    assert [bytes(p) for p in raw.params] == [b"ab"]
    with pytest.raises(EventError, match="unknown event type 999"):
        raw.load_any()
    with pytest.raises(EventError, match="unknown event type 454"):
        event_class(454)


def test_events_compare_by_bytes() -> None:
    assert RawEvent(close_x()) == RawEvent(b"xx" + close_x(), 2)
    assert RawEvent(close_x(fd=1)) != RawEvent(close_x(fd=2))
    assert "PPME_SYSCALL_CLOSE_X" in repr(RawEvent(close_x()))


# --- sanity checks --------------------------------------------------------------------------------


def test_truncated_header() -> None:
    with pytest.raises(
        EventError, match="truncated buffer: an event header needs 26 bytes at offset 0, only 10"
    ):
        RawEvent(b"\0" * 10)
    with pytest.raises(EventError, match="at offset 40, only 6"):
        RawEvent(close_x(), 40)


def test_truncated_event() -> None:
    data = close_x()
    with pytest.raises(EventError, match=r"declares 46 bytes, only 45 available"):
        RawEvent(data[:-1])


def test_length_smaller_than_header() -> None:
    data = HEADER.pack(0, 0, 20, 5, 0) + b"\0" * 10
    with pytest.raises(EventError, match="declares length 20, less than the 26-byte header"):
        RawEvent(data)


def test_too_many_parameters() -> None:
    data = HEADER.pack(0, 0, 30, 5, 3) + b"\0" * 4  # 3 two-byte lengths need 6 bytes, 4 follow
    with pytest.raises(
        EventError, match=r"too many parameters: .* declares 3, whose 2-byte length table needs 6"
    ):
        RawEvent(data)
    data = HEADER.pack(0, 0, 30, 322, 2) + b"\0" * 4  # large payload: 4-byte lengths
    with pytest.raises(EventError, match="4-byte length table needs 8 bytes but only 4"):
        RawEvent(data)


def test_length_mismatch_is_found_when_params_are_split() -> None:
    payload = struct.pack("<HH", 8, 9) + b"\0" * 16
    raw = RawEvent(HEADER.pack(0, 0, 26 + len(payload), 5, 2) + payload)  # header checks pass
    with pytest.raises(EventError, match=r"length mismatch: the 2 parameter lengths .* add up to 17 bytes"):
        raw.check()
    with pytest.raises(EventError, match="length mismatch"):
        raw.load_any()
    payload = struct.pack("<HH", 8, 7) + b"\0" * 16  # lengths short of the event length
    with pytest.raises(EventError, match="add up to 15 bytes, but the event has 16"):
        RawEvent(HEADER.pack(0, 0, 26 + len(payload), 5, 2) + payload).check()


def test_negative_offset() -> None:
    with pytest.raises(EventError, match="negative event offset"):
        RawEvent(close_x(), -1)


def test_event_error_is_a_value_error() -> None:
    assert issubclass(EventError, ValueError)


def test_typed_event_to_raw() -> None:
    event = PPME_SYSCALL_CLOSE_X(res=-9, fd=4, ts=5, tid=6)
    raw = event.to_raw()
    assert raw.to_bytes() == bytes(event) == close_x(res=-9, fd=4, ts=5, tid=6)
