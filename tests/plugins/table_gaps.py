"""The owner's last error after a failed table lookup, and a host table's name."""

from __future__ import annotations

from falco_plugin import Event, ParsePlugin, Plugin
from falco_plugin.tables import Int64, TableError, TablesInput


class Lookups(Plugin, ParsePlugin):
    NAME = "lookups"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "failed lookups and table names"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("syscall",)
    PARSE_EVENT_TYPES = ()

    def __init__(self, config: None, tables: TablesInput) -> None:
        self.threads = tables.get_table("threads", Int64)
        self.logger.info("host name of the threads table: %s", self.threads.host_name())
        try:
            tables.get_table("nosuch", Int64)
        except TableError as exc:
            self.logger.info("lookup failed: %s", exc)
        self.done = False

    def parse_event(self, event: Event) -> None:
        if self.done:
            return
        self.done = True
        before = self.threads.last_error()
        missing = self.threads.get(123456789)
        self.logger.info("before: %s; entry: %s; after: %s", before, missing, self.threads.last_error())
