"""A plugin that reports where its Python came from (tests/test_package.py)."""

from __future__ import annotations

import os
import sys

import pydantic

from falco_plugin import EndOfStream, Event, ExtractPlugin, Plugin, SourceInstance, SourcePlugin, field


class One(SourceInstance):
    def __init__(self) -> None:
        self.done = False

    def next_batch(self) -> list[bytes]:
        if self.done:
            raise EndOfStream
        self.done = True
        return [b"probe"]


class ShipProbe(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "ship_probe"
    PLUGIN_VERSION = "0.2.0"
    DESCRIPTION = "reports sys.path, sys.prefix and where pydantic came from"
    CONTACT = "https://example.com/ship_probe"
    PLUGIN_ID = 999
    EVENT_SOURCE = "ship_probe"

    def open(self, params: str) -> One:
        return One()

    @field("probe.sys_path", desc="sys.path, joined with os.pathsep")
    def sys_path(self, event: Event) -> str:
        return os.pathsep.join(sys.path)

    @field("probe.prefix", desc="sys.prefix and sys.base_prefix")
    def prefix(self, event: Event) -> str:
        return f"{sys.prefix}{os.pathsep}{sys.base_prefix}"

    @field("probe.modules", desc="where pydantic and json were imported from")
    def modules(self, event: Event) -> str:
        import json

        return f"{pydantic.__file__}{os.pathsep}{json.__file__}"
