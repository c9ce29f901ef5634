"""falco-plugin: write Falco plugins in Python.

A plugin is a subclass of :class:`Plugin` plus capability mixins; ``falco-plugin build``
turns it into a ``.so`` that Falco loads like any other plugin, and ``falco-plugin run``
runs it in a host that behaves like libsinsp.
"""

from .async_event import AsyncEvent, AsyncEventPlugin, AsyncHandler, BackgroundTask, BackgroundThread
from .base import ConfigError, Event, Plugin, PluginDefinitionError
from .extract import (
    HOST_DEFAULT_EVENT_TYPES,
    PLUGIN_EVENT_PAYLOAD_OFFSET,
    ExtractPlugin,
    Index,
    Key,
    Located,
    Payloads,
    field,
    per_batch,
    per_event,
)
from .listen import CaptureListen, CaptureListenPlugin
from .metrics import Metric
from .parse import ParsePlugin
from .source import EndOfStream, OpenParam, SourceInstance, SourcePlugin, Timeout

__all__ = [
    "HOST_DEFAULT_EVENT_TYPES",
    "PLUGIN_EVENT_PAYLOAD_OFFSET",
    "AsyncEvent",
    "AsyncEventPlugin",
    "AsyncHandler",
    "BackgroundTask",
    "BackgroundThread",
    "CaptureListen",
    "CaptureListenPlugin",
    "ConfigError",
    "EndOfStream",
    "Event",
    "ExtractPlugin",
    "Index",
    "Key",
    "Located",
    "Metric",
    "OpenParam",
    "ParsePlugin",
    "Payloads",
    "Plugin",
    "PluginDefinitionError",
    "SourceInstance",
    "SourcePlugin",
    "Timeout",
    "field",
    "per_batch",
    "per_event",
]
__version__ = "0.1.0"
