"""Parse benchmarks for `make bench` section P, the same plugins as
bench/c_reference/parse_noop_c.c and table_rw_c.c:

- ``ParseNoop`` (``parse_noop_py``) parses every syscall event and does nothing;
- ``TableRW`` (``table_rw_py``) gets the thread of each event from the host's ``threads``
  table, reads its ``pid``, then does K pairs of (read a counter field it added, write it + 1);
  config ``{"ops": K}``, so that ns/op = (ns/event(K) - ns/event(0)) / K.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from falco_plugin import Event, ParsePlugin, Plugin
from falco_plugin.tables import Custom, Int64, TableEntry, TablesInput, UInt64

#: every event code of the schema (and room to spare), as the C plugins parse every event
EVERY_EVENT_TYPE = tuple(range(1024))
NO_THREAD = 2**63


class ParseNoop(Plugin, ParsePlugin):
    NAME = "parse_noop_py"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "parses every event and does nothing"
    CONTACT = "https://github.com/falcosecurity/plugins"
    PARSE_EVENT_SOURCES = ("syscall",)
    PARSE_EVENT_TYPES = EVERY_EVENT_TYPE

    def __init__(self, config: None) -> None:
        pass

    def parse_event(self, event: Event) -> None:
        pass


class RWConfig(BaseModel):
    ops: int = Field(default=1, ge=0)


class RWThread(TableEntry):
    pid: Int64
    table_rw_py_counter: Custom[UInt64]


class TableRW(Plugin, ParsePlugin):
    NAME = "table_rw_py"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "reads and writes a threads table field per event"
    CONTACT = "https://github.com/falcosecurity/plugins"
    PARSE_EVENT_SOURCES = ("syscall",)
    PARSE_EVENT_TYPES = EVERY_EVENT_TYPE

    def __init__(self, config: RWConfig, tables: TablesInput) -> None:
        self.ops = config.ops
        self.threads = tables.get_table("threads", Int64, RWThread)
        self.pid_sum = 0

    def parse_event(self, event: Event) -> None:
        tid = event.tid
        thread = self.threads.get(tid) if tid < NO_THREAD else None
        if thread is None:
            return
        self.pid_sum += thread.pid
        for _ in range(self.ops):
            thread.table_rw_py_counter += 1
