"""Every Python name the C shim looks up by string: the other half of ``shim/*.c``.

The shim imports :mod:`falco_plugin._runtime` once and calls its functions by name
(``fp_runtime_call("create", ...)``); it also reads a few attributes of other modules and
calls methods of the objects a plugin gives it. Renaming one of these on the Python side
breaks plugins at run time only, so they are all listed here, and ``tests/unit/test_contract.py``
reads the C sources and fails when the shim looks up a name this module does not list or the
Python side does not have. :class:`Runtime` types the functions with the arguments the C
passes; mypy checks :mod:`falco_plugin._runtime` against it.

>>> "create" in RUNTIME_CALLS and "EndOfStream" in MODULE_ATTRIBUTES["falco_plugin._runtime"]
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import datetime

    from .. import _shim
    from ..base import Plugin
    from ..source import SourceInstance, SourcePlugin
    from .log import HostLink

#: The module the shim imports first (interpreter.c), whose functions it calls by name.
RUNTIME_MODULE = "falco_plugin._runtime"

#: ``fp_runtime_call(name, ...)``: the functions of :data:`RUNTIME_MODULE` the shim calls.
RUNTIME_CALLS = (
    "embedded",  # once the interpreter is started or joined (interpreter.c)
    "format_exception",  # the text of get_last_error (interpreter.c)
    "create",  # plugin_init
    "decide_at_init",  # plugin_init, when the build left event types or schema to init
    "set_config",  # plugin_set_config
    "destroy",  # plugin_destroy
    "open_instance",  # plugin_open
    "has_progress",  # plugin_open: whether get_progress is worth calling
    "syscall_events",  # next_batch of a syscall source: typed events to bytes
    "list_open_params",  # plugin_list_open_params
    "field_methods",  # the first extract_fields: the dispatch table by field id
    "batch_methods",  # the same for batch fields
    "field_location",  # a field's failure found by the shim (a wrong type): the method's file:line
    "parse_method",  # the first parse_event
    "capture_listen",  # capture_open / capture_close
    "metrics",  # get_metrics
)

#: Attributes the shim reads from modules (``PyImport_ImportModule`` then
#: ``PyObject_GetAttrString`` / ``PyObject_CallMethod``), by module.
MODULE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    RUNTIME_MODULE: (
        "EndOfStream",  # next_batch raised it: SS_PLUGIN_EOF
        "Timeout",  # next_batch raised it: SS_PLUGIN_TIMEOUT
        "datetime_ns",  # an abstime field's datetime to ns
        "ip_packed",  # an ipaddr / ipnet field's value to bytes
        *RUNTIME_CALLS,
    ),
    "falco_plugin.extract": (
        "Located",  # a field value with its offsets
        "Payloads",  # the list a batch field method receives
    ),
    "falco_plugin.tables": (
        "TableError",  # raised for a failed table operation
        "state_type",  # a key or field type hint to its state type code
        "_PYTHON_TABLES",  # the names of the tables plugins of this process export
    ),
    "falco_plugin.async_event": (
        "AsyncEvent",  # the Python class, used when it has the C layout (_fp_abi)
        "_repr",  # repr() of the C AsyncEvent
        "_to_bytes",  # AsyncEvent.to_bytes() of the C AsyncEvent
    ),
}

#: Attributes and methods the shim reads from objects a plugin gives it, by class.
OBJECT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "falco_plugin.source.SourcePlugin": ("event_to_string",),
    "falco_plugin.source.SourceInstance": ("next_batch", "progress", "close"),
    "falco_plugin.source.EndOfStream": ("events",),  # the last events, sent with SS_PLUGIN_EOF
    "falco_plugin.source.Timeout": ("events",),
    "falco_plugin.async_event.AsyncEventPlugin": ("start_async", "stop_async", "dump_state"),
    "falco_plugin.async_event.AsyncEvent": ("name", "data", "ts", "tid"),
    # the C AsyncEvent another plugin's shim registered first: used if its layout is this one's
    "falco_plugin._shim.AsyncEvent": ("_fp_abi",),
    "falco_plugin.extract.Located": ("value", "start", "length"),
    "falco_plugin.extract.Payloads": ("_buffer", "_offsets"),  # set to None when the shim makes one
    # an exported table: its name and key type at add_table, then the host's vtable calls
    "falco_plugin.tables.ExportedTable": (
        "name", "key_type", "_get", "_read", "_write", "_entries_list", "_create", "_add", "_fields", "_add_field",
        "_schema",  # its fields as handed out, shared by the nested tables of one field
    ),
}


class Runtime(Protocol):
    """:data:`RUNTIME_MODULE` as the shim sees it: what it passes, what it expects back."""

    @property
    def EndOfStream(self) -> type[Exception]: ...
    @property
    def Timeout(self) -> type[Exception]: ...

    def embedded(self) -> None: ...
    def format_exception(self, exc: BaseException) -> str: ...
    def create(
        self, module: str, qualname: str, config: str, link: HostLink, tables: _shim.HostTables | None,
        sys_path: str = "", build: str = "{}",
    ) -> Plugin: ...
    def decide_at_init(self, plugin: Plugin) -> tuple[list[int] | None, list[int] | None, str | None]: ...
    def set_config(self, plugin: Plugin, config: str) -> None: ...
    def destroy(self, plugin: Plugin, link: HostLink) -> None: ...
    def open_instance(self, plugin: SourcePlugin, params: str) -> SourceInstance: ...
    def has_progress(self, instance: object, exported: bool) -> bool: ...
    def syscall_events(self, batch: Any) -> list[bytes]: ...
    def list_open_params(self, plugin: SourcePlugin) -> str: ...
    def field_methods(self, plugin: Plugin) -> tuple[Callable[..., Any], ...]: ...
    def batch_methods(self, plugin: Plugin) -> tuple[Callable[..., Any] | None, ...]: ...
    def field_location(self, plugin: Plugin, field_id: int) -> str: ...
    def parse_method(self, plugin: Plugin) -> Callable[[Any], Any]: ...
    def capture_listen(self, plugin: Any, what: str, pool: Any) -> None: ...
    def metrics(self, plugin: Plugin) -> list[tuple[str, bool, int, int | float]]: ...
    def datetime_ns(self, value: datetime.datetime) -> int: ...
    def ip_packed(self, value: object) -> bytes: ...


if TYPE_CHECKING:  # mypy: the runtime module has every function, with these signatures
    import falco_plugin._runtime

    _checked: Runtime = falco_plugin._runtime
