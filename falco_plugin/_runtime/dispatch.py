"""What the shim calls per event, built once per plugin from its declaration: the field
extractors by field id (typed events decoded once per event, batch fields checked), the
parse method, the capture listeners, the metrics."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._spec.fields import declared_fields, event_codes, typed_event_classes, where
from ..base import Plugin
from ..extract import Field, Located, Payloads
from ..listen import CaptureListen
from ..metrics import Metric


def types_at_init(plugin: Any, base: type, method: str, default: Callable[[Any], list[int]],
                  sources: Callable[[Any], list[str]]) -> list[int] | None:
    """What the overridden ``method`` of an initialized plugin decides (None: not overridden).

    A method that returns None keeps the class default; one that returns something that is not
    a list of codes raises, naming the method and where it is.
    """
    fn = getattr(type(plugin), method, None)
    if fn is None or fn is getattr(base, method, None):
        return None
    value = getattr(plugin, method)()
    if value is None:
        return default(type(plugin))
    return event_codes(f"{type(plugin).__qualname__}.{method}() (at {where(fn)})", value, sources(type(plugin)))


def field_methods(plugin: Plugin) -> tuple[Callable[..., Any], ...]:
    """The extractor of every field, indexed by field id (the shim's dispatch table)."""
    methods: list[Callable[..., Any]] = []
    for f in declared_fields(type(plugin)):
        method = getattr(plugin, f.method)
        if f.batch:
            methods.append(_one_event_caller(_checked_batch(method, f), f.type))
            continue
        classes = typed_event_classes(method)
        call = _typed_caller(method, classes) if classes else method
        methods.append(_at_offset(call, f.offset, f.is_list) if f.offset is not None else call)
    return tuple(methods)


def batch_methods(plugin: Plugin) -> tuple[Callable[..., Any] | None, ...]:
    """By field id: the batch extractor of a batch field, else None (the shim's batch table)."""
    return tuple(
        _checked_batch(getattr(plugin, f.method), f) if f.batch else None for f in declared_fields(type(plugin))
    )


def _checked_batch(method: Callable[..., Any], spec: Field) -> Callable[..., Any]:
    """The batch method, checked to return one value per payload."""
    qualname = getattr(method, "__qualname__", spec.method)

    def call(payloads: Sequence[Any], *arg: Any) -> Any:
        values = method(payloads, *arg)
        if isinstance(values, (list, tuple)):
            if len(values) == len(payloads):
                return values
            got = f"{len(values)} values"
        elif not spec.is_list and ((spec.type == "string" and isinstance(values, str)) or _is_buffer(values)):
            return values  # packed: the shim checks the length and the item type
        else:
            got = type(values).__name__ + ("" if spec.is_list else " (packed values come in a buffer)")
        raise ValueError(
            f"{qualname} (batch field {spec.name}) must return a list of one value per event: "
            f"got {got} for {len(payloads)} events (at {where(method)})"
        )

    call.__qualname__ = qualname
    call.__falco_where__ = f" (in {qualname} (at {where(method)}))"  # type: ignore[attr-defined]
    return call


def _is_buffer(values: object) -> bool:
    try:
        memoryview(values)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def _only_value(values: Any, ftype: str) -> Any:
    """The one value of a batch of one, as the batch method returned it (a list, or packed)."""
    if isinstance(values, (list, tuple)):
        return values[0]
    if ftype == "string":
        return values if isinstance(values, str) else bytes(values)
    view = memoryview(values)
    if view.ndim == 1 and view.format in ("B", "b", "c") and view.nbytes == 8:  # bytes of one uint64
        return int.from_bytes(view, sys.byteorder)
    if view.ndim != 1 or len(view) != 1:
        raise ValueError(f"a batch field must return one value per event: got {len(view)} for 1 event")
    return view[0]


def _one_event_caller(batch: Callable[..., Any], ftype: str) -> Callable[..., Any]:
    """A batch field asked for an event outside the current batch: a batch of one."""

    def call(event: Any, *arg: Any) -> Any:
        return _only_value(batch(Payloads([event.payload]), *arg), ftype)

    call.__qualname__ = batch.__qualname__
    return call


def _at_offset(call: Callable[..., Any], offset: tuple[int, int], is_list: bool) -> Callable[..., Any]:
    """A field declared ``offset=``: its values as Located at that range."""
    start, length = offset

    def located(*args: Any) -> Any:
        value = call(*args)
        if value is None:
            return None
        if is_list:
            return [v if isinstance(v, Located) else Located(v, start, length) for v in value]
        return value if isinstance(value, Located) else Located(value, start, length)

    located.__qualname__ = getattr(call, "__qualname__", "field")
    return located


_TYPED = "__falco_typed_event"


def typed_event(event: Any) -> Any:
    """The typed form of a host event, decoded on first use and kept for the rest of the event."""
    cache = event.__dict__
    typed = cache.get(_TYPED)
    if typed is None:
        from ..event import RawEvent

        typed = cache[_TYPED] = RawEvent.from_bytes(event.raw).load_any()
    return typed


def _typed_caller(method: Callable[..., Any], classes: tuple[type, ...]) -> Callable[..., Any]:
    def call(event: Any, *arg: Any) -> Any:
        typed = typed_event(event)
        return method(typed, *arg) if isinstance(typed, classes) else None

    call.__qualname__ = method.__qualname__
    return call


def parse_method(plugin: Plugin) -> Callable[[Any], Any]:
    """What the shim calls per event: parse_event, through the typed-event decode if typed."""
    method = plugin.parse_event  # type: ignore[attr-defined]
    classes = typed_event_classes(method)
    return _typed_caller(method, classes) if classes else method


def capture_listen(plugin: Any, what: str, pool: Any) -> None:
    getattr(plugin, what)(CaptureListen(pool))


def metric_tuples(metrics: Iterable[Metric]) -> list[tuple[str, bool, int, int | float]]:
    out = []
    for m in metrics:
        if not isinstance(m, Metric):
            raise TypeError(f"get_metrics() must return Metric objects, got {type(m).__name__}")
        out.append(m.as_tuple())
    return out
