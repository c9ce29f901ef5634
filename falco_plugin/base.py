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
import inspect
import json
import re
import sys
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from .metrics import Metric

if TYPE_CHECKING:  # pydantic is imported only by plugins that have a configuration model
    import logging

    import pydantic

__all__ = ["ConfigError", "Event", "Plugin", "PluginDefinitionError"]

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
PLUGIN_NAME_RE = re.compile(r"^[a-z]+[a-z0-9_-]*$")


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


# -- configuration ------------------------------------------------------------------


def config_type(cls: type[Plugin]) -> Any:
    """The configuration type of a plugin class: a pydantic model class, ``str`` or ``None``."""
    init = cls.__init__
    if init is Plugin.__init__:
        return None
    params = list(inspect.signature(init).parameters.values())
    if len(params) < 2:
        return None
    try:
        hints = typing.get_type_hints(init)
    except Exception as exc:  # unresolvable forward reference
        raise PluginDefinitionError(
            f"{cls.__qualname__}.__init__: cannot resolve the type hint of '{params[1].name}': {exc}"
        ) from exc
    hint = hints.get(params[1].name, inspect.Parameter.empty)
    if hint is inspect.Parameter.empty or hint is None or hint is type(None):
        return None
    if hint is str:
        return str
    if _is_model(hint):
        return hint
    raise PluginDefinitionError(
        f"{cls.__qualname__}.__init__: the config parameter must be annotated with a pydantic "
        f"BaseModel subclass, str or None, not {hint!r}"
    )


def takes_tables(cls: type) -> bool:
    """Whether ``cls.__init__`` has a ``tables`` parameter (after ``config``)."""
    init = getattr(cls, "__init__", None)
    try:
        params = list(inspect.signature(init).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return len(params) >= 3 and params[2] == "tables"


def _is_model(hint: Any) -> bool:
    # a model class exists only if its module imported pydantic: a plugin without one never loads it
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(hint, type) and issubclass(hint, pydantic.BaseModel)


def init_schema(cls: type[Plugin]) -> str:
    """The JSON schema text ``get_init_schema`` returns ("" for no schema)."""
    model = config_type(cls)
    if _is_model(model):
        return json.dumps(model.model_json_schema(), separators=(",", ":"), sort_keys=True)
    return ""


def parse_config(cls: type[Plugin], text: str) -> Any:
    """Validate the host's config string into what ``__init__`` receives.

    >>> from pydantic import BaseModel
    >>> class C(BaseModel):
    ...     jitter: int = 10
    >>> class P(Plugin):
    ...     def __init__(self, config: C) -> None: ...
    >>> parse_config(P, "").jitter
    10
    """
    model = config_type(cls)
    text = text.strip()
    if model is None:
        if text not in ("", "{}", "null"):
            raise ConfigError(f"plugin {cls.NAME} takes no configuration, got {text[:80]!r}")
        return None
    if model is str:
        return text
    import pydantic  # already loaded: the model comes from it

    try:
        return model.model_validate_json(text or "{}")
    except pydantic.ValidationError as exc:
        raise ConfigError(describe_validation_error(cls.NAME, exc)) from None


def describe_validation_error(name: str, exc: pydantic.ValidationError) -> str:
    """One line per problem, naming the field: ``config.jitter: Input should be ...``."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        problems.append(f"{where}: {err['msg']}")
    return f"invalid configuration for plugin {name}: " + "; ".join(problems)


# -- event schema version -------------------------------------------------------------

#: What a plugin taking typed syscall events requires by default: the typed events are those
#: of the libs schema 4.x (falco_plugin.event), and a 4.x driver refuses "3.0.0" (the default
#: when the symbol is missing). The schema data has no per-event version to derive a lower one.
DEFAULT_EVENT_SCHEMA_VERSION = "4.0.0"
PLUGIN_EVENT_CODE = 322
_UNSET: Any = object()


def check_schema_version(what: str, value: Any) -> str | None:
    """A required event schema version, checked: "MAJOR.MINOR.PATCH" or None.

    >>> check_schema_version("X", "4.1.0")
    '4.1.0'
    """
    if value is None or (isinstance(value, str) and VERSION_RE.match(value)):
        return value
    raise PluginDefinitionError(f"{what} must be 'MAJOR.MINOR.PATCH' or None, got {value!r}")


def declared_schema_version(cls: type[Plugin]) -> Any:
    """REQUIRED_EVENT_SCHEMA_VERSION as declared (checked), or _UNSET."""
    value = getattr(cls, "REQUIRED_EVENT_SCHEMA_VERSION", _UNSET)
    if value is _UNSET:
        return _UNSET
    return check_schema_version(f"{cls.__qualname__}.REQUIRED_EVENT_SCHEMA_VERSION", value)


def derived_schema_version(codes: Iterable[int]) -> str | None:
    """The default for a plugin that takes these event types: none for plugin events only."""
    return DEFAULT_EVENT_SCHEMA_VERSION if any(c != PLUGIN_EVENT_CODE for c in codes) else None


def schema_version_at_init(plugin: Plugin, codes: Iterable[int]) -> str | None:
    """What ``get_required_event_schema_version`` returns for an initialized plugin whose
    version is decided at init: its method's answer, else the constant, else derived."""
    cls = type(plugin)
    if cls.required_event_schema_version is not Plugin.required_event_schema_version:
        code = cls.required_event_schema_version.__code__
        where = f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno}"
        return check_schema_version(
            f"{cls.__qualname__}.required_event_schema_version() (at {where})", plugin.required_event_schema_version()
        )
    declared = declared_schema_version(cls)
    return derived_schema_version(codes) if declared is _UNSET else declared


# -- metadata checks ----------------------------------------------------------------


def check_metadata(cls: type[Plugin]) -> None:
    """Raise PluginDefinitionError unless the class constants make a loadable plugin."""
    for attr in ("NAME", "PLUGIN_VERSION", "DESCRIPTION", "CONTACT"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value:
            raise PluginDefinitionError(f"{cls.__qualname__}.{attr} must be a non-empty string")
    if not PLUGIN_NAME_RE.match(cls.NAME):
        raise PluginDefinitionError(
            f"{cls.__qualname__}.NAME {cls.NAME!r} must match {PLUGIN_NAME_RE.pattern} "
            "(lowercase letters, digits, '-' and '_', starting with a letter)"
        )
    if not VERSION_RE.match(cls.PLUGIN_VERSION):
        raise PluginDefinitionError(
            f"{cls.__qualname__}.PLUGIN_VERSION {cls.PLUGIN_VERSION!r} must be 'MAJOR.MINOR.PATCH'"
        )
    config_type(cls)
    declared_schema_version(cls)


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
