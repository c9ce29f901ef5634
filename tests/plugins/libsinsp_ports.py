"""Python ports of libsinsp's own C++ test plugins (falcosecurity/libs,
``userspace/libsinsp/test/plugins/``): the behaviour is ported, the code is ours.

- ``SamplePluginSource`` (``plugin_source.cpp``): source "sample", plugin id 999, each event's
  payload is ``"hello world"`` with its NUL; the open params give the number of events.
- ``SamplePluginExtract`` (``plugin_extract.cpp``): extract-only for "sample", the field
  ``sample.hello`` = "hello world" located in the event (offset 38, length 11, as libsinsp's
  ``plugin_custom_source`` test asserts); the init config lists the event types (``"322,402"``),
  decided at init.
- ``SampleSyscallSource`` (``syscall_source.cpp``): a syscall-source plugin (plugin id 0) that
  emits ``PPME_SYSCALL_OPEN_X`` events of thread 1 opening ``/tmp/the_file`` as fd 3.
- ``SampleSubtables`` (``syscall_subtables.cpp``): reaches the ``file_descriptors`` subtable of
  ``threads`` at init through a temporary entry, takes its ``name`` and ``pid`` fields and adds
  ``custom``; then, on each ``PPME_SYSCALL_OPEN_X``, fills the event thread's subtable with 1024
  entries (pid 123, custom "world"), then erases entry 0, then clears it. Its init config may
  name another table than ``threads`` (the C++ plugin's is ignored), e.g. one a plugin exports.
"""

from __future__ import annotations

from collections.abc import Sequence

from falco_plugin import (
    HOST_DEFAULT_EVENT_TYPES,
    EndOfStream,
    Event,
    ExtractPlugin,
    Located,
    ParsePlugin,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
)
from falco_plugin.event import PPME_SYSCALL_OPEN_X, FileFlags
from falco_plugin.tables import Custom, Int64, Table, TableEntry, TableError, TablesInput

HELLO = b"hello world\0"


class Countdown(SourceInstance):
    def __init__(self, params: str) -> None:
        count = int(params) if params.strip().lstrip("-").isdigit() else 0
        self.left = count if count > 0 else 10000  # libsinsp's: atoi, 10000 unless positive

    def next_batch(self) -> list[bytes]:
        if self.left == 0:
            raise EndOfStream
        self.left -= 1
        return [HELLO]


class SamplePluginSource(Plugin, SourcePlugin):
    NAME = "sample_plugin_source"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "some desc"
    CONTACT = "some contact"
    PLUGIN_ID = 999
    EVENT_SOURCE = "sample"

    def open(self, params: str) -> Countdown:
        return Countdown(params)


class SamplePluginExtract(Plugin, ExtractPlugin):
    NAME = "sample_plugin_extract"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "some desc"
    CONTACT = "some contact"
    EXTRACT_EVENT_SOURCES = ("sample",)

    def __init__(self, config: str) -> None:
        # the init config may list the event types to extract from, comma separated
        self.event_types: list[int] = []
        text = config if not config or config.endswith(",") else config + ","
        for item in text.split(",")[:-1]:
            code = int(item) if item.strip().isdigit() else 0
            if code == 0:
                raise ValueError(f"invalid init config string: {text}")
            self.event_types.append(code)

    def extract_event_types(self) -> Sequence[int]:
        return self.event_types or HOST_DEFAULT_EVENT_TYPES  # none declared: the host's default, plugin events

    @field("sample.hello", desc="A constant hello world string", add_output=True, located=True)
    def hello(self, event: Event) -> Located[str]:
        return Located.in_payload("hello world", 0, 11)  # where the source put it


class OpenEvents(SourceInstance):
    """``open("/tmp/the_file", O_RDWR) = 3`` by thread 1, as many times as the open params say."""

    def __init__(self, params: str) -> None:
        self.left = Countdown(params).left

    def next_batch(self) -> list[PPME_SYSCALL_OPEN_X]:
        if self.left == 0:
            raise EndOfStream
        self.left -= 1
        # ts None: the host stamps it (UINT64_MAX); the thread is the plugin's to say
        return [PPME_SYSCALL_OPEN_X(fd=3, name="/tmp/the_file", flags=FileFlags.O_RDWR, mode=0, dev=5, ino=123,
                                    tid=1)]


class SampleSyscallSource(Plugin, SourcePlugin):
    NAME = "sample_syscall_source"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "some desc"
    CONTACT = "some contact"
    PLUGIN_ID = 0  # a syscall-source plugin: its events are of the "syscall" source
    EVENT_SOURCE = ""

    def open(self, params: str) -> OpenEvents:
        return OpenEvents(params)


class SubtableFd(TableEntry):
    name: str
    pid: Int64
    custom: Custom[str]  # added to every file_descriptors subtable


class SubtableThread(TableEntry):
    file_descriptors: Table[Int64, SubtableFd]


class SampleSubtables(Plugin, ParsePlugin):
    NAME = "sample_subtables"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "some desc"
    CONTACT = "some contact"
    PARSE_EVENT_SOURCES = ("syscall",)

    def __init__(self, config: str, tables: TablesInput) -> None:
        # binding SubtableThread creates a temporary entry to reach a subtable, takes its fields
        # and adds "custom", as the C++ plugin does by hand
        self.threads = tables.get_table(config or "threads", Int64, SubtableThread)
        self.step = 0

    def parse_event(self, event: PPME_SYSCALL_OPEN_X) -> None:
        thread = self.threads.get(event.tid)
        if thread is None:
            raise TableError("can't get table entry")
        fds = thread.file_descriptors
        if self.step == 0:
            for i in range(1024):
                entry = fds.add_entry(i, fds.create_entry())
                entry.pid = 123
                entry.custom = "world"
        elif self.step == 1:
            fds.erase(0)
        elif self.step == 2:
            fds.clear()
        else:
            return
        self.step += 1

