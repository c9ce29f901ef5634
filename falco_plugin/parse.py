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

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = ["ParsePlugin"]


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
