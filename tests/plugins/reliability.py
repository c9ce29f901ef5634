"""Plugins that misuse the SDK the way plain Python code can (tests/test_reliability.py).

Each one was a memory-safety bug or a wrong value: results the host reads must not depend
on what Python does to the objects afterwards, nested emits must not clobber each other,
entries handed to the host must be counted right.
"""

from __future__ import annotations

import datetime
import faulthandler
import math
import signal
import threading
import time
from typing import Any

from falco_plugin import (
    AsyncEvent,
    AsyncEventPlugin,
    AsyncHandler,
    EndOfStream,
    Event,
    ExtractPlugin,
    Metric,
    ParsePlugin,
    Plugin,
    SourceInstance,
    SourcePlugin,
    Timeout,
    field,
)
from falco_plugin.tables import ExportedTable, TableEntry, TablesInput, UInt64


class Numbers(SourceInstance):
    """Events 1..n, the payload is the number as text."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.i = 0

    def next_batch(self) -> list[bytes]:
        if self.i >= self.n:
            raise EndOfStream
        self.i += 1
        return [str(self.i).encode()]


class Scratch(Plugin, SourcePlugin, ExtractPlugin):
    """`sc.words` returns one reused list; `sc.reset` empties it (freeing its strings);
    `sc.ips` likewise for IP addresses; and values that must give errors, not wrong values."""

    NAME = "scratch"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "reuses its result lists"
    CONTACT = "https://example.com"
    PLUGIN_ID = 981
    EVENT_SOURCE = "numbers"

    def __init__(self, config: None) -> None:
        self.words: list[str] = []
        self.ips: list[bytes] = []

    def open(self, params: str) -> Numbers:
        return Numbers(int(params or "5"))

    def _n(self, event: Event) -> int:
        return int(event.payload or b"0")

    @field("sc.words", desc="a reused list of fresh strings")
    def words_field(self, event: Event) -> list[str]:
        n = self._n(event)
        self.words.clear()
        self.words.extend("".join([f"w{n}.{i}-"] * 40) for i in range(3))
        return self.words

    @field("sc.ips", desc="a reused list of fresh IP bytes", type="ipaddr")
    def ips_field(self, event: Event) -> list[bytes]:
        n = self._n(event)
        self.ips.clear()
        self.ips.extend(bytes([10, 0, n % 256, i]) for i in range(2))
        return self.ips

    @field("sc.reset", desc="empties the lists (their items are freed)")
    def reset(self, event: Event) -> int:
        self.words.clear()
        self.ips.clear()
        # new objects of the same sizes, likely where the freed ones were
        self.junk = ["".join(["X"] * 120) + str(i) for i in range(6)]
        return 1

    @field("sc.reltime", desc="a reltime of n * 110000 days (1: fits, 2: does not)")
    def reltime(self, event: Event) -> datetime.timedelta:
        return datetime.timedelta(days=110000 * self._n(event))

    @field("sc.old", desc="an abstime before the epoch")
    def old(self, event: Event) -> datetime.datetime:
        return datetime.datetime(1900, 1, 1)

    @field("sc.nul", desc="a string with an embedded NUL")
    def nul(self, event: Event) -> str:
        return "before\0after"

    @field("sc.nuls", desc="a list with a string with an embedded NUL")
    def nuls(self, event: Event) -> list[str]:
        return ["fine", "bad\0"]


class Reentrant(Plugin, AsyncEventPlugin):
    """Emits from a thread: emit_many of objects whose `data` property emits again (a large
    event, through emit_many or emit); with the config "mutate" reading `tid` empties the list."""

    NAME = "reentrant"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "emits from inside an event's data"
    CONTACT = "https://example.com"
    ASYNC_EVENTS = ("outer", "inner")

    def __init__(self, config: str) -> None:
        self.mode = config
        self.thread: threading.Thread | None = None

    def start_async(self, handler: AsyncHandler) -> None:
        self.thread = threading.Thread(target=self.run, args=(handler,))
        self.thread.start()

    def run(self, handler: AsyncHandler) -> None:
        plugin = self
        batch: list[Any] = []

        class Outer:
            name = "outer"
            ts = None

            def __init__(self, i: int) -> None:
                self.i = i

            @property
            def tid(self) -> None:  # read before data: the list may drop this very object
                if plugin.mode == "mutate":
                    batch.clear()

            @property
            def data(self) -> bytes:
                inner = AsyncEvent("inner", bytes([65 + self.i]) * 100_000)
                if plugin.mode == "emit":
                    handler.emit(inner)
                else:
                    handler.emit_many([inner])
                return f"outer-{self.i}".encode()

        batch.extend(Outer(i) for i in range(3))
        handler.emit_many(batch)

    def stop_async(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None


class Item(TableEntry):
    count: UInt64
    label: str


class ItemOwner(Plugin, SourcePlugin, ParsePlugin):
    """Exports the table `items` (key uint64) and does nothing else with it."""

    NAME = "item_owner"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "exports a table"
    CONTACT = "https://example.com"
    PLUGIN_ID = 982
    EVENT_SOURCE = "numbers"

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.items: ExportedTable[int, Item] = ExportedTable("items", UInt64, Item)
        tables.add_table(self.items)

    def open(self, params: str) -> Numbers:
        return Numbers(int(params or "5"))

    def parse_event(self, event: Event) -> None:
        pass


class ItemUser(Plugin, ParsePlugin, ExtractPlugin):
    """Adds entry n to ItemOwner's table at each event, then iterates it reading every field,
    as libsinsp does; `iu.sum` iterates it again during extraction."""

    NAME = "item_user"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "adds to and iterates another plugin's table"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("numbers",)
    PARSE_EVENT_TYPES = (322,)
    EXTRACT_EVENT_SOURCES = ("numbers",)

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.items = tables.get_table("items", UInt64, Item)
        self.seen: list[str] = []

    def parse_event(self, event: Event) -> None:
        n = int(event.payload or b"0")
        entry = self.items.create_entry()
        entry.count = n
        entry.label = "".join([f"item{n}-"] * 10)
        self.items.add_entry(n, entry)
        self.seen = [f"{e.count}:{e.label[:6]}" for e in self.items]

    @field("iu.seen", desc="what the last parse read by iteration")
    def seen_field(self, event: Event) -> str:
        return ",".join(self.seen)

    @field("iu.sum", desc="the sum of the counts, by iteration during extraction")
    def total(self, event: Event) -> int:
        return sum(e.count for e in self.items)


class LazyEnd(EndOfStream):
    def __init__(self) -> None:  # skips super().__init__: no .events
        pass


class LazyTimeout(Timeout):
    def __init__(self) -> None:
        pass


class OddInstance(SourceInstance):
    """Two events "1", "2", then what the mode says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.i = 0

    def next_batch(self) -> Any:
        self.i += 1
        if self.i <= 2:
            return [str(self.i).encode()]
        mode = self.mode
        if mode == "eof_no_init":
            raise LazyEnd
        if mode == "timeout_no_init":
            raise LazyTimeout
        if mode == "dict":
            return {b"key": b"value"}
        if mode == "ts_negative":
            return [(b"x", -1)]
        if mode == "ts_too_big":
            return [(b"x", 2**64)]
        if mode == "ts_str":
            return [(b"x", "12")]
        if mode in ("signal", "forever"):
            return []
        raise EndOfStream

    def progress(self) -> tuple[float, str | None]:
        return (math.nan, "half") if self.mode == "progress_nan" else (50.0, "half")


class Odd(Plugin, SourcePlugin):
    """A source that ends its stream in the ways a plugin should not (the config is the mode)."""

    NAME = "odd"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "odd endings"
    CONTACT = "https://example.com"
    PLUGIN_ID = 983
    EVENT_SOURCE = "odd"

    def __init__(self, config: str) -> None:
        self.mode = config
        if self.mode == "signal":
            signal.signal(signal.SIGINT, lambda *_: None)
            signal.siginterrupt(signal.SIGINT, True)
            faulthandler.enable()

    def open(self, params: str) -> OddInstance:
        return OddInstance(self.mode)

    def event_to_string(self, event: Event) -> str:
        return "text\0more" if self.mode == "e2s_nul" else f"n={(event.payload or b'').decode()}"

    def get_metrics(self) -> list[Metric]:
        return [Metric("nan", math.nan), Metric("inf", math.inf), Metric("minus_inf", -math.inf),
                Metric("fine", 1.5), Metric("count", 3)]


class Fussy(Plugin, ParsePlugin):
    """parse_event raises one of three messages, in the order a b a b c a b c a."""

    NAME = "fussy"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "raises while parsing"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("numbers",)
    PARSE_EVENT_TYPES = (322,)

    def __init__(self, config: None) -> None:
        self.n = 0

    def parse_event(self, event: Event) -> None:
        which = "ababcabca"[self.n % 9]
        self.n += 1
        raise ValueError(f"cannot parse, case {which}")


class Hang(Plugin, AsyncEventPlugin):
    """stop_async takes 6.5 s (bounded, so that the test ends)."""

    NAME = "hang"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "slow to stop"
    CONTACT = "https://example.com"
    ASYNC_EVENTS = ("tick",)

    def __init__(self, config: None) -> None:
        pass

    def start_async(self, handler: AsyncHandler) -> None:
        pass

    def stop_async(self) -> None:
        time.sleep(6.5)
