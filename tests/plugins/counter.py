"""Source plugins used by the tests, each built into its own .so.

The open params pick a behaviour, so one library covers many host scenarios:
``count=N`` (default), ``batch=B``, ``mode=...`` (see CounterInstance.next_batch).
"""

from __future__ import annotations

import logging
import threading
import time

from pydantic import BaseModel, Field, field_validator

from falco_plugin import EndOfStream, OpenParam, Plugin, SourceInstance, SourcePlugin, Timeout

log = logging.getLogger(__name__)


class CounterConfig(BaseModel):
    start: int = Field(default=1, ge=0)
    label: str = "counter"

    @field_validator("label")
    @classmethod
    def no_spaces(cls, value: str) -> str:
        if " " in value:
            raise ValueError("must not contain spaces")
        return value


def parse_params(params: str) -> dict[str, str]:
    out = {}
    for part in params.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


class CounterInstance(SourceInstance):
    def __init__(self, plugin: Counter, params: dict[str, str]) -> None:
        self.plugin = plugin
        self.next_value = plugin.start
        self.remaining = int(params.get("count", "5"))
        self.batch = int(params.get("batch", "1"))
        self.mode = params.get("mode", "")
        self.timeouts_left = int(params.get("timeouts", "0"))
        self.calls = 0

    def payload(self) -> bytes:
        value = self.next_value
        self.next_value += 1
        return f"{self.plugin.label}:{value}:{threading.get_ident()}".encode()

    def take(self) -> list[bytes]:
        n = min(self.batch, self.remaining)
        self.remaining -= n
        return [self.payload() for _ in range(n)]

    def next_batch(self) -> list[bytes] | list[tuple[bytes, int]]:
        self.calls += 1
        if self.mode == "raise_batch" and self.calls == 2:
            raise ValueError("batch exploded on call 2")
        if self.mode == "bad_item":
            return ["not bytes"]  # type: ignore[return-value]
        if self.timeouts_left > 0:
            self.timeouts_left -= 1
            if self.timeouts_left % 2:
                return []  # an empty batch is a timeout
            raise Timeout
        if self.mode == "idle":
            return []
        if self.mode == "slow":
            time.sleep(0.002)
        if self.remaining <= 0:
            raise EndOfStream
        events = self.take()
        if self.mode == "partial_eof" and self.remaining <= 0:
            raise EndOfStream(events)
        if self.mode == "timestamps":
            return [(p, 1_000_000_000 + i) for i, p in enumerate(events)]
        return events

    def close(self) -> None:
        log.info("closed after %d calls", self.calls)


class Counter(Plugin, SourcePlugin):
    NAME = "counter"
    PLUGIN_VERSION = "1.2.3"
    DESCRIPTION = "counts, for the tests"
    CONTACT = "https://example.com/counter"
    PLUGIN_ID = 999
    EVENT_SOURCE = "counter"

    def __init__(self, config: CounterConfig) -> None:
        self.start = config.start
        self.label = config.label
        log.warning("counter ready, start=%d", self.start)

    def open(self, params: str) -> CounterInstance:
        parsed = parse_params(params)
        if parsed.get("mode") == "raise_open":
            raise RuntimeError("cannot open: mode=raise_open")
        log.info("open %s", params)
        return CounterInstance(self, parsed)

    def list_open_params(self) -> list[OpenParam]:
        return [OpenParam("count=5", "five events"), OpenParam("count=1,batch=64", "many per batch", ",")]


class Other(Plugin, SourcePlugin):
    """A second, different plugin, to load two SDK plugins in one process."""

    NAME = "other"
    PLUGIN_VERSION = "0.0.1"
    DESCRIPTION = "another source"
    CONTACT = "https://example.com/other"
    PLUGIN_ID = 998
    EVENT_SOURCE = "other"

    def open(self, params: str) -> SourceInstance:
        class Once(SourceInstance):
            done = False

            def next_batch(self) -> list[bytes]:
                if self.done:
                    raise EndOfStream
                self.done = True
                return [b"other:%d" % threading.get_ident()] * 3

        return Once()


class FailsInInit(Plugin, SourcePlugin):
    NAME = "fails_in_init"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "raises in __init__"
    CONTACT = "https://example.com"
    PLUGIN_ID = 997
    EVENT_SOURCE = "fails"

    def __init__(self, config: None) -> None:
        raise KeyError("missing-credentials")

    def open(self, params: str) -> SourceInstance:
        raise AssertionError("never opened")
