"""Metrics: a plugin reports counters and gauges by overriding ``get_metrics``; Falco
collects them with its own (Prometheus, stats file)::

    from falco_plugin import Metric, Plugin

    class P(Plugin, ...):
        def get_metrics(self) -> list[Metric]:
            return [Metric("events_seen", self.seen),                       # monotonic uint64
                    Metric("queue_depth", len(self.queue), monotonic=False),
                    Metric("load", 0.5, monotonic=False)]                    # a double

The host may call ``get_metrics`` from another thread (Falco's web server) while events
flow; the GIL keeps the plugin's own data consistent for one call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Metric", "MetricValueType"]


class MetricValueType(enum.IntEnum):
    """``ss_plugin_metric_value_type`` (API 3.6 numbering)."""

    U32 = 0
    S32 = 1
    U64 = 2
    S64 = 3
    D = 4
    F = 5
    I = 6  # noqa: E741 - the API's own name


_INT_RANGES = {
    MetricValueType.U32: (0, 2**32 - 1), MetricValueType.S32: (-(2**31), 2**31 - 1),
    MetricValueType.U64: (0, 2**64 - 1), MetricValueType.S64: (-(2**63), 2**63 - 1),
    MetricValueType.I: (-(2**31), 2**31 - 1),
}


@dataclass(frozen=True)
class Metric:
    """One metric: a name, a value, monotonic (a counter) or not (a gauge).

    The value type defaults to uint64 for an int >= 0, int64 for a negative int and double
    for a float; give ``value_type`` to choose another.

    >>> Metric("opens", 3).as_tuple()
    ('opens', True, 2, 3)
    """

    name: str
    value: int | float
    monotonic: bool = True
    value_type: MetricValueType | None = None

    def as_tuple(self) -> tuple[str, bool, int, int | float]:
        """What the shim turns into an ``ss_plugin_metric``; checks the value fits."""
        if not self.name or "\0" in self.name:
            raise ValueError(f"metric name {self.name!r} must be non-empty text")
        value_type = self.value_type
        if value_type is None:
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
                raise TypeError(f"metric {self.name}: the value must be an int or a float, not {self.value!r}")
            value_type = MetricValueType.D if isinstance(self.value, float) else (
                MetricValueType.U64 if self.value >= 0 else MetricValueType.S64)
        value = self.value
        if value_type in (MetricValueType.D, MetricValueType.F):
            value = float(value)
        else:
            low, high = _INT_RANGES[value_type]
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"metric {self.name}: {value!r} does not fit {value_type.name}")
        return self.name, self.monotonic, int(value_type), value
