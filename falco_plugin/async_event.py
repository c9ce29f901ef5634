"""Async events: a plugin injects events into Falco's stream from its own threads.

The host hands the plugin an :class:`AsyncHandler` when capture starts (``start_async``) and
takes it back when capture stops (``stop_async``, which must stop and join the plugin's
threads before it returns). ``handler.emit`` may be called from any thread::

    from falco_plugin import AsyncEvent, AsyncEventPlugin, AsyncHandler, BackgroundTask, BackgroundThread, Plugin

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

import operator
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

__all__ = ["AsyncEvent", "AsyncEventPlugin", "AsyncHandler", "BackgroundTask", "BackgroundThread", "PyAsyncEvent"]


_U64 = 1 << 64


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"AsyncEvent.name must be a str, not {type(name).__name__}")
    return str.__str__(name)  # an exact str, even from a subclass


def _check_data(data: object) -> bytes:
    if type(data) is bytes:
        return data
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"AsyncEvent.data must be bytes-like, not {type(data).__name__}") from None


def _check_u64(attr: str, value: object) -> int | None:
    if value is None:
        return None
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"AsyncEvent.{attr} must be None or an int, not {type(value).__name__}") from None
    if not 0 <= number < _U64:
        raise ValueError(f"AsyncEvent.{attr} must be None or an int in [0, 2**64), not {number}")
    return number


class AsyncEvent:
    """An async event: a declared name, payload bytes, and optionally its time and thread.

    ``ts`` (ns since the epoch) defaults to "now" and ``tid`` to "no thread", as the host
    defines them. The values are checked when they are set: ``name`` must be a ``str``,
    ``data`` bytes-like (kept as ``bytes``, a copy unless it is ``bytes`` already), ``ts`` and
    ``tid`` None or an int in [0, 2**64). Whether the name is one of the plugin's
    ``ASYNC_EVENTS`` is checked by ``emit``.

    Inside a plugin ``.so`` the shim provides this class implemented in C (cheaper to build
    and to emit); elsewhere (tests, tools) it is this Python implementation, which is also
    ``falco_plugin.async_event.PyAsyncEvent`` and behaves the same.

    >>> AsyncEvent("sample_async", b"hello")
    AsyncEvent('sample_async', b'hello')
    >>> AsyncEvent("sample_async", bytearray(b"hi"), ts=1).data
    b'hi'
    """

    __slots__ = ("_data", "_name", "_tid", "_ts")

    def __init__(self, name: str, data: bytes = b"", ts: int | None = None, tid: int | None = None) -> None:
        self._name = _check_name(name)
        self._data = _check_data(data)
        self._ts = _check_u64("ts", ts)
        self._tid = _check_u64("tid", tid)

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = _check_name(value)

    @property
    def data(self) -> bytes:
        return self._data

    @data.setter
    def data(self, value: bytes) -> None:
        self._data = _check_data(value)

    @property
    def ts(self) -> int | None:
        return self._ts

    @ts.setter
    def ts(self, value: int | None) -> None:
        self._ts = _check_u64("ts", value)

    @property
    def tid(self) -> int | None:
        return self._tid

    @tid.setter
    def tid(self, value: int | None) -> None:
        self._tid = _check_u64("tid", value)

    def __repr__(self) -> str:
        return _repr(self)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, PyAsyncEvent)
        return (self._name, self._data, self._ts, self._tid) == (other._name, other._data, other._ts, other._tid)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self._name, self._data, self._ts, self._tid))

    def to_bytes(self) -> bytes:
        """The event as the host receives it (``PPME_ASYNCEVENT_E``, plugin id 0)."""
        return _to_bytes(self)


def _repr(event: AsyncEvent) -> str:
    """``repr`` of either implementation."""
    extra = "".join(f", {k}={v!r}" for k, v in (("ts", event.ts), ("tid", event.tid)) if v is not None)
    return f"AsyncEvent({event.name!r}, {event.data!r}{extra})"


def _to_bytes(event: AsyncEvent) -> bytes:
    """``to_bytes`` of either implementation: the one framing, in ``falco_plugin.event``."""
    from .event import AsyncEvent as AsyncEventRecord

    return AsyncEventRecord(event.name, event.data, ts=event.ts, tid=event.tid).to_bytes()


#: The pure-Python implementation (whichever ``AsyncEvent`` is in use).
PyAsyncEvent = AsyncEvent

if not TYPE_CHECKING:
    # Inside a plugin .so, the shim has put falco_plugin._shim in sys.modules before any import;
    # its AsyncEvent is this class in C, read directly by emit().
    _native = getattr(sys.modules.get("falco_plugin._shim"), "AsyncEvent", None)
    if _native is not None:
        AsyncEvent = _native
        PyAsyncEvent.__name__ = PyAsyncEvent.__qualname__ = "PyAsyncEvent"  # found by that name (pickle)


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
    #: False: ``emit`` sends a name missing from ``ASYNC_EVENTS`` to the host, which rejects it
    #: as libsinsp does ("incompatible async event '<name>' produced by plugin: ..."; ``emit``
    #: raises RuntimeError with that text) instead of raising ValueError itself.
    CHECK_ASYNC_EVENT_NAMES: ClassVar[bool] = True

    def start_async(self, handler: AsyncHandler) -> None:
        """Capture started: start producing events through ``handler``."""
        raise NotImplementedError

    def stop_async(self) -> None:
        """Capture stopped: stop the producers and wait for them before returning."""
        raise NotImplementedError

    def dump_state(self, handler: AsyncHandler) -> None:
        """Emit events describing the plugin's state into a capture file being written.
        Exported only if overridden; runs synchronously on the caller's thread. Our host
        calls it with ``run --dump-state`` (or ``--dump-state-every N``)::

            def dump_state(self, handler: AsyncHandler) -> None:
                for name, count in self.counts.items():
                    handler.emit(AsyncEvent("counts", f"{name}={count}".encode()))
        """


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
            import logging

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
