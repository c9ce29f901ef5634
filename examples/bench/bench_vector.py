"""bench_vector_py: the batch benchmark plugin with vectorized batch fields, stdlib only.

The same source, fields and values as ``bench_batch_py``, but no Python object per value
where it can be avoided: the counters are cut out of the batch's contiguous buffer
(``payloads.buffer``) by a strided ``memoryview`` and returned as packed uint64s, and
``bench.str`` returns the decimal strings joined by NUL. See ``bench_numpy.py`` for the same
with numpy.

    falco-plugin build examples/bench/bench_vector.py:BenchVectorPlugin -o libbench_vector_py.so
    falco-plugin run libbench_vector_py.so --open-params 5 --fields bench.value,bench.str,bench.div[2]
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence

from bench_plugin import BenchConfig, BenchInstance, BenchPlugin

from falco_plugin import ExtractPlugin, Index, Payloads, field, per_batch

COUNTER = struct.Struct("<Q")
PAYLOAD_SIZE = 64
__all__ = ["BenchConfig", "BenchInstance", "BenchVectorPlugin"]


class BenchVectorPlugin(BenchPlugin, ExtractPlugin):
    NAME = "bench_vector_py"
    DESCRIPTION = "benchmark source: N events of a 64-byte counter payload, vectorized batch fields"

    @per_batch
    def values(self, payloads: Payloads) -> Sequence[int]:
        """The counters of the batch, packed (the first 8 bytes of each payload)."""
        data = payloads.buffer
        if len(data) == PAYLOAD_SIZE * len(payloads):  # the common case: every 8th uint64 of the batch
            return array("Q", memoryview(data).cast("Q")[:: PAYLOAD_SIZE // 8].tobytes())
        return array("Q", (COUNTER.unpack_from(p.ljust(8, b"\0"))[0] for p in payloads))

    @field("bench.value", desc="the counter", type="uint64", batch=True)
    def value(self, payloads: Payloads) -> Sequence[int]:  # type: ignore[override]
        return self.values(payloads)

    @field("bench.str", desc="the counter in decimal", type="string", batch=True)
    def str(self, payloads: Payloads) -> str:  # type: ignore[override]
        return "\0".join(map(str, self.values(payloads)))

    @field("bench.div", desc="1 if the counter is divisible by n, else 0", type="uint64",
           arg=Index(required=True), batch=True)
    def div(self, payloads: Payloads, n: int) -> Sequence[int]:  # type: ignore[override]
        if not n:
            return bytes(8 * len(payloads))
        return array("Q", [v % n == 0 for v in self.values(payloads)])
