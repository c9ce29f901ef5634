"""What a Plugin class declares in common: metadata, configuration, event schema version.

Read by the build (baked into the ``.so``) and again by the runtime at ``plugin_init``.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..base import ConfigError, Plugin, PluginDefinitionError

if TYPE_CHECKING:  # pydantic is imported only by plugins that have a configuration model
    import pydantic


VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
PLUGIN_NAME_RE = re.compile(r"^[a-z]+[a-z0-9_-]*$")


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


#: What a plugin taking typed syscall events requires by default: the typed events are those
#: of the libs schema 4.x (falco_plugin.event), and a 4.x driver refuses "3.0.0" (the default
#: when the symbol is missing). The schema data has no per-event version to derive a lower one.
DEFAULT_EVENT_SCHEMA_VERSION = "4.0.0"
#: The event type code of plugin events (PPME_PLUGINEVENT_E).
PLUGIN_EVENT = 322
UNSET: Any = object()


def check_schema_version(what: str, value: Any) -> str | None:
    """A required event schema version, checked: "MAJOR.MINOR.PATCH" or None.

    >>> check_schema_version("X", "4.1.0")
    '4.1.0'
    """
    if value is None or (isinstance(value, str) and VERSION_RE.match(value)):
        return value
    raise PluginDefinitionError(f"{what} must be 'MAJOR.MINOR.PATCH' or None, got {value!r}")


def declared_schema_version(cls: type[Plugin]) -> Any:
    """REQUIRED_EVENT_SCHEMA_VERSION as declared (checked), or UNSET."""
    value = getattr(cls, "REQUIRED_EVENT_SCHEMA_VERSION", UNSET)
    if value is UNSET:
        return UNSET
    return check_schema_version(f"{cls.__qualname__}.REQUIRED_EVENT_SCHEMA_VERSION", value)


def derived_schema_version(codes: Iterable[int]) -> str | None:
    """The default for a plugin that takes these event types: none for plugin events only."""
    return DEFAULT_EVENT_SCHEMA_VERSION if any(c != PLUGIN_EVENT for c in codes) else None


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
    return derived_schema_version(codes) if declared is UNSET else declared


def event_sources(cls: type[Plugin], attr: str) -> list[str] | None:
    """The event sources a capability takes: ``attr`` as declared (checked), else the plugin's
    own source ("syscall" for a syscall-source plugin), else None.

    >>> class P(Plugin):
    ...     EVENT_SOURCE = "dummy"
    >>> event_sources(P, "PARSE_EVENT_SOURCES")
    ['dummy']
    """
    explicit = getattr(cls, attr, None)
    if explicit is not None:
        if isinstance(explicit, str) or not all(isinstance(s, str) and s for s in explicit):
            raise PluginDefinitionError(f"{cls.__qualname__}.{attr} must be a list of names")
        return list(explicit)
    own = getattr(cls, "EVENT_SOURCE", None)
    if getattr(cls, "PLUGIN_ID", None) == 0 and own is not None:  # a syscall-source plugin
        return ["syscall"]
    return [own] if own else None


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


def overrides(cls: type, base: type, name: str) -> bool:
    """Whether ``cls`` defines ``name`` otherwise than ``base`` does."""
    return getattr(cls, name, None) is not getattr(base, name, None)
