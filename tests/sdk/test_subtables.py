"""Subtables (plugin-api.md §3.7, SS_PLUGIN_ST_TABLE): the Python port of libsinsp's
``syscall_subtables`` test plugin, driven as libsinsp's ``plugin_subtables`` test drives it,
through our host: one ``PPME_SYSCALL_OPEN_X`` per step; after step 0 the event thread's
``file_descriptors`` holds 1024 entries (pid 123, custom "world"), after step 1 1023, after
step 2 none."""

from __future__ import annotations

from typing import Any

import pytest
from support import Built, Host

PORTS = "libsinsp_ports.py"


def table_of(run: Any, name: str) -> dict[str, Any]:
    (table,) = [e["table"] for e in run.events if "table" in e and e["table"]["name"] == name]
    return table


@pytest.mark.parametrize(("events", "left"), [(1, 1024), (2, 1023), (3, 0)])
def test_the_port_fills_erases_and_clears_the_threads_fd_subtable(host: Host, built: Built, events: int,
                                                                   left: int) -> None:
    run = host("run", "--json", "--dump-tables", "-p", built(f"{PORTS}:SampleSyscallSource"), "-o", str(events),
               "-p", built(f"{PORTS}:SampleSubtables"))
    assert run.returncode == 0, run
    threads = table_of(run, "threads")
    (fds_field,) = [f for f in threads["fields"] if f["name"] == "file_descriptors"]
    assert (fds_field["type"], fds_field["read_only"]) == ("table", True)
    (thread,) = [e for e in threads["entries"] if e["key"] == 1]
    fds = thread["file_descriptors"]
    assert len(fds) == left
    assert all((fd["pid"], fd["custom"]) == (123, "world") for fd in fds)
    assert [fd["key"] for fd in fds] == list(range(1024 - left, 1024))  # step 1 erased key 0
