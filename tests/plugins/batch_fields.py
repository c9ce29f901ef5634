"""Batch-field test plugins: every field type computed per batch, counters of the Python calls,
and batch methods that fail in each way an author can get wrong."""

from __future__ import annotations

import ctypes
import ipaddress
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

from falco_plugin import (
    AsyncEvent,
    AsyncEventPlugin,
    AsyncHandler,
    EndOfStream,
    Event,
    ExtractPlugin,
    Index,
    Key,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
    per_batch,
)


class Batches(SourceInstance):
    """Open params "N,B": events 1..N, B per batch; payload i is the decimal text of i."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.done = count, size, 0

    def next_batch(self) -> list[bytes]:
        if self.done >= self.count:
            raise EndOfStream
        start, self.done = self.done, min(self.done + self.size, self.count)
        return [str(i).encode() for i in range(start + 1, self.done + 1)]


class Batched(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "batched"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "fields per batch"
    CONTACT = "https://example.com"
    PLUGIN_ID = 989
    EVENT_SOURCE = "batched"
    calls: ClassVar[dict[str, int]] = {}

    def __init__(self, config: None) -> None:
        self.decodes = 0

    def open(self, params: str) -> Batches:
        count, _, size = (params or "4").partition(",")
        return Batches(int(count), int(size or "1"))

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    @per_batch
    def numbers(self, payloads: Sequence[bytes]) -> list[int]:
        self.decodes += 1
        return [int(p) for p in payloads]

    @field("batched.n", desc="the number", batch=True)
    def n(self, payloads: Sequence[bytes]) -> list[int]:
        self.count("n")
        return self.numbers(payloads)

    @field("batched.size", desc="how many payloads the batch method got", batch=True)
    def size(self, payloads: Sequence[bytes]) -> list[int]:
        return [len(payloads)] * len(payloads)

    @field("batched.str", desc="the number in words", batch=True)
    def words(self, payloads: Sequence[bytes]) -> list[str]:
        return [f"n={v}" for v in self.numbers(payloads)]

    @field("batched.tags", desc="n tags", batch=True)
    def tags(self, payloads: Sequence[bytes]) -> list[list[str]]:
        return [[f"t{i}" for i in range(v % 4)] for v in self.numbers(payloads)]

    @field("batched.ip", desc="an address", batch=True)
    def ip(self, payloads: Sequence[bytes]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address(f"10.0.0.{v}" if v % 2 else f"2001:db8::{v:x}") for v in self.numbers(payloads)]

    @field("batched.even", desc="even", batch=True)
    def even(self, payloads: Sequence[bytes]) -> list[bool]:
        return [v % 2 == 0 for v in self.numbers(payloads)]

    @field("batched.odd", desc="the number if odd, else no value", batch=True)
    def odd(self, payloads: Sequence[bytes]) -> list[int | None]:
        return [v if v % 2 else None for v in self.numbers(payloads)]

    @field("batched.div", desc="1 if divisible by the index", arg=Index(required=True), batch=True)
    def div(self, payloads: Sequence[bytes], k: int) -> list[int]:
        self.count(f"div[{k}]")
        return [int(k != 0 and v % k == 0) for v in self.numbers(payloads)]

    @field("batched.key", desc="the key and the number", arg=Key(required=True), batch=True)
    def key(self, payloads: Sequence[bytes], key: str) -> list[str]:
        return [f"{key}:{v}" for v in self.numbers(payloads)]

    @field("batched.ncalls", desc="per event: how often batched.n was computed so far")
    def ncalls(self, event: Event) -> int:
        return self.calls.get("n", 0)

    @field("batched.decodes", desc="per event: how often numbers() decoded a batch so far")
    def decode_count(self, event: Event) -> int:
        return self.decodes

    @field("batched.heavy", desc="per event: the heavy modules loaded in the plugin's interpreter")
    def heavy(self, event: Event) -> str:
        return ",".join(m for m in ("pydantic", "falco_plugin.event") if m in sys.modules) or "none"

    @field("batched.boom", desc="raises for the batch that holds event 3", batch=True)
    def boom(self, payloads: Sequence[bytes]) -> list[int]:
        values = self.numbers(payloads)
        if 3 in values:
            raise ZeroDivisionError(f"boom in a batch of {len(values)}")
        return values

    @field("batched.short", desc="one value too few", batch=True)
    def short(self, payloads: Sequence[bytes]) -> list[int]:
        return self.numbers(payloads)[1:]

    @field("batched.badvalue", desc="a str where an int belongs, for event 2", batch=True)
    def badvalue(self, payloads: Sequence[bytes]) -> list[int]:
        return [("two" if v == 2 else v) for v in self.numbers(payloads)]  # type: ignore[misc]


class BatchedAnywhere(Batched):
    """The same fields on other sources too (for events that are not its own)."""

    NAME = "batched_any"
    PLUGIN_ID = 988
    EVENT_SOURCE = "batched_any"
    # syscall: our host replays captures as the syscall source
    EXTRACT_EVENT_SOURCES = ("batched_any", "counter", "syscall")


class HogBatches(Batches):
    """One batch of EVENTS events; the next call waits for the hog to finish, then ends."""

    EVENTS = 50_000

    def __init__(self, hog: threading.Thread) -> None:
        super().__init__(self.EVENTS, self.EVENTS)
        self.hog = hog

    def next_batch(self) -> list[bytes]:
        if self.done:
            self.hog.join(60)
        return super().next_batch()


class GilHog(Batched):
    """One big batch; 20 ms after the first field was computed, a Python thread holds the GIL
    for HOLD seconds (a C sleep called through ctypes.PyDLL, which keeps the GIL) and then
    writes "hog done" to stderr. A host thread that needs the GIL in that time waits."""

    NAME = "gil_hog"
    PLUGIN_ID = 987
    EVENT_SOURCE = "gil_hog"
    HOLD = 4

    def __init__(self, config: None) -> None:
        super().__init__(config)
        self.computed = threading.Event()

    def open(self, params: str) -> Batches:
        hog = threading.Thread(target=self.hog, daemon=True)
        hog.start()
        return HogBatches(hog)

    def hog(self) -> None:
        self.computed.wait(60)
        time.sleep(0.02)
        ctypes.PyDLL(None).sleep(self.HOLD)  # holds the GIL
        os.write(2, b"hog done\n")

    @field("gil_hog.batch", desc="the number, per batch", batch=True)
    def by_batch(self, payloads: Sequence[bytes]) -> list[int]:
        # set once the values are made: a slow run (ASan, a loaded machine) may take over
        # 20 ms to make them, and the hog would then hold the GIL the call itself still needs
        values = self.numbers(payloads)
        self.computed.set()
        return values

    @field("gil_hog.event", desc="the number, per event")
    def by_event(self, event: Event) -> int:
        self.computed.set()
        return int(event.payload or b"0")


class KeptBatches(SourceInstance):
    """Open params "N,B,KIND": events 1..N, B per batch, returned as KIND: "list" (the plugin's
    own list, which it empties right after returning it), "tuple", or "bytearray" (a list of
    bytearrays). The payloads handed out are kept, to compare with what fields receive."""

    def __init__(self, count: int, size: int, kind: str, handed: list[object]) -> None:
        self.count, self.size, self.kind, self.done = count, size, kind, 0
        self.mine: list[object] = []
        self.handed = handed

    def next_batch(self) -> Sequence[object]:  # type: ignore[override]  # objects of the wrong types, on purpose
        if self.done >= self.count:
            raise EndOfStream
        start, self.done = self.done, min(self.done + self.size, self.count)
        payloads: list[object] = [str(i).encode() for i in range(start + 1, self.done + 1)]
        if self.kind == "bytearray":
            payloads = [bytearray(p) for p in payloads]  # type: ignore[call-overload]
        self.handed[:] = payloads
        if self.kind == "tuple":
            return tuple(payloads)
        self.mine[:] = payloads
        return self.mine


class Kept(Plugin, SourcePlugin, ExtractPlugin):
    """What event.payload is in a field of a batch event, and batch fields over a list the
    plugin changes after next_batch returned it."""

    NAME = "kept"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "payload objects"
    CONTACT = "https://example.com"
    PLUGIN_ID = 986
    EVENT_SOURCE = "kept"

    def __init__(self, config: None) -> None:
        self.handed: list[object] = []
        self.instance: KeptBatches | None = None

    def open(self, params: str) -> KeptBatches:
        count, size, kind = params.split(",")
        self.instance = KeptBatches(int(count), int(size), kind, self.handed)
        return self.instance

    def spoil(self) -> None:
        """Empty and refill the plugin's own list, as a plugin reusing its list would."""
        if self.instance is not None and self.instance.mine:
            self.instance.mine[:] = [b"999"] * len(self.instance.mine)

    @field("kept.same", desc="1 if event.payload is the very object next_batch returned")
    def same(self, event: Event) -> int:
        payload = event.payload
        self.spoil()
        return int(any(payload is p for p in self.handed))

    @field("kept.type", desc="the type of event.payload")
    def type_name(self, event: Event) -> str:
        return type(event.payload).__name__

    @field("kept.n", desc="the number, per event")
    def n(self, event: Event) -> int:
        return int(event.payload or b"0")

    @field("kept.bn", desc="the number, per batch", batch=True)
    def bn(self, payloads: Sequence[bytes]) -> list[int]:
        self.spoil()
        return [int(p) for p in payloads]

    @field("kept.mixed", desc="ints, then a bool and an int subclass: the general conversion", batch=True,
           type="uint64")
    def mixed(self, payloads: Sequence[bytes]) -> list[object]:
        values: list[object] = [int(p) for p in payloads]
        values[-1] = values[-1] == values[-1]  # True: 1
        if len(values) > 1:
            values[0] = Seven()
        return values

    @field("kept.huge", desc="an int over 64 bits for the second event of a batch", batch=True)
    def huge(self, payloads: Sequence[bytes]) -> list[int]:
        return [2**64 if i == 1 else int(p) for i, p in enumerate(payloads)]

    @field("kept.nul", desc="a str with a NUL for the first event of a batch", batch=True)
    def nul(self, payloads: Sequence[bytes]) -> list[str]:
        return ["a\0b" if i == 0 else p.decode() for i, p in enumerate(payloads)]


class Seven(int):
    def __new__(cls) -> Seven:
        return super().__new__(cls, 7)


class AsyncFirstBatches(Batches):
    """Batches, the first one only once the plugin's async events were all emitted."""

    def __init__(self, count: int, size: int, emitted: threading.Event) -> None:
        super().__init__(count, size)
        self.emitted = emitted

    def next_batch(self) -> list[bytes]:
        if not self.done:
            self.emitted.wait(30)
        return super().next_batch()


class BatchedAsync(Batched, AsyncEventPlugin):
    """Batch fields that also apply to the plugin's own async events ("num", payload 100..102),
    which the host holds in its own memory: they take the per-event path."""

    NAME = "batched_async"
    PLUGIN_ID = 985
    EVENT_SOURCE = "batched_async"
    ASYNC_EVENTS = ("num",)
    EXTRACT_EVENT_TYPES = (322, 402)

    def __init__(self, config: None) -> None:
        super().__init__(config)
        self.emitted = threading.Event()
        self.thread: threading.Thread | None = None

    def open(self, params: str) -> Batches:
        count, _, size = params.partition(",")
        return AsyncFirstBatches(int(count), int(size), self.emitted)

    def start_async(self, handler: AsyncHandler) -> None:
        def emit() -> None:
            for v in (100, 101, 102):
                handler.emit(AsyncEvent("num", str(v).encode()))
            self.emitted.set()

        self.thread = threading.Thread(target=emit)
        self.thread.start()

    def stop_async(self) -> None:
        if self.thread is not None:
            self.thread.join()
