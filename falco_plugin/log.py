"""Python ``logging`` to the host's log function.

Inside a plugin, log as usual; records of the plugin module's logger (``self.logger`` is the
same one) reach Falco's log with the matching severity::

    import logging
    log = logging.getLogger(__name__)

    class MyPlugin(Plugin, SourcePlugin):
        def open(self, params: str) -> MyInstance:
            log.info("opening %s", params)   # Falco prints "myplugin: opening ..."
            ...

The logger starts at level INFO; lower it with ``log.setLevel(logging.DEBUG)``.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Protocol

__all__ = ["HostLogHandler", "attach", "attached_loggers", "detach", "severity"]

# ss_plugin_log_severity values
FATAL, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG, TRACE = range(1, 9)


class HostLink(Protocol):
    def log(self, message: str, severity: int, /) -> None: ...


def severity(levelno: int) -> int:
    """Map a ``logging`` level to the host's severity.

    >>> severity(logging.WARNING), severity(25), severity(5)
    (4, 5, 8)
    """
    if levelno > logging.CRITICAL:
        return FATAL
    if levelno >= logging.CRITICAL:
        return CRITICAL
    if levelno >= logging.ERROR:
        return ERROR
    if levelno >= logging.WARNING:
        return WARNING
    if levelno > logging.INFO:
        return NOTICE
    if levelno >= logging.INFO:
        return INFO
    if levelno >= logging.DEBUG:
        return DEBUG
    return TRACE


class HostLogHandler(logging.Handler):
    """Sends records to the most recently attached live plugin state of a logger."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[HostLink] = []

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


_handlers: dict[str, HostLogHandler] = {}
_registry_lock = threading.Lock()


def attach(logger: logging.Logger, link: HostLink) -> None:
    """Route ``logger``'s records to ``link`` (one plugin state's host log function)."""
    with _registry_lock:
        handler = _handlers.get(logger.name)
        if handler is None:
            handler = _handlers[logger.name] = HostLogHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.propagate = False
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
        handler.links.append(link)


def detach(logger: logging.Logger, link: HostLink) -> None:
    """Stop routing to ``link`` (its state is being destroyed)."""
    with _registry_lock:
        handler = _handlers.get(logger.name)
        if handler is not None and link in handler.links:
            handler.links.remove(link)


def attached_loggers() -> list[str]:
    """The names of the loggers routed to a live plugin state."""
    with _registry_lock:
        return [name for name, handler in _handlers.items() if handler.links]
