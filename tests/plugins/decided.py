"""Event types and the event schema version: declared, derived, or decided at init."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from falco_plugin import HOST_DEFAULT_EVENT_TYPES, Event, ExtractPlugin, ParsePlugin, Plugin, field
from falco_plugin.event import PPME_SYSCALL_OPEN_X


class AllTypes(Plugin, ExtractPlugin):
    """``()``: every event type, also for a plugin source."""

    NAME = "all_types"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "every event type"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("sample",)
    EXTRACT_EVENT_TYPES = ()

    @field("all.type", desc="the event type")
    def type_(self, event: Event) -> int:
        return event.type


class HostDefault(Plugin, ParsePlugin, ExtractPlugin):
    """HOST_DEFAULT_EVENT_TYPES: zero types declared, the host's default for "sample" (322)."""

    NAME = "host_default"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "declares no event types"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("sample",)
    PARSE_EVENT_SOURCES = ("sample",)
    EXTRACT_EVENT_TYPES = HOST_DEFAULT_EVENT_TYPES
    PARSE_EVENT_TYPES = HOST_DEFAULT_EVENT_TYPES

    def __init__(self, config: None) -> None:
        self.parsed: list[int] = []

    def parse_event(self, event: Event) -> None:
        self.parsed.append(event.type)

    @field("host_default.parsed", desc="the types parsed so far")
    def parsed_types(self, event: Event) -> list[int]:
        return list(self.parsed)


class HostDefaultSyscall(Plugin, ExtractPlugin):
    """HOST_DEFAULT_EVENT_TYPES for syscall events: refused at build (the host's default there is
    every type, which () says)."""

    NAME = "host_default_syscall"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "wrong"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("syscall",)
    EXTRACT_EVENT_TYPES = HOST_DEFAULT_EVENT_TYPES

    @field("host_default_syscall.type", desc="the event type")
    def type_(self, event: Event) -> int:
        return event.type


class Config(BaseModel):
    types: list[int] | None = None
    schema_version: str | None = None


class AtInit(Plugin, ParsePlugin, ExtractPlugin):
    """Types and schema version from the config, decided by the initialized plugin."""

    NAME = "at_init"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "decides at init"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("syscall",)
    PARSE_EVENT_SOURCES = ("syscall",)

    def __init__(self, config: Config) -> None:
        self.settings = config
        self.opens = 0

    def extract_event_types(self) -> list[int] | None:
        return self.settings.types

    def parse_event_types(self) -> list[int] | None:
        return self.settings.types

    def required_event_schema_version(self) -> str | None:
        return self.settings.schema_version

    def parse_event(self, event: PPME_SYSCALL_OPEN_X) -> None:
        self.opens += 1

    @field("at_init.path", desc="the path opened")
    def path(self, event: PPME_SYSCALL_OPEN_X) -> str | None:
        return None if event.name is None else str(event.name)


class TypesAtInitOnly(Plugin, ExtractPlugin):
    """Types decided at init, schema version derived from them at init."""

    NAME = "types_at_init"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "types at init"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("syscall",)

    def __init__(self, config: str) -> None:
        self.types = [int(c) for c in config.split(",")] if config else []

    def extract_event_types(self) -> list[int]:
        return self.types

    @field("tai.type", desc="the event type")
    def type_(self, event: Event) -> int:
        return event.type


class Requires41(Plugin, ExtractPlugin):
    NAME = "requires_41"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "requires schema 4.1.0"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("syscall",)
    REQUIRED_EVENT_SCHEMA_VERSION: ClassVar[str | None] = "4.1.2"

    @field("r41.path", desc="the path opened")
    def path(self, event: PPME_SYSCALL_OPEN_X) -> str | None:
        return None if event.name is None else str(event.name)


class NoSchemaVersion(Requires41):
    NAME = "no_schema_version"
    REQUIRED_EVENT_SCHEMA_VERSION = None


class PluginEventsOnly(Plugin, ExtractPlugin):
    """Requires a schema no driver has, but takes plugin events only: never checked."""

    NAME = "plugin_events_only"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "plugin events only"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("sample",)
    REQUIRED_EVENT_SCHEMA_VERSION = "9.0.0"

    @field("peo.len", desc="payload length")
    def length(self, event: Event) -> int:
        return len(event.payload or b"")
