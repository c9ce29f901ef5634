"""Plugins for tests/test_cli.py: a field failing inside the stdlib, a helper module, typed events."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from falco_plugin import EndOfStream, Event, ExtractPlugin, Plugin, SourceInstance, SourcePlugin, field
from falco_plugin.event import PPME_SYSCALL_EXECVE_16_X


class Lines(SourceInstance):
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def next_batch(self) -> list[bytes]:
        if not self.lines:
            raise EndOfStream
        return [self.lines.pop(0)]


class JsonFields(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "jsonfields"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "decodes JSON payloads; the second event is not JSON"
    CONTACT = "https://example.com"
    PLUGIN_ID = 999
    EVENT_SOURCE = "jsonfields"

    def __init__(self, config: None) -> None:
        pass

    def open(self, params: str) -> Lines:
        return Lines([b'{"a": 1}', b"not json"])

    @field("jsonfields.a", desc="the value of a")
    def a(self, event: Event) -> int:
        doc = json.loads(event.payload or b"")  # the line the error must point at
        return int(doc["a"])


class Execs(Plugin, ExtractPlugin):
    NAME = "execs"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "reads execve exits"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("syscall",)

    def __init__(self, config: None) -> None:
        pass

    @field("execs.tid", desc="the tid parameter of execve")
    def tid(self, event: PPME_SYSCALL_EXECVE_16_X) -> int | None:
        return event.tid_


class StrictConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jitter: int = 10


class Strict(Plugin, SourcePlugin):
    """The README's way to reject unknown config keys."""

    NAME = "strict"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "rejects unknown config keys"
    CONTACT = "https://example.com"
    PLUGIN_ID = 999
    EVENT_SOURCE = "strict"

    def __init__(self, config: StrictConfig) -> None:
        self.jitter = config.jitter

    def open(self, params: str) -> Lines:
        return Lines([str(self.jitter).encode()])
