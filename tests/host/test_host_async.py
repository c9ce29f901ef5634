"""The host's async events from plain-C plugins (tests/cplugins/async_common.h documents the
async plugins' modes): ordering, delivery between source events, handler lifetime, rejections."""

from __future__ import annotations

import json
import re
import time

import pytest
from support import TEXT_TS, UINT64_MAX, Lib, host

# -- async events (tests/cplugins/async_common.h documents the async plugins' modes) ---------


def async_cfg(mode: str, count: int = 3) -> str:
    return json.dumps({"mode": mode, "count": count})


def test_info_of_async_plugins(lib: Lib) -> None:
    info = json.loads(host("info", lib("async_src")).stdout)
    assert info["capabilities"] == ["extraction", "async"]
    assert (info["async_events"], info["async_event_sources"]) == (["tick", "tock"], [])
    info = json.loads(host("info", lib("async_both")).stdout)
    assert info["capabilities"] == ["sourcing", "extraction", "async"]
    assert (info["id"], info["event_source"], info["async_event_sources"]) == (996, "asrc", ["test"])


@pytest.mark.timing
def test_async_events_are_delivered_before_the_first_fetch(lib: Lib) -> None:
    run = host(
        "run",
        "--json",
        "--fields",
        "async.data,test.n",
        "-p",
        lib("test_src"),
        "-o",
        "count:1",
        "-p",
        lib("async_src"),
        "-c",
        async_cfg("sync", 2),
    )
    assert run.returncode == 0, run
    a1, a2, src = (r for r in run.records if "evtnum" in r)  # the JSON the host prints
    for i, e in enumerate((a1, a2), 1):
        assert e == {
            "evtnum": i,
            "source": "test",
            "plugin": "test_src",
            "ts": e["ts"],
            "tid": UINT64_MAX,
            "type": 402,
            "len": 26 + 12 + 4 + len(b"tick\0") + len(f"tick {i}"),
            "plugin_id": 999,  # the session's source plugin, written by the host
            "async_name": "tick",
            "payload_hex": f"tick {i}".encode().hex(),
            "fields": {"async.data": f"tick {i}", "test.n": None},  # each extractor's own types
            "info": None,
        }
        assert abs(e["ts"] / 1e9 - time.time()) < 60  # UINT64_MAX became "now"
    assert (src["evtnum"], src["type"], src["fields"]) == (3, 322, {"async.data": None, "test.n": 1})
    assert "async_name" not in src
    assert run.summaries == [
        {
            "plugin": "test_src",
            "source": "test",
            "events": 3,
            "timeouts": 0,
            "end": "eof",
            "async_events": 2,
            "async_dropped": 0,
        }
    ]


def test_async_text_format(lib: Lib) -> None:
    run = host(
        "run", "--fields", "async.data", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"),
        "-c", async_cfg("sync", 1),
    )
    assert run.returncode == 0, run
    lines = run.stdout.splitlines()
    assert re.fullmatch(
        rf"#1 \[test\] ts={TEXT_TS} tid={UINT64_MAX} len=53 async=tick payload=tick 1 async\.data=tick 1", lines[0]
    ), lines
    assert lines[1].startswith("#2 [test] ") and " async=" not in lines[1]
    assert lines[2].endswith(" events=2 timeouts=0 end=eof async_events=1 async_dropped=0")


@pytest.mark.timing
def test_async_events_in_timestamp_order_and_future_ones_dropped(lib: Lib) -> None:
    run = host(
        "run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("order")
    )
    assert run.returncode == 0, run
    asyncs = [e for e in run.events if e.type == 402]
    # emitted with ts 300, 100, UINT64_MAX, 200, now+1h
    assert [e.payload.decode() for e in asyncs] == ["o2", "o4", "o1", "o3"]
    assert [e.async_name for e in asyncs] == ["tock", "tock", "tick", "tick"]
    assert [e.ts for e in asyncs[:3]] == [100, 200, 300]
    assert abs(asyncs[3].ts / 1e9 - time.time()) < 60
    assert (run.summaries[0]["async_events"], run.summaries[0]["async_dropped"]) == (4, 1)
    assert re.search(
        r"^log warning host: async event 'tick' of plugin async_src dropped: timestamp \d+ is more than 10 s "
        r"in the future$",
        run.stderr,
        re.M,
    ), run
    assert "emit failed" not in run.stderr  # a drop is still SUCCESS


def test_async_events_between_source_events_on_timeouts(lib: Lib) -> None:
    # async_both emits two "tock" from next_batch (the session thread), then returns TIMEOUT,
    # or EOF after the last source event: those two come in the final delivery
    run = host("run", "--json", "--fields", "async.data", "-p", lib("async_both"), "-o", "inter:3")
    assert run.returncode == 0, run
    seen = [e.payload.decode() for e in run.events]
    assert seen == ["src 1", "tock 1", "tock 2", "src 2", "tock 3", "tock 4", "src 3", "tock 5", "tock 6"]
    assert [e.evtnum for e in run.events] == list(range(1, 10))
    assert {e.plugin_id for e in run.events} == {996}
    assert [e.fields["async.data"] for e in run.events[:3]] == [None, "tock 1", "tock 2"]
    assert run.summaries[0] == {
        "plugin": "async_both",
        "source": "asrc",
        "events": 9,
        "timeouts": 2,
        "end": "eof",
        "async_events": 6,
        "async_dropped": 0,
    }


@pytest.mark.timing
def test_async_events_from_a_thread_beside_an_idle_source(lib: Lib) -> None:
    run = host(
        "run", "--json", "-n", "5", "--duration", "20", "-p", lib("async_both"), "-o", "idle",
        "-p", lib("async_src"), "-c", async_cfg("thread", 5),
    )
    assert run.returncode == 0, run
    assert [e.payload.decode() for e in run.events] == [f"tick {i}" for i in range(1, 6)]
    assert {(e.source, e.plugin_id, e.async_name) for e in run.events} == {("asrc", 996, "tick")}
    assert (run.summaries[0]["end"], run.summaries[0]["events"]) == ("limit", 5)  # -n counts async events
    err = run.stderr
    assert err.index("async_src: set handler=null") < err.index("async_src: joined emitter: 5 accepted, 0 failed")


@pytest.mark.timing
def test_reset_stops_and_joins_a_running_emitter(lib: Lib) -> None:
    run = host(
        "run", "-n", "3", "--duration", "20", "-p", lib("nodriver"), "-p", lib("async_src"), "-c", async_cfg("forever")
    )
    assert run.returncode == 0, run
    assert run.stdout.splitlines()[-1].endswith(" end=limit async_events=3 async_dropped=0"), run
    err = run.stderr
    joined = re.search(r"log info async_src: joined emitter: (\d+) accepted, 0 failed", err)
    assert joined and int(joined.group(1)) >= 3, run
    # the handler stays set during the reset call: the flush from inside it gets no error
    assert "emit failed" not in err
    assert err.index("async_src: set handler=null") < joined.start() < err.index("async_src: destroy")


def test_handler_set_after_open_and_reset_after_close_on_the_main_thread(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("sync", 1))
    assert run.returncode == 0, run
    err = run.stderr
    order = [
        "test_src: open mode=count",
        "async_src: set handler=set",
        "test_src: close h=set",
        "async_src: set handler=null",
        "test_src: destroy",
        "async_src: destroy",
    ]
    positions = [err.index(line) for line in order]
    assert positions == sorted(positions), run
    (main_tid,) = set(re.findall(r"test_src: init config=\S+ tid=(\d+)", err))
    assert re.findall(r"async_src: set handler=\w+ tid=(\d+)", err) == [main_tid, main_tid]


def test_each_async_plugin_attaches_to_one_session(lib: Lib) -> None:
    # async_src (all sources) goes to the first session; async_both (sources ["test"]) to its own
    run = host(
        "run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("sync", 1),
        "-p", lib("async_both"), "-c", async_cfg("sync", 2), "-o", "count:1",
    )
    assert run.returncode == 0, run
    got = sorted((e.source, e.plugin_id, e.payload.decode()) for e in run.events)
    assert got == [
        ("asrc", 996, "src 1"),
        ("asrc", 996, "tick 1"),
        ("asrc", 996, "tick 2"),
        ("test", 999, "test event 1"),
        ("test", 999, "tick 1"),
    ]
    assert sorted((s["source"], s["async_events"]) for s in run.summaries) == [("asrc", 2), ("test", 1)]


@pytest.mark.parametrize(
    ("mode", "source", "messages"),
    [
        ("undeclared", "test_src", ["incompatible async event 'nope' produced by plugin: async_src"]),
        ("malformed", "test_src", ["malformed async event produced by plugin: async_src"] * 5),
        (
            "tid",
            "test_src",
            ["async events of plugin 'async_src' can have no thread associated with open event source 'test'"],
        ),
        ("late", "test_src", ["async event sent with NULL handler: async_src"]),
        ("nullowner", "test_src", ["plugin without async events cap used as async handler"]),
    ],
)
def test_async_event_rejections(lib: Lib, mode: str, source: str, messages: list[str]) -> None:
    run = host("run", "--json", "-p", lib(source), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg(mode))
    assert run.returncode == 0, run
    assert re.findall(r"^log error async_src: emit failed: (.*)$", run.stderr, re.M) == messages, run
    assert [e.type for e in run.events] == [322]
    if mode == "late":  # destroy sends it, after the reset
        assert run.stderr.index("set handler=null") < run.stderr.index("emit failed")


@pytest.mark.timing
def test_a_thread_is_allowed_with_the_syscall_source(lib: Lib) -> None:
    run = host(
        "run", "--json", "-n", "1", "--duration", "20", "-p", lib("nodriver"), "-p", lib("async_src"),
        "-c", async_cfg("tid"),
    )
    assert run.returncode == 0, run
    (event,) = run.events
    assert (event.source, event.plugin_id, event.tid, event.async_name) == ("syscall", 0, 42, "tick")
    assert "emit failed" not in run.stderr


def test_set_handler_failure(lib: Lib) -> None:
    run = host(
        "run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("setfail")
    )
    assert run.returncode == 1, run
    assert "error: can't set async event handler for plugin async_src: refusing the handler" in run.stderr
    assert run.events == [] and run.summaries[0]["end"] == "open_failed"
    err = run.stderr
    assert err.index("can't set async") < err.index("test_src: close h=set") < err.index("set handler=null")


def test_reset_failure_is_an_error(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("resetfail"))
    assert run.returncode == 1, run
    assert "error: can't reset async event handler for plugin async_src: refusing the reset" in run.stderr
    assert " end=eof " in run.stdout


def test_full_queue_drops_with_one_warning(lib: Lib) -> None:
    run = host(
        "run", "--quiet", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("sync", 5000)
    )
    assert run.returncode == 0, run
    assert run.stdout.endswith(" events=4097 timeouts=0 end=eof async_events=4096 async_dropped=904\n"), run
    assert run.stderr.count("log warning host: async event queue is full\n") == 1
    assert "emit failed" not in run.stderr  # dropped events still get SUCCESS


def test_bench_async_output(lib: Lib) -> None:
    async_c = lib("async_c")
    run = host(
        "bench-async", "--events", "20000", "-p", async_c, "-c", '{"events": 20000, "threads": 1}',
        "-p", async_c, "-c", '{"events": 20000, "threads": 4}', "-p", async_c,
    )
    assert run.returncode == 0, run
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [set(r) for r in results] == [{"plugin", "events", "ns_per_event", "dropped"}] * 3
    assert [(r["plugin"], r["events"], r["dropped"]) for r in results] == [("async_c", 20000, 0)] * 3
    assert all(r["ns_per_event"] > 0 for r in results)


def test_bench_async_errors(lib: Lib) -> None:
    run = host("bench-async", "--events", "10", "-p", lib("test_src"))
    assert run.returncode == 2 and "plugin test_src has no async events capability" in run.stderr, run
    run = host("bench-async", "--events", "10", "-p", lib("async_src"), "-c", async_cfg("setfail"))
    assert run.returncode == 1
    assert "can't set async event handler for plugin async_src: refusing the handler" in run.stderr
