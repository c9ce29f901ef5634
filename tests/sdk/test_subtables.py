"""Subtables (table fields of type SS_PLUGIN_ST_TABLE): the Python port of libsinsp's
``syscall_subtables`` test plugin, driven as libsinsp's ``plugin_subtables`` test drives it,
through our host: one ``PPME_SYSCALL_OPEN_X`` per step; after step 0 the event thread's
``file_descriptors`` holds 1024 entries (pid 123, custom "world"), after step 1 1023, after
step 2 none."""

from __future__ import annotations

from typing import Any

import pytest
from support import Built, Host, fields_of, table_dumps

from falco_plugin.testing import Run

PORTS = "libsinsp_ports.py"


def table_of(run: Run, name: str) -> dict[str, Any]:
    return table_dumps(run)[name]


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
    assert [fd["key"] for fd in fds] == list(range(1024 - left, 1024))  # step 1 erased key 0
    # the host's own parsing of each open (before the plugins') puts fd 3 back from step 1 on,
    # as libsinsp's does; the plugin's entries are the others
    for fd in fds:
        if fd["key"] == 3 and events > 1:
            assert (fd["name"], fd["custom"]) == ("/tmp/the_file", ""), fd
        else:
            assert (fd["pid"], fd["custom"]) == (123, "world"), fd


# -- nested tables of an exported table (the Rust SDK's Box<Table<K, E>>) --------------------


@pytest.mark.parametrize(("events", "left"), [(1, 1024), (2, 1023), (3, 0)])
def test_the_port_works_the_nested_tables_a_python_plugin_exports(host: Host, built: Built, events: int,
                                                                  left: int) -> None:
    # the port, told to use py_threads, reaches its nested tables at init through a temporary
    # entry, adds "custom" to them, then fills, erases and clears the event thread's one
    run = host("run", "--json", "--dump-tables", "-p", built(f"{PORTS}:SampleSyscallSource"), "-o", str(events),
               "-p", built("nested_tables.py:NestedExporter"), "-p", built(f"{PORTS}:SampleSubtables"),
               "-c", "py_threads", "--fields", "nested.fds,nested.pids,nested.customs")
    assert run.returncode == 0, run
    seen = fields_of(run)
    steps = [{"nested.fds": 1024, "nested.pids": [123], "nested.customs": ["world"]},
             {"nested.fds": 1023, "nested.pids": [123], "nested.customs": ["world"]},
             {"nested.fds": 0, "nested.pids": None, "nested.customs": None}]
    assert seen == steps[:events]
    # the host walks the nested tables of a plugin's table (through their own table inputs)
    py_threads = table_of(run, "py_threads")
    assert py_threads["owner"] == "nested_exporter"
    assert {f["name"]: (f["type"], f["read_only"]) for f in py_threads["fields"]} == {
        "comm": ("string", False), "file_descriptors": ("table", True)}
    (proc,) = py_threads["entries"]
    assert proc["comm"] == "opener"
    fds = proc["file_descriptors"]
    assert len(fds) == left
    assert all(fd == {"key": None, "name": "", "pid": 123, "custom": "world"} for fd in fds)


def test_a_nested_table_field_is_read_only_and_its_entries_are_not(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{PORTS}:SampleSyscallSource"), "-o", "1",
               "-p", built("nested_tables.py:NestedExporter"), "-p", built("nested_tables.py:WritesTheTable"),
               "--fields", "nested.fds")
    assert run.returncode == 0, run
    assert fields_of(run) == [{"nested.fds": 1}]
    assert "writing the table field: field 'file_descriptors' of table 'py_threads' is read-only" in run.stderr, run


def test_the_records_of_nested_tables_no_entry_holds_are_swept(host: Host, built: Built) -> None:
    # 300 new nested tables per event, read through the host: 1,500 records made, the old
    # ones freed by sweeps (ASan checks that nothing reads them after: make sanitize)
    run = host("run", "--json", "-p", built(f"{PORTS}:SampleSyscallSource"), "-o", "5",
               "-p", built("nested_tables.py:ChurnExporter"), "-p", built("nested_tables.py:ChurnReader"),
               "--fields", "churn.seen")
    assert run.returncode == 0, run
    assert [e.fields["churn.seen"] for e in run.events] == [
        ["300", f"/gen/{n}"] for n in range(1, 6)]
