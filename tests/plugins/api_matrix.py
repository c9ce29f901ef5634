"""Plugin classes for every combination of capabilities and options, to check the required
API version (tests/test_reliability.py). ``make(...)`` builds one; the module-level classes
are the ones built into real .so files."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from falco_plugin import (
    AsyncEventPlugin,
    CaptureListenPlugin,
    EndOfStream,
    Event,
    ExtractPlugin,
    Metric,
    ParsePlugin,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
)
from falco_plugin.tables import TablesInput

CAPABILITIES = ("sourcing", "extraction", "parsing", "async", "capture_listening")
OPTIONS = ("dump_state", "metrics", "tables", "syscalls", "add_output")


class OptionalConfig(BaseModel):
    n: int = 1


class Empty(SourceInstance):
    def next_batch(self) -> list[bytes]:
        raise EndOfStream


def _open(self: Any, params: str) -> Empty:
    return Empty()


def _parse(self: Any, event: Event) -> None:
    pass


def _nothing(self: Any, *args: Any) -> None:
    pass


def _metrics(self: Any) -> list[Metric]:
    return [Metric("m", 1)]


def _init_tables(self: Any, config: None, tables: TablesInput) -> None:
    pass


def make(name: str, caps: tuple[str, ...], options: tuple[str, ...]) -> type[Plugin]:
    """A plugin class with these capabilities and options (see CAPABILITIES, OPTIONS)."""
    bases: list[type] = [Plugin]
    ns: dict[str, Any] = {"NAME": name.lower(), "PLUGIN_VERSION": "0.1.0", "DESCRIPTION": "api matrix",
                          "CONTACT": "https://example.com", "__module__": __name__, "__qualname__": name}
    types = (322, 3) if "syscalls" in options else (322,)
    if "sourcing" in caps:
        bases.append(SourcePlugin)
        ns.update(PLUGIN_ID=999, EVENT_SOURCE="matrix", open=_open)
    if "extraction" in caps:
        bases.append(ExtractPlugin)
        ns.update(EXTRACT_EVENT_SOURCES=("matrix",), EXTRACT_EVENT_TYPES=types)

        def value(self: Any, event: Event) -> int:
            return 1

        ns["value"] = field("matrix.value", desc="one", add_output="add_output" in options)(value)
    if "parsing" in caps:
        bases.append(ParsePlugin)
        ns.update(PARSE_EVENT_SOURCES=("matrix",), PARSE_EVENT_TYPES=types, parse_event=_parse)
    if "async" in caps:
        bases.append(AsyncEventPlugin)
        ns.update(ASYNC_EVENTS=("tick",), start_async=_nothing, stop_async=_nothing)
        if "dump_state" in options:
            ns["dump_state"] = _nothing
    if "capture_listening" in caps:
        bases.append(CaptureListenPlugin)
    if "metrics" in options:
        ns["get_metrics"] = _metrics
    if "tables" in options:
        ns["__init__"] = _init_tables
    return type(name, tuple(bases), ns)


def combinations() -> Iterator[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every non-empty set of capabilities with every set of the options that apply to it."""
    for n in range(1, len(CAPABILITIES) + 1):
        for caps in itertools.combinations(CAPABILITIES, n):
            usable = [o for o in OPTIONS if applies(o, caps)]
            for m in range(len(usable) + 1):
                yield from ((caps, opts) for opts in itertools.combinations(usable, m))


def applies(option: str, caps: tuple[str, ...]) -> bool:
    if option == "dump_state":
        return "async" in caps
    if option in ("tables", "syscalls"):
        return "extraction" in caps or "parsing" in caps
    if option == "add_output":
        return "extraction" in caps
    return True


# built into real .so files by the tests
SourceOnly = make("SourceOnly", ("sourcing",), ())
AsyncDump = make("AsyncDump", ("async",), ("dump_state",))
ExtractSyscalls = make("ExtractSyscalls", ("extraction",), ("syscalls", "add_output"))
ListenMetrics = make("ListenMetrics", ("sourcing", "capture_listening"), ("metrics",))
ParseTables = make("ParseTables", ("parsing", "extraction"), ("tables",))


class Raised(SourceOnly):  # type: ignore[misc,valid-type]
    NAME = "raised"
    REQUIRED_API_VERSION = "3.11.0"  # a later host behaviour: higher than its symbols need (3.3.0)


class Lowered(ListenMetrics):  # type: ignore[misc,valid-type]
    NAME = "lowered"
    REQUIRED_API_VERSION = "3.5.0"  # lower than get_metrics (3.6.0) and capture listening (3.7.0) need


class Counted(SourceInstance):
    def __init__(self) -> None:
        self.left = 2

    def next_batch(self) -> list[bytes]:
        if not self.left:
            raise EndOfStream
        self.left -= 1
        return [b"x"]

    def progress(self) -> tuple[float, str | None]:
        return 50.0 * (2 - self.left), f"{2 - self.left} of 2"


class AllOptional(Plugin, SourcePlugin):
    """Every optional symbol defined: set_config, an init schema (a config model), get_progress
    (the instance ``open`` is annotated to return defines progress), and a plugin id."""

    NAME = "optional"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "defines the optional behaviours"
    CONTACT = "https://example.com"
    PLUGIN_ID = 999
    EVENT_SOURCE = "optional"

    def __init__(self, config: OptionalConfig) -> None:
        self.config = config

    def set_config(self, config: OptionalConfig) -> None:
        self.config = config

    def open(self, params: str) -> Counted:
        return Counted()


class Bare(Plugin, SourcePlugin):
    """None of them: no config, no set_config, an instance without progress, plugin id 0."""

    NAME = "bare"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "defines none of the optional behaviours"
    CONTACT = "https://example.com"
    PLUGIN_ID = 0
    EVENT_SOURCE = ""

    def __init__(self, config: None) -> None:
        pass

    def open(self, params: str) -> Empty:
        return Empty()

