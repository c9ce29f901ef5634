"""bench_py: the benchmark plugin, the same plugin as the Go and C++ SDK ones it is compared with.

Open params: a decimal N, the number of events. Event i (1..N) carries a 64-byte payload:
i as a little-endian uint64 followed by 56 zero bytes. Then end of stream.

Fields: ``bench.value`` (uint64, the counter), ``bench.str`` (string, the counter in
decimal), ``bench.div[n]`` (uint64, required index: 1 if the counter is divisible by n).

Init config (optional): ``{"batch": 64}`` events per batch, and ``"precompute": true`` to
build every payload at open time, so that a benchmark measures only the SDK's own cost.

    falco-plugin build examples/bench/bench_plugin.py:BenchPlugin -o libbench_py.so
    falco-plugin run libbench_py.so --open-params 5
"""

from __future__ import annotations

import struct

from pydantic import BaseModel, Field

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


class BenchConfig(BaseModel):
    batch: int = Field(default=64, ge=1, le=65536)
    precompute: bool = False


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

    def __init__(self, config: BenchConfig) -> None:
        self.batch = config.batch
        self.precompute = config.precompute

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
