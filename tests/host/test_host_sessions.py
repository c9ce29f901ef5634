"""The host's sessions of plain-C source plugins: next_batch semantics (timeouts, EOF, failures,
plugin ids, timestamps), output formats, limits, and several sessions on their own threads.
The C plugins are in tests/cplugins (test_src.c documents its misbehaviours)."""

from __future__ import annotations

import re
import time

import pytest
from support import TEXT_TS, UINT64_MAX, Lib, host

# -- sessions: next_batch semantics ------------------------------------------------------


def test_text_output_format(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-o", "count:2", "--fields", "test.n,test.na")
    assert run.returncode == 0, run
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run
    for i, line in enumerate(lines[:2], 1):
        assert re.fullmatch(
            rf"#{i} \[test\] ts={TEXT_TS} tid={UINT64_MAX} len=50 payload=test event {i} test.n={i} test.na=<NA> "
            rf"info=to_string: test event {i}",
            line,
        ), line
    assert lines[2] == (
        "summary: plugin=test_src source=test events=2 timeouts=0 end=eof async_events=0 async_dropped=0"
    )


def test_binary_payload_is_escaped_in_text_and_hex_in_json(lib: Lib) -> None:
    run = host("run", "-p", lib("bench_c"), "-o", "1")
    assert "len=102 payload=\\x01" + "\\x00" * 63 + "\n" in run.stdout, run
    run = host("run", "--json", "-p", lib("bench_c"), "-o", "258")
    assert run.events[257].payload.hex() == "0201" + "00" * 62
    assert run.events[0].info is None  # bench_c has no event_to_string


@pytest.mark.timing
def test_json_event_shape_and_host_patches(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:1")
    assert run.returncode == 0, run
    (event,) = run.events
    (record,) = [r for r in run.records if "evtnum" in r]
    assert set(record) == {
        "evtnum",
        "source",
        "plugin",
        "ts",
        "tid",
        "type",
        "len",
        "plugin_id",
        "payload_hex",
        "fields",
        "info",
    }
    assert (event.evtnum, event.source, event.plugin) == (1, "test", "test_src")
    assert (event.type, event.plugin_id, event.len) == (322, 999, 50)
    assert event.payload == b"test event 1"
    assert event.tid == UINT64_MAX
    assert abs(event.ts / 1e9 - time.time()) < 60  # UINT64_MAX became "now"
    assert event.info == "to_string: test event 1"
    assert run.summaries == [
        {
            "plugin": "test_src",
            "source": "test",
            "events": 1,
            "timeouts": 0,
            "end": "eof",
            "async_events": 0,
            "async_dropped": 0,
        }
    ]


def test_plugin_timestamps_kept_and_tid_forced(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "ts:2")
    assert [(e.ts, e.tid) for e in run.events] == [(12345, UINT64_MAX)] * 2, run


def test_plugin_id_zero_is_filled_in(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "id0:2")
    assert run.returncode == 0, run
    assert [e.plugin_id for e in run.events] == [999, 999]


def test_success_with_zero_events_is_an_error(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "zero")
    assert run.returncode == 1, run
    assert "error: unexpected 0 size event returned by plugin test_src" in run.stderr
    assert run.summaries[0]["end"] == "failure"
    assert "close h=set" in run.stderr


def test_event_with_another_plugin_id_is_an_error(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "badid")
    assert run.returncode == 1, run
    assert (
        "error: unexpected plugin ID in plugin event: plugin='test_src', expected_id=999, actual_id=12345"
        in run.stderr
    )
    assert run.events == []


def test_non_plugin_event_from_a_plugin_with_an_id_is_an_error(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-o", "badtype")
    assert run.returncode == 1 and "error: malformed plugin event produced by plugin: 'test_src'" in run.stderr, run


def test_failure_delivers_the_batch_first(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "fail")
    assert run.returncode == 1, run
    assert [e.evtnum for e in run.events] == [1, 2]
    assert "error: boom after 2 events" in run.stderr
    assert run.summaries[0] == {
        "plugin": "test_src",
        "source": "test",
        "events": 2,
        "timeouts": 0,
        "end": "failure",
        "async_events": 0,
        "async_dropped": 0,
    }


def test_timeouts_are_counted_and_retried(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "timeout3")
    assert run.returncode == 0, run
    assert len(run.events) == 2
    assert (run.summaries[0]["timeouts"], run.summaries[0]["end"]) == (3, "eof")


def test_events_returned_with_eof_are_delivered(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "eofbatch:5")
    assert run.returncode == 0, run
    assert [e.evtnum for e in run.events] == [1, 2, 3, 4, 5]
    assert run.summaries[0]["end"] == "eof"


def test_open_failure_still_closes(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "openfail")
    assert run.returncode == 1, run
    assert "error: test_src: open failed: cannot open: openfail" in run.stderr
    assert "log debug test_src: close h=null" in run.stderr
    assert run.summaries[0]["end"] == "open_failed"
    assert run.stderr.index("close h=null") < run.stderr.index("test_src: destroy")


def test_event_limit(lib: Lib) -> None:
    run = host("run", "--json", "-n", "4", "-p", lib("bench_c"), "-o", "1000")
    assert run.returncode == 0, run
    assert [e.payload[0] for e in run.events] == [1, 2, 3, 4]
    assert run.summaries[0]["end"] == "limit"


@pytest.mark.timing
def test_duration(lib: Lib) -> None:
    run = host("run", "--json", "--duration", "0.15", "-p", lib("test_src"), "-o", "slow:100")
    assert run.returncode == 0, run
    assert run.summaries[0]["end"] == "duration"
    assert 2 <= len(run.events) <= 10


def test_quiet_prints_only_the_summary(lib: Lib) -> None:
    run = host("run", "--quiet", "-p", lib("bench_c"), "-o", "100")
    assert run.stdout == (
        "summary: plugin=bench_c source=bench_c events=100 timeouts=0 end=eof async_events=0 async_dropped=0\n"
    ), run


def test_nothing_to_run_without_a_source(lib: Lib) -> None:
    run = host("run", "-p", lib("ext_only"))
    assert run.returncode == 2 and "no plugin with the event sourcing capability" in run.stderr, run


# -- several sessions ------------------------------------------------------------------


@pytest.mark.timing
def test_sessions_run_at_once_on_their_own_threads(lib: Lib) -> None:
    src = lib("test_src")
    run = host(
        "run",
        "--json",
        "--fields",
        "test.count,test.tid,bench.value",
        "-p",
        src,
        "-c",
        '{"count": 5}',
        "-o",
        "slow",
        "-p",
        src,
        "-c",
        '{"count": 6}',
        "-o",
        "slow",
        "-p",
        lib("bench_c"),
        "-o",
        "7",
    )
    assert run.returncode == 0, run
    assert sorted((s["plugin"], s["events"], s["end"]) for s in run.summaries) == [
        ("bench_c", 7, "eof"),
        ("test_src", 5, "eof"),
        ("test_src", 6, "eof"),
    ]
    a = [e for e in run.events if e.fields["test.count"] == 5]
    b = [e for e in run.events if e.fields["test.count"] == 6]
    assert [e.evtnum for e in a] == [1, 2, 3, 4, 5] and [e.evtnum for e in b] == [1, 2, 3, 4, 5, 6]
    assert [e.fields["bench.value"] for e in run.events if e.source == "bench_c"] == list(range(1, 8))
    # the two slow sessions overlap in time (20 ms per event each)
    assert a[0].ts < b[-1].ts and b[0].ts < a[-1].ts
    # each on its own thread, neither the one that ran init (as in Falco)
    init_tids = set(re.findall(r"init config=\S+ tid=(\d+)", run.stderr))
    tids_a = {e.fields["test.tid"] for e in a}
    tids_b = {e.fields["test.tid"] for e in b}
    assert len(tids_a) == len(tids_b) == 1 and tids_a != tids_b
    assert not ({str(t) for t in tids_a | tids_b} & init_tids)
    # every line is whole
    assert all(line.startswith("{") and line.endswith("}") for line in run.stdout.splitlines())


def test_single_session_runs_on_the_main_thread(lib: Lib) -> None:
    run = host("run", "--json", "--fields", "test.tid", "-p", lib("test_src"), "-o", "count:1")
    (init_tid,) = re.findall(r"init config=\S+ tid=(\d+)", run.stderr)
    assert run.events[0].fields["test.tid"] == int(init_tid)
