"""An event source that produces nothing: :mod:`falco_plugin.testing` attaches async plugins to it."""

from __future__ import annotations

from ..base import Plugin
from ..source import SourceInstance, SourcePlugin


class _Idle(SourceInstance):
    def next_batch(self) -> list[bytes]:
        return []  # "nothing now": the shim waits TIMEOUT_PAUSE, so the host does not spin


class IdleSource(Plugin, SourcePlugin):
    NAME = "testing_idle"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "an event source without events, for testing async plugins"
    CONTACT = "https://github.com/falcosecurity"
    PLUGIN_ID = 999
    EVENT_SOURCE = "testing"

    def __init__(self, config: None) -> None:
        pass

    def open(self, params: str) -> SourceInstance:
        return _Idle()
