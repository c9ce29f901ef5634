"""What a SourcePlugin declares: its plugin id and event source, checked."""

from __future__ import annotations

import re

from ..base import Plugin, PluginDefinitionError
from ..source import SourcePlugin

SOURCE_NAME_RE = re.compile(r"^[a-z]+[a-z0-9_]*$")
RESERVED_SOURCES = ("syscall", "internal", "plugins")
MAX_PLUGIN_ID = 2**31 - 1


def check_source(cls: type[Plugin]) -> None:
    """Raise PluginDefinitionError unless the sourcing constants are valid."""
    pid = getattr(cls, "PLUGIN_ID", None)
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 <= pid <= MAX_PLUGIN_ID:
        raise PluginDefinitionError(
            f"{cls.__qualname__}.PLUGIN_ID must be an int in 1..{MAX_PLUGIN_ID} "
            f"(999 is reserved for development), or 0 for a syscall-source plugin, got {pid!r}"
        )
    source = getattr(cls, "EVENT_SOURCE", None)
    if pid == 0:
        # libsinsp reads no source of a plugin with id 0, and a host that sees a source
        # without an id calls the plugin broken (plugin_loader.c in falcosecurity/libs)
        if source not in ("", "syscall"):
            raise PluginDefinitionError(
                f"{cls.__qualname__}.PLUGIN_ID = 0 makes a syscall-source plugin (its events are of the "
                f"'syscall' source): set EVENT_SOURCE = '', or give it a plugin id (EVENT_SOURCE is {source!r})"
            )
        if cls.open is SourcePlugin.open:  # type: ignore[attr-defined]
            raise PluginDefinitionError(f"{cls.__qualname__} is a SourcePlugin but does not define open()")
        return
    if not isinstance(source, str) or not SOURCE_NAME_RE.match(source):
        raise PluginDefinitionError(
            f"{cls.__qualname__}.EVENT_SOURCE must match {SOURCE_NAME_RE.pattern}, got {source!r}"
        )
    if source in RESERVED_SOURCES:
        raise PluginDefinitionError(
            f"{cls.__qualname__}.EVENT_SOURCE {source!r} is reserved (reserved: {', '.join(RESERVED_SOURCES)})"
        )
    if cls.open is SourcePlugin.open:  # type: ignore[attr-defined]
        raise PluginDefinitionError(f"{cls.__qualname__} is a SourcePlugin but does not define open()")
