"""Capture listening: the plugin hears when capture starts and stops (live or from a file),
with table access, and can run routines on the host's thread pool meanwhile::

    import time
    from falco_plugin import CaptureListen, CaptureListenPlugin, Plugin

    class Ticker(Plugin, CaptureListenPlugin):
        NAME = "ticker"
        PLUGIN_VERSION = "0.1.0"
        DESCRIPTION = "counts seconds of capture"
        CONTACT = "https://example.com"

        def __init__(self, config: None) -> None:
            self.seconds = 0
            self.routine = None

        def tick(self) -> bool:
            time.sleep(1)
            self.seconds += 1
            return True                 # run again; False ends the routine

        def capture_open(self, listen: CaptureListen) -> None:
            self.routine = listen.thread_pool.subscribe(self.tick)

        def capture_close(self, listen: CaptureListen) -> None:
            listen.thread_pool.unsubscribe(self.routine)

A routine runs concurrently with the event loop: it must not use tables. One that raises
is logged and ends. After capture_close the host waits for running routines.

The thread pool may be kept: routines can be subscribed and unsubscribed from any later
call (``parse_event``, a field, another routine) until ``capture_close`` returns; after that
``subscribe`` raises ``RuntimeError``::

    def capture_open(self, listen: CaptureListen) -> None:
        self.pool = listen.thread_pool

    def parse_event(self, event: Event) -> None:
        if self.routine is None:
            self.routine = self.pool.subscribe(self.tick)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["CaptureListen", "CaptureListenPlugin", "Routine", "ThreadPool"]


class Routine(Protocol):
    """A handle of a subscribed routine."""


class ThreadPool(Protocol):
    """The host's thread pool (usable from capture_open until capture_close returns)."""

    def subscribe(self, fn: Callable[[], bool]) -> Routine:
        """Run ``fn()`` again and again on a pool thread until it returns False."""

    def unsubscribe(self, routine: Routine) -> None:
        """Stop a routine; one that is running finishes its current call."""


class CaptureListen:
    """What capture_open and capture_close receive."""

    def __init__(self, thread_pool: ThreadPool) -> None:
        self.thread_pool = thread_pool


class CaptureListenPlugin:
    """Capability mixin: the plugin listens to capture open and close."""

    def capture_open(self, listen: CaptureListen) -> None:
        """Capture starts: tables may be read and written, routines subscribed."""

    def capture_close(self, listen: CaptureListen) -> None:
        """Capture stops: unsubscribe routines here."""
