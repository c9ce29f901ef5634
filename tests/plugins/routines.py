"""Routines subscribed from parse_event with the thread pool kept from capture_open (as
libsinsp's routines test plugin does), and a subscribe after capture_close."""

from __future__ import annotations

import threading
import time
from typing import Any

from falco_plugin import CaptureListen, CaptureListenPlugin, Event, Metric, ParsePlugin, Plugin


class LateRoutines(Plugin, CaptureListenPlugin, ParsePlugin):
    NAME = "late_routines"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "subscribes routines while parsing"
    CONTACT = "https://example.com"
    PARSE_EVENT_SOURCES = ("sample",)
    PARSE_EVENT_TYPES = (322,)

    def __init__(self, config: None) -> None:
        self.pool: Any = None
        self.routines: list[Any] = []
        self.events = 0
        self.runs = [0, 0]
        self.runs_at_unsubscribe = -1
        self.runs_at_close = -1
        self.lock = threading.Lock()

    def capture_open(self, listen: CaptureListen) -> None:
        self.pool = listen.thread_pool  # kept past capture_open

    def counter(self, i: int) -> Any:
        def run() -> bool:
            with self.lock:
                self.runs[i] += 1
            time.sleep(0.001)
            return True

        return run

    def parse_event(self, event: Event) -> None:
        self.events += 1
        if self.events in (1, 2):  # step 1 and 2: one more routine each
            self.routines.append(self.pool.subscribe(self.counter(self.events - 1)))
            time.sleep(0.05)  # let it run a few times
        elif self.events == 3:  # step 3: the first one goes
            self.pool.unsubscribe(self.routines[0])
            time.sleep(0.05)  # a run in progress finishes
            with self.lock:
                self.runs_at_unsubscribe = self.runs[0]
        elif self.events == 4:  # not ended: runs on until the host purges the pool
            time.sleep(0.05)

    def capture_close(self, listen: CaptureListen) -> None:
        with self.lock:
            self.runs_at_close = self.runs[0]
        self.pool = listen.thread_pool  # the second routine is left for the host to purge

    def destroy(self) -> None:
        try:
            self.pool.subscribe(self.counter(0))
        except RuntimeError as exc:
            self.logger.warning("after capture_close: %s", exc)

    def get_metrics(self) -> list[Metric]:
        return [
            Metric("first_runs_at_unsubscribe", max(self.runs_at_unsubscribe, 0)),
            Metric("first_runs_at_close", max(self.runs_at_close, 0)),
            Metric("second_runs", self.runs[1]),
        ]
