"""Table access on the fast path: entry objects the shim reuses, values of every
state type through Custom fields of the host's `threads` table, and table reads while a
background Python thread runs (the shim then gives up the GIL around each host call)."""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from pydantic import BaseModel
from state import Ticks  # the same one-event-per-batch source

from falco_plugin import Event, ExtractPlugin, ParsePlugin, Plugin, SourcePlugin, field
from falco_plugin.tables import (
    Custom,
    Int8,
    Int16,
    Int32,
    Int64,
    TableEntry,
    TablesInput,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
)


class Typed(TableEntry):
    pid: Int64
    comm: str
    r_i8: Custom[Int8]
    r_i16: Custom[Int16]
    r_i32: Custom[Int32]
    r_i64: Custom[Int64]
    r_u8: Custom[UInt8]
    r_u16: Custom[UInt16]
    r_u32: Custom[UInt32]
    r_u64: Custom[UInt64]
    r_str: Custom[str]
    r_bool: Custom[bool]


#: per event, all the low ends of the ranges, then all the high ends, then other values
VALUES: list[dict[str, Any]] = [
    {"r_i8": -(2**7), "r_i16": -(2**15), "r_i32": -(2**31), "r_i64": -(2**63), "r_u8": 0, "r_u16": 0,
     "r_u32": 0, "r_u64": 0, "r_str": "", "r_bool": False},
    {"r_i8": 2**7 - 1, "r_i16": 2**15 - 1, "r_i32": 2**31 - 1, "r_i64": 2**63 - 1, "r_u8": 2**8 - 1,
     "r_u16": 2**16 - 1, "r_u32": 2**32 - 1, "r_u64": 2**64 - 1, "r_str": "é" * 300, "r_bool": True},
    {"r_i8": -1, "r_i16": 300, "r_i32": -70000, "r_i64": 2**40, "r_u8": 7, "r_u16": 40000, "r_u32": 2**31,
     "r_u64": 2**63, "r_str": "comm\twith tab", "r_bool": False},
]


class ReuseConfig(BaseModel):
    background: bool = False  # run a Python thread that counts while events are parsed


class EntryReuse(Plugin, SourcePlugin, ParsePlugin, ExtractPlugin):
    NAME = "entry_reuse"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "checks entry objects and state values on the fast table path"
    CONTACT = "https://example.com"
    PLUGIN_ID = 994
    EVENT_SOURCE = "reuse_ticks"

    def __init__(self, config: ReuseConfig, tables: TablesInput) -> None:
        self.threads = tables.get_table("threads", Int64, Typed)
        self.problems: list[str] = []
        self.kept: Any = None
        self.ticks = 0
        self.ticks_seen: list[int] = []
        self.stop = threading.Event()
        self.background = config.background
        if config.background:
            threading.Thread(target=self.count, daemon=True).start()

    def count(self) -> None:
        while not self.stop.is_set():
            self.ticks += 1
            time.sleep(0.0005)

    def open(self, params: str) -> Ticks:
        return Ticks(int(params or "9"))

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.problems.append(what)

    def entry(self, tid: int) -> Typed:
        thread = self.threads.get(tid)
        if thread is None:
            thread = self.threads.create_entry()
            thread.pid = tid * 10
            thread.comm = f"t{tid}"
            thread = self.threads.add_entry(tid, thread)
        return thread

    def parse_event(self, event: Event) -> None:
        n = int(event.payload or b"0")
        for tid in (100, 101, 102):
            self.entry(tid)
        # every state type written and read back, at both ends of its range
        values = VALUES[n % len(VALUES)]
        thread = self.threads[100]
        for name, value in values.items():
            setattr(thread, name, value)
        del thread
        again = self.threads[100]
        for name, value in values.items():
            got = getattr(again, name)
            self.check(f"#{n} {name}: wrote {value!r}, read {got!r}", got == value and type(got) is type(value))
        del again
        # entries held at once are distinct objects, each reading its own entry
        a, b = self.threads[100], self.threads[101]
        self.check(f"#{n} two held entries are one object", a is not b)
        self.check(f"#{n} held entries read {a.pid}, {b.pid}", (a.pid, b.pid) == (1000, 1010))
        del a, b
        # an attribute set on a dropped entry does not show on the next one
        c = self.threads[102]
        c.note = "mine"  # type: ignore[attr-defined]
        del c
        d = self.threads[101]
        self.check(f"#{n} an attribute of a dropped entry shows on another", not hasattr(d, "note"))
        self.check(f"#{n} reads {d.pid} for 101", d.pid == 1010 and d.comm == "t101")
        del d
        # a weak reference to a dropped entry never turns into another entry
        ref = weakref.ref(self.threads[102])
        e = self.threads[100]
        old = ref()
        self.check(f"#{n} a weakly referenced entry became another", old is None or old is not e)
        self.check(f"#{n} reads {e.pid} for 100", e.pid == 1000)
        if old is not None:
            self.check(f"#{n} the weakly referenced entry reads {old.pid}", old.pid == 1020)
        del e, old
        # iteration: every entry, with its own values
        pids = sorted(t.pid for t in self.threads)
        self.check(f"#{n} iteration read {pids}", pids == [1000, 1010, 1020])
        if n == 1:
            self.kept = self.threads[101]
        if self.background:  # table reads until the other thread has counted on (bounded)
            start, deadline = self.ticks, time.monotonic() + 5
            while self.ticks == start and time.monotonic() < deadline:
                self.check(f"#{n} read during the wait", self.threads[101].pid == 1010)
        self.ticks_seen.append(self.ticks)

    @field("er.problems", desc="what went wrong so far ('' if nothing)")
    def report(self, event: Event) -> str:
        return " | ".join(self.problems)

    @field("er.kept", desc="reading an entry kept from the first event")
    def kept_read(self, event: Event) -> str:
        try:
            return str(self.kept.pid)
        except Exception as exc:  # the message is the point of the test
            return f"{type(exc).__name__}: {exc}"

    @field("er.ticks", desc="the background thread's count at each parse so far")
    def ticks_field(self, event: Event) -> list[int]:
        return list(self.ticks_seen)
