"""Extraction test plugins: every field type, lists, arguments, None and a raising field."""

from __future__ import annotations

import datetime
import ipaddress
import json
import threading
from typing import Any

from falco_plugin import (
    EndOfStream,
    Event,
    ExtractPlugin,
    Index,
    Key,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
    per_event,
)


class JsonInstance(SourceInstance):
    """Events are JSON objects {"n": i, "tags": [...], "ip": ..., "net": ...}."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.n = 0

    def next_batch(self) -> list[bytes]:
        if self.n >= self.count:
            raise EndOfStream
        self.n += 1
        record = {
            "n": self.n,
            "tags": [f"t{i}" for i in range(self.n % 4)],
            "ip": f"10.0.0.{self.n}" if self.n % 2 else f"2001:db8::{self.n:x}",
            "net": f"192.168.{self.n}.0/24",
            "thread": threading.get_ident(),
        }
        return [json.dumps(record).encode()]


class Typed(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "typed"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "one field per type"
    CONTACT = "https://example.com"
    PLUGIN_ID = 990
    EVENT_SOURCE = "typed"

    def __init__(self, config: None) -> None:
        self.decodes = 0

    def open(self, params: str) -> JsonInstance:
        return JsonInstance(int(params or "4"))

    @per_event
    def record(self, event: Event) -> dict[str, Any]:
        self.decodes += 1
        return json.loads(event.payload or b"{}")  # type: ignore[no-any-return]

    @field("typed.n", desc="the counter", display="Counter", add_output=True)
    def n(self, event: Event) -> int:
        return int(self.record(event)["n"])

    @field("typed.str", desc="the counter as text")
    def text(self, event: Event) -> str:
        return f"n={self.record(event)['n']} é"

    @field("typed.even", desc="is the counter even")
    def even(self, event: Event) -> bool:
        return bool(self.record(event)["n"] % 2 == 0)

    @field("typed.age", desc="a relative time")
    def age(self, event: Event) -> datetime.timedelta:
        return datetime.timedelta(seconds=self.record(event)["n"], microseconds=5)

    @field("typed.age_ns", desc="a relative time given in ns", type="reltime")
    def age_ns(self, event: Event) -> int:
        return int(self.record(event)["n"]) * 1000

    @field("typed.when", desc="an absolute time")
    def when(self, event: Event) -> datetime.datetime:
        return datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=self.record(event)["n"]
        )

    @field("typed.ip", desc="an address")
    def ip(self, event: Event) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.record(event)["ip"])

    @field("typed.net", desc="a network")
    def net(self, event: Event) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.record(event)["net"])

    @field("typed.tags", desc="a list of strings")
    def tags(self, event: Event) -> list[str]:
        return list(self.record(event)["tags"])

    @field("typed.multiples", desc="a list of numbers")
    def multiples(self, event: Event) -> list[int]:
        return [self.record(event)["n"] * k for k in (1, 2, 3)]

    @field("typed.maybe", desc="a value only for odd counters")
    def maybe(self, event: Event) -> int | None:
        n = int(self.record(event)["n"])
        return n if n % 2 else None

    @field("typed.tag", desc="the i-th tag", arg=Index(required=True))
    def tag(self, event: Event, i: int) -> str | None:
        tags = self.record(event)["tags"]
        return tags[i] if i < len(tags) else None

    @field("typed.get", desc="a key of the record", arg=Key(required=True))
    def get(self, event: Event, key: str) -> str | None:
        value = self.record(event).get(key)
        return None if value is None else str(value)

    @field("typed.opt", desc="an optional index", arg=Index())
    def opt(self, event: Event, i: int | None) -> str:
        return "none" if i is None else f"index {i}"

    @field("typed.boom", desc="raises on every event")
    def boom(self, event: Event) -> int:
        raise ZeroDivisionError(f"boom on event {self.record(event)['n']}")

    @field("typed.wrong", desc="returns the wrong type")
    def wrong(self, event: Event) -> int:
        return "not a number"  # type: ignore[return-value]

    @field("typed.decodes", desc="how many payload decodes so far")
    def decode_count(self, event: Event) -> int:
        self.record(event)
        return self.decodes

    @field("typed.thread", desc="the Python thread id that produced the event")
    def thread(self, event: Event) -> int:
        return int(self.record(event)["thread"])


class Reader(Plugin, ExtractPlugin):
    """Extract-only: reads the events of the `typed` source, and of no other."""

    NAME = "reader"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "extract-only plugin on another plugin's source"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("typed",)

    @field("reader.double", desc="twice the counter of a typed event")
    def double(self, event: Event) -> int:
        return 2 * int(json.loads(event.payload or b"{}")["n"])

    @field("reader.source", desc="the event's source")
    def source(self, event: Event) -> str:
        return event.source


class Prefetched(Plugin, SourcePlugin, ExtractPlugin):
    """Counts the calls of its field methods, to see what the shim computes ahead."""

    NAME = "prefetched"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "fields that count their calls"
    CONTACT = "https://example.com"
    PLUGIN_ID = 991
    EVENT_SOURCE = "prefetched"

    def __init__(self, config: None) -> None:
        self.calls: dict[str, int] = {"n": 0, "odd": 0, "rare": 0}

    def open(self, params: str) -> JsonInstance:
        return JsonInstance(int(params or "6"))

    @field("pf.n", desc="the counter, decoded once per event")
    @per_event
    def n(self, event: Event) -> int:
        self.calls["n"] += 1
        return int(json.loads(event.payload or b"{}")["n"])

    @field("pf.odd", desc="the counter, raising on even ones")
    def odd(self, event: Event) -> int:
        self.calls["odd"] += 1
        if self.n(event) % 2 == 0:
            raise ValueError(f"even counter {self.n(event)}")
        return self.n(event)

    @field("pf.ncalls", desc="how many times pf.n was computed so far")
    def ncalls(self, event: Event) -> int:
        return self.calls["n"]

    @field("pf.memo_misuse", desc="calls a per_event method with a keyword")
    def memo_misuse(self, event: Event) -> int:
        return self.n(event=event)
