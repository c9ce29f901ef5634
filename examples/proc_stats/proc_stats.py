"""proc_stats: per-thread counts of files opened and connections made, for Falco rules.

A parse + extract plugin over syscall events. For each successful open (open, openat,
openat2, creat) and each connect that succeeded or is in progress, ``parse_event`` adds one
to a field the plugin adds to libsinsp's ``threads`` table (``open_count`` /
``connect_count``), and to the entry of the thread's command in a table of its own,
``proc_stats`` (key: comm), which other plugins can read. Fields give the counts of the
event's thread and command; metrics give the totals.

    falco-plugin build examples/proc_stats/proc_stats.py:ProcStats -o libproc_stats.so
    falco-plugin replay capture.scap libproc_stats.so \
        --fields proc_stats.open_count,proc_stats.comm_opens --metrics

A rule that alerts on a process opening many files::

    - rule: Many files opened
      condition: evt.type in (open, openat, openat2) and proc_stats.open_count > 1000
      output: "%proc.name opened %proc_stats.open_count files (%proc_stats.comm_opens for its comm)"
      priority: NOTICE
"""

from __future__ import annotations

from falco_plugin import Event, ExtractPlugin, Metric, ParsePlugin, Plugin, field
from falco_plugin.event import (
    PPME_SOCKET_CONNECT_X,
    PPME_SYSCALL_CREAT_X,
    PPME_SYSCALL_OPEN_X,
    PPME_SYSCALL_OPENAT2_X,
    PPME_SYSCALL_OPENAT_2_X,
)
from falco_plugin.tables import Custom, ExportedTable, Int64, Readonly, TableEntry, TablesInput, UInt64

OPENS = (PPME_SYSCALL_OPEN_X, PPME_SYSCALL_OPENAT_2_X, PPME_SYSCALL_OPENAT2_X, PPME_SYSCALL_CREAT_X)
EINPROGRESS = -115

Counted = (
    PPME_SYSCALL_OPEN_X | PPME_SYSCALL_OPENAT_2_X | PPME_SYSCALL_OPENAT2_X | PPME_SYSCALL_CREAT_X
    | PPME_SOCKET_CONNECT_X
)


def counts_as(event: object) -> str | None:
    """'open', 'connect' or None: the definition the plugin (and its test) count by."""
    if isinstance(event, OPENS):
        return "open" if event.fd is not None and event.fd >= 0 else None
    if isinstance(event, PPME_SOCKET_CONNECT_X):
        return "connect" if event.res is not None and event.res in (0, EINPROGRESS) else None
    return None


class Thread(TableEntry):
    comm: str
    open_count: Custom[UInt64]
    connect_count: Custom[UInt64]


class CommStats(TableEntry):
    opens: Readonly[UInt64]
    connects: Readonly[UInt64]


class ProcStats(Plugin, ParsePlugin, ExtractPlugin):
    NAME = "proc_stats"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "per-thread and per-command counts of files opened and connections made"
    CONTACT = "https://github.com/falcosecurity/plugins"
    EXTRACT_EVENT_SOURCES = ("syscall",)
    #: the fields are for rules on the events counted (the host sends nothing else)
    EXTRACT_EVENT_TYPES = tuple(c.CODE for c in (*OPENS, PPME_SOCKET_CONNECT_X))

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.threads = tables.get_table("threads", Int64, Thread)
        self.by_comm: ExportedTable[str, CommStats] = ExportedTable("proc_stats", str, CommStats)
        tables.add_table(self.by_comm)
        self.opens = 0
        self.connects = 0
        self.parsed = 0

    def parse_event(self, event: Counted) -> None:
        self.parsed += 1
        kind = counts_as(event)
        if kind is None:
            return
        thread = self.threads.get(event.tid)
        comm = thread.comm if thread is not None else ""
        stats = self.by_comm.setdefault(comm)
        if kind == "open":
            self.opens += 1
            stats.opens += 1
            if thread is not None:
                thread.open_count += 1
        else:
            self.connects += 1
            stats.connects += 1
            if thread is not None:
                thread.connect_count += 1

    def thread(self, event: Event) -> Thread | None:
        return self.threads.get(event.tid)

    @field("proc_stats.open_count", desc="files the event's thread opened so far")
    def open_count(self, event: Event) -> int | None:
        thread = self.thread(event)
        return thread.open_count if thread is not None else None

    @field("proc_stats.connect_count", desc="connections the event's thread made so far")
    def connect_count(self, event: Event) -> int | None:
        thread = self.thread(event)
        return thread.connect_count if thread is not None else None

    @field("proc_stats.comm_opens", desc="files opened so far by threads with the event's command")
    def comm_opens(self, event: Event) -> int | None:
        thread = self.thread(event)
        stats = self.by_comm.get(thread.comm) if thread is not None else None
        return stats.opens if stats is not None else None

    def get_metrics(self) -> list[Metric]:
        return [Metric("opens", self.opens), Metric("connects", self.connects), Metric("parsed", self.parsed)]
