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

import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol

from .on_import import after_import

if TYPE_CHECKING:
    import logging

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


def _wire(name: str) -> None:
    """Give the named logger its host handler (once), at level INFO unless it has one."""
    import logging  # already imported: called by after_import

    cls = _host_log_handler()
    with _registry_lock:
        if name in _wired:
            return
        _wired.add(name)
        logger = logging.getLogger(name)
        handler = cls(name)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def attach(name: str, link: HostLink) -> None:
    """Route the records of logger ``name`` to ``link`` (one plugin state's host log function)."""
    with _registry_lock:
        links = _links.setdefault(name, [])
        links.append(link)
        first = len(links) == 1 and name not in _wired
    if first:
        after_import("logging", lambda _: _wire(name))


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
