"""Python ``logging`` to the host's log function.

Inside a plugin, log as usual; records of the plugin module's logger (``self.logger`` is the
same one) reach Falco's log with the matching severity::

    import logging
    log = logging.getLogger(__name__)

    class MyPlugin(Plugin, SourcePlugin):
        def open(self, params: str) -> MyInstance:
            log.info("opening %s", params)   # Falco prints "myplugin: opening ..."
            ...

The logger starts at level INFO; lower it with ``log.setLevel(logging.DEBUG)``. A plugin that
never logs never imports ``logging``: its logger is routed to the host when ``logging`` is
first imported, whoever imports it and whenever.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["attach", "attached_loggers", "detach", "severity"]

# ss_plugin_log_severity values
FATAL, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG, TRACE = range(1, 9)


class HostLink(Protocol):
    def log(self, message: str, severity: int, /) -> None: ...


def severity(levelno: int) -> int:
    """Map a ``logging`` level (CRITICAL 50, ERROR 40, WARNING 30, INFO 20, DEBUG 10) to the
    host's severity.

    >>> severity(30), severity(25), severity(5)
    (4, 5, 8)
    """
    if levelno > 50:
        return FATAL
    if levelno >= 50:
        return CRITICAL
    if levelno >= 40:
        return ERROR
    if levelno >= 30:
        return WARNING
    if levelno > 20:
        return NOTICE
    if levelno >= 20:
        return INFO
    if levelno >= 10:
        return DEBUG
    return TRACE


# By logger name: the live plugin states it routes to, the most recently attached last.
_links: dict[str, list[HostLink]] = {}
_wired: set[str] = set()
_registry_lock = threading.Lock()
_handler_class: Any = None


def _host_log_handler() -> Any:
    """The ``logging.Handler`` class that sends a logger's records to its live plugin state."""
    global _handler_class
    if _handler_class is None:
        import logging

        class HostLogHandler(logging.Handler):
            """Sends records to the most recently attached live plugin state of a logger."""

            def __init__(self, name: str) -> None:
                super().__init__()
                self.links = _links.setdefault(name, [])

            def emit(self, record: logging.LogRecord) -> None:
                link = self.links[-1] if self.links else None
                try:
                    message = self.format(record)
                    if link is None:
                        sys.stderr.write(message + "\n")
                    else:
                        link.log(message, severity(record.levelno))
                except Exception:
                    self.handleError(record)

        _handler_class = HostLogHandler
    return _handler_class


def _wire(names: Sequence[str]) -> None:
    """Give each named logger its host handler (once), at level INFO unless it has one."""
    import logging  # waits for a concurrent import of logging to finish

    cls = _host_log_handler()
    with _registry_lock:
        for name in names:
            if name in _wired:
                continue
            _wired.add(name)
            logger = logging.getLogger(name)
            handler = cls(name)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.propagate = False
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)


class _WireOnImport:
    """A meta path finder that wires the attached loggers once ``logging`` has been imported."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != "logging":
            return None
        with contextlib.suppress(ValueError):  # another thread may have removed it
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find(name, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = cast("Loader", _ThenWire(spec.loader))
                return spec
        return None


class _ThenWire:
    """The loader of ``logging``, then the wiring of the attached loggers."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        with _registry_lock:
            names = list(_links)
        _wire(names)


_watcher = _WireOnImport()


def attach(name: str, link: HostLink) -> None:
    """Route the records of logger ``name`` to ``link`` (one plugin state's host log function)."""
    with _registry_lock:
        _links.setdefault(name, []).append(link)
        loaded = "logging" in sys.modules
        if not loaded and _watcher not in sys.meta_path:
            sys.meta_path.insert(0, _watcher)
    if loaded:
        _wire([name])


def detach(name: str, link: HostLink) -> None:
    """Stop routing to ``link`` (its state is being destroyed)."""
    with _registry_lock:
        links = _links.get(name)
        if links is not None and link in links:
            links.remove(link)


def attached_loggers() -> list[str]:
    """The names of the loggers routed to a live plugin state."""
    with _registry_lock:
        return [name for name, links in _links.items() if links]
