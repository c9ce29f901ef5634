"""Async test plugins. The config picks the behaviour under test."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pydantic import BaseModel

from falco_plugin import (
    AsyncEvent,
    AsyncEventPlugin,
    AsyncHandler,
    BackgroundTask,
    BackgroundThread,
    Event,
    ExtractPlugin,
    Plugin,
    field,
)

log = logging.getLogger(__name__)


class TickerConfig(BaseModel):
    interval: float = 0.01
    count: int = 0  # events per thread; 0: until stopped
    threads: int = 1
    mode: str = ""  # raise | undeclared | start_fails | batch


class Ticker(Plugin, AsyncEventPlugin, ExtractPlugin):
    NAME = "ticker"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "emits ticks from background threads"
    CONTACT = "https://example.com"
    ASYNC_EVENTS = ("tick", "tock")
    EXTRACT_EVENT_SOURCES = ()
    EXTRACT_EVENT_TYPES = (402,)

    def __init__(self, config: TickerConfig) -> None:
        self.config = config
        self.tasks: list[BackgroundTask] = []
        self.threads: list[BackgroundThread] = []
        self.handler: AsyncHandler | None = None
        self.starts = 0

    def start_async(self, handler: AsyncHandler) -> None:
        self.starts += 1
        if self.config.mode == "start_fails":
            raise PermissionError("cannot watch anything")
        self.handler = handler
        log.info("start_async #%d on thread %d", self.starts, threading.get_ident())
        for t in range(self.config.threads):
            task = BackgroundTask()
            self.tasks.append(task)
            self.threads.append(task.spawn(self.config.interval, self.emitter(handler, t)))

    def emitter(self, handler: AsyncHandler, thread: int) -> Callable[[], bool]:
        sent = [0]

        def emit() -> bool:
            i = sent[0]
            if self.config.count and i >= self.config.count:
                return False
            sent[0] += 1
            if self.config.mode == "raise" and i == 3:
                raise OSError(f"sensor unplugged after {i} events")
            name = "nope" if self.config.mode == "undeclared" else "tick"
            payload = f"{thread}:{i}".encode()
            if self.config.mode == "batch":
                handler.emit_many([AsyncEvent(name, payload), AsyncEvent("tock", payload + b"!")])
            else:
                handler.emit(AsyncEvent(name, payload))
            return True

        return emit

    def stop_async(self) -> None:
        started = time.monotonic()
        for task in self.tasks:
            task.request_stop_and_notify()
        errors = []
        for thread in self.threads:
            try:
                thread.join()
            except Exception as exc:  # the task's own exception, re-raised by join
                errors.append(f"{type(exc).__name__}: {exc}")
        self.tasks, self.threads = [], []
        log.info("stopped in %d ms, threads alive: 0, join errors: %s", (time.monotonic() - started) * 1000,
                 errors or "none")

    def destroy(self) -> None:
        # after the host reset the handler: emitting must raise, not reach the host
        if self.handler is not None:
            try:
                self.handler.emit(AsyncEvent("tick", b"late"))
            except RuntimeError as exc:
                log.info("late emit refused: %s", exc)
            self.handler = None

    @field("ticker.payload", desc="the payload of a tick")
    def payload(self, event: Event) -> str | None:
        return None if event.async_name not in ("tick", "tock") else (event.payload or b"").decode()

    @field("ticker.name", desc="the async event's name")
    def name(self, event: Event) -> str | None:
        return event.async_name
