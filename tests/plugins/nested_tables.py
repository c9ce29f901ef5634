"""An exported table whose entries hold nested tables (like libsinsp's ``threads`` and their
``file_descriptors``), for tests/sdk/test_subtables.py: libsinsp's ``syscall_subtables`` port
(``libsinsp_ports.SampleSubtables``, configured with ``py_threads``) fills, erases and clears
them through the host, and this plugin's fields show what it sees of their work."""

from __future__ import annotations

from falco_plugin import Event, ExtractPlugin, ParsePlugin, Plugin, field
from falco_plugin.event import PPME_SYSCALL_OPEN_X
from falco_plugin.tables import ExportedTable, Int64, Table, TableEntry, TableError, TablesInput


class Fd(TableEntry):
    name: str
    pid: Int64


class Proc(TableEntry):
    comm: str
    file_descriptors: ExportedTable[Int64, Fd]  # each entry holds a nested table of its own


class NestedExporter(Plugin, ParsePlugin, ExtractPlugin):
    NAME = "nested_exporter"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "exports py_threads, whose entries hold file_descriptors tables"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("syscall",)
    EXTRACT_EVENT_SOURCES = ("syscall",)
    EXTRACT_EVENT_TYPES = (PPME_SYSCALL_OPEN_X.CODE,)

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.procs: ExportedTable[int, Proc] = ExportedTable("py_threads", Int64, Proc)
        tables.add_table(self.procs)

    def parse_event(self, event: PPME_SYSCALL_OPEN_X) -> None:
        self.procs.setdefault(event.tid).comm = "opener"  # the entry the port then finds

    @field("nested.fds", desc="how many entries the event thread's nested table holds")
    def fds(self, event: Event) -> int | None:
        proc = self.procs.get(event.tid)
        return None if proc is None else len(proc.file_descriptors)

    @field("nested.pids", desc="the distinct pids in the event thread's nested table")
    def pids(self, event: Event) -> list[int] | None:
        proc = self.procs.get(event.tid)
        return None if proc is None else sorted({fd.pid for fd in proc.file_descriptors.values()})

    @field("nested.customs", desc="the distinct values of the field another plugin added to the nested tables")
    def customs(self, event: Event) -> list[str] | None:
        proc = self.procs.get(event.tid)
        if proc is None:
            return None
        fds = proc.file_descriptors
        return sorted({fds.added_value(fd, "custom") for fd in fds.values()})


class PyFd(TableEntry):
    name: str


class PyProc(TableEntry):
    file_descriptors: Table[Int64, PyFd]


class WritesTheTable(Plugin, ParsePlugin):
    """Adds an entry to the event thread's nested table of py_threads, then tries to replace
    the nested table itself (refused: the field is read-only)."""

    NAME = "writes_the_table"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "writes py_threads' nested tables"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("syscall",)

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.procs = tables.get_table("py_threads", Int64, PyProc)

    def parse_event(self, event: PPME_SYSCALL_OPEN_X) -> None:
        proc = self.procs[event.tid]
        fds = proc.file_descriptors
        fds.add_entry(7, fds.create_entry()).name = "/seven"
        try:
            proc.file_descriptors = fds
        except TableError as exc:
            self.logger.warning("writing the table field: %s", exc)


class ChurnExporter(Plugin, ParsePlugin):
    """Replaces all 300 entries of table "churn" (each with a one-entry nested table) on every
    event, so that the records of the old nested tables must be swept."""

    NAME = "churn_exporter"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "churns nested tables"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("syscall",)

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.procs: ExportedTable[int, Proc] = ExportedTable("churn", Int64, Proc)
        tables.add_table(self.procs)
        self.generation = 0

    def parse_event(self, event: PPME_SYSCALL_OPEN_X) -> None:
        self.generation += 1
        self.procs.clear()
        for key in range(300):
            proc = self.procs.setdefault(key)
            proc.file_descriptors[self.generation] = Fd(name=f"/gen/{self.generation}", pid=key)


class ChurnReader(Plugin, ParsePlugin, ExtractPlugin):
    """Reads every nested table of "churn" on every event."""

    NAME = "churn_reader"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "reads churned nested tables"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("syscall",)
    EXTRACT_EVENT_SOURCES = ("syscall",)
    EXTRACT_EVENT_TYPES = (PPME_SYSCALL_OPEN_X.CODE,)

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.procs = tables.get_table("churn", Int64, PyProc)
        self.names: set[str] = set()
        self.count = 0

    def parse_event(self, event: PPME_SYSCALL_OPEN_X) -> None:
        self.names, self.count = set(), 0
        for proc in self.procs:
            for fd in proc.file_descriptors:
                self.names.add(fd.name)
                self.count += 1

    @field("churn.seen", desc="nested entries read in the last event, and their distinct names")
    def seen(self, event: Event) -> list[str]:
        return [str(self.count), *sorted(self.names)]
