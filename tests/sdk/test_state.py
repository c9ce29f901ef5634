"""Parsing, state tables, capture listening and metrics through the real .so and host."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support import CAPTURES, ROOT, Built, Host, fields_of, metric_snapshots, needs_captures

from falco_plugin.event import (
    PPME_SOCKET_CONNECT_X,
    PPME_SYSCALL_CREAT_X,
    PPME_SYSCALL_OPEN_X,
    PPME_SYSCALL_OPENAT2_X,
    PPME_SYSCALL_OPENAT_2_X,
    CaptureReader,
)
from falco_plugin.testing import Run


def objects(run: Run, key: str) -> list[dict[str, Any]]:
    return [r[key] for r in run.records if key in r]


def table(run: Run, name: str) -> dict[str, Any]:
    (found,) = [t for t in objects(run, "table") if t["name"] == name]
    return found


def plugin_summary(run: Run, name: str) -> dict[str, Any]:
    (found,) = [s for s in run.summaries if s.get("plugin") == name and s.get("kind") == "plugin"]
    return found


def test_parse_writes_the_threads_table_and_fields_read_it(host: Host, built: Built) -> None:
    run = host("run", "--json", "--dump-tables", "-p", built("state.py:ThreadCounter"), "-o", "6",
               "--fields", "tc.seen,tc.comm,tc.count,tc.tids,tc.misuse,tc.tables")
    assert run.returncode == 0, run
    fields = fields_of(run)
    # typed entries: created in parse_event (create_entry + add_entry), counted in a Custom field
    assert [f["tc.seen"] for f in fields] == [1, 1, 1, 2, 2, 2]
    # untyped access by Field object and by name
    assert [f["tc.comm"] for f in fields] == ["t101/1", "t102/1", "t100/1", "t101/2", "t102/2", "t100/2"]
    assert [f["tc.count"] for f in fields] == [1, 2, 3, 3, 3, 3]
    assert fields[-1]["tc.tids"] == [100, 101, 102]  # iteration
    assert all(f["tc.tables"] == "threads" for f in fields)
    # a write during extraction raises, and nothing was written
    assert all(f["tc.misuse"] == "TableError: table 'threads' is read-only during extraction: write to tables "
               "in parse_event, capture_open/capture_close or init" for f in fields)
    threads = table(run, "threads")
    seen = [f for f in threads["fields"] if f["name"] == "seen"]
    assert seen == [{"name": "seen", "type": "uint64", "read_only": False, "added_by": "thread_counter"}]
    assert {e["key"]: (e["comm"], e["pid"], e["seen"]) for e in threads["entries"]} == {
        100: ("t100", 100, 2), 101: ("t101", 101, 2), 102: ("t102", 102, 2)}
    summary = plugin_summary(run, "thread_counter")
    assert summary["parsed"] == 6 and summary["parse_failures"] == 0
    assert summary["table_entries_unreleased"] == 0


def test_an_entry_kept_past_its_call_raises(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built("state.py:ThreadCounter"), "-c", '{"mode": "keep_entry"}', "-o", "3",
               "--fields", "tc.misuse")
    assert run.returncode == 0, run
    assert {f["tc.misuse"] for f in fields_of(run)} == {
        "TableError: an entry of table 'threads' is only valid during the call that got it (look it up again)"}


@pytest.mark.parametrize(("mode", "message"), [
    ("wrong_type", "TypeError: field 'comm' of table 'threads' holds str, not int"),
    ("read_only", "TableError: field 'cwd' of table 'threads' is read-only"),
])
def test_bad_writes_raise_and_are_logged_once(host: Host, built: Built, mode: str, message: str) -> None:
    run = host("run", "--json", "-p", built("state.py:ThreadCounter"), "-c", json.dumps({"mode": mode}), "-o", "5",
               "--fields", "tc.seen")
    assert run.returncode == 0, run
    # the shim logs it through the host's log_fn (libsinsp itself ignores parse_event's result)
    logged = [line for line in run.stderr.splitlines() if line.startswith("log error thread_counter: parse_event: ")]
    assert len(logged) == 1, run.stderr
    assert message in logged[0] and "(at state.py:" in logged[0]
    assert plugin_summary(run, "thread_counter")["parse_failures"] == 5


def test_two_plugins_share_a_table(host: Host, built: Built) -> None:
    # exporter owns tick_stats; importer reads it, adds a field of its own and writes it
    run = host("run", "--json", "--dump-tables", "-p", built("state.py:Exporter"), "-o", "6",
               "-p", built("state.py:Importer"), "--fields", "imp.stat,imp.errors")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert [f["imp.stat"] for f in fields] == ["1/k1/10", "1/k2/10", "1/k0/10", "2/k1/20", "2/k2/20", "2/k0/20"]
    errors = fields[0]["imp.errors"].split(" | ")
    assert errors[0].startswith("secret: ") and "no field 'secret'" in errors[0]  # private: invisible
    assert errors[1].startswith("count: ") and "field 'count' has type uint64, not string" in errors[1]
    assert errors[2] == "fixed: field 'fixed' of table 'tick_stats' is read-only"
    stats = table(run, "tick_stats")
    assert stats["owner"] == "exporter"
    assert [(f["name"], f["type"], f["read_only"]) for f in stats["fields"]] == [
        ("count", "uint64", False), ("label", "string", False), ("fixed", "uint64", True), ("mine", "uint64", False)]
    assert sorted((e["label"], e["count"], e["fixed"], e["mine"]) for e in stats["entries"]) == [
        ("k0", 2, 7, 20), ("k1", 2, 7, 20), ("k2", 2, 7, 20)]
    assert plugin_summary(run, "importer")["table_entries_unreleased"] == 0


def test_routines_run_until_capture_close_and_metrics_are_reported(host: Host, built: Built) -> None:
    run = host("run", "--json", "--metrics", "-p", built("state.py:Listener"), "-o", "3")
    assert run.returncode == 0, run
    summary = plugin_summary(run, "listener")
    assert summary["routines_subscribed"] == 1 and summary["routine_runs"] >= 3
    (metrics,) = [m for m in objects(run, "metrics") if m["plugin"] == "listener"]
    by_name = {m["name"]: m for m in metrics["metrics"]}
    # the plugin counted every run the host made: none started after capture_close
    assert by_name["routine_runs"]["value"] == summary["routine_runs"]
    assert by_name["runs_after_close"]["value"] == 0
    assert by_name["routine_runs"]["type"] == "monotonic" and by_name["routine_runs"]["value_type"] == "u64"
    assert by_name["ratio"] == {"name": "ratio", "type": "non_monotonic", "value_type": "d", "value": 0.5}
    assert by_name["delta"]["value_type"] == "s64" and by_name["delta"]["value"] == -3
    assert f"routine ran {summary['routine_runs']} times" in run.stderr


def test_metrics_asked_from_another_thread_while_events_flow(host: Host, built: Built) -> None:
    run = host("run", "--json", "--metrics-interval", "0.005", "-p", built("state.py:Listener"), "-o", "20000")
    assert run.returncode == 0, run
    periodic = [m for m in objects(run, "metrics") if m["plugin"] == "listener"]
    assert periodic and all(len(m["metrics"]) == 4 for m in periodic)


def independent_counts(capture: Path) -> tuple[Counter[int], Counter[int]]:
    """Per tid: successful opens and connects (0 or EINPROGRESS), read straight from the file."""
    opens: Counter[int] = Counter()
    connects: Counter[int] = Counter()
    open_types = (PPME_SYSCALL_OPEN_X, PPME_SYSCALL_OPENAT_2_X, PPME_SYSCALL_OPENAT2_X, PPME_SYSCALL_CREAT_X)
    with CaptureReader(capture) as reader:
        for item in reader:
            if item.event.type not in {c.CODE for c in (*open_types, PPME_SOCKET_CONNECT_X)}:
                continue
            typed = item.event.load_any()
            if isinstance(typed, open_types) and typed.fd is not None and typed.fd >= 0:
                opens[typed.tid] += 1
            elif isinstance(typed, PPME_SOCKET_CONNECT_X) and typed.res in (0, -115):
                connects[typed.tid] += 1
    return opens, connects


@needs_captures
@pytest.mark.parametrize("capture", ["curl_google.scap", "single_ipv6_conn.scap"])
def test_proc_stats_counts_match_the_capture(host: Host, built: Built, capture: str) -> None:
    lib = built(f"{ROOT}/examples/proc_stats/proc_stats.py:ProcStats")
    run = host("replay", "--json", "--metrics", "--dump-tables", "--capture", CAPTURES / capture, "-p", lib,
               "--fields", "proc_stats.open_count,proc_stats.connect_count")
    assert run.returncode == 0, run
    opens, connects = independent_counts(CAPTURES / capture)
    (metrics,) = objects(run, "metrics")
    values = {m["name"]: m["value"] for m in metrics["metrics"]}
    assert (values["opens"], values["connects"]) == (sum(opens.values()), sum(connects.values()))
    assert values["opens"] + values["connects"] > 0
    threads = {e["key"]: e for e in table(run, "threads")["entries"]}
    for tid, n in opens.items():
        if tid in threads:  # threads that exited are gone from the table at the end
            assert threads[tid]["open_count"] == n, tid
    for tid, n in connects.items():
        if tid in threads:
            assert threads[tid]["connect_count"] == n, tid
    # the fields of the last counted event of each thread say its running total
    last: dict[int, int] = {}
    for event in run.events:
        if event.fields["proc_stats.open_count"] is not None:
            last[event.tid] = event.fields["proc_stats.open_count"]
    assert {tid: n for tid, n in last.items() if opens[tid]} == {tid: n for tid, n in opens.items() if tid in last}
    by_comm = table(run, "proc_stats")
    assert sum(e["opens"] for e in by_comm["entries"]) == sum(opens.values())
    assert all(f["read_only"] for f in by_comm["fields"])


@pytest.mark.no_sanitize  # loads the .so into pytest (an ASan .so needs an ASan process)
def test_a_syscall_plugin_declares_the_event_schema_it_needs(built: Built) -> None:
    import ctypes

    from falco_plugin._tooling.build import exported_symbols

    lib = built(f"{ROOT}/examples/proc_stats/proc_stats.py:ProcStats")
    assert "plugin_get_required_event_schema_version" in exported_symbols(lib)
    fn = ctypes.CDLL(str(lib)).plugin_get_required_event_schema_version
    fn.restype, fn.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    assert fn(None) == b"4.0.0"  # any 4.x driver (Falco assumes 3.0.0 without it and refuses)
    # a plugin of plugin events only does not export it
    assert "plugin_get_required_event_schema_version" not in exported_symbols(built("state.py:ThreadCounter"))


@pytest.mark.parametrize(("mode", "counts"), [("erase", [1, 2, 3, 3, 1, 2]), ("clear", [1, 2, 3, 3, 0, 1])])
def test_erase_and_clear(host: Host, built: Built, mode: str, counts: list[int]) -> None:
    run = host("run", "--json", "--dump-tables", "-p", built("state.py:ThreadCounter"), "-c",
               json.dumps({"mode": mode}), "-o", "6", "--fields", "tc.count,tc.fds")
    assert run.returncode == 0, run
    assert [f["tc.count"] for f in fields_of(run)] == counts
    assert all(f["tc.fds"] in ([], None) for f in fields_of(run))  # nested tables of new entries: empty


@needs_captures
def test_nested_tables_read_from_python_match_the_host(host: Host, built: Built) -> None:
    run = host("replay", "--json", "--dump-tables", "--capture", CAPTURES / "curl_google.scap",
               "-p", built("state.py:FdReader"), "--fields", "fdr.biggest")
    assert run.returncode == 0, run
    threads = {e["key"]: e for e in table(run, "threads")["entries"]}
    biggest = [json.loads(e.fields["fdr.biggest"]) for e in run.events if e.fields.get("fdr.biggest")]
    assert biggest, "no open event"
    tid, *names = biggest[-1]
    assert len(names) > 3
    # fds are not tracked from events, so the host's table says the same at the end
    assert names == sorted(fd["name"] for fd in threads[tid]["file_descriptors"])


@needs_captures
def test_falco_plugin_replay_command(built: Built) -> None:
    import subprocess
    import sys

    lib = built(f"{ROOT}/examples/proc_stats/proc_stats.py:ProcStats")
    proc = subprocess.run([sys.executable, "-m", "falco_plugin.cli", "replay", str(CAPTURES / "curl_google.scap"),
                           str(lib), "--json", "--metrics"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    metrics = metric_snapshots(Run.parse(proc))
    assert {m["name"]: m["value"] for m in metrics[0]["metrics"]}["opens"] == 47


@pytest.mark.parametrize("background", [False, True])
def test_entries_and_every_state_type_on_the_fast_table_path(host: Host, built: Built, background: bool) -> None:
    # the shim reuses an entry object nothing can reach any more, and keeps the GIL around a
    # host table call while no other Python thread exists; with a background thread it gives
    # the GIL up around each call, and that thread keeps running while events are parsed
    config = json.dumps({"background": background})
    run = host("run", "--json", "-p", built("entry_reuse.py:EntryReuse"), "-c", config, "-o", "9",
               "--fields", "er.problems,er.kept,er.ticks")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert len(fields) == 9
    assert all(f["er.problems"] == "" for f in fields), fields[-1]["er.problems"]
    # the entry kept from the first event raises from the second on, reused objects or not
    assert {f["er.kept"] for f in fields[1:]} == {
        "TableError: an entry of table 'threads' is only valid during the call that got it (look it up again)"}
    assert plugin_summary(run, "entry_reuse")["table_entries_unreleased"] == 0
    ticks = fields[-1]["er.ticks"]
    if background:
        assert all(b > a for a, b in itertools.pairwise(ticks)), ticks
    else:
        assert set(ticks) == {0}
