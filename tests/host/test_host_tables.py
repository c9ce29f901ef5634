"""The test host's state tables, event parsing and capture replay, driven by plain-C plugins
(tests/cplugins: tbl_ext/tbl_old on each vtable flavour, tbl_owner/tbl_reader for a plugin-owned
table, parse_filter for the parse filters) over the shared captures. Independent references:
falco_plugin.event.CaptureReader for the events, and a small parser of the captures' process and
fd lists written here."""

from __future__ import annotations

import gzip
import json
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support import CURL, IPV6, Lib, host, logged, needs_captures, replay, table_dumps

from falco_plugin._tooling.host import run_host
from falco_plugin.event import CaptureReader
from falco_plugin.testing import Run

PROCEXIT_CODES = {16, 186}  # PPME_PROCEXIT_E, PPME_PROCEXIT_1_E



# -- an independent reading of the captures' process and fd lists ---------------------------


def _blocks(path: Path) -> list[tuple[int, bytes]]:
    data = gzip.decompress(path.read_bytes())
    out, pos = [], 0
    while pos + 12 <= len(data):
        btype, total = struct.unpack_from("<II", data, pos)
        out.append((btype, data[pos + 8 : pos + total - 4]))
        pos += total
    return out


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return value

    def text(self) -> str:
        n = self.take("H")
        self.pos += n
        return self.data[self.pos - n : self.pos].decode("utf-8", "replace")


def capture_procs(path: Path) -> dict[int, dict[str, Any]]:
    """tid -> fields, from the process-list blocks (v5 and v9, the versions of the shared captures)."""
    procs: dict[int, dict[str, Any]] = {}
    for btype, body in _blocks(path):
        if btype not in (0x211, 0x215):
            continue
        c = _Cursor(body)
        while len(body) - c.pos >= 4:
            start = c.pos
            sub_len = c.take("I") if btype == 0x215 else 0
            tid, pid, ptid = c.take("q"), c.take("q"), c.take("q")
            if btype == 0x215:
                c.take("q"), c.take("q")  # sid, vpgid
            comm, exe = c.text(), c.text()
            exepath = c.text() if btype == 0x215 else ""
            c.text()  # args
            cwd = c.text()
            c.take("q"), c.take("I")  # fdlimit, flags
            uid, gid = c.take("I"), c.take("I")
            procs[tid] = {"pid": pid, "ptid": ptid, "comm": comm, "exe": exe, "exe_path": exepath, "cwd": cwd,
                          "uid": uid, "gid": gid}
            if btype == 0x215:
                c.pos = start + sub_len
            else:
                c.pos += 3 * 4 + 2 * 8  # vm sizes, page faults
                c.text()  # env
                c.pos += 16  # vtid, vpid
                c.text(), c.text()  # cgroups, root
    return procs


def capture_fds(path: Path) -> dict[int, dict[int, tuple[int, str]]]:
    """tid -> fd -> (type, name) for the file-like fds (other types: name "")."""
    fds: dict[int, dict[int, tuple[int, str]]] = {}
    for btype, body in _blocks(path):
        if btype not in (0x203, 0x218):
            continue
        c = _Cursor(body)
        tid = c.take("q")
        table = fds.setdefault(tid, {})
        while len(body) - c.pos >= 4:
            start = c.pos
            sub_len = c.take("I") if btype == 0x218 else 0
            fd, _ino, ftype = c.take("q"), c.take("Q"), c.take("B")
            name = ""
            if ftype in (3, 5):  # IPv4 socket / server socket, as the host names them
                addrs = [c.data[c.pos : c.pos + 4]] + ([c.data[c.pos + 4 : c.pos + 8]] if ftype == 3 else [])
                c.pos += 4 * len(addrs)
                ports = [c.take("H") for _ in addrs]
                c.pos += 1
                ends = [f"{'.'.join(str(b) for b in a)}:{p}" for a, p in zip(addrs, ports, strict=True)]
                name = "->".join(ends)
            elif ftype in (4, 6):
                c.pos += {4: 37, 6: 19}[ftype]
                name = "<ipv6>"
            elif ftype == 8:
                c.pos += 16
                name = c.text()
            elif ftype == 16:
                c.take("I")
                name = c.text()
            elif ftype != 0:
                name = c.text()
            table[fd] = (ftype, name)
            if sub_len:
                c.pos = start + sub_len
    return fds


def final_counts(path: Path) -> tuple[dict[int, int], list[int]]:
    """Events per tid as a parse plugin counts them (a procexit ends the thread after the event),
    and the running count at each event."""
    counts: dict[int, int] = {}
    running = []
    for item in CaptureReader(path):
        tid = item.event.tid
        counts[tid] = counts.get(tid, 0) + 1
        running.append(counts[tid])
        if item.event.type in PROCEXIT_CODES:
            del counts[tid]
    return counts, running


# -- replay --------------------------------------------------------------------------------


@needs_captures
@pytest.mark.parametrize("capture", [CURL, IPV6], ids=["curl_google", "single_ipv6_conn"])
def test_replay_events_match_the_capture_reader(lib: Lib, capture: Path) -> None:
    run = replay(capture, "-p", lib("parse_noop_c"))
    assert run.returncode == 0, run
    reference = list(CaptureReader(capture))
    assert len(run.events) == len(reference) == run.summary["events"]
    for got, item in zip(run.events, reference, strict=True):
        event = item.event
        assert (got.ts, got.tid, got.type, got.len, got.cpu) == (
            event.ts, event.tid, event.type, len(event.to_bytes()), item.cpu)
    assert [e.evtnum for e in run.events] == list(range(1, len(reference) + 1))
    assert {e.source for e in run.events} == {"syscall"}
    assert (run.summary["end"], run.summary["source"]) == ("eof", "syscall")
    assert run.summary["procs"] == len(capture_procs(capture))
    assert run.summary["fds"] == sum(len(v) for tid, v in capture_fds(capture).items() if tid in capture_procs(capture))
    assert run.plugins["parse_noop_c"]["parsed"] == len(reference)


@needs_captures
@pytest.mark.parametrize("capture", [CURL, IPV6], ids=["curl_google", "single_ipv6_conn"])
def test_threads_table_is_filled_from_the_process_and_fd_lists(lib: Lib, capture: Path) -> None:
    run = replay(capture, "-n", "1", "--dump-tables", "-p", lib("parse_noop_c"))
    assert run.returncode == 0, run
    threads = table_dumps(run)["threads"]
    assert (threads["key_type"], threads["owner"]) == ("int64", "host")
    fields = {f["name"]: (f["type"], f["read_only"]) for f in threads["fields"]}
    for name, expected in {
        "tid": ("int64", False), "pid": ("int64", False), "ptid": ("int64", False), "comm": ("string", False),
        "exe": ("string", False), "exe_path": ("string", False), "cwd": ("string", True), "uid": ("uint32", False),
        "gid": ("uint32", False), "file_descriptors": ("table", True),
    }.items():
        assert fields[name] == expected, name
    entries = {e["key"]: e for e in threads["entries"]}
    procs = capture_procs(capture)
    fds = capture_fds(capture)
    for tid, proc in procs.items():
        entry = entries[tid]
        assert entry["tid"] == tid
        assert {k: entry[k] for k in proc} == proc, tid
        want = {fd: name for fd, (_t, name) in fds.get(tid, {}).items()}
        got = {f["key"]: f["name"] for f in entry["file_descriptors"]}
        assert {k: v for k, v in got.items() if want[k] != "<ipv6>"} == {
            k: v for k, v in want.items() if v != "<ipv6>"}, tid
        assert {f["key"]: f["type"] for f in entry["file_descriptors"]} == {
            fd: t for fd, (t, _n) in fds.get(tid, {}).items()}
        assert all(f["fd"] == f["key"] and f["pid"] == proc["pid"] for f in entry["file_descriptors"])
    # the first event's thread, if the lists do not have it, gets an entry with its tid only
    first_tid = run.events[0].tid
    assert first_tid in entries
    assert len(entries) == len(procs) + (first_tid not in procs)


@needs_captures
def test_replay_state_update_clone_execve_and_procexit(lib: Lib) -> None:
    # the last successful clone child / execve of each thread, up to the first procexit
    last: dict[int, Any] = {}
    first_exit = 0
    for item in CaptureReader(CURL):
        event = item.event
        if event.type in PROCEXIT_CODES:
            first_exit = item.number
            break
        if event.direction == "<" and event.name in ("clone", "execve"):
            typed = event.load_any()
            if int(typed.res) == 0:  # type: ignore[attr-defined]
                last[event.tid] = typed
    assert first_exit and len(last) >= 2  # curl's execve and its clone child
    run = replay(CURL, "-n", str(first_exit - 1), "--dump-tables", "-p", lib("parse_noop_c"))
    assert run.returncode == 0, run
    entries = {e["key"]: e for e in table_dumps(run)["threads"]["entries"]}
    for tid, typed in last.items():
        entry = entries[tid]
        assert (entry["comm"], entry["exe"], entry["pid"], entry["ptid"]) == (
            typed.comm, typed.exe, int(typed.pid), int(typed.ptid)), typed
        assert entry["cwd"] == typed.cwd
    # after the whole capture: the threads that exited are gone, the others stay
    run = replay(CURL, "--dump-tables", "-p", lib("parse_noop_c"))
    entries = {e["key"]: e for e in table_dumps(run)["threads"]["entries"]}
    exited: set[int] = set()
    seen: set[int] = set(capture_procs(CURL))
    for item in CaptureReader(CURL):
        seen.add(item.event.tid)
        if item.event.type in PROCEXIT_CODES:
            exited.add(item.event.tid)
            seen.discard(item.event.tid)
    assert exited and set(last) <= exited
    assert set(entries) == seen


@needs_captures
def test_replay_text_output_and_limit(lib: Lib) -> None:
    proc = run_host(["replay", "--capture", str(CURL), "-n", "2", "-p", lib("tbl_ext"), "--fields", "tbl.count"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("#1 [syscall] ts=") and " type=procinfo(234) " in lines[0]
    assert lines[0].endswith(" tbl.count=1")
    assert lines[2].startswith(f"summary: capture={CURL} source=syscall events=2 end=limit procs=54 ")
    assert lines[3] == ("summary: plugin=tbl_ext kind=plugin parsed=2 parse_failures=0 table_entries_unreleased=0 "
                        "routines_subscribed=0 routine_runs=0")


def test_replay_errors(lib: Lib, tmp_path: Path) -> None:
    run = host("replay", "-p", lib("parse_noop_c"))
    assert run.returncode == 2 and "error: --capture FILE is required" in run.stderr, run
    run = host("replay", "--capture", str(tmp_path / "nope.scap"), "-p", lib("parse_noop_c"))
    assert run.returncode == 1 and "error: cannot open capture" in run.stderr, run
    bad = tmp_path / "bad.scap"
    bad.write_bytes(b"\x00" * 64)
    run = host("replay", "--capture", str(bad), "-p", lib("parse_noop_c"))
    assert run.returncode == 1 and "not a scap capture" in run.stderr, run
    truncated = tmp_path / "truncated.scap"
    truncated.write_bytes(gzip.decompress(CURL.read_bytes())[:5000] if CURL.exists() else b"")
    if CURL.exists():
        run = host("replay", "--capture", str(truncated), "-p", lib("parse_noop_c"))
        assert run.returncode == 1 and "truncated capture" in run.stderr, run
    run = host("replay", "--capture", str(bad), "-o", "x", "-p", lib("parse_noop_c"))
    assert run.returncode == 2, run


# -- tables through both vtable flavours ------------------------------------------------------


@needs_captures
@pytest.mark.parametrize("flavour", ["tbl_ext", "tbl_old"])
def test_table_reads_and_writes(lib: Lib, flavour: str) -> None:
    fields = "tbl.count,tbl.tag,tbl.pid,tbl.fds,tbl.i8"
    run = replay(CURL, "-p", lib(flavour), "--fields", fields, "--dump-tables")
    assert run.returncode == 0, run
    counts, running = final_counts(CURL)
    summary = run.plugins[flavour]
    assert (summary["parsed"], summary["parse_failures"], summary["table_entries_unreleased"]) == (
        len(running), 0, 0)
    assert logged(run, f"info {flavour}: init fields=") == ["39 listed_tbl_count=1"]
    # fields see what parse_event wrote for the same event (parse runs before extraction)
    assert [e.fields["tbl.count"] for e in run.events] == running
    assert [e.fields["tbl.i8"] for e in run.events] == [1000 - n % 100 for n in running]
    threads = table_dumps(run)["threads"]
    added = {f["name"]: (f["type"], f["added_by"]) for f in threads["fields"] if f["added_by"]}
    assert added == {
        "tbl_count": ("uint64", flavour), "tbl_tag": ("string", flavour), "tbl_flag": ("bool", flavour),
        "tbl_i8": ("int8", flavour), "tbl_i16": ("int16", flavour), "tbl_i32": ("int32", flavour),
        "tbl_i64": ("int64", flavour), "tbl_u8": ("uint8", flavour), "tbl_u16": ("uint16", flavour),
        "tbl_u32": ("uint32", flavour),
    }
    entries = {e["key"]: e for e in threads["entries"]}
    assert {k: e["tbl_count"] for k, e in entries.items() if e["tbl_count"]} == counts
    for tid, n in counts.items():
        e = entries[tid]
        assert e["tbl_tag"] == f"{e['comm']}#{n}"
        assert (e["tbl_i8"], e["tbl_i16"], e["tbl_i32"], e["tbl_i64"]) == (-(n % 100), -n, -n, -n * 1000)
        assert (e["tbl_u8"], e["tbl_u16"], e["tbl_u32"], e["tbl_flag"]) == (n % 256, n, n * 3, n % 2 == 1)
        if flavour == "tbl_ext":  # every fd of the thread was marked at each of its events
            assert all(f["tbl_seen"] == n for f in e["file_descriptors"]), tid
    untouched = [e for e in entries.values() if not e["tbl_count"]]
    assert untouched and all(e["tbl_tag"] == "" and e["tbl_i64"] == 0 and e["tbl_flag"] is False
                             for e in untouched)
    last = {}
    for event in run.events:
        last[event.tid] = event
    for tid, event in last.items():
        if tid in entries and entries[tid]["tbl_count"]:
            assert event.fields["tbl.tag"] == entries[tid]["tbl_tag"]
            assert event.fields["tbl.fds"] == len(entries[tid]["file_descriptors"])
            assert event.fields["tbl.pid"] == entries[tid]["pid"] % 2**64


MISUSE = {
    "get_table unknown": "table 'nope' not found",
    "get_table key type": "table 'threads' has key type int64, not uint64",
    "get_table_field type": "field 'comm' of table 'threads' has type string, not uint64",
    "get_table_field unknown": "table 'threads' has no field 'nope'",
    "add_table_field type": "field 'comm' of table 'threads' already exists with type string, not uint64",
    "add_table_field again": "same=1",
    "add_table_field invalid type": "table 'threads': add_table_field 'bad': invalid state type 99",
    "add_table_field table": "table 'threads': add_table_field 'sub': fields of type table cannot be added",
    "write read-only": "field 'cwd' of table 'threads' is read-only",
    "write NULL string": "field 'tbl_tag' of table 'threads': NULL string written",
    "missing entry": "table 'threads' has no entry with key -42",
    "erase missing": "table 'threads' has no entry with key -42",
    "field outside init": "table 'threads': get_table_field is only allowed in init (called in parse_event)",
    "table outside init": "get_table is only allowed in init (called in parse_event)",
    "write in extract": "table 'threads': clear_table is not allowed in extract_fields (writers are given to "
    "init, parse_event and capture listening only)",
}


@needs_captures
@pytest.mark.parametrize("flavour", ["tbl_ext", "tbl_old"])
def test_table_misuse_gives_clear_owner_errors(lib: Lib, flavour: str) -> None:
    run = replay(CURL, "-n", "5", "-p", lib(flavour), "-c", "misuse", "--fields", "tbl.count")
    assert run.returncode == 0, run
    got = dict(line.split(": ", 1) for line in logged(run, f"info {flavour}: misuse "))
    expected = dict(MISUSE)
    if flavour == "tbl_ext":
        expected["foreign field"] = ("table 'threads': write_entry_field: field 'tbl_seen' belongs to table "
                                     "'file_descriptors'")
    assert got.pop("add entry not created").endswith(
        "does not come from create_table_entry in this call, or was already added")
    assert got == expected
    # the misuses did not change anything: the counts are as without them
    assert [e.fields["tbl.count"] for e in run.events] == final_counts(CURL)[1][:5]


@needs_captures
def test_create_add_erase_with_the_deprecated_writer(lib: Lib) -> None:
    run = replay(CURL, "-n", "12", "-p", lib("tbl_old"), "-c", "crud", "--dump-tables")
    assert run.returncode == 0, run
    logs = logged(run, "info tbl_old: ")
    assert "parse add 999999: ok" in logs
    assert "crud erase 999999: ok" in logs and "crud add 888888: ok" in logs
    entries = {e["key"]: e for e in table_dumps(run)["threads"]["entries"]}
    assert any(line.startswith("crud size=") for line in logs)
    assert 999999 not in entries and entries[888888]["tid"] == 888888
    run = replay(CURL, "-n", "5", "-p", lib("tbl_old"), "-c", "crud", "--dump-tables")
    entries = {e["key"]: e for e in table_dumps(run)["threads"]["entries"]}
    assert entries[999999]["comm"] == "made-in-parse" and entries[999999]["tbl_count"] == 0
    assert run.plugins["tbl_old"]["table_entries_unreleased"] == 0


@needs_captures
def test_nested_tables_create_add_erase_clear_and_iterate(lib: Lib) -> None:
    run = replay(CURL, "-p", lib("tbl_ext"), "-c", "crud", "--dump-tables")
    assert run.returncode == 0, run
    logs = logged(run, "info tbl_ext: ")
    procs = capture_procs(CURL)
    fds_of_1 = len(capture_fds(CURL)[1])
    assert "init nested table name=file_descriptors" in logs
    assert "table threads key=4" in logs
    assert "init add 999999: ok" in logs
    assert f"crud fds of 1 before: {fds_of_1}" in logs and "crud fds of 1 after: 1" in logs
    # iteration at the first event: the process list, 999999, and the first event's thread
    first_tid = run.events[0].tid
    n = len(procs) + 1 + (first_tid not in procs)
    assert f"crud iterate={n} size={n}" in logs
    assert "crud erase 999999: ok" in logs and "crud add 888888: ok" in logs
    entries = {e["key"]: e for e in table_dumps(run)["threads"]["entries"]}
    assert 999999 not in entries
    assert entries[888888]["tid"] == 888888 and entries[888888]["pid"] == -1  # libsinsp's initial values
    assert entries[888888]["uid"] == 2**32 - 1 and entries[888888]["comm"] == ""
    fds = entries[1]["file_descriptors"]
    assert [(f["key"], f["fd"], f["name"]) for f in fds] == [(42, 42, "/made/by/plugin")]
    assert run.plugins["tbl_ext"]["table_entries_unreleased"] == 0


@needs_captures
def test_unreleased_entries_are_counted(lib: Lib) -> None:
    run = replay(CURL, "-n", "20", "-p", lib("tbl_ext"), "-c", "leak")
    assert run.returncode == 0, run
    assert run.plugins["tbl_ext"]["table_entries_unreleased"] == 20
    run = replay(CURL, "-n", "20", "-p", lib("tbl_old"), "-c", "leak")  # nothing to release there
    assert run.plugins["tbl_old"]["table_entries_unreleased"] == 0


@needs_captures
def test_tables_only_on_the_calling_thread(lib: Lib) -> None:
    run = replay(CURL, "-n", "1", "-p", lib("tbl_ext"), "-c", "thread")
    assert run.returncode == 0, run
    message = ("table 'threads': get_table_size called outside a plugin call that received table vtables (tables "
               "may only be used synchronously, on the thread of that call)")
    assert logged(run, "info tbl_ext: thread ") == [f"get_table_size=-1: {message}"]
    assert logged(run, "warning host: ") == [message]


# -- plugin-owned tables -------------------------------------------------------------------------


@needs_captures
def test_plugin_owned_table_read_and_extended_by_another_plugin(lib: Lib) -> None:
    run = replay(CURL, "-p", lib("tbl_owner"), "-p", lib("tbl_reader"), "-c", "misuse", "--fields",
                 "rdr.count,rdr.items", "--dump-tables")
    assert run.returncode == 0, run
    assert logged(run, "info tbl_owner: ") == ["add_table: ok"]
    assert logged(run, "info tbl_reader: ") == [
        "init table name=owned",
        # failures inside the owner's functions carry the owner's get_last_error
        "misuse field type: owned: field 'count' is uint64, not string",
        "misuse key type: table 'owned' has key type uint64, not int64",
        "misuse missing entry: owned: no entry 99",
    ]
    per_key = Counter(item.event.tid % 4 for item in CaptureReader(CURL))
    owned = table_dumps(run)["owned"]
    assert (owned["key_type"], owned["owner"], owned["size"]) == ("uint64", "tbl_owner", 4)
    assert [(f["name"], f["type"]) for f in owned["fields"]] == [
        ("count", "uint64"), ("label", "string"), ("items", "table"), ("seen_by_reader", "uint64")]
    by_label = {e["label"]: e for e in owned["entries"]}
    assert {int(k[1:]): e["count"] for k, e in by_label.items()} == dict(per_key)
    for e in owned["entries"]:
        assert e["seen_by_reader"] == e["count"] * 10
        assert sorted(i["v"] for i in e["items"]) == [e["count"] - 2, e["count"] - 1, e["count"]]
    running: Counter[int] = Counter()
    for event in run.events:
        key = event.tid % 4
        running[key] += 1
        assert event.fields == {"rdr.count": running[key], "rdr.items": min(running[key], 3)}
    assert run.plugins["tbl_reader"]["table_entries_unreleased"] == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("inconsistent", "add_table 'owned': broken or inconsistent reader/writer/fields vtables"),
        ("noext", "add_table 'owned': broken or inconsistent reader/writer/fields vtables"),
        ("nullfn", "add_table 'owned': broken or inconsistent reader/writer/fields vtables"),
        ("dupname", "add_table 'threads': a table with this name already exists"),
        ("noname", "add_table: NULL table name"),
    ],
)
@needs_captures
def test_add_table_checks(lib: Lib, config: str, message: str) -> None:
    run = replay(CURL, "-n", "1", "-p", lib("tbl_owner"), "-c", config, "--dump-tables")
    assert run.returncode == 0, run
    assert logged(run, "info tbl_owner: ") == [f"add_table: {message}"]
    assert list(table_dumps(run)) == ["threads"]


@needs_captures
def test_list_tables_has_host_and_plugin_tables(lib: Lib) -> None:
    run = replay(CURL, "-n", "1", "-p", lib("tbl_owner"), "-p", lib("tbl_ext"), "-c", "crud")
    assert run.returncode == 0, run
    assert [line for line in logged(run, "info tbl_ext: ") if line.startswith("table ")] == [
        "table threads key=4", "table owned key=8"]


def test_reader_of_a_missing_plugin_table_fails_init(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-p", lib("tbl_reader"))
    assert run.returncode == 1, run
    assert "error: could not initialize plugin: no table owned: table 'owned' not found" in run.stderr


# -- parsing ---------------------------------------------------------------------------------


def parsed_lines(run: Run) -> list[str]:
    return logged(run, "info parse_filter: parsed ")


def test_parse_only_plugin_next_to_a_source(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:3", "-p", lib("parse_filter"))
    assert run.returncode == 0, run
    assert parsed_lines(run) == [f"evtnum={i} type=322 src=test" for i in (1, 2, 3)]
    assert run.plugins["parse_filter"] == {
        "plugin": "parse_filter", "kind": "plugin", "parsed": 3, "parse_failures": 0,
        "table_entries_unreleased": 0, "routines_subscribed": 0, "routine_runs": 0,
    }
    assert run.summary["events"] == 3


@pytest.mark.parametrize(
    ("sources", "config", "parsed"),
    [
        (None, "", 3),  # no sources, no types: everything
        ('["other"]', "", 0),
        ('["test"]', "", 3),  # types default to 322 only, as the sources lack "syscall"
        ('["test"]', "types=402", 0),
        ("[]", "types=", 3),  # empty lists: all sources, default types
        ('["test", ""]', "types=322,5", 3),
    ],
)
def test_parse_filters_in_run(lib: Lib, sources: str | None, config: str, parsed: int) -> None:
    env = {"FPH_PARSE_SOURCES": sources} if sources is not None else {}
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:3", "-p", lib("parse_filter"), "-c", config,
               env=env)
    assert run.returncode == 0, run
    assert len(parsed_lines(run)) == parsed == run.plugins["parse_filter"]["parsed"]


def test_parse_sees_async_events(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c",
               json.dumps({"mode": "sync", "count": 2}), "-p", lib("parse_filter"), "-c", "types=402")
    assert run.returncode == 0, run
    assert parsed_lines(run) == ["evtnum=1 type=402 src=test", "evtnum=2 type=402 src=test"]


@needs_captures
@pytest.mark.parametrize(
    ("sources", "config"),
    [('["syscall"]', "types=3,5,234"), (None, "types=234"), ('["syscall"]', ""), ('["test"]', ""), (None, "types=")],
)
def test_parse_filters_in_replay(lib: Lib, sources: str | None, config: str) -> None:
    env = {"FPH_PARSE_SOURCES": sources} if sources is not None else {}
    run = replay(CURL, "-p", lib("parse_filter"), "-c", config, env=env)
    assert run.returncode == 0, run
    types = Counter(item.event.type for item in CaptureReader(CURL))
    wanted = {int(t) for t in config[6:].split(",") if t} if config.startswith("types=") else set()
    if sources == '["test"]':
        expected = types[322]  # no syscall source: the default types are 322 only
    elif wanted:
        expected = sum(types[t] for t in wanted)
    else:
        expected = sum(types.values())
    assert run.plugins["parse_filter"]["parsed"] == expected
    got = Counter(int(line.split(" type=")[1].split()[0]) for line in parsed_lines(run))
    assert sum(got.values()) == expected
    assert all(line.endswith(" src=syscall") for line in parsed_lines(run))


def test_parse_failures_are_counted_and_logged_once_per_message(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:5", "-p", lib("parse_filter"), "-c", "fail")
    assert run.returncode == 0, run  # the rc of parse_event is ignored, as libsinsp does
    assert (run.plugins["parse_filter"]["parsed"], run.plugins["parse_filter"]["parse_failures"]) == (5, 5)
    assert logged(run, "error parse_filter: ") == ["parse_event failed: failure A", "parse_event failed: failure B"]
    assert len(run.events) == 5


def test_parse_in_two_sessions(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:20", "-p", lib("async_both"), "-o", "src:20",
               "-p", lib("parse_filter"))
    assert run.returncode == 0, run
    srcs = Counter(line.split(" src=")[1] for line in parsed_lines(run))
    assert srcs["test"] == 20 and run.plugins["parse_filter"]["parsed"] == sum(srcs.values())


@needs_captures
def test_dump_tables_in_run_and_untouched_summaries(lib: Lib) -> None:
    # plugins that neither parse, listen nor use tables get no plugin summary line
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:2", "--dump-tables")
    assert run.returncode == 0, run
    assert run.plugins == {}
    assert table_dumps(run)["threads"]["entries"] == [] and table_dumps(run)["threads"]["size"] == 0
