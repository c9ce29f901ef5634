"""Async events: a plugin injects events into Falco's stream from its own threads.

The host hands the plugin an :class:`AsyncHandler` when capture starts (``start_async``) and
takes it back when capture stops (``stop_async``, which must stop and join the plugin's
threads before it returns). ``handler.emit`` may be called from any thread::

    from falco_plugin import AsyncEvent, AsyncEventPlugin, AsyncHandler, BackgroundTask, Plugin

    class SampleAsync(Plugin, AsyncEventPlugin):
        NAME = "sample_async"
        PLUGIN_VERSION = "0.1.0"
        DESCRIPTION = "emits a hello every 100 ms"
        CONTACT = "https://example.com"
        ASYNC_EVENTS = ["sample_async"]
        EVENT_SOURCES = []                      # attach to every event source

        def __init__(self, config: None) -> None:
            self.task = BackgroundTask()
            self.thread: BackgroundThread | None = None

        def start_async(self, handler: AsyncHandler) -> None:
            self.thread = self.task.spawn(0.1, lambda: handler.emit(AsyncEvent("sample_async", b"hello")))

        def stop_async(self) -> None:
            self.task.request_stop_and_notify()
            if self.thread is not None:
                thread, self.thread = self.thread, None
                thread.join()                   # re-raises what the task raised

Each emitted event reaches the host as a ``PPME_ASYNCEVENT_E`` (type 402) event, framed in C;
the GIL is released while the host takes it, so emitting never blocks the host's threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Protocol

__all__ = ["AsyncEvent", "AsyncEventPlugin", "AsyncHandler", "BackgroundTask", "BackgroundThread"]


class AsyncEvent:
    """An async event: a declared name, payload bytes, and optionally its time and thread.

    ``ts`` (ns since the epoch) defaults to "now" and ``tid`` to "no thread", as the host
    defines them.

    >>> AsyncEvent("sample_async", b"hello")
    AsyncEvent('sample_async', b'hello')
    """

    __slots__ = ("data", "name", "tid", "ts")

    def __init__(self, name: str, data: bytes = b"", ts: int | None = None, tid: int | None = None) -> None:
        self.name = name
        self.data = data
        self.ts = ts
        self.tid = tid

    def __repr__(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("ts", "tid") if getattr(self, k) is not None)
        return f"AsyncEvent({self.name!r}, {self.data!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncEvent) and (self.name, self.data, self.ts, self.tid) == (
            other.name, other.data, other.ts, other.tid,
        )

    __hash__ = None  # type: ignore[assignment]

    def to_bytes(self) -> bytes:
        """The event as the host receives it (``PPME_ASYNCEVENT_E``, plugin id 0)."""
        from .event import AsyncEvent as AsyncEventRecord

        return AsyncEventRecord(self.name, bytes(self.data), ts=self.ts, tid=self.tid).to_bytes()


class AsyncHandler(Protocol):
    """What ``start_async`` receives: the host's async event handler, for any thread."""

    def emit(self, event: AsyncEvent, /) -> None:
        """Send one event. Raises ValueError for an undeclared name, RuntimeError if the host
        rejects it (with the host's message) or if the handler was already taken back."""

    def emit_many(self, events: Iterable[AsyncEvent], /) -> None:
        """Send several events with one crossing into C (the GIL released once)."""


class AsyncEventPlugin:
    """Capability mixin: the plugin emits async events."""

    #: The names of the async events the plugin may emit.
    ASYNC_EVENTS: ClassVar[Sequence[str]]
    #: The event sources the plugin's events may go into; empty means every source.
    EVENT_SOURCES: ClassVar[Sequence[str]] = ()

    def start_async(self, handler: AsyncHandler) -> None:
        """Capture started: start producing events through ``handler``."""
        raise NotImplementedError

    def stop_async(self) -> None:
        """Capture stopped: stop the producers and wait for them before returning."""
        raise NotImplementedError

    def dump_state(self, handler: AsyncHandler) -> None:
        """Emit events describing the plugin's state into a capture file being written.
        Exported only if overridden; runs synchronously on the caller's thread."""


class BackgroundThread:
    """A running :meth:`BackgroundTask.spawn`; ``join()`` re-raises what the function raised."""

    def __init__(self, stop: threading.Event, interval: float, fn: Callable[[], object]) -> None:
        self._stop = stop
        self._interval = interval
        self._fn = fn
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"falco-plugin:{getattr(fn, '__name__', 'task')}",
                                        daemon=True)  # never keeps the host process alive
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._fn() is False:
                    break
                if self._stop.wait(self._interval):
                    break
        except BaseException as exc:
            self._error = exc
            logging.getLogger(getattr(self._fn, "__module__", None) or __name__).error(
                "background task %s failed: %s: %s", self._thread.name, type(exc).__name__, exc
            )

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end, then re-raise what the function raised, if anything."""
        self._thread.join(timeout)
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class BackgroundTask:
    """Runs a function every ``interval`` seconds on a thread until a stop is requested.

    >>> import time
    >>> task, ticks = BackgroundTask(), []
    >>> thread = task.spawn(0.001, lambda: ticks.append(1))
    >>> time.sleep(0.02); task.request_stop_and_notify(); thread.join()
    >>> len(ticks) > 0
    True

    ``fn`` returning ``False`` ends the loop too. After a stop, ``spawn`` starts afresh.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()

    def spawn(self, interval: float, fn: Callable[[], object]) -> BackgroundThread:
        self._stop = threading.Event()  # a new run: earlier threads keep their own (set) event
        return BackgroundThread(self._stop, interval, fn)

    def request_stop_and_notify(self) -> None:
        """Ask the thread to stop, waking it at once (it does not wait out its interval)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()
