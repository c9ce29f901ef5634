"""Parse, table, capture-listen and metrics test plugins."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from pydantic import BaseModel

from falco_plugin import (
    CaptureListen,
    CaptureListenPlugin,
    EndOfStream,
    Event,
    ExtractPlugin,
    Metric,
    ParsePlugin,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
)
from falco_plugin.tables import (
    Custom,
    ExportedTable,
    Int64,
    Private,
    Readonly,
    Table,
    TableEntry,
    TablesInput,
    UInt64,
)


class Fd(TableEntry):
    name: str


class Thread(TableEntry):
    tid: Int64
    pid: Int64
    comm: str
    file_descriptors: Table[Int64, Fd]
    seen: Custom[UInt64]


class Ticks(SourceInstance):
    """Events 1..n; the payload is the counter as text; tid = 100 + counter % 3."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.i = 0

    def next_batch(self) -> list[bytes]:
        if self.i >= self.n:
            raise EndOfStream
        self.i += 1
        return [str(self.i).encode()]


class MisuseConfig(BaseModel):
    mode: str = ""


class ThreadCounter(Plugin, SourcePlugin, ParsePlugin, ExtractPlugin):
    """A source whose parse_event counts events per thread in a field it adds to `threads`
    (creating the thread entry when missing), and whose fields read it back."""

    NAME = "thread_counter"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "counts events per thread in the host's thread table"
    CONTACT = "https://example.com"
    PLUGIN_ID = 995
    EVENT_SOURCE = "ticks"

    def __init__(self, config: MisuseConfig, tables: TablesInput) -> None:
        self.mode = config.mode
        self.names = [name for name, _ in tables.list_tables()]
        self.threads = tables.get_table("threads", Int64, Thread)
        self.comm = self.threads.get_field("comm", str)
        self.untyped = tables.get_table("threads", Int64)
        self.untyped_seen = self.untyped.add_field("seen", UInt64)
        self.cwd = self.untyped.get_field("cwd", str)
        self.kept: Any = None

    def open(self, params: str) -> Ticks:
        return Ticks(int(params or "6"))

    def tid_of(self, event: Event) -> int:
        return 100 + int(event.payload or b"0") % 3

    def parse_event(self, event: Event) -> None:
        tid = self.tid_of(event)
        thread = self.threads.get(tid)
        if thread is None:
            thread = self.threads.create_entry()
            thread.comm = f"t{tid}"
            thread.pid = tid
            thread = self.threads.add_entry(tid, thread)
        thread.seen += 1
        if self.mode == "keep_entry":
            self.kept = thread
        if self.mode == "wrong_type":
            thread.comm = 5  # type: ignore[assignment]
        if self.mode == "erase" and event.evtnum == 5:
            del self.threads[100]
            self.threads.erase(101)
        if self.mode == "clear" and event.evtnum == 5:
            self.threads.clear()
        if self.mode == "read_only":
            self.untyped[tid][self.cwd] = "/tmp"

    @field("tc.seen", desc="events parsed on this event's thread")
    def seen(self, event: Event) -> int:
        thread = self.threads.get(self.tid_of(event))
        return thread.seen if thread is not None else 0

    @field("tc.comm", desc="the thread's comm, read untyped")
    def comm_untyped(self, event: Event) -> str:
        entry = self.untyped[self.tid_of(event)]
        return f"{entry[self.comm]}/{entry['seen']}"

    @field("tc.count", desc="how many threads")
    def count(self, event: Event) -> int:
        return len(self.threads)

    @field("tc.tids", desc="the tids, by iteration")
    def tids(self, event: Event) -> list[int]:
        return sorted(t.tid for t in self.threads)

    @field("tc.misuse", desc="a write during extraction, or a kept entry")
    def misuse(self, event: Event) -> str:
        try:
            if self.mode == "keep_entry" and self.kept is not None:
                return str(self.kept.seen)
            thread = self.threads[self.tid_of(event)]
            thread.seen = 0
            return "wrote"
        except Exception as exc:  # the message is the point of the test
            return f"{type(exc).__name__}: {exc}"

    @field("tc.fds", desc="the fds of the thread, from its nested table")
    def fds(self, event: Event) -> list[str]:
        thread = self.threads.get(self.tid_of(event))
        return sorted(fd.name for fd in thread.file_descriptors) if thread is not None else []

    @field("tc.tables", desc="the tables the host listed at init")
    def tables_listed(self, event: Event) -> str:
        return ",".join(sorted(self.names))


class Stat(TableEntry):
    count: UInt64
    label: str
    fixed: Readonly[UInt64]
    secret: Private[str]


class Exporter(Plugin, SourcePlugin, ParsePlugin):
    """Exports table `tick_stats` (key uint64: counter % 3) and counts events in it."""

    NAME = "exporter"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "exports a table"
    CONTACT = "https://example.com"
    PLUGIN_ID = 996
    EVENT_SOURCE = "ticks"

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.stats: ExportedTable[int, Stat] = ExportedTable("tick_stats", UInt64, Stat)
        tables.add_table(self.stats)

    def open(self, params: str) -> Ticks:
        return Ticks(int(params or "6"))

    def parse_event(self, event: Event) -> None:
        key = int(event.payload or b"0") % 3
        stat = self.stats.setdefault(key)
        stat.count += 1
        stat.label = f"k{key}"
        stat.fixed = 7
        stat.secret = "hidden"


class Importer(Plugin, ParsePlugin, ExtractPlugin):
    """Reads `tick_stats` from Exporter and adds a field of its own to it."""

    NAME = "importer"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "imports another plugin's table"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("ticks",)
    PARSE_EVENT_TYPES = (322,)
    EXTRACT_EVENT_SOURCES = ("ticks",)

    class Seen(TableEntry):
        count: UInt64
        label: str
        fixed: UInt64
        mine: Custom[UInt64]

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.stats = tables.get_table("tick_stats", UInt64, Importer.Seen)
        self.errors: list[str] = []
        for name, kind in (("secret", str), ("count", str)):
            try:
                self.stats.get_field(name, kind)
            except Exception as exc:
                self.errors.append(f"{name}: {exc}")

    def parse_event(self, event: Event) -> None:
        stat = self.stats.get(int(event.payload or b"0") % 3)
        if stat is not None:
            stat.mine += 10
            try:
                stat.fixed = 1
            except Exception as exc:
                if not self.errors or "fixed" not in self.errors[-1]:
                    self.errors.append(f"fixed: {exc}")

    @field("imp.stat", desc="count/label/mine of this event's key")
    def stat(self, event: Event) -> str:
        s = self.stats[int(event.payload or b"0") % 3]
        return f"{s.count}/{s.label}/{s.mine}"

    @field("imp.errors", desc="what the misuses said")
    def errs(self, event: Event) -> str:
        return " | ".join(self.errors)


class Listener(Plugin, SourcePlugin, CaptureListenPlugin):
    """A routine that counts its runs from capture_open to capture_close; metrics."""

    NAME = "listener"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "capture listening and metrics"
    CONTACT = "https://example.com"
    PLUGIN_ID = 997
    EVENT_SOURCE = "ticks"

    def __init__(self, config: None) -> None:
        self.runs = 0
        self.runs_after_close = 0
        self.closed = False
        self.routine: Any = None
        self.events = 0
        self.lock = threading.Lock()

    def open(self, params: str) -> Ticks:
        return Ticks(int(params or "6"))

    def tick(self) -> bool:
        with self.lock:
            self.runs += 1
            if self.closed:
                self.runs_after_close += 1
        time.sleep(0.002)
        return True

    def capture_open(self, listen: CaptureListen) -> None:
        self.routine = listen.thread_pool.subscribe(self.tick)
        time.sleep(0.05)  # let it run a few times before the events flow

    def capture_close(self, listen: CaptureListen) -> None:
        listen.thread_pool.unsubscribe(self.routine)
        with self.lock:
            self.closed = True
        self.logger.info("routine ran %d times", self.runs)

    def get_metrics(self) -> list[Metric]:
        return [
            Metric("routine_runs", self.runs),
            Metric("runs_after_close", self.runs_after_close, monotonic=False),
            Metric("ratio", 0.5, monotonic=False),
            Metric("delta", -3, monotonic=False),
        ]


class FdReader(Plugin, ParsePlugin, ExtractPlugin):
    """Over a capture: the names in each event thread's nested file_descriptors table."""

    NAME = "fd_reader"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "reads nested tables"
    CONTACT = "https://example.com"
    PARSE_EVENT_TYPES = (3,)  # open exits
    EXTRACT_EVENT_SOURCES = ("syscall",)
    EXTRACT_EVENT_TYPES = (3,)

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.threads = tables.get_table("threads", Int64, Thread)
        self.biggest: list[Any] | None = None

    def parse_event(self, event: Event) -> None:
        # the thread with the most fds, and their names, through the nested tables
        thread = max(self.threads, key=lambda t: len(t.file_descriptors))
        self.biggest = [thread.tid, *sorted(fd.name for fd in thread.file_descriptors)]

    @field("fdr.biggest", desc="tid and fd names of the thread with the most fds, read in parse_event")
    def names(self, event: Event) -> str | None:
        return json.dumps(self.biggest) if self.biggest else None
