"""The capabilities of a Plugin class, each checked: what the build exports symbols for."""

from __future__ import annotations

from collections.abc import Callable

from ..async_event import AsyncEventPlugin
from ..base import Plugin
from ..extract import ExtractPlugin
from ..listen import CaptureListenPlugin
from ..parse import ParsePlugin
from ..source import SourcePlugin
from .async_event import check_async
from .fields import check_extract
from .parse import check_parse
from .source import check_source

#: (name, mixin, check): the name is the one ``falco-plugin info`` and the manifest show.
CAPABILITIES: tuple[tuple[str, type, Callable[[type[Plugin]], object] | None], ...] = (
    ("sourcing", SourcePlugin, check_source),
    ("extraction", ExtractPlugin, check_extract),
    ("parsing", ParsePlugin, check_parse),
    ("async", AsyncEventPlugin, check_async),
    ("capture_listening", CaptureListenPlugin, None),
)


def capabilities(cls: type[Plugin]) -> list[str]:
    """The names of the capabilities ``cls`` has, each checked (PluginDefinitionError).

    >>> from falco_plugin import ExtractPlugin, Plugin, field
    >>> class P(Plugin, ExtractPlugin):
    ...     EXTRACT_EVENT_SOURCES = ["dummy"]
    ...     @field("p.value", desc="a value")
    ...     def value(self, event: object) -> int:
    ...         return 1
    >>> capabilities(P)
    ['extraction']
    """
    found = []
    for name, mixin, check in CAPABILITIES:
        if issubclass(cls, mixin):
            if check is not None:
                check(cls)
            found.append(name)
    return found
