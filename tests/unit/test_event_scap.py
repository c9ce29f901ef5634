"""Capture files: the shared captures decode completely and round-trip; every block kind; the
``falco-plugin events`` command."""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import json
import re
import struct
from pathlib import Path

import pytest
from support import CAPTURE_FILES, CAPTURES, needs_captures

from falco_plugin.event import (
    PPME_SYSCALL_CLOSE_X,
    CaptureReader,
    EventError,
    PluginEvent,
    RawEvent,
    ScapError,
    read_capture,
)
from falco_plugin.event.cli import events_main, format_time
from falco_plugin.event.scap import EVENT_BLOCK_TYPES, build_capture

BLOCK = struct.Struct("<II")


def blocks_of(data: bytes) -> list[tuple[int, int, bytes]]:
    """An independent walk over the blocks of a decompressed capture: (type, offset, whole block)."""
    blocks, offset = [], 0
    while offset < len(data):
        block_type, length = BLOCK.unpack_from(data, offset)
        blocks.append((block_type, offset, data[offset : offset + length]))
        offset += length
    return blocks


def run_events(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = events_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return BLOCK.pack(block_type, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


SECTION = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 2, -1))


def close_event(fd: int) -> bytes:
    return PPME_SYSCALL_CLOSE_X(res=0, fd=fd, ts=fd, tid=fd).to_bytes()


# --- the shared captures ------------------------------------------------------------------------


@needs_captures
@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.name)
def test_shared_capture_decodes_completely_and_round_trips(path: Path) -> None:
    data = gzip.decompress(path.read_bytes())
    event_blocks = [b for b in blocks_of(data) if b[0] in EVENT_BLOCK_TYPES]
    count = 0
    with CaptureReader(path) as capture:
        for item, (block_type, offset, original) in zip(capture, event_blocks, strict=True):
            count += 1
            assert item.number == count and item.offset == offset and item.block_type == block_type
            typed = item.event.load_any()  # every type known, every parameter decodes
            assert typed.to_bytes() == item.event.to_bytes()  # byte for byte
            assert item.block_bytes() == original  # and the whole block, in its original format
        assert capture.event_count == count == len(event_blocks) > 1000
        assert capture.sections[0].major_version == 1
        assert capture.machine_info is not None and capture.machine_info.num_cpus >= 1
        kinds = collections.Counter(b.kind for b in capture.blocks)
        assert kinds["section header"] == 1 and kinds["machine info"] == 1
        assert any(kind.startswith("process list") for kind in kinds)
        assert any(kind.startswith("fd list") for kind in kinds)
        assert any(kind.startswith("interface list") for kind in kinds)
        assert any(kind.startswith("user list") for kind in kinds)


@needs_captures
@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.name)
def test_events_count_agrees_with_the_event_blocks(path: Path) -> None:
    data = gzip.decompress(path.read_bytes())
    by_type: collections.Counter[int] = collections.Counter()
    for block_type, _offset, whole in blocks_of(data):
        if block_type in EVENT_BLOCK_TYPES:
            start = 8 + (6 if EVENT_BLOCK_TYPES[block_type][0] else 2)
            by_type[struct.unpack_from("<H", whole, start + 20)[0]] += 1
    code, out, err = run_events(str(path), "--count")
    assert code == 0, err
    lines = out.strip().splitlines()
    printed = {}
    for line in lines[:-1]:
        ppme, _direction, _name, number = line.split()
        printed[ppme] = int(number)
    from falco_plugin.event import EVENT_CLASSES

    assert printed == {EVENT_CLASSES[t].PPME: n for t, n in by_type.items()}
    total = sum(by_type.values())
    assert lines[-1] == f"total: {total} events, {total} event blocks read, {len(by_type)} types"


@needs_captures
def test_plain_and_stream_sources_read_the_same(tmp_path: Path) -> None:
    path = CAPTURE_FILES[0]
    plain = tmp_path / "plain.scap"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    expected = [item.event.to_bytes() for item in read_capture(path)]
    assert [item.event.to_bytes() for item in read_capture(plain)] == expected
    assert [item.event.to_bytes() for item in read_capture(plain.read_bytes())] == expected
    assert [item.event.to_bytes() for item in read_capture(path.read_bytes())] == expected
    with path.open("rb") as stream:
        assert [item.event.to_bytes() for item in read_capture(stream)] == expected


@needs_captures
def test_version_1_event_blocks_gain_nparams() -> None:
    path = CAPTURES / "curl_google.scap"
    if not path.exists():
        pytest.skip("curl_google.scap not available")
    first = next(iter(CaptureReader(path)))
    assert first.block_type == 0x204  # EV_BLOCK_TYPE: events without nparams on file
    assert first.event.nparams == 2 and first.event.type_name == "PPME_PROCINFO_E"
    assert first.event.len == 42 + 4


# --- block kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize("block_type", [0x216, 0x217, 0x221, 0x222])
def test_v2_event_block_kinds(block_type: int) -> None:
    events = [close_event(3), PluginEvent(9, b"x" * 70_000, ts=1).to_bytes(), close_event(4)]
    data = build_capture(events, cpu=3, block_type=block_type)
    items = list(CaptureReader(data))
    assert [i.event.to_bytes() for i in items] == events
    assert [i.number for i in items] == [1, 2, 3]
    assert all(i.cpu == 3 and i.block_type == block_type for i in items)
    has_flags = EVENT_BLOCK_TYPES[block_type][0]
    assert all((i.flags == 0) if has_flags else (i.flags is None) for i in items)
    assert b"".join(i.block_bytes() for i in items) == data[len(SECTION) :]


@pytest.mark.parametrize("block_type", [0x204, 0x8010ABCD, 0x208])
def test_v1_event_block_kinds(block_type: int) -> None:
    event = close_event(5)
    ts, tid, length, code, _n = struct.unpack_from("<QQIHI", event)
    v1 = struct.pack("<QQIH", ts, tid, length - 4, code) + event[26:]
    prefix = struct.pack("<HI", 1, 0x42) if EVENT_BLOCK_TYPES[block_type][0] else struct.pack("<H", 1)
    data = SECTION + block(block_type, prefix + v1)
    (item,) = CaptureReader(data)
    assert item.event.to_bytes() == event
    assert item.event.load_any() == PPME_SYSCALL_CLOSE_X(res=0, fd=5, ts=5, tid=5)
    assert item.flags == (0x42 if block_type == 0x208 else None)
    assert item.block_bytes() == data[len(SECTION) :]


def test_v1_event_with_fewer_parameters_than_the_schema() -> None:
    body = struct.pack("<H", 8) + struct.pack("<q", -2)  # only "res" of PPME_SYSCALL_CLOSE_X
    v1 = struct.pack("<QQIH", 1, 2, 22 + len(body), 5) + body
    (item,) = CaptureReader(SECTION + block(0x204, struct.pack("<H", 0) + v1))
    event = item.event.load(PPME_SYSCALL_CLOSE_X)
    assert (item.event.nparams, event.res, event.fd) == (1, -2, None)


def test_other_blocks_are_recorded_and_skipped_anywhere() -> None:
    machine = struct.pack("<IQQ128sQQQQ", 4, 1 << 30, 99, b"host-a", 5, 0, 0, 0)
    data = (
        SECTION
        + block(0x201, machine)
        + block(0x215, b"\1" * 37)  # a process list: content not needed to skip it
        + block(0x216, struct.pack("<H", 0) + close_event(1))
        + block(0x218, b"\2" * 10)  # an fd list between events
        + block(0x7777, b"unknown kind")
        + SECTION  # a second section
        + block(0x216, struct.pack("<H", 1) + close_event(2))
    )
    with CaptureReader(io.BytesIO(data)) as capture:
        assert [i.event.load_any().fd for i in capture] == [1, 2]  # type: ignore[attr-defined]
        assert [b.kind for b in capture.blocks] == [
            "section header",
            "machine info",
            "process list v9",
            "fd list v2",
            "unknown",
            "section header",
        ]
        assert capture.machine_info is not None
        assert capture.machine_info.hostname == "host-a" and capture.machine_info.num_cpus == 4
        assert len(capture.sections) == 2


def test_unknown_event_types_are_still_events() -> None:
    unknown = struct.pack("<QQIHI", 1, 2, 28, 999, 0) + b"\0\0"
    data = SECTION + block(0x216, struct.pack("<H", 0) + unknown) + block(0x216, b"\0\0" + close_event(1))
    items = list(CaptureReader(data))
    assert [i.event.type for i in items] == [999, 5]
    with pytest.raises(EventError, match="unknown event type 999"):
        items[0].event.load_any()


# --- malformed files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty capture file"),
        (b"\x0a\x0d\x0d", "truncated block header"),
        (block(0x216, b"\0" * 30), "not a scap capture: first block type is 0x216"),
        (block(0x0A0D0D0A, struct.pack("<IHHq", 0x12345678, 1, 0, -1)), "bad byte-order magic 0x12345678"),
        (
            block(0x0A0D0D0A, struct.pack("<IHHq", 0x4D3C2B1A, 1, 0, -1)),
            "big-endian capture files are not supported",
        ),
        (block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)), "format version 2.0 is newer"),
        (block(0x0A0D0D0A, b"\0" * 4), "section header block at file offset 0 is 4 bytes long"),
        (SECTION + BLOCK.pack(0x216, 8), "length 8"),
        (SECTION + block(0x216, b"\0" * 40)[:-1], "truncated capture: block of type 0x216 at file offset 28"),
        (SECTION + block(0x216, b"\0" * 40)[:-4] + b"\0\0\0\0", "length 52 in header, 0 in trailer"),
        (
            SECTION + BLOCK.pack(0x216, 13) + b"\0" + struct.pack("<I", 13),
            "event block 1 at file offset 28 is 1 bytes",
        ),
        (SECTION + block(0x216, b"\0\0" + b"\0" * 20), "event block 1 at file offset 28: truncated buffer"),
        (b"\x1f\x8bnot really gzip", "cannot"),
    ],
)
def test_malformed_captures_raise_scap_error(data: bytes, message: str) -> None:
    with pytest.raises(ScapError, match=re.escape(message)):
        list(CaptureReader(data))


def test_corrupt_gzip_streams(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(build_capture([close_event(n) for n in range(200)])))
    packed[40:60] = b"\xff" * 20  # damage the deflate stream
    path = tmp_path / "corrupt.scap.gz"
    path.write_bytes(bytes(packed))
    for source in (path, bytes(packed)):
        with pytest.raises(ScapError, match="cannot"):
            list(CaptureReader(source))
    with pytest.raises(ScapError, match="cannot"):
        list(CaptureReader(bytes(packed[:-30])))  # truncated gzip


def test_v1_event_of_unknown_type_with_a_large_payload_is_bounded() -> None:
    payload = b"\xff" * 60_000  # no parameter count fits: must fail fast, not try 30000 counts
    v1 = struct.pack("<QQIH", 1, 2, 22 + len(payload), 999) + payload
    with pytest.raises(ScapError, match="no parameter count matches"):
        list(CaptureReader(SECTION + block(0x204, struct.pack("<H", 0) + v1)))


def test_missing_file() -> None:
    with pytest.raises(ScapError, match="cannot open capture"):
        CaptureReader("/nonexistent/file.scap")
    assert issubclass(ScapError, EventError)


def test_a_reader_iterates_once() -> None:
    reader = CaptureReader(build_capture([close_event(1)]))
    assert len(list(reader)) == 1
    with pytest.raises(ScapError, match="only once"):
        list(reader)


# --- the events command -------------------------------------------------------------------------


@pytest.fixture
def small_capture(tmp_path: Path) -> Path:
    events = [
        close_event(3),
        PluginEvent(999, b"payload\x01", ts=1_700_000_000_123_456_789).to_bytes(),
        PPME_SYSCALL_CLOSE_X(res=-2, fd=7, ts=2, tid=2**64 - 5).to_bytes(),
    ]
    path = tmp_path / "small.scap.gz"
    path.write_bytes(gzip.compress(build_capture(events)))
    return path


def test_events_text_output(small_capture: Path) -> None:
    code, out, _ = run_events(str(small_capture))
    assert code == 0
    assert out.splitlines() == [
        "1 00:00:00.000000003 3 < close res=0 fd=3",
        "2 22:13:20.123456789 -1 > pluginevent plugin_id=999 event_data=payload.",
        "3 00:00:00.000000002 -5 < close res=-2(ENOENT) fd=7",
    ]


def test_events_json_output(small_capture: Path) -> None:
    code, out, _ = run_events(str(small_capture), "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["num"] for r in records] == [1, 2, 3]
    assert records[0] == {
        "num": 1,
        "cpu": 0,
        "type": "PPME_SYSCALL_CLOSE_X",
        "name": "close",
        "dir": "<",
        "code": 5,
        "ts": 3,
        "tid": 3,
        "params": {"res": 0, "fd": 3},
    }
    assert records[1]["params"] == {"plugin_id": 999, "event_data": "payload\x01"}


def test_events_filters(small_capture: Path) -> None:
    code, out, _ = run_events(str(small_capture), "--type", "close")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["1", "3"]
    code, out, _ = run_events(str(small_capture), "--type", "PPME_PLUGINEVENT_E", "--json")
    assert code == 0 and [json.loads(line)["num"] for line in out.splitlines()] == [2]
    code, out, _ = run_events(str(small_capture), "-n", "2")
    assert code == 0 and len(out.splitlines()) == 2
    code, out, _ = run_events(str(small_capture), "--count", "--type", "close")
    assert code == 0
    assert out.splitlines()[0].split() == ["PPME_SYSCALL_CLOSE_X", "<", "close", "2"]
    assert out.splitlines()[-1] == "total: 2 selected events, 3 event blocks read, 1 types"


def test_events_errors(small_capture: Path, tmp_path: Path) -> None:
    code, _, err = run_events(str(small_capture), "--type", "nosuchevent")
    assert code == 2 and "unknown event type 'nosuchevent'" in err
    code, _, err = run_events(str(tmp_path / "missing.scap"))
    assert code == 1 and "cannot open capture" in err
    code, _, _ = run_events()
    assert code == 2
    code, out, _ = run_events("--help")
    assert code == 0 and "--count" in out
    code, _, err = run_events(str(small_capture), "-n", "-1")
    assert code == 2


def test_events_reports_undecodable_events(tmp_path: Path) -> None:
    bad = RawEvent.build(5, [b"\0" * 8, b"\1\2"], ts=0, tid=1).to_bytes()  # fd of 2 bytes, not 8
    path = tmp_path / "bad.scap"
    path.write_bytes(build_capture([bad, close_event(1)]))
    code, out, err = run_events(str(path))
    assert code == 1 and "1 event(s) could not be decoded" in err
    first, second = out.splitlines()
    assert "<undecodable: PPME_SYSCALL_CLOSE_X (type 5) parameter 1 'fd' (PT_FD): expected 8 bytes" in first
    assert first.endswith("0000000000000000 0102")
    assert second == "2 00:00:00.000000001 1 < close res=0 fd=1"
    code, out, _ = run_events(str(path), "--json")
    record = json.loads(out.splitlines()[0])
    assert code == 1 and record["raw_params"] == ["0000000000000000", "0102"] and "error" in record


def test_format_time() -> None:
    assert format_time(0) == "00:00:00.000000000"
    assert format_time(86_399_999_999_999) == "23:59:59.999999999"
    assert format_time(2**64 - 1) == "23:34:33.709551615"
