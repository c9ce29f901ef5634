"""bench_numpy_py: the vectorized batch benchmark plugin written with numpy (optional).

The same fields and values as ``bench_vector_py``; the counters are decoded with
``numpy.frombuffer`` over the batch's contiguous buffer and ``bench.div`` is computed for the
whole batch at once. numpy is never required by the SDK: ``make bench`` skips this plugin
when numpy is not installed.

    falco-plugin build examples/bench/bench_numpy.py:BenchNumpyPlugin -o libbench_numpy_py.so
    falco-plugin run libbench_numpy_py.so --open-params 5 --fields bench.value,bench.str,bench.div[2]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bench_plugin import BenchConfig, BenchInstance, BenchPlugin

from falco_plugin import ExtractPlugin, Index, Payloads, field, per_batch

PAYLOAD_SIZE = 64
__all__ = ["BenchConfig", "BenchInstance", "BenchNumpyPlugin"]


class BenchNumpyPlugin(BenchPlugin, ExtractPlugin):
    NAME = "bench_numpy_py"
    DESCRIPTION = "benchmark source: N events of a 64-byte counter payload, batch fields with numpy"

    @per_batch
    def values(self, payloads: Payloads) -> Any:
        """The counters of the batch as a contiguous uint64 array."""
        data = payloads.buffer
        if len(data) == PAYLOAD_SIZE * len(payloads):
            return np.frombuffer(data, dtype="<u8")[:: PAYLOAD_SIZE // 8].copy()
        return np.array([int.from_bytes(p[:8], "little") for p in payloads], dtype=np.uint64)

    @field("bench.value", desc="the counter", type="uint64", batch=True)
    def value(self, payloads: Payloads) -> Any:  # type: ignore[override]
        return self.values(payloads)

    @field("bench.str", desc="the counter in decimal", type="string", batch=True)
    def str(self, payloads: Payloads) -> str:  # type: ignore[override]
        return "\0".join(map(str, self.values(payloads).tolist()))

    @field("bench.div", desc="1 if the counter is divisible by n, else 0", type="uint64",
           arg=Index(required=True), batch=True)
    def div(self, payloads: Payloads, n: int) -> Any:  # type: ignore[override]
        if not n:
            return np.zeros(len(payloads), dtype=np.uint64)
        return (self.values(payloads) % np.uint64(n) == 0).astype(np.uint64)
