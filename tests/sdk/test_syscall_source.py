"""Syscall-source plugins (plugin id 0; docs/internals/plugin-api-facts.md, Event sourcing): the
plugin emits typed syscall events of falco_plugin.event, the host treats them as driver events
of the "syscall" source and parses them into its thread state. The port of libsinsp's
syscall_source test plugin, checked as its plugin_syscall_source test does."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from support import Built, Host, table_dumps

from falco_plugin._tooling.build import BuildError, build
from falco_plugin.event import PPME_SYSCALL_OPEN_X

PORTS = "libsinsp_ports.py"


def test_port_of_libsinsp_syscall_source(host: Host, built: Built) -> None:
    lib = built(f"{PORTS}:SampleSyscallSource")
    info = json.loads(host("info", lib).stdout)
    assert (info["id"], info["event_source"], info["capabilities"]) == (0, "", ["sourcing"])
    run = host("run", "--json", "--dump-tables", "-p", lib, "-o", "1",
               "-p", built("decided.py:Requires41"), "--fields", "r41.path")
    assert run.returncode == 0, run
    (ev,) = run.events
    assert ev.type == PPME_SYSCALL_OPEN_X.CODE and ev.source == "syscall" and ev.tid == 1
    assert ev.plugin_id is None and ev.ts != 2**64 - 1  # the host stamped it
    assert ev.fields == {"r41.path": "/tmp/the_file"}  # a syscall extractor sees it
    params = ev.payload  # what follows the 26-byte header
    header = struct.pack("<QQIHI", ev.ts, ev.tid, 26 + len(params), ev.type, 6)
    decoded = PPME_SYSCALL_OPEN_X.from_bytes(header + params)
    got = (decoded.fd, decoded.name, int(decoded.flags or 0), decoded.dev, decoded.ino)
    assert got == (3, "/tmp/the_file", 3, 5, 123)
    # parsed into thread state as a driver event: thread 1 with fd 3 on /tmp/the_file
    threads = table_dumps(run)["threads"]
    (t1,) = [t for t in threads["entries"] if t["key"] == 1]
    fds = {fd["key"]: fd for fd in t1["file_descriptors"]}
    assert fds[3]["name"] == "/tmp/the_file"
    (summary,) = [s for s in run.summaries if s.get("plugin") == "sample_syscall_source" and "events" in s]
    assert (summary["source"], summary["events"], summary["end"]) == ("syscall", 1, "eof")


def test_plugin_events_from_a_syscall_source_have_no_id(host: Host, built: Built, tmp_path: Path) -> None:
    # a 322 event whose plugin id is 0 is malformed, whoever produced it
    src = tmp_path / "pev.py"
    src.write_text(
        "from falco_plugin import EndOfStream, Plugin, SourceInstance, SourcePlugin\n"
        "from falco_plugin.event import PluginEvent\n"
        "class Once(SourceInstance):\n"
        "    def next_batch(self):\n"
        "        return [PluginEvent(0, b'x', tid=1)]\n"
        "class Pev(Plugin, SourcePlugin):\n"
        "    NAME = 'pev'\n    PLUGIN_VERSION = '0.1.0'\n    DESCRIPTION = 'd'\n    CONTACT = 'c'\n"
        "    PLUGIN_ID = 0\n    EVENT_SOURCE = 'syscall'\n"
        "    def open(self, params):\n        return Once()\n"
    )
    lib, _ = build(f"{src}:Pev", tmp_path / "libpev.so")
    run = host("run", "-p", lib)
    assert run.returncode == 1
    assert "malformed plugin event produced by plugin (no ID)" in run.stderr


def test_a_bad_item_names_its_index(host: Host, tmp_path: Path) -> None:
    src = tmp_path / "bad_item.py"
    src.write_text(
        "from falco_plugin import Plugin, SourceInstance, SourcePlugin\n"
        "class Once(SourceInstance):\n"
        "    def next_batch(self):\n"
        "        return [b'short']\n"
        "class BadItem(Plugin, SourcePlugin):\n"
        "    NAME = 'bad_item'\n    PLUGIN_VERSION = '0.1.0'\n    DESCRIPTION = 'd'\n    CONTACT = 'c'\n"
        "    PLUGIN_ID = 0\n    EVENT_SOURCE = ''\n"
        "    def open(self, params):\n        return Once()\n"
    )
    lib, _ = build(f"{src}:BadItem", tmp_path / "libbad_item.so")
    run = host("run", "-p", lib)
    assert run.returncode == 1
    assert "next_batch: item 0 of a syscall-source plugin: 5 bytes are not an event" in run.stderr


@pytest.mark.parametrize(
    ("consts", "message"),
    [
        ("PLUGIN_ID = 0\n    EVENT_SOURCE = 'mine'",
         "Bad.PLUGIN_ID = 0 makes a syscall-source plugin (its events are of the 'syscall' source): "
         "set EVENT_SOURCE = '', or give it a plugin id"),
        ("PLUGIN_ID = 5\n    EVENT_SOURCE = ''", "Bad.EVENT_SOURCE must match"),
        ("PLUGIN_ID = 5\n    EVENT_SOURCE = 'syscall'", "Bad.EVENT_SOURCE 'syscall' is reserved"),
    ],
)
def test_inconsistent_ids_and_sources_are_refused(tmp_path: Path, consts: str, message: str) -> None:
    src = tmp_path / f"bad_src_{consts.count('5')}_{len(consts)}.py"  # one module name per case
    src.write_text(
        "from falco_plugin import Plugin, SourcePlugin\n"
        "class Bad(Plugin, SourcePlugin):\n"
        "    NAME = 'bad'\n    PLUGIN_VERSION = '0.1.0'\n    DESCRIPTION = 'd'\n    CONTACT = 'c'\n"
        f"    {consts}\n"
        "    def open(self, params):\n        return None\n"
    )
    with pytest.raises(BuildError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(f"{src}:Bad", tmp_path / "libbad.so")
