"""dummy_py: the SDKs' classic example, in Python.

A source of counters with jitter, like the Go `dummy`, C++ `dummy_c` and Rust `dummy_rs`
plugins, and with the same event source, configuration and open parameters:

- init config ``{"jitter": 10}``: each event's value is the previous one plus a random
  number in ``0..jitter``;
- open params ``{"start": 1, "maxEvents": 20}``: the first value and how many events to
  produce before the end of the stream (both optional, as is the whole string).

Each event's payload is the value as a little-endian uint64. Fields, as in the Go and C++
dummies: ``dummy.value``, ``dummy.strvalue`` and ``dummy.divisible[n]`` (1 if the value is
divisible by n, else 0), usable in rules such as ``dummy.divisible[3] = 1``.

    falco-plugin build examples/dummy/dummy_plugin.py:DummyPlugin -o libdummy_py.so
    falco-plugin run libdummy_py.so --open-params '{"start": 1, "maxEvents": 5}' \
        --fields dummy.value,dummy.strvalue,dummy.divisible[3]
"""

from __future__ import annotations

import json
import logging
import random

from pydantic import BaseModel, Field

from falco_plugin import (
    EndOfStream,
    Event,
    ExtractPlugin,
    Index,
    OpenParam,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
)

log = logging.getLogger(__name__)


class DummyConfig(BaseModel):
    """Init configuration of dummy_py."""

    jitter: int = Field(default=10, ge=0, description="Largest random step added to each value")


class OpenParams(BaseModel):
    start: int = Field(default=1, ge=0)
    maxEvents: int = Field(default=20, ge=0)


class DummyInstance(SourceInstance):
    def __init__(self, start: int, max_events: int, jitter: int) -> None:
        self.value = start
        self.remaining = max_events
        self.jitter = jitter
        self.random = random.Random()

    def next_batch(self) -> list[bytes]:
        if self.remaining <= 0:
            raise EndOfStream
        batch = []
        for _ in range(min(self.remaining, 64)):
            self.value += self.random.randint(0, self.jitter)
            batch.append(self.value.to_bytes(8, "little"))
        self.remaining -= len(batch)
        return batch


class DummyPlugin(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "dummy_py"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "Reference plugin for documentation: a source of counters with jitter"
    CONTACT = "https://github.com/falcosecurity/plugins"
    PLUGIN_ID = 4
    EVENT_SOURCE = "dummy"

    def __init__(self, config: DummyConfig) -> None:
        self.jitter = config.jitter

    def open(self, params: str) -> DummyInstance:
        parsed = OpenParams.model_validate_json(params or "{}")
        log.info("opening with start=%d maxEvents=%d", parsed.start, parsed.maxEvents)
        return DummyInstance(parsed.start, parsed.maxEvents, self.jitter)

    def list_open_params(self) -> list[OpenParam]:
        return [OpenParam(json.dumps({"start": 1, "maxEvents": 20}), "start at 1, stop after 20 events")]

    def event_to_string(self, event: Event) -> str:
        return f"value={self.value(event)}"

    @field("dummy.value", desc="The sample value in the event")
    def value(self, event: Event) -> int:
        return int.from_bytes(event.payload or b"", "little")

    @field("dummy.strvalue", desc="The sample value in the event, as a string")
    def strvalue(self, event: Event) -> str:
        return str(self.value(event))

    @field(
        "dummy.divisible",
        desc="Return 1 if the value is divisible by the provided divisor, 0 otherwise",
        arg=Index(required=True),
    )
    def divisible(self, event: Event, divisor: int) -> int | None:
        if divisor == 0:
            return None  # no value rather than a division by zero
        return int(self.value(event) % divisor == 0)
