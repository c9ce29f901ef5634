"""bench_async_py: emits N async events as fast as it can from K threads (for `make bench`).

Config ``{"events": N, "threads": K, "batch": B}``: each thread emits N/K events named
``bench_async`` with an 8-byte counter payload, one ``emit`` per event (B = 1) or with
``emit_many`` B events at a time. The same plugin as bench/c_reference/async_c.c.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from pydantic import BaseModel, Field

from falco_plugin import AsyncEvent, AsyncEventPlugin, AsyncHandler, BackgroundTask, BackgroundThread, Plugin

COUNTER = struct.Struct("<Q")


class AsyncBenchConfig(BaseModel):
    events: int = Field(default=1_000_000, ge=0)
    threads: int = Field(default=1, ge=1, le=64)
    batch: int = Field(default=1, ge=1)


class AsyncBench(Plugin, AsyncEventPlugin):
    NAME = "bench_async_py"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "async emit benchmark"
    CONTACT = "https://github.com/falcosecurity/plugins"
    ASYNC_EVENTS = ("bench_async",)

    def __init__(self, config: AsyncBenchConfig) -> None:
        self.config = config
        self.task = BackgroundTask()
        self.threads: list[BackgroundThread] = []

    def start_async(self, handler: AsyncHandler) -> None:
        per_thread = self.config.events // self.config.threads
        for t in range(self.config.threads):
            start = t * per_thread
            self.threads.append(self.task.spawn(0, self.emitter(handler, start, start + per_thread)))

    def emitter(self, handler: AsyncHandler, start: int, end: int) -> Callable[[], bool]:
        batch = self.config.batch

        def run() -> bool:
            pack = COUNTER.pack
            if batch == 1:
                emit = handler.emit
                for i in range(start, end):
                    emit(AsyncEvent("bench_async", pack(i)))
            else:
                emit_many = handler.emit_many
                for i in range(start, end, batch):
                    emit_many([AsyncEvent("bench_async", pack(j)) for j in range(i, min(i + batch, end))])
            return False  # once

        return run

    def stop_async(self) -> None:
        self.task.request_stop_and_notify()
        threads, self.threads = self.threads, []
        for thread in threads:
            thread.join()
