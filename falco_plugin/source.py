"""Event sourcing: ``SourcePlugin`` opens ``SourceInstance`` objects that produce events.

An instance hands the host events in batches: ``next_batch()`` returns a list of payloads
(``bytes``) or ``(payload, timestamp_ns)`` pairs. The shim frames each payload as a Falco
plugin event (``PPME_PLUGINEVENT_E``) in C, so one Python call serves a whole batch::

    from falco_plugin import EndOfStream, Plugin, SourceInstance, SourcePlugin

    class Countdown(SourceInstance):
        def __init__(self, n: int) -> None:
            self.n = n

        def next_batch(self) -> list[bytes]:
            if self.n == 0:
                raise EndOfStream
            batch = [i.to_bytes(8, "little") for i in range(self.n, max(self.n - 64, 0), -1)]
            self.n -= len(batch)
            return batch

    class Counter(Plugin, SourcePlugin):
        NAME = "countdown"
        PLUGIN_VERSION = "0.1.0"
        DESCRIPTION = "counts down"
        CONTACT = "https://example.com"
        PLUGIN_ID = 999
        EVENT_SOURCE = "countdown"

        def open(self, params: str) -> Countdown:
            return Countdown(int(params or "10"))

A **syscall-source plugin** has ``PLUGIN_ID = 0`` and ``EVENT_SOURCE = ""``: its events are
syscall events of the ``syscall`` source, as libsinsp supports (Falco opens such a plugin only
without a driver). ``next_batch`` then returns whole events, typed events of
:mod:`falco_plugin.event` whose header ``ts`` and ``tid`` the plugin sets (``ts=None``: the
host stamps it), and hosts parse them into their thread state like driver events::

    from falco_plugin.event import PPME_SYSCALL_OPEN_X

    class Opens(SourceInstance):
        def next_batch(self) -> list[PPME_SYSCALL_OPEN_X]:
            return [PPME_SYSCALL_OPEN_X(fd=3, name="/tmp/f", flags=0, mode=0, dev=0, ino=1, tid=1)]

An empty list means "nothing right now": the host gets ``SS_PLUGIN_TIMEOUT``. If the call
came back quickly, the shim waits out a short pause first (``SourcePlugin.TIMEOUT_PAUSE``, the GIL
released) so that a plugin with nothing to say never spins the host's CPU.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .base import Event, Plugin, PluginDefinitionError

if TYPE_CHECKING:  # not imported at run time: a plugin without typed events never loads the schema
    from .event import TypedEvent

__all__ = [
    "BatchItem",
    "EndOfStream",
    "OpenParam",
    "SourceInstance",
    "SourcePlugin",
    "Timeout",
]

#: What ``next_batch`` returns items of: a payload, or a payload with its timestamp in ns.
BatchItem = bytes | tuple[bytes, int]

SOURCE_NAME_RE = re.compile(r"^[a-z]+[a-z0-9_]*$")
RESERVED_SOURCES = ("syscall", "internal", "plugins")
MAX_PLUGIN_ID = 2**31 - 1

class EndOfStream(Exception):
    """Raise from ``next_batch`` when the stream is over, optionally with its last events.

    >>> try:
    ...     raise EndOfStream([b"last"])
    ... except EndOfStream as end:
    ...     end.events
    [b'last']
    """

    def __init__(self, events: Sequence[BatchItem] = ()) -> None:
        super().__init__("end of stream")
        self.events = events


class Timeout(Exception):
    """Raise from ``next_batch`` to say "nothing more right now", optionally after some events."""

    def __init__(self, events: Sequence[BatchItem] = ()) -> None:
        super().__init__("timeout")
        self.events = events


@dataclass(frozen=True)
class OpenParam:
    """One suggestion of ``list_open_params``."""

    value: str
    desc: str = ""
    separator: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"value": self.value}
        if self.desc:
            out["desc"] = self.desc
        if self.separator:
            out["separator"] = self.separator
        return out


class SourceInstance:
    """One open stream of events. Subclass it and implement ``next_batch``."""

    def next_batch(self) -> Sequence[BatchItem | TypedEvent]:
        """The next events: a non-empty list, an empty one for "none yet", or raise EndOfStream.

        Items are payloads or ``(payload, ts)`` pairs (both may be mixed in one batch); a
        syscall-source plugin returns typed events instead."""
        raise NotImplementedError

    def close(self) -> None:
        """Called once when the host closes the stream."""

    def progress(self) -> tuple[float, str | None]:
        """How far the stream is, in percent, and an optional text. Used only if overridden."""
        return 0.0, None


class SourcePlugin:
    """Capability mixin: the plugin is a source of events of ``EVENT_SOURCE``."""

    #: The plugin ID from the registry (999 is reserved for development); 0 with an empty
    #: ``EVENT_SOURCE``: a syscall-source plugin (typed syscall events, the ``syscall`` source).
    PLUGIN_ID: ClassVar[int]
    #: The name of the event source, e.g. "k8s_audit".
    EVENT_SOURCE: ClassVar[str]
    #: Least time in seconds a ``next_batch`` call that produced nothing takes (no busy loop).
    TIMEOUT_PAUSE: ClassVar[float] = 0.01

    def open(self, params: str) -> SourceInstance:
        """Open a stream with the host's open parameters."""
        raise NotImplementedError

    def list_open_params(self) -> Sequence[OpenParam]:
        """Suggested open parameters. Exported only if overridden."""
        return []

    def event_to_string(self, event: Event) -> str:
        """A one-line description of one of this plugin's events (``evt.plugininfo``)."""
        return ""


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
        # without an id calls the plugin broken (plugin-api.md §2.4)
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
