"""Event parsing: the plugin sees every event of its types and sources, once, before any
field is extracted from it, and may write to tables (the only place in the event loop
where that is allowed).

The event types come from the hint of ``parse_event``'s event (typed events, see
:mod:`falco_plugin.event`) or from ``PARSE_EVENT_TYPES``::

    from falco_plugin import ParsePlugin, Plugin
    from falco_plugin.event import PPME_SYSCALL_OPENAT_2_X

    class Opens(Plugin, ParsePlugin):
        NAME = "opens"
        PLUGIN_VERSION = "0.1.0"
        DESCRIPTION = "counts openat calls"
        CONTACT = "https://example.com"

        def __init__(self, config: None) -> None:
            self.opens = 0

        def parse_event(self, event: PPME_SYSCALL_OPENAT_2_X) -> None:
            self.opens += 1

The host ignores what parse_event returns; an exception is logged (once per distinct
message) and the next event is parsed as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from .base import Plugin, PluginDefinitionError
from .extract import PLUGIN_EVENT, _typed_caller, event_codes, typed_event_classes

__all__ = ["ParsePlugin"]

ASYNC_EVENT = 402


class ParsePlugin:
    """Capability mixin: the plugin parses events (``parse_event``)."""

    #: Event sources to parse. Default: the plugin's own source; for typed syscall events,
    #: ``["syscall"]``. An empty list means every source.
    PARSE_EVENT_SOURCES: ClassVar[Sequence[str] | None] = None
    #: Event type codes to parse. Default: derived from the typed events ``parse_event`` takes.
    #: ``()`` means every event type; ``HOST_DEFAULT_EVENT_TYPES`` declares none (the host's
    #: default: plugin events, 322, for sources other than ``syscall``).
    PARSE_EVENT_TYPES: ClassVar[Sequence[int] | None] = None

    def parse_event_types(self) -> Sequence[int] | None:
        """Override to decide the event types once the plugin is initialized (the host asks
        right after ``__init__``). ``None``: the class default; ``()``: every event type."""
        return None

    def parse_event(self, event: Any) -> None:
        """Called once per event of the declared types and sources."""
        raise NotImplementedError


def parse_types(cls: type[Plugin]) -> list[int]:
    explicit = getattr(cls, "PARSE_EVENT_TYPES", None)
    if explicit is not None:
        # the sources as declared (parse_sources would derive them from these types)
        named = getattr(cls, "PARSE_EVENT_SOURCES", None)
        if named is None:
            own = getattr(cls, "EVENT_SOURCE", "")
            named = ["syscall"] if getattr(cls, "PLUGIN_ID", None) == 0 else [own] if own else []
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
    explicit = getattr(cls, "PARSE_EVENT_SOURCES", None)
    if explicit is not None:
        if isinstance(explicit, str) or not all(isinstance(s, str) and s for s in explicit):
            raise PluginDefinitionError(f"{cls.__qualname__}.PARSE_EVENT_SOURCES must be a list of names")
        return list(explicit)
    own = getattr(cls, "EVENT_SOURCE", "")
    if getattr(cls, "PLUGIN_ID", None) == 0:  # a syscall-source plugin
        return ["syscall"]
    if own:
        return [own]
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


def parse_method(plugin: Plugin) -> Callable[[Any], Any]:
    """What the shim calls per event: parse_event, through the typed-event decode if typed."""
    method = plugin.parse_event  # type: ignore[attr-defined]
    classes = typed_event_classes(method)
    return _typed_caller(method, classes) if classes else method
