"""bench_py: the benchmark plugin, the same plugin as the Go and C++ SDK ones it is compared with.

Open params: a decimal N, the number of events. Event i (1..N) carries a 64-byte payload:
i as a little-endian uint64 followed by 56 zero bytes. Then end of stream.

Fields: ``bench.value`` (uint64, the counter), ``bench.str`` (string, the counter in
decimal), ``bench.div[n]`` (uint64, required index: 1 if the counter is divisible by n).

Init config (optional): ``{"batch": 64}`` events per batch, and ``"precompute": true`` to
build every payload at open time, so that a benchmark measures only the SDK's own cost. The
plugin takes the raw config string and reads its two options itself: with no pydantic model
it never imports pydantic, which costs about 5 MiB of RSS and a good part of the start-up
(see ``make bench``, section M).

    falco-plugin build examples/bench/bench_plugin.py:BenchPlugin -o libbench_py.so
    falco-plugin run libbench_py.so --open-params 5
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from falco_plugin import (
    EndOfStream,
    Event,
    ExtractPlugin,
    Index,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
    per_event,
)

PAYLOAD = struct.Struct("<Q56x")
COUNTER = struct.Struct("<Q")
EMPTY = bytes(8)


@dataclass(frozen=True)
class BenchConfig:
    batch: int = 64
    precompute: bool = False

    @classmethod
    def parse(cls, text: str) -> BenchConfig:
        """``{"batch": 1..65536, "precompute": bool}``, both optional."""
        raw = json.loads(text) if text.strip() else {}
        if not isinstance(raw, dict) or set(raw) - {"batch", "precompute"}:
            raise ValueError(f"config must be an object with batch and precompute, got {text!r}")
        batch, precompute = raw.get("batch", 64), raw.get("precompute", False)
        if type(batch) is not int or not 1 <= batch <= 65536:
            raise ValueError(f"config: batch must be an integer in 1..65536, got {batch!r}")
        if type(precompute) is not bool:
            raise ValueError(f"config: precompute must be true or false, got {precompute!r}")
        return cls(batch, precompute)


class BenchInstance(SourceInstance):
    def __init__(self, count: int, batch: int, precompute: bool) -> None:
        self.count = count
        self.batch = batch
        self.done = 0
        self.payloads = [PAYLOAD.pack(i) for i in range(1, count + 1)] if precompute else None

    def next_batch(self) -> list[bytes]:
        start = self.done
        if start >= self.count:
            raise EndOfStream
        end = min(start + self.batch, self.count)
        self.done = end
        if self.payloads is not None:
            return self.payloads[start:end]
        pack = PAYLOAD.pack
        return [pack(i) for i in range(start + 1, end + 1)]


class BenchPlugin(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "bench_py"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "benchmark source: N events of a 64-byte counter payload"
    CONTACT = "https://github.com/falcosecurity/plugins"
    PLUGIN_ID = 999
    EVENT_SOURCE = "bench"

    def __init__(self, config: str) -> None:
        parsed = BenchConfig.parse(config)
        self.batch = parsed.batch
        self.precompute = parsed.precompute

    def open(self, params: str) -> BenchInstance:
        count = int(params.strip() or "0")
        if count < 0:
            raise ValueError(f"open params must be a number of events >= 0, got {params!r}")
        return BenchInstance(count, self.batch, self.precompute)

    @field("bench.value", desc="the counter")
    @per_event  # decoded once per event, shared by bench.str and bench.div
    def value(self, event: Event) -> int:
        value: int = COUNTER.unpack_from(event.payload or EMPTY)[0]
        return value

    @field("bench.str", desc="the counter in decimal")
    def str(self, event: Event) -> str:
        return f"{self.value(event)}"

    @field("bench.div", desc="1 if the counter is divisible by n, else 0", arg=Index(required=True))
    def div(self, event: Event, n: int) -> int:
        return 1 if n and self.value(event) % n == 0 else 0
