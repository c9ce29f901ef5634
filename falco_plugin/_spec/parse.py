"""What a ParsePlugin declares: the event types and sources it parses."""

from __future__ import annotations

from ..base import Plugin, PluginDefinitionError
from ..parse import ParsePlugin
from .fields import event_codes, typed_event_classes
from .plugin import PLUGIN_EVENT, event_sources

ASYNC_EVENT = 402


def parse_types(cls: type[Plugin]) -> list[int]:
    explicit = getattr(cls, "PARSE_EVENT_TYPES", None)
    if explicit is not None:
        # the sources as declared (parse_sources would derive them from these types)
        named = event_sources(cls, "PARSE_EVENT_SOURCES") or []
        return event_codes(f"{cls.__qualname__}.PARSE_EVENT_TYPES", explicit, named)
    classes = typed_event_classes(cls.parse_event)  # type: ignore[attr-defined]
    if classes:
        return sorted({c.CODE for c in classes})  # type: ignore[attr-defined]
    if getattr(cls, "EVENT_SOURCE", ""):
        return [PLUGIN_EVENT]
    raise PluginDefinitionError(
        f"{cls.__qualname__}: say which events parse_event takes: annotate its event with typed events "
        "(e.g. event: PPME_SYSCALL_OPENAT_2_X) or set PARSE_EVENT_TYPES; the host would otherwise send every syscall"
    )


def parse_sources(cls: type[Plugin]) -> list[str]:
    """The parse event sources: explicit, else the plugin's own source, else syscall for
    syscall events."""
    sources = event_sources(cls, "PARSE_EVENT_SOURCES")
    if sources is not None:
        return sources
    if all(code not in (PLUGIN_EVENT, ASYNC_EVENT) for code in parse_types(cls)):
        return ["syscall"]
    raise PluginDefinitionError(
        f"{cls.__qualname__}: a parse-only plugin of plugin or async events must set PARSE_EVENT_SOURCES"
    )


def check_parse(cls: type[Plugin]) -> None:
    if getattr(cls, "parse_event", None) is ParsePlugin.parse_event:
        raise PluginDefinitionError(f"{cls.__qualname__} is a ParsePlugin: define parse_event(self, event)")
    parse_types(cls)
    parse_sources(cls)
