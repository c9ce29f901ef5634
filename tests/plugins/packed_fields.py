"""Vectorized batch fields: batch methods that return their values packed (array, bytes,
memoryview, numpy arrays, NUL-joined strings) and read the batch's contiguous buffer, and the
packed returns an author can get wrong. The key argument picks the form a method returns."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from typing import Any

from falco_plugin import EndOfStream, ExtractPlugin, Key, Payloads, Plugin, SourceInstance, SourcePlugin, field


class Counting(SourceInstance):
    """Open params "N,B": events 1..N, B per batch; payload i is i as a little-endian uint64
    followed by i % 3 bytes of "x" (payloads of different sizes)."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.done = count, size, 0

    def next_batch(self) -> list[bytes]:
        if self.done >= self.count:
            raise EndOfStream
        start, self.done = self.done, min(self.done + self.size, self.count)
        return [i.to_bytes(8, "little") + b"x" * (i % 3) for i in range(start + 1, self.done + 1)]


def numbers(payloads: Payloads) -> list[int]:
    buf, offs = payloads.buffer, payloads.offsets
    return [int.from_bytes(buf[offs[i]:offs[i] + 8], "little") for i in range(len(payloads))]


def numpy_or_skip() -> Any:
    try:
        import numpy
    except ImportError:
        raise RuntimeError("numpy is not installed") from None
    return numpy


class Packed(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "packed"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "batch fields returning packed values"
    CONTACT = "https://example.com"
    PLUGIN_ID = 984
    EVENT_SOURCE = "packed"
    EXTRACT_EVENT_SOURCES = ("packed", "syscall")

    def __init__(self, config: None) -> None:
        pass

    def open(self, params: str) -> Counting:
        count, _, size = (params or "4").partition(",")
        return Counting(int(count), int(size or "1"))

    @field("packed.n", desc="the number, packed in the form the key names", type="uint64", arg=Key(), batch=True)
    def n(self, payloads: Payloads, form: str) -> Any:
        values = numbers(payloads)
        if form == "array":
            return array("Q", values)
        if form == "bytes":
            return b"".join(v.to_bytes(8, sys.byteorder) for v in values)
        if form == "memoryview":
            return memoryview(array("Q", values))
        if form == "numpy":
            return numpy_or_skip().array(values, dtype="uint64")
        if form == "numpy_i64":
            return numpy_or_skip().array(values, dtype="int64")
        if form == "strided":  # every other uint64 of a buffer twice the size: not contiguous
            return memoryview(array("Q", [v for v in values for _ in (0, 1)]))[::2]
        if form == "float":
            return array("d", values)
        if form == "short":
            return array("Q", values[:-1])
        if form == "negative":
            return array("q", [-v for v in values])
        if form == "bytes7":
            return bytes(7 * len(values))
        if form == "2d":
            return numpy_or_skip().array([values, values], dtype="uint64")
        raise ValueError(f"unknown form {form!r}")

    @field("packed.even", desc="whether the number is even", type="bool", arg=Key(), batch=True)
    def even(self, payloads: Payloads, form: str) -> Any:
        values = [v % 2 == 0 for v in numbers(payloads)]
        if form == "array":
            return array("Q", values)
        if form == "numpy":
            return numpy_or_skip().array(values, dtype=bool)
        raise ValueError(f"unknown form {form!r}")

    @field("packed.ns", desc="the number as a reltime in ns", type="reltime", batch=True)
    def ns(self, payloads: Payloads) -> Sequence[int]:
        return array("Q", [v * 1000 for v in numbers(payloads)])

    @field("packed.str", desc="the number in words, in the form the key names", type="string", arg=Key(),
           batch=True)
    def text(self, payloads: Payloads, form: str) -> Any:
        words = [f"n={v}" for v in numbers(payloads)]
        if form == "joined":
            return "\0".join(words)
        if form == "joined_bytes":
            return "\0".join(words).encode()
        if form == "bytes_list":
            return [w.encode() for w in words]
        if form == "empty":  # every value empty: n - 1 separators
            return "\0" * (len(words) - 1)
        if form == "one_short":
            return "\0".join(words[:-1])
        if form == "words":
            return array("I", [len(w) for w in words])
        raise ValueError(f"unknown form {form!r}")

    @field("packed.consistent", desc="1 if buffer[offsets[i]:offsets[i+1]] is payload i", batch=True)
    def consistent(self, payloads: Payloads) -> list[int]:
        buf, offs = payloads.buffer, payloads.offsets
        ok = (isinstance(payloads, list) and offs.readonly and offs.format == "Q" and len(offs) == len(payloads) + 1
              and payloads.buffer is buf)  # computed once
        return [int(ok and buf[offs[i]:offs[i + 1]] == p) for i, p in enumerate(payloads)]
