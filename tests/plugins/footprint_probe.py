"""Probes of what a plugin's init imports (tests/test_footprint.py).

``FootprintProbe`` extracts on every source, e.g. on the events of examples/bench's
BenchPlugin loaded before it in the same host process (SDK plugins share one interpreter). Its
module imports nothing but ``sys`` and the SDK before it looks, so ``probe.at_load[...]`` is
what was loaded right after the other plugin's init, and ``probe.now[...]`` what is loaded
while events flow: the names in ``sys.modules``, sorted and comma-separated, among those of
the key (``all``, or names joined by ``+``).

``LazyLogger`` logs without importing ``logging`` in its module: through
``logging.getLogger(__name__)`` imported inside ``open``, then through ``self.logger``; and it
imports ``signal`` in ``open`` and tries to install a handler, which the SDK refuses.
"""

from __future__ import annotations

import sys

LOADED_AT_LOAD = sorted(sys.modules)

from falco_plugin import EndOfStream, Event, ExtractPlugin, Key, Plugin, SourceInstance, SourcePlugin, field  # noqa: E402


class FootprintProbe(Plugin, ExtractPlugin):
    NAME = "footprint_probe"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "names the modules loaded in the shared interpreter"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ()  # every source

    @field("probe.at_load", desc="modules loaded before this plugin's module", arg=Key())
    def at_load(self, event: Event, which: str) -> str:
        return ",".join(m for m in LOADED_AT_LOAD if which == "all" or m in which.split("+"))

    @field("probe.now", desc="modules loaded now", arg=Key())
    def now(self, event: Event, which: str) -> str:
        return ",".join(m for m in sorted(sys.modules) if which == "all" or m in which.split("+"))


class LazyInstance(SourceInstance):
    def __init__(self, owner: LazyLogger) -> None:
        self.owner = owner
        self.sent = False

    def next_batch(self) -> list[bytes]:
        if self.sent:
            raise EndOfStream
        self.sent = True
        self.owner.logger.info("next_batch: through self.logger")
        return [b"x"]


class LazyLogger(Plugin, SourcePlugin):
    NAME = "lazy_logger"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "logs without importing logging at module level"
    CONTACT = "https://example.com"
    PLUGIN_ID = 999
    EVENT_SOURCE = "lazylog"

    def open(self, params: str) -> LazyInstance:
        loaded = "logging" in sys.modules
        import logging

        logging.getLogger(__name__).warning("open: logging was loaded before this import: %s", loaded)
        loaded = "signal" in sys.modules
        import signal  # the SDK's guard is applied when it is imported

        self.logger.info("open: signal was loaded before this import: %s", loaded)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # refused, with a warning
        return LazyInstance(self)
