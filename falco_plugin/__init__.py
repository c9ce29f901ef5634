"""falco-plugin: write Falco plugins in Python.

A plugin is a subclass of :class:`Plugin` plus capability mixins; ``falco-plugin build``
turns it into a ``.so`` that Falco loads like any other plugin, and ``falco-plugin run``
runs it in a host that behaves like libsinsp.
"""

from .base import ConfigError, Plugin, PluginDefinitionError
from .source import EndOfStream, OpenParam, SourceInstance, SourcePlugin, Timeout

__all__ = [
    "ConfigError",
    "EndOfStream",
    "OpenParam",
    "Plugin",
    "PluginDefinitionError",
    "SourceInstance",
    "SourcePlugin",
    "Timeout",
]
__version__ = "0.1.0"
