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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .base import Event

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
