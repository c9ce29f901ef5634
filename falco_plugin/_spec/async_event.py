"""What an AsyncEventPlugin declares: the names of its events, their sources, its methods."""

from __future__ import annotations

from ..async_event import AsyncEventPlugin
from ..base import Plugin, PluginDefinitionError
from .plugin import overrides


def check_async(cls: type[Plugin]) -> None:
    """Raise PluginDefinitionError unless the async constants and methods are valid."""
    names = getattr(cls, "ASYNC_EVENTS", None)
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise PluginDefinitionError(f"{cls.__qualname__}.ASYNC_EVENTS must list the names of the async events it emits")
    for name in names:
        if not isinstance(name, str) or not name or "\0" in name:
            raise PluginDefinitionError(f"{cls.__qualname__}.ASYNC_EVENTS: {name!r} is not a valid event name")
    if len(set(names)) != len(names):
        raise PluginDefinitionError(f"{cls.__qualname__}.ASYNC_EVENTS lists a name twice")
    sources = getattr(cls, "EVENT_SOURCES", ())
    if isinstance(sources, str) or not all(isinstance(s, str) and s for s in sources):
        raise PluginDefinitionError(f"{cls.__qualname__}.EVENT_SOURCES must be a list of event source names")
    for method in ("start_async", "stop_async"):
        if not overrides(cls, AsyncEventPlugin, method):
            raise PluginDefinitionError(f"{cls.__qualname__} is an AsyncEventPlugin but does not define {method}()")
