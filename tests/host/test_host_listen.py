"""The test host's capture listening (capture_open/close, routines on its thread pool), metrics
(at the end and periodically, concurrently with the event loop) and bench-parse, driven by the
plain-C plugins tests/cplugins/listen_c.c and bench/c_reference/{parse_noop_c,table_rw_c}.c."""

from __future__ import annotations

import json
import re

import pytest
from support import CURL, Lib, host, logged, metric_snapshots, needs_captures, replay

from falco_plugin.testing import Run


def destroy_counts(run: Run) -> dict[str, int]:
    (line,) = logged(run, "info listen_c: destroy ")
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}


def listen(lib: Lib, config: str, *extra: str, source: str = "slow:5") -> Run:
    return host("run", "--json", "-p", lib("test_src"), "-o", source, "-p", lib("listen_c"), "-c", config, *extra)


# -- capture listening and routines ---------------------------------------------------------------


def test_routines_run_again_and_again_until_capture_close(lib: Lib) -> None:
    run = listen(lib, "routines=2 sleep_us=1000")
    assert run.returncode == 0, run
    logs = logged(run, "info listen_c: ")
    assert logs[0] == "capture_open subscribed=2"
    assert "unsubscribe 0: ok" in logs and "unsubscribe 1: ok" in logs
    (at_close,) = [int(line.split("=")[1]) for line in logs if line.startswith("capture_close runs=")]
    counts = destroy_counts(run)
    # ~100 ms of events, two routines sleeping 1 ms per run; the host waited for the last runs
    assert counts["runs"] >= 10
    assert at_close <= counts["runs"] <= at_close + 2  # at most the run in progress of each
    assert counts["after_close"] == 0  # none started after capture_close
    summary = run.plugins["listen_c"]
    assert (summary["routines_subscribed"], summary["routine_runs"]) == (2, counts["runs"])
    assert summary["parsed"] == 5 and run.summary["events"] == 5
    # capture_open after open, capture_close after close, destroy last (as libsinsp)
    order = [line for line in run.stderr.splitlines() if re.search(r"open mode|capture_|close h=|destroy", line)]
    assert [re.sub(r"log \w+ \w+: ", "", line).split(" ")[0] for line in order] == [
        "open", "capture_open", "close", "capture_close", "destroy", "destroy"]


def test_routines_not_unsubscribed_are_purged_and_waited_for(lib: Lib) -> None:
    run = listen(lib, "routines=3 sleep_us=2000 unsub=none")
    assert run.returncode == 0, run
    assert not logged(run, "info listen_c: unsubscribe")
    counts = destroy_counts(run)
    assert counts["runs"] > 0 and run.plugins["listen_c"]["routine_runs"] == counts["runs"]


def test_a_routine_returning_false_ends(lib: Lib) -> None:
    run = listen(lib, "routines=3 sleep_us=100 stop_after=4")
    assert run.returncode == 0, run
    assert destroy_counts(run)["runs"] == 12 == run.plugins["listen_c"]["routine_runs"]


def test_a_routine_can_unsubscribe_itself(lib: Lib) -> None:
    run = listen(lib, "routines=2 sleep_us=100 unsub=self")
    assert run.returncode == 0, run
    assert sorted(logged(run, "info listen_c: unsubscribe self ")) == ["routine 0: ok", "routine 1: ok"]
    assert destroy_counts(run)["runs"] == 6  # the run that unsubscribed finishes and is not queued again


def test_unsubscribing_twice_fails(lib: Lib) -> None:
    run = listen(lib, "routines=1 unsub=twice", source="count:1")
    assert run.returncode == 0, run
    (again,) = logged(run, "info listen_c: unsubscribe again 0: ")
    assert re.fullmatch(r"failed unsubscribe: routine 0x[0-9a-f]+ is already unsubscribed", again), again


def test_one_pool_thread_runs_every_routine(lib: Lib) -> None:
    run = listen(lib, "routines=3 sleep_us=100 stop_after=2", "--pool-threads", "1")
    assert run.returncode == 0, run
    assert destroy_counts(run)["runs"] == 6
    bad = host("run", "-p", lib("test_src"), "--pool-threads", "0")
    assert bad.returncode == 2 and "--pool-threads needs a number of threads" in bad.stderr


def test_capture_open_failure(lib: Lib) -> None:
    run = listen(lib, "fail_open", source="count:2")
    assert run.returncode == 1, run
    assert "error: capture_open error for plugin 'listen_c' : refusing to open" in run.stderr
    assert run.summary["end"] == "open_failed" and run.events == []
    assert not logged(run, "info listen_c: capture_close")  # only opened listeners are closed


def test_capture_close_failure(lib: Lib) -> None:
    run = listen(lib, "fail_close", source="count:2")
    assert run.returncode == 1, run
    assert "error: capture_close error for plugin 'listen_c' : refusing to close" in run.stderr
    assert len(run.events) == 2


@needs_captures
def test_listening_in_replay_with_tables_only_inside_the_call(lib: Lib) -> None:
    run = replay(CURL, "-p", lib("listen_c"), "-c", "routines=1 sleep_us=100 tables wait_run")
    assert run.returncode == 0, run
    logs = logged(run, "info listen_c: ")
    assert logs[0] == f"capture_open threads={run.summary['procs']}"  # the reader works inside capture_open
    # the routine's call fails; the owner error may be overwritten at once by the event loop's calls
    # (it is not thread-safe), so the host also logs the misuse, once
    assert any(line.startswith("routine get_table_size=-1: ") for line in logs), logs
    assert logged(run, "warning host: ") == [
        "table 'threads': get_table_size called outside a plugin call that received table vtables (tables may "
        "only be used synchronously, on the thread of that call)"]
    summary = run.plugins["listen_c"]
    assert summary["parsed"] == run.summary["events"] and summary["routines_subscribed"] == 1
    assert summary["routine_runs"] >= 1


# -- metrics ------------------------------------------------------------------------------------


EXPECTED_METRICS = [
    ("parsed", "monotonic", "u64", 3),
    ("ratio", "non_monotonic", "d", 0.5),
    ("level", "non_monotonic", "s32", -3),
    ("small", "monotonic", "u32", 7),
    ("f", "non_monotonic", "f", 1.5),
    ("i", "non_monotonic", "i", -9),
    ("big", "non_monotonic", "s64", -1234567890123),
]


def test_metrics_at_the_end(lib: Lib) -> None:
    run = listen(lib, "routines=1 sleep_us=500", "--metrics", source="count:3")
    assert run.returncode == 0, run
    (m,) = metric_snapshots(run)
    assert (m["plugin"], m["when"]) == ("listen_c", "end")
    by_name = {x["name"]: x for x in m["metrics"]}
    assert [x["name"] for x in m["metrics"]] == ["runs", "parsed", "ratio", "level", "small", "f", "i", "big", "calls"]
    for name, mtype, vtype, value in EXPECTED_METRICS:
        assert (by_name[name]["type"], by_name[name]["value_type"], by_name[name]["value"]) == (mtype, vtype, value)
    assert by_name["runs"]["value"] == run.plugins["listen_c"]["routine_runs"]
    assert by_name["calls"]["value"] == 1
    text = host("run", "--metrics", "-p", lib("test_src"), "-o", "count:1", "-p", lib("listen_c"))
    (line,) = [line for line in text.stdout.splitlines() if line.startswith("metrics: ")]
    assert line.startswith("metrics: plugin=listen_c when=end runs=") and " ratio=0.5 level=-3 small=7 f=1.5 " in line


@pytest.mark.timing
def test_metrics_periodically_while_the_event_loop_runs(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-o", "slow:10", "-p", lib("listen_c"), "-c",
               "routines=1", "--metrics-interval", "0.02", "--metrics")
    assert run.returncode == 0, run
    interval = [m for m in metric_snapshots(run) if m["when"] == "interval"]
    assert len(interval) >= 3, run
    calls = [next(x["value"] for x in m["metrics"] if x["name"] == "calls") for m in metric_snapshots(run)]
    assert calls == list(range(1, len(metric_snapshots(run)) + 1))
    # collected during the run (between events), from the metrics thread
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    first_metrics = next(i for i, line in enumerate(lines) if '"metrics"' in line)
    assert any('"evtnum"' in line for line in lines[first_metrics:]), lines
    parsed = [next(x["value"] for x in m["metrics"] if x["name"] == "parsed") for m in interval]
    assert parsed == sorted(parsed) and parsed[0] < 10


@needs_captures
def test_metrics_in_replay(lib: Lib) -> None:
    run = replay(CURL, "-p", lib("listen_c"), "-c", "routines=1", "--metrics", "-n", "7")
    assert run.returncode == 0, run
    (m,) = metric_snapshots(run)
    assert next(x["value"] for x in m["metrics"] if x["name"] == "parsed") == 7


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("nullname", "error: plugin listen_c: get_metrics: metric 2 has a NULL name"),
        ("badtype", "error: plugin listen_c: get_metrics: metric 'level' has an unknown metric type 7"),
        ("badvt", "error: plugin listen_c: get_metrics: metric 'small' has an unknown value type 42"),
        ("nullarr", "error: plugin listen_c: get_metrics returned NULL with 9 metrics"),
    ],
)
def test_metrics_contract_violations(lib: Lib, mode: str, error: str) -> None:
    run = listen(lib, f"metrics={mode}", "--metrics", source="count:1")
    assert run.returncode == 1, run
    assert error in run.stderr
    (m,) = metric_snapshots(run)
    assert len(m["metrics"]) == (0 if mode == "nullarr" else 8)  # the others are still reported


# -- bench-parse --------------------------------------------------------------------------------


@needs_captures
def test_bench_parse(lib: Lib) -> None:
    run = host("bench-parse", "--capture", str(CURL), "--repeat", "3", "-p", lib("parse_noop_c"), "-p",
               lib("table_rw_c"), "-c", '{"ops": 2}')
    assert run.returncode == 0, run
    lines = [line for line in run.stdout.splitlines() if line.startswith('{"bench"')]
    assert len(lines) == 2
    noop, rw = (json.loads(line)["bench"] for line in lines)
    assert (noop["plugin"], noop["passes"], noop["events"], noop["parsed_per_pass"]) == ("parse_noop_c", 3, 1536, 1536)
    assert rw["plugin"] == "table_rw_c" and rw["parsed_per_pass"] == 1536
    assert (rw["parse_failures"], rw["table_entries_unreleased"]) == (0, 0)
    assert noop["ns_per_event"] > 0 and rw["ns_per_event"] > 0
    none = host("bench-parse", "--capture", str(CURL), "-p", lib("test_src"))
    assert none.returncode == 2 and "no plugin with the event parsing capability" in none.stderr
