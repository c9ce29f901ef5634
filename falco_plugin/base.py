"""The ``Plugin`` base class: metadata, configuration, and what every capability shares.

A plugin is a subclass of :class:`Plugin` plus one or more capability mixins
(:class:`~falco_plugin.source.SourcePlugin`, ...). Metadata are class constants; the
configuration is the pydantic model named by the type hint of ``__init__``'s ``config``
parameter (``None`` for a plugin without configuration)::

    from pydantic import BaseModel
    from falco_plugin import Plugin, SourcePlugin

    class Config(BaseModel):
        jitter: int = 10

    class Counter(Plugin, SourcePlugin):
        NAME = "counter"
        PLUGIN_VERSION = "0.1.0"
        DESCRIPTION = "counts"
        CONTACT = "https://example.com"
        PLUGIN_ID = 999
        EVENT_SOURCE = "counter"

        def __init__(self, config: Config) -> None:
            self.jitter = config.jitter
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from .metrics import Metric

if TYPE_CHECKING:  # pydantic is imported only by plugins that have a configuration model
    import logging


__all__ = ["ConfigError", "Event", "Plugin", "PluginDefinitionError"]


class PluginDefinitionError(TypeError):
    """The plugin class is not a valid plugin (raised at build time and at init)."""


class ConfigError(ValueError):
    """The init configuration does not fit the plugin's configuration model."""


class Plugin:
    """Base class of every plugin. Subclasses set the metadata constants below."""

    NAME: ClassVar[str]
    PLUGIN_VERSION: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    CONTACT: ClassVar[str]

    #: The event schema version the plugin needs (``get_required_event_schema_version``, which
    #: Falco checks against its driver's for plugins that take other events than plugin
    #: events). Unset: "4.0.0" (the typed events are those of schema 4.x) when the plugin
    #: parses or extracts such events, nothing otherwise; ``None``: the symbol is not exported
    #: (the host assumes "3.0.0"). See also :meth:`required_event_schema_version`.
    REQUIRED_EVENT_SCHEMA_VERSION: ClassVar[str | None]
    #: The plugin API version the plugin requires of the host ("3.10.0"). Unset: the lowest that
    #: has every symbol and feature the plugin uses, so that older Falcos load it. Set it higher
    #: when the plugin relies on a later host behaviour (e.g. a libsinsp fix); a version lower
    #: than the plugin's symbols need is refused at build, naming this line.
    REQUIRED_API_VERSION: ClassVar[str]

    def __init__(self, config: Any = None) -> None:
        self.config = config

    @functools.cached_property
    def logger(self) -> logging.Logger:
        """The plugin's logger, that of its module: ``logging`` calls on it (or on
        ``logging.getLogger(__name__)`` in the plugin's module) reach the host's log function."""
        import logging  # on first use: a plugin that never logs never imports it

        return logging.getLogger(type(self).__module__)

    def set_config(self, config: Any) -> None:
        """Apply a new, already validated configuration. The default stores it in ``self.config``."""
        self.config = config

    def destroy(self) -> None:
        """Called once when the host destroys the plugin. Override to release resources."""

    def get_metrics(self) -> Iterable[Metric]:
        """Override to report metrics to the host (see :mod:`falco_plugin.metrics`)."""
        return ()

    def required_event_schema_version(self) -> str | None:
        """Override to decide the required event schema version once initialized (asked
        right after ``__init__``); ``None`` means "3.0.0" to the host::

            def required_event_schema_version(self) -> str | None:
                return self.config.schema_version    # e.g. "4.1.0"
        """
        return None


@typing.runtime_checkable
class Event(typing.Protocol):
    """What plugin methods receive for a host event (the shim's ``falco_plugin.Event``).

    Valid during the call that received it; attributes set on it live as long as the host
    works on the same event, which is how :func:`~falco_plugin.per_event` caches.
    """

    evtnum: int
    """The host's event number."""
    ts: int
    """Timestamp, ns since the epoch."""
    tid: int
    """Thread id (2**64-1: none)."""
    type: int
    """Event type code (``PPME_PLUGINEVENT_E``: 322, plugin events; ``PPME_ASYNCEVENT_E``: 402, async)."""
    source: str
    """The event source name."""
    plugin_id: int | None
    """The plugin id of a plugin or async event."""
    payload: bytes | None
    """The data of a plugin or async event."""
    async_name: str | None
    """The name of an async event."""
    raw: bytes
    """The whole event, header included."""
