"""bench_batch_py: the benchmark plugin of bench_plugin.py with its fields computed per batch.

The same source, fields and values as ``bench_py``; each field is declared with
``batch=True``, so the shim calls it once per batch and answers every request for an event
of the batch from C. ``values`` decodes the counters of a whole batch at once and is shared
by the three fields (:func:`~falco_plugin.per_batch`).

    falco-plugin build examples/bench/bench_batch.py:BenchBatchPlugin -o libbench_batch_py.so
    falco-plugin run libbench_batch_py.so --open-params 5 --fields bench.value,bench.str,bench.div[2]
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from bench_plugin import BenchConfig, BenchInstance, BenchPlugin

from falco_plugin import ExtractPlugin, Index, field, per_batch

EMPTY = bytes(8)
COUNTER = struct.Struct("<Q")
BATCH_UNPACK: dict[int, Callable[[bytes], tuple[int, ...]]] = {}  # by batch size
__all__ = ["BenchBatchPlugin", "BenchConfig", "BenchInstance"]


class BenchBatchPlugin(BenchPlugin, ExtractPlugin):
    NAME = "bench_batch_py"
    DESCRIPTION = "benchmark source: N events of a 64-byte counter payload, fields per batch"

    @per_batch
    def values(self, payloads: Sequence[bytes]) -> Sequence[int]:
        data = b"".join(payloads)
        if len(data) == 64 * len(payloads):  # the common case: one unpack for the whole batch
            unpack = BATCH_UNPACK.get(len(payloads))
            if unpack is None:
                unpack = BATCH_UNPACK[len(payloads)] = struct.Struct("<" + "Q56x" * len(payloads)).unpack
            values: tuple[int, ...] = unpack(data)
            return values
        return [COUNTER.unpack_from(p if len(p) >= 8 else EMPTY)[0] for p in payloads]

    @field("bench.value", desc="the counter", batch=True)
    def value(self, payloads: Sequence[bytes]) -> Sequence[int]:  # type: ignore[override]
        return self.values(payloads)

    @field("bench.str", desc="the counter in decimal", batch=True)
    def str(self, payloads: Sequence[bytes]) -> list[str]:  # type: ignore[override]
        return list(map(str, self.values(payloads)))

    @field("bench.div", desc="1 if the counter is divisible by n, else 0", arg=Index(required=True), batch=True)
    def div(self, payloads: Sequence[bytes], n: int) -> list[int]:  # type: ignore[override]
        return [0] * len(payloads) if not n else [1 if v % n == 0 else 0 for v in self.values(payloads)]
