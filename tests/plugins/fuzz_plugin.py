"""A plugin whose every callback does what its config says (tests/test_fuzz_plugins.py).

The config is JSON: {"batches": [kind, ...], "fields": {name: kind}, "e2s": kind,
"progress": kind}. A kind names one of the behaviours below: plain values of every type,
values that are wrong for the callback, objects whose dunder methods raise or call back into
the SDK, results mutated after they were returned, exceptions.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

from falco_plugin import EndOfStream, Event, ExtractPlugin, Plugin, SourceInstance, SourcePlugin, Timeout, field

log = logging.getLogger(__name__)


class Boom(Exception):
    pass


class Ctx:
    """What a behaviour may touch: the plugin (its scratch objects) and the current event."""

    def __init__(self, plugin: Fuzz, event: Event | None) -> None:
        self.plugin = plugin
        self.event = event


def _reenter(ctx: Ctx) -> None:
    """Call back into the SDK from inside a conversion: read the event, log."""
    if ctx.event is not None:
        log.info("re-entered with %d payload bytes", len(ctx.event.payload or b""))


class EvilBool:
    def __init__(self, ctx: Ctx, raises: bool) -> None:
        self.ctx, self.raises = ctx, raises

    def __bool__(self) -> bool:
        _reenter(self.ctx)
        if self.raises:
            raise Boom("__bool__ refused")
        return True


class EvilIndex(int):
    def __index__(self) -> int:
        raise Boom("__index__ refused")


class EvilStr(str):
    def __str__(self) -> str:
        raise Boom("__str__ refused")


class Shifty:
    """Every attribute read calls back into the SDK, then raises or gives odd values."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def __getattr__(self, name: str) -> Any:
        _reenter(self.ctx)
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __len__(self) -> int:
        _reenter(self.ctx)
        return 3

    def __iter__(self) -> Iterator[Any]:
        _reenter(self.ctx)
        yield b"x"
        raise Boom("iteration refused")

    def __bytes__(self) -> bytes:
        raise Boom("__bytes__ refused")


class ShrinkingList(list):  # type: ignore[type-arg]
    """A list that empties itself when its length is asked."""

    def __len__(self) -> int:
        n = super().__len__()
        self.clear()
        return n


def _scratch(ctx: Ctx) -> list[str]:
    """The plugin's reused list: refilled here, emptied by the next "scratch" behaviour."""
    lst = ctx.plugin.scratch
    lst.clear()
    lst.extend("".join(["s"] * 50) + str(i) for i in range(3))
    return lst


def _self_list(ctx: Ctx) -> list[Any]:
    lst: list[Any] = ["a"]
    lst.append(lst)
    return lst


def _raise(ctx: Ctx) -> Any:
    raise Boom("the plugin raised")


VALUES: dict[str, Callable[[Ctx], Any]] = {
    "none": lambda c: None,
    "int": lambda c: 42,
    "neg": lambda c: -1,
    "big": lambda c: 2**64,
    "huge_int": lambda c: 10**40,
    "bool": lambda c: True,
    "float": lambda c: 1.5,
    "nan": lambda c: math.nan,
    "inf": lambda c: math.inf,
    "str": lambda c: "text é",
    "nul": lambda c: "a\0b",
    "huge_str": lambda c: "x" * 200_000,
    "str_subclass": lambda c: EvilStr("sub"),
    "bytes": lambda c: b"\x0a\x00\x00\x01",
    "bytes16": lambda c: bytes(range(16)),
    "bytearray": lambda c: bytearray(b"abcd"),
    "ip4": lambda c: ipaddress.ip_address("10.1.2.3"),
    "ip6": lambda c: ipaddress.ip_address("2001:db8::1"),
    "net": lambda c: ipaddress.ip_network("192.168.0.0/16"),
    "bad_ip": lambda c: "not an ip",
    "list_str": lambda c: ["a", "bb", "ccc"],
    "list_int": lambda c: [1, 2, 2**63],
    "list_mixed": lambda c: [1, "a", None, b"b"],
    "tuple": lambda c: ("t", "u"),
    "dict": lambda c: {"k": 1, b"x": 2},
    "set": lambda c: {"a", "b"},
    "gen": lambda c: (s for s in ("g", "h")),
    "scratch": _scratch,
    "shrinking": lambda c: ShrinkingList(["p", "q", "r"]),
    "self_list": _self_list,
    "evil_bool": lambda c: EvilBool(c, True),
    "reentrant_bool": lambda c: EvilBool(c, False),
    "evil_index": lambda c: EvilIndex(7),
    "shifty": lambda c: Shifty(c),
    "delta": lambda c: datetime.timedelta(seconds=3, microseconds=7),
    "neg_delta": lambda c: datetime.timedelta(days=-1),
    "big_delta": lambda c: datetime.timedelta(days=999_999_999),
    "datetime": lambda c: datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "naive_datetime": lambda c: datetime.datetime(2024, 1, 2),
    "old_datetime": lambda c: datetime.datetime(1900, 1, 1),
    "raise": _raise,
}

BATCHES: dict[str, Callable[[Ctx], Any]] = {
    "ok": lambda c: [b"one", b"two"],
    "pairs": lambda c: [(b"p", 1_700_000_000_000_000_000), (bytearray(b"q"), 0)],
    "empty": lambda c: [],
    "ts_neg": lambda c: [(b"x", -1)],
    "ts_big": lambda c: [(b"x", 2**64)],
    "ts_float": lambda c: [(b"x", 1.5)],
    "ts_evil": lambda c: [(b"x", EvilIndex(3))],
    "triple": lambda c: [(b"x", 1, 2)],
    "str_item": lambda c: ["text"],
    "huge_payload": lambda c: [b"z" * 1_000_000],
    "many": lambda c: [b"m"] * 5000,
    "eof_with": lambda c: EndOfStream([b"last"]),
    "timeout_with": lambda c: Timeout([b"t"]),
    "timeout_empty": lambda c: Timeout(),
    "eof": lambda c: EndOfStream(),
    "lazy_eof": lambda c: _Lazy(),
    **{k: VALUES[k] for k in ("none", "int", "str", "bytes", "dict", "set", "gen", "tuple", "shifty",
                              "shrinking", "self_list", "list_mixed", "raise")},
}


class _Lazy(EndOfStream):
    def __init__(self) -> None:  # no super().__init__: no .events
        pass


class FuzzInstance(SourceInstance):
    def __init__(self, plugin: Fuzz) -> None:
        self.plugin = plugin
        self.batches = list(plugin.spec.get("batches", []))

    def next_batch(self) -> Any:
        if not self.batches:
            raise EndOfStream
        out = BATCHES[self.batches.pop(0)](Ctx(self.plugin, None))
        if isinstance(out, BaseException):
            raise out
        return out

    def progress(self) -> Any:
        kind = self.plugin.spec.get("progress", "none")
        value = VALUES[kind](Ctx(self.plugin, None))
        return (value, "p") if kind != "tuple" else value


class Fuzz(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "fuzz"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "does what its config says"
    CONTACT = "https://example.com"
    PLUGIN_ID = 984
    EVENT_SOURCE = "fuzz"

    def __init__(self, config: str) -> None:
        self.spec: dict[str, Any] = json.loads(config or "{}")
        self.scratch: list[str] = []

    def open(self, params: str) -> FuzzInstance:
        return FuzzInstance(self)

    def event_to_string(self, event: Event) -> str:
        return self._value("e2s", event)  # type: ignore[no-any-return]

    def _value(self, name: str, event: Event) -> Any:
        return VALUES[self.spec.get("fields", {}).get(name, self.spec.get(name, "none"))](Ctx(self, event))

    @field("fz.s", desc="string")
    def s(self, event: Event) -> str:
        return self._value("fz.s", event)  # type: ignore[no-any-return]

    @field("fz.u", desc="uint64")
    def u(self, event: Event) -> int:
        return self._value("fz.u", event)  # type: ignore[no-any-return]

    @field("fz.b", desc="bool")
    def b(self, event: Event) -> bool:
        return self._value("fz.b", event)  # type: ignore[no-any-return]

    @field("fz.r", desc="reltime")
    def r(self, event: Event) -> datetime.timedelta:
        return self._value("fz.r", event)  # type: ignore[no-any-return]

    @field("fz.a", desc="abstime")
    def a(self, event: Event) -> datetime.datetime:
        return self._value("fz.a", event)  # type: ignore[no-any-return]

    @field("fz.ip", desc="ipaddr")
    def ip(self, event: Event) -> ipaddress.IPv4Address:
        return self._value("fz.ip", event)  # type: ignore[no-any-return]

    @field("fz.ls", desc="list of strings")
    def ls(self, event: Event) -> list[str]:
        return self._value("fz.ls", event)  # type: ignore[no-any-return]

    @field("fz.lu", desc="list of uint64")
    def lu(self, event: Event) -> list[int]:
        return self._value("fz.lu", event)  # type: ignore[no-any-return]


FIELDS = ("fz.s", "fz.u", "fz.b", "fz.r", "fz.a", "fz.ip", "fz.ls", "fz.lu")
