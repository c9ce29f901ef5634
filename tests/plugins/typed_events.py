"""Field methods that take typed events: decoded lazily, and the type filter derived from them."""

from __future__ import annotations

from falco_plugin import EndOfStream, ExtractPlugin, Plugin, SourceInstance, SourcePlugin, field
from falco_plugin.event import PPME_SYSCALL_OPEN_X, AsyncEvent, PluginEvent


class Words(SourceInstance):
    def __init__(self) -> None:
        self.sent = False

    def next_batch(self) -> list[bytes]:
        if self.sent:
            raise EndOfStream
        self.sent = True
        return [b"alpha", b"be", b"gamma!"]


class TypedFields(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "typed_fields"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "fields over typed plugin events"
    CONTACT = "https://example.com"
    PLUGIN_ID = 991
    EVENT_SOURCE = "words"

    def open(self, params: str) -> Words:
        return Words()

    @field("words.len", desc="payload length, from the typed plugin event")
    def length(self, event: PluginEvent) -> int:
        return len(event.event_data or b"")

    @field("words.plugin_id", desc="the plugin id in the typed event")
    def plugin_id(self, event: PluginEvent) -> int:
        return int(event.plugin_id or 0)


class SyscallAndAsync(Plugin, ExtractPlugin):
    """Extract-only: fields over open() exits and async events; nothing else reaches it."""

    NAME = "syscall_and_async"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "derived event types"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("syscall",)

    @field("sa.path", desc="the path opened")
    def path(self, event: PPME_SYSCALL_OPEN_X) -> str | None:
        return None if event.name is None else str(event.name)

    @field("sa.name", desc="the async event's name")
    def name(self, event: AsyncEvent | PluginEvent) -> str:
        return str(getattr(event, "name", ""))
