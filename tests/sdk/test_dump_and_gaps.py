"""dump_state triggered by our host (run/replay --dump-state, --dump-state-every N) through the
checks libsinsp's dump callback applies (the type and name checks only: docs/internals/plugin-api-facts.md,
Async events), and async event names left for the host to reject (the name check)."""

from __future__ import annotations

from support import CURL, Built, Host, needs_captures

PORTS = "libsinsp_ports.py"


def test_dump_state_at_the_end(host: Host, built: Built) -> None:
    run = host("run", "--json", "--dump-state", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "3",
               "-p", built("dumping.py:Dumper"))
    assert run.returncode == 0, run
    dumps = run.dumped
    # libsinsp's plugin_dump test: the replayed dump holds 10 "sampleticker" async events
    assert [d.async_name for d in dumps] == ["sampleticker"] * 10
    assert [d.payload for d in dumps] == [f"dump 1 #{i}".encode() for i in range(10)]
    assert {d.tid for d in dumps} == {1}
    assert {"plugin": "dumper", "kind": "dump", "when": "end", "dumped": 10} in run.summaries


@needs_captures
def test_dump_state_every_n_events(host: Host, built: Built) -> None:
    run = host("run", "--json", "--dump-state-every", "2", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "5",
               "-p", built("dumping.py:Dumper"))
    assert run.returncode == 0, run
    payloads = [d.payload for d in run.dumped]
    assert payloads == [f"dump {n} #{i}".encode() for n in (1, 2) for i in range(10)]  # after events 2 and 4
    # in replay too (no async handler is set when reading a capture; dump_state still runs)
    run = host("replay", "--json", "--dump-state", "--capture", CURL, "-n", "3",
               "-p", built("dumping.py:Dumper"))
    assert run.returncode == 0, run
    assert len(run.dumped) == 10


def test_dump_rejects_an_undeclared_name(host: Host, built: Built) -> None:
    run = host("run", "--json", "--dump-state", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1",
               "-p", built("dumping.py:BadDumper"))
    assert run.returncode == 1
    assert [d.async_name for d in run.dumped] == ["sampleticker"]  # the first went into the dump
    assert "error: dump error for plugin 'bad_dumper' : " in run.stderr  # libsinsp's text (owner error)
    # why, from the plugin's log: the host's rejection, with libsinsp's message
    assert ("the host rejected async event 'undeclared': incompatible async event 'undeclared' produced by "
            "plugin: bad_dumper") in run.stderr
    assert "dumping.py:" in run.stderr


def test_undeclared_names_left_to_the_host(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "2",
               "-p", built("dumping.py:Unchecked"))
    assert run.returncode == 0, run
    assert ("the host rejected async event 'nope': incompatible async event 'nope' produced by plugin: "
            "unchecked") in run.stderr
    assert [e.async_name for e in run.events if e.type == 402] == ["sampleticker"]
    # the SDK's own check (the default) refuses before the host sees it
    run = host("run", "--json", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1",
               "-p", built("dumping.py:Checked"))
    assert run.returncode == 0, run
    assert "async event 'nope' is not declared in Checked.ASYNC_EVENTS" in run.stderr


@needs_captures
def test_owner_error_after_a_failed_lookup_and_the_host_table_name(host: Host, built: Built) -> None:
    run = host("replay", "--capture", CURL, "-n", "2", "-p", built("table_gaps.py:Lookups"))
    assert run.returncode == 0, run
    assert "host name of the threads table: threads" in run.stderr
    assert "lookup failed: no table 'nosuch' with int64 keys:" in run.stderr
    # before the lookup no error; after it, the host's reason
    assert "before: None; entry: None; after: table 'threads' has no entry with key 123456789" in run.stderr
