"""Fuzzing: arbitrary and mutated bytes never raise anything but EventError, and whatever decodes
re-encodes to exactly the same bytes."""

from __future__ import annotations

import gzip
import struct
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import CAPTURES, needs_captures

from falco_plugin.event import EVENT_CLASSES, LARGE_PAYLOAD_CODES, CaptureReader, EventError, RawEvent

HEADER = struct.Struct("<QQIHI")
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def exercise(data: bytes, offset: int = 0) -> None:
    """Everything a consumer may do with untrusted bytes; only EventError may escape."""
    try:
        raw = RawEvent(data, offset)
        repr(raw)
        raw.check()
        event = raw.load_any()
    except EventError:
        return
    # it decoded: it must re-encode to the very same bytes, and render without error
    assert event.to_bytes() == raw.to_bytes()
    str(event)
    repr(event)
    event.to_dict()


@cache
def capture_events() -> tuple[bytes, ...]:
    """Events of the shared captures (a few of each type), as fuzzing seeds."""
    seeds: dict[int, list[bytes]] = {}
    for path in sorted(CAPTURES.glob("*.scap")):
        for item in CaptureReader(path):
            bucket = seeds.setdefault(item.event.type, [])
            if len(bucket) < 3:
                bucket.append(item.event.to_bytes())
    return tuple(event for bucket in seeds.values() for event in bucket)


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 8))
def test_arbitrary_bytes(data: bytes, offset: int) -> None:
    exercise(data, offset)


def framed(code: int, params: list[bytes]) -> bytes:
    large = code in LARGE_PAYLOAD_CODES
    table = b"".join(struct.pack("<I" if large else "<H", len(p)) for p in params)
    body = table + b"".join(params)
    return HEADER.pack(1, 2, 26 + len(body), code, len(params)) + body


# parameters sized like real ones (1, 2, 4, 8 bytes, socket tuples, arbitrary) so decoding goes deep
param_bytes = st.one_of(
    st.binary(min_size=1, max_size=1),
    st.binary(min_size=2, max_size=2),
    st.binary(min_size=4, max_size=4),
    st.binary(min_size=8, max_size=8),
    st.binary(min_size=13, max_size=13),
    st.binary(max_size=40),
    st.binary(max_size=10).map(lambda b: b + b"\0"),
)


@FUZZ
@given(st.integers(0, 460), st.data())
def test_well_framed_events_with_random_parameters(code: int, data: st.DataObject) -> None:
    expected = len(EVENT_CLASSES[code].PARAMS) if code < len(EVENT_CLASSES) else 3
    params = data.draw(st.lists(param_bytes, max_size=expected + 1))
    exercise(framed(code, params))


def mutate(seed: bytes, data: st.DataObject) -> bytes:
    buffer = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        position = data.draw(st.integers(0, max(len(buffer) - 1, 0)))
        if kind == "flip" and buffer:
            buffer[position] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and buffer:
            buffer[position] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif kind == "cut":
            del buffer[position:]
        elif kind == "insert":
            buffer[position:position] = data.draw(st.binary(min_size=1, max_size=4))
        elif buffer:
            del buffer[position]
    return bytes(buffer)




@needs_captures
@FUZZ
@given(st.data())
def test_mutated_capture_events(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(capture_events()))
    exercise(mutate(seed, data))


@needs_captures
@FUZZ
@given(st.data())
def test_mutated_parameters_keep_the_framing(data: st.DataObject) -> None:
    """Rewrite one parameter of a real event (with a consistent length table): decodes go deep."""
    seed = RawEvent(data.draw(st.sampled_from(capture_events())))
    params = [bytes(p) for p in seed.params]
    if params:
        index = data.draw(st.integers(0, len(params) - 1))
        params[index] = mutate(params[index], data)
    exercise(framed(seed.type, params))


@needs_captures
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_capture_files(data: st.DataObject) -> None:
    """A damaged capture file raises ScapError (an EventError) or reads; never anything else."""
    path = data.draw(st.sampled_from(sorted(CAPTURES.glob("*.scap"))))
    original = gzip.decompress(path.read_bytes())
    damaged = bytearray(original[: data.draw(st.integers(0, 40_000))])
    for _ in range(data.draw(st.integers(0, 3))):
        if damaged:
            damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= 0xFF
    try:
        for item in CaptureReader(bytes(damaged)):
            exercise(item.event.to_bytes())
    except EventError:
        pass
