"""End to end: SDK plugins built into .so files, loaded and driven by our host."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, Built, Host

from falco_plugin._tooling.build import exported_symbols
from falco_plugin.testing import Run

COUNTER = "counter.py:Counter"


def counter_values(run: Run) -> list[int]:
    return [int(p.split(b":")[1]) for p in run.payloads("counter")]


# -- metadata and capabilities ---------------------------------------------------------


def test_info_shows_metadata_and_capabilities_without_starting_python(host: Host, built: Built) -> None:
    lib = built(COUNTER)
    run = host("info", lib)
    assert run.returncode == 0, run
    info = json.loads(run.stdout)
    assert info["name"] == "counter"
    assert info["version"] == "1.2.3"
    assert info["description"] == "counts, for the tests"
    assert info["contact"] == "https://example.com/counter"
    assert info["required_api_version"] == "3.3.0"  # the log function; no set_config (3.4): it defines none
    assert info["capabilities"] == ["sourcing"]
    assert info["id"] == 999
    assert info["event_source"] == "counter"
    assert info["init_schema_type"] == "json"
    assert set(info["init_schema"]["properties"]) == {"start", "label"}
    # logging in __init__ would print to stderr: nothing ran in Python
    assert "counter ready" not in run.stderr


def test_exports_exactly_the_symbols_of_the_capabilities(built: Built) -> None:
    symbols = set(exported_symbols(built(COUNTER)))
    assert symbols == {
        "plugin_get_required_api_version", "plugin_get_version", "plugin_get_last_error",
        "plugin_get_name", "plugin_get_description", "plugin_get_contact", "plugin_init",
        "plugin_destroy", "plugin_get_init_schema", "plugin_get_id",
        "plugin_get_event_source", "plugin_open", "plugin_close", "plugin_next_batch",
        "plugin_list_open_params",
    }
    # no extraction symbols: a host would otherwise see a (broken) extractor
    assert "plugin_extract_fields" not in symbols and "plugin_event_to_string" not in symbols


def test_plugin_without_config_has_no_schema(host: Host, built: Built) -> None:
    info = json.loads(host("info", built("counter.py:Other")).stdout)
    assert info["init_schema_type"] == "none"


# -- configuration ---------------------------------------------------------------------


def test_valid_config_reaches_the_plugin(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-c", '{"start": 40, "label": "x"}', "-o", "count=3")
    assert run.returncode == 0, run
    assert [p.split(b":")[:2] for p in run.payloads()] == [[b"x", b"40"], [b"x", b"41"], [b"x", b"42"]]


def test_empty_config_means_defaults(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "count=2")
    assert run.returncode == 0, run
    assert counter_values(run) == [1, 2]


def test_config_failing_the_schema_names_the_field(host: Host, built: Built) -> None:
    run = host("run", "-p", built(COUNTER), "-c", '{"start": "soon"}')
    assert run.returncode == 1, run
    assert "start" in run.stderr
    assert "counter ready" not in run.stderr  # init was not called


def test_config_failing_the_model_names_the_field(host: Host, built: Built) -> None:
    # passes the JSON schema, fails the pydantic validator: the plugin's own message
    run = host("run", "-p", built(COUNTER), "-c", '{"label": "has spaces"}')
    assert run.returncode == 1, run
    assert "invalid configuration for plugin counter: label: Value error, must not contain spaces" in run.stderr


# -- exceptions in plugin code -----------------------------------------------------------


def test_exception_in_init_is_reported(host: Host, built: Built) -> None:
    run = host("run", "-p", built("counter.py:FailsInInit"))
    assert run.returncode == 1, run
    assert "KeyError: 'missing-credentials' (at counter.py:" in run.stderr
    assert "in __init__" in run.stderr


def test_exception_in_open_is_reported_and_close_still_called(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "mode=raise_open")
    assert run.returncode == 1, run
    assert "open: RuntimeError: cannot open: mode=raise_open (at counter.py:" in run.stderr
    assert run.summaries and run.summaries[0]["end"] == "open_failed"


def test_exception_in_next_batch_is_reported_after_earlier_events(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "count=10,mode=raise_batch")
    assert run.returncode == 1, run
    assert counter_values(run) == [1]
    assert "next_batch: ValueError: batch exploded on call 2 (at counter.py:" in run.stderr
    assert run.summaries[0]["end"] == "failure"
    assert "closed after 2 calls" in run.stderr  # close ran after the failure


def test_batch_of_wrong_type_is_a_clear_failure(host: Host, built: Built) -> None:
    run = host("run", "-p", built(COUNTER), "-o", "mode=bad_item")
    assert run.returncode == 1, run
    assert "next_batch: TypeError: next_batch: item 0 is str, expected bytes or (bytes, int)" in run.stderr


# -- batches, timeouts, end of stream ------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_batches_deliver_every_event_in_order(host: Host, built: Built, batch: int) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", f"count=150,batch={batch}")
    assert run.returncode == 0, run
    assert counter_values(run) == list(range(1, 151))
    assert [e.evtnum for e in run.events] == list(range(1, 151))
    assert all(e.type == 322 and e.plugin_id == 999 for e in run.events)
    assert run.summaries[0]["end"] == "eof"


def test_event_framing(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-c", '{"label": "abc"}', "-o", "count=1")
    event = run.events[0]
    payload = run.payloads()[0]
    assert event.len == 38 + len(payload)
    assert event.tid == 2**64 - 1
    assert event.ts not in (0, 2**64 - 1)  # "now", filled in by the host


def test_timestamps_given_by_the_plugin_are_kept(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "count=3,batch=3,mode=timestamps")
    assert [e.ts for e in run.events] == [1_000_000_000, 1_000_000_001, 1_000_000_002]


def test_timeouts_then_events_then_eof(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "count=4,batch=2,timeouts=4")
    assert run.returncode == 0, run
    assert counter_values(run) == [1, 2, 3, 4]
    assert run.summaries[0]["timeouts"] == 4
    assert run.summaries[0]["end"] == "eof"


def test_partial_batch_together_with_end_of_stream(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "count=10,batch=4,mode=partial_eof")
    assert run.returncode == 0, run
    assert counter_values(run) == list(range(1, 11))
    assert "closed after 3 calls" in run.stderr  # the last 2 came with EOF, no 4th call


@pytest.mark.timing
def test_idle_source_does_not_spin(host: Host, built: Built) -> None:
    run = host("run", "--json", "--duration", "0.5", "-p", built(COUNTER), "-o", "mode=idle")
    assert run.returncode == 0, run
    # each empty batch takes at least TIMEOUT_PAUSE (10 ms): at most ~50 in 0.5 s, not millions
    assert 5 <= run.summaries[0]["timeouts"] <= 60, run.summaries


def test_max_events_stops_and_closes(host: Host, built: Built) -> None:
    run = host("run", "--json", "-n", "5", "-p", built(COUNTER), "-o", "count=1000,batch=64")
    assert run.returncode == 0, run
    assert counter_values(run) == [1, 2, 3, 4, 5]
    assert "closed after 1 calls" in run.stderr


def test_list_open_params_and_event_text(host: Host, built: Built) -> None:
    lib = built("examples/dummy/dummy_plugin.py:DummyPlugin".replace("examples", str(ROOT / "examples")))
    run = host("run", "--json", "-p", lib, "-o", '{"start": 10, "maxEvents": 3}', "-c", '{"jitter": 0}')
    assert run.returncode == 0, run
    assert [e.info for e in run.events] == ["value=10", "value=10", "value=10"]


# -- threads and processes ------------------------------------------------------------------


def test_two_states_of_one_library_on_two_host_threads(host: Host, built: Built) -> None:
    lib = built(COUNTER)
    run = host(
        "run", "--json",
        "-p", lib, "-c", '{"label": "a"}', "-o", "count=300,batch=8,mode=slow",
        "-p", lib, "-c", '{"label": "b"}', "-o", "count=300,batch=8,mode=slow",
    )
    assert run.returncode == 0, run
    payloads = run.payloads()
    for label in (b"a", b"b"):
        mine = [p for p in payloads if p.startswith(label + b":")]
        assert [int(p.split(b":")[1]) for p in mine] == list(range(1, 301))
    threads = {p.split(b":")[2] for p in payloads}
    assert len(threads) == 2  # each state ran on its own host thread
    # they ran at the same time: the output interleaves rather than one after the other
    labels = [p[:1] for p in payloads]
    switches = sum(1 for x, y in itertools.pairwise(labels) if x != y)
    assert switches > 2, switches


def test_two_different_sdk_plugins_in_one_process(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(COUNTER), "-o", "count=3", "-p", built("counter.py:Other"))
    assert run.returncode == 0, run
    assert counter_values(run) == [1, 2, 3]
    assert len(run.payloads("other")) == 3
    assert {s["plugin"] for s in run.summaries} == {"counter", "other"}


def test_logging_reaches_the_host_with_severity(host: Host, built: Built) -> None:
    run = host("run", "-p", built(COUNTER), "-o", "count=1")
    assert run.returncode == 0, run
    assert "log warning counter: counter ready, start=1" in run.stderr
    assert "log info counter: open count=1" in run.stderr
    assert "log info counter: closed after" in run.stderr


@pytest.mark.no_sanitize  # LD_PRELOADs a library before the ASan runtime
def test_second_different_libpython_is_refused(host: Host, built: Built) -> None:
    other = [p for p in Path("/root/.pyenv/versions").glob("3.1[02]*/lib/libpython3.1[02].so.1.0")]
    if not other:
        other = [p for p in Path("/usr/lib").rglob("libpython3.1[02]*.so.1.0")]
    if not other:
        pytest.skip("no second Python version on this machine")
    env = dict(os.environ, LD_PRELOAD=str(other[0]))
    from falco_plugin._tooling.host import host_binary

    proc = subprocess.run([str(host_binary()), "run", "-p", str(built(COUNTER))],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "two different Python libraries are loaded in this process" in proc.stderr
    assert "Segmentation" not in proc.stderr


# -- the build command ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        ("NoCapability", "has no capability"),
        ("NoName", "NoName.NAME must be a non-empty string"),
        ("BadVersion", "PLUGIN_VERSION '1.0' must be 'MAJOR.MINOR.PATCH'"),
        ("SyscallSource", "EVENT_SOURCE 'syscall' is reserved"),
        ("ZeroId", "PLUGIN_ID = 0 makes a syscall-source plugin (its events are of the 'syscall' source)"),
        ("NoOpen", "does not define open()"),
        ("BadConfigHint", "must be annotated with a pydantic BaseModel subclass, str or None"),
    ],
)
def test_build_refuses_invalid_plugins(tmp_path: Path, cls: str, message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "falco_plugin.cli", "build", f"{ROOT}/tests/plugins/bad_plugins.py:{cls}",
         "-o", str(tmp_path / "lib.so")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr
    assert not (tmp_path / "lib.so").exists()
