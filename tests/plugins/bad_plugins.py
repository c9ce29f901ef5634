"""Plugin classes that `falco-plugin build` must refuse, each for a stated reason."""

from __future__ import annotations

from typing import ClassVar

from falco_plugin import Plugin, SourceInstance, SourcePlugin


class Meta:
    NAME: ClassVar[str] = "bad"
    PLUGIN_VERSION: ClassVar[str] = "0.1.0"
    DESCRIPTION: ClassVar[str] = "bad"
    CONTACT: ClassVar[str] = "x"


class NoCapability(Meta, Plugin):
    pass


class NoName(Plugin, SourcePlugin):
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "x"
    CONTACT = "x"
    PLUGIN_ID = 5
    EVENT_SOURCE = "x"

    def open(self, params: str) -> SourceInstance:
        return SourceInstance()


class BadVersion(Meta, Plugin, SourcePlugin):
    PLUGIN_VERSION = "1.0"
    PLUGIN_ID = 5
    EVENT_SOURCE = "x"

    def open(self, params: str) -> SourceInstance:
        return SourceInstance()


class SyscallSource(Meta, Plugin, SourcePlugin):
    PLUGIN_ID = 5
    EVENT_SOURCE = "syscall"

    def open(self, params: str) -> SourceInstance:
        return SourceInstance()


class ZeroId(Meta, Plugin, SourcePlugin):
    PLUGIN_ID = 0
    EVENT_SOURCE = "x"

    def open(self, params: str) -> SourceInstance:
        return SourceInstance()


class NoOpen(Meta, Plugin, SourcePlugin):
    PLUGIN_ID = 5
    EVENT_SOURCE = "x"


class BadConfigHint(Meta, Plugin, SourcePlugin):
    PLUGIN_ID = 5
    EVENT_SOURCE = "x"

    def __init__(self, config: dict) -> None:  # type: ignore[type-arg]
        pass

    def open(self, params: str) -> SourceInstance:
        return SourceInstance()
