"""falco_plugin.testing: the pytest plugin, used on the example plugins.

Every test here drives a real .so through our host via the ``falco_plugin_build`` fixture, which
pytest gets from the ``pytest11`` entry point (no import of it in conftest).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import CAPTURES, PLUGINS, ROOT, needs_captures

from falco_plugin.event import PPME_SYSCALL_CLONE_20_X, PPME_SYSCALL_OPEN_X, read_capture
from falco_plugin.testing import BuildPlugin, PluginError, source_hash

DUMMY = "examples/dummy/dummy_plugin.py:DummyPlugin"
PROC_STATS = "examples/proc_stats/proc_stats.py:ProcStats"
SAMPLE_ASYNC = "examples/sample_async/sample_async.py:SampleAsync"


def test_source_events_and_fields_with_arguments(falco_plugin_build: BuildPlugin) -> None:
    dummy = falco_plugin_build(DUMMY, config={"jitter": 3})
    events = dummy.events('{"start": 1, "maxEvents": 40}', fields=["dummy.value", "dummy.divisible[2]"])
    values = [e.fields["dummy.value"] for e in events]
    assert len(values) == 40 and values == sorted(values) and values[0] >= 1
    assert [e.fields["dummy.divisible[2]"] for e in events] == [int(v % 2 == 0) for v in values]
    assert all(e.source == "dummy" and e.type == 322 and e.plugin_id == 4 for e in events)
    assert events[0].payload == values[0].to_bytes(8, "little")
    assert events[0].info == f"value={values[0]}"


def test_address_fields_come_back_as_ipaddress_objects(falco_plugin_build: BuildPlugin) -> None:
    typed = falco_plugin_build(str(PLUGINS / "fields.py") + ":Typed")
    events = typed.events(open_params="2", fields=["typed.ip", "typed.net", "typed.n"])
    assert [e.fields["typed.ip"] for e in events] == [ipaddress.ip_address("10.0.0.1"),
                                                       ipaddress.ip_address("2001:db8::2")]
    assert events[1].fields["typed.net"] == "192.168.2.0"  # the plugin API passes no prefix length
    assert events[1].fields["typed.n"] == 2


def test_the_build_is_cached_by_source_hash(falco_plugin_build: BuildPlugin, tmp_path: Path) -> None:
    assert falco_plugin_build(DUMMY).path == falco_plugin_build(DUMMY).path
    plugin = tmp_path / "hashed.py"
    plugin.write_text((ROOT / "examples" / "sample_async" / "sample_async.py").read_text())
    first = source_hash(f"{plugin}:SampleAsync")
    assert source_hash(f"{plugin}:SampleAsync") == first
    plugin.write_text(plugin.read_text() + "\n# changed\n")
    sys.modules.pop("hashed", None)
    assert source_hash(f"{plugin}:SampleAsync") != first


def test_log_lines_and_the_plugins_error_text(falco_plugin_build: BuildPlugin) -> None:
    dummy = falco_plugin_build(DUMMY)
    run = dummy.run(open_params='{"start": 2, "maxEvents": 1}')
    assert "opening with start=2 maxEvents=1" in run.log("info")
    with pytest.raises(PluginError, match=r"(?s)dummy_py: open failed: open: ValidationError: .*start\n"
                                          r".*greater than or equal to 0.* \(at dummy_plugin\.py:\d+ in open; "):
        dummy.run(open_params='{"start": -5}')
    failed = dummy.run(config={"jitter": "often"}, check=False)  # the host checks the schema, as libsinsp
    assert failed.returncode != 0 and failed.events == []
    assert failed.errors == ["error in plugin dummy_py init config: In <root>[jitter], field 'jitter' must be of "
                             "type integer, got string (libsinsp: Value type not permitted by 'type' constraint.)"]


def test_synthetic_events_through_parsing_extraction_and_tables(falco_plugin_build: BuildPlugin) -> None:
    stats = falco_plugin_build(PROC_STATS)
    events = [
        PPME_SYSCALL_CLONE_20_X(res=0, tid_=7, pid=7, ptid=1, comm="cat", exe="/bin/cat", ts=1, tid=7),
        PPME_SYSCALL_OPEN_X(fd=3, name="/etc/passwd", flags=1, mode=0, dev=0, ts=2, tid=7),
        PPME_SYSCALL_OPEN_X(fd=-2, name="/nope", flags=1, mode=0, dev=0, ts=3, tid=7),  # failed: not counted
        PPME_SYSCALL_OPEN_X(fd=4, name="/etc/group", flags=1, mode=0, dev=0, ts=4, tid=7),
    ]
    run = stats.feed(events, fields=["proc_stats.open_count", "proc_stats.comm_opens"], dump_tables=True,
                     metrics=True)
    # every event comes back; the clone is not of the plugin's extract types: no value
    assert [(e.name, e.fields["proc_stats.open_count"]) for e in run.events] == [
        ("clone", None), ("open", 1), ("open", 1), ("open", 2)]
    assert run.events[-1].fields["proc_stats.comm_opens"] == 2
    assert run.tables["threads"][7]["comm"] == "cat"
    assert run.tables["threads"][7]["open_count"] == 2
    assert run.tables["proc_stats"] == [{"opens": 2, "connects": 0}]  # a plugin's table: no keys to read
    assert run.metrics["opens"] == 2 and run.metrics["parsed"] == 3
    # each run starts from fresh state
    assert stats.extract(events[1:2], ["proc_stats.open_count"]) == [{"proc_stats.open_count": 1}]


@needs_captures
def test_replay_a_capture(falco_plugin_build: BuildPlugin) -> None:
    run = falco_plugin_build(PROC_STATS).replay(CAPTURES / "curl_google.scap", metrics=True, dump_tables=True)
    assert run.metrics["opens"] == 47
    assert run.summary["events"] == len(list(read_capture(CAPTURES / "curl_google.scap")))
    assert isinstance(run.tables["threads"][1]["file_descriptors"][0]["name"], str)


def test_async_events_with_a_timeout_and_dump_state(falco_plugin_build: BuildPlugin) -> None:
    sample = falco_plugin_build(SAMPLE_ASYNC)
    run = sample.async_events(timeout=0.55, dump_state=True)
    assert 3 <= len(run.events) <= 7
    assert all(e.async_name == "sample_async" and e.payload == b"hello" for e in run.events)
    assert [(e.plugin, e.async_name) for e in run.dumped] == [("sample_async", "sample_async")]
    assert int(run.dumped[0].payload.removeprefix(b"sent ")) >= len(run.events)  # one may come as it stops
    info = sample.info()
    assert info["capabilities"] == ["async"] and "plugin_dump_state" in info["symbols"]


def test_an_authors_test_file_runs_with_only_the_entry_point(tmp_path: Path) -> None:
    """The documented example test file, in a project of its own, run by a fresh pytest."""
    (tmp_path / "countdown.py").write_text(textwrap.dedent('''
        from falco_plugin import EndOfStream, Event, ExtractPlugin, Index, Plugin, SourceInstance, SourcePlugin, field

        class Counter(SourceInstance):
            def __init__(self, n: int) -> None:
                self.n = n
            def next_batch(self) -> list[bytes]:
                if self.n == 0:
                    raise EndOfStream
                self.n -= 1
                return [self.n.to_bytes(8, "little")]

        class MyPlugin(Plugin, SourcePlugin, ExtractPlugin):
            NAME = "myplugin"
            PLUGIN_VERSION = "0.1.0"
            DESCRIPTION = "counts down"
            CONTACT = "https://example.com"
            PLUGIN_ID = 999
            EVENT_SOURCE = "countdown"
            def __init__(self, config: None) -> None:
                pass
            def open(self, params: str) -> Counter:
                return Counter(int(params or "10"))
            @field("countdown.value", desc="the value")
            def value(self, event: Event) -> int:
                return int.from_bytes(event.payload or b"", "little")
            @field("countdown.divisible", desc="1 if divisible by n", arg=Index(required=True))
            def divisible(self, event: Event, n: int) -> int | None:
                return None if n == 0 else int(self.value(event) % n == 0)
    '''))
    (tmp_path / "test_countdown.py").write_text(textwrap.dedent('''
        from falco_plugin.testing import BuildPlugin

        def test_counts_down(falco_plugin_build: BuildPlugin) -> None:
            plugin = falco_plugin_build("countdown.py:MyPlugin")
            events = plugin.events(open_params="3", fields=["countdown.value", "countdown.divisible[2]"])
            assert [e.fields["countdown.value"] for e in events] == [2, 1, 0]
            assert events[0].fields["countdown.divisible[2]"] == 1

        def test_fails_on_purpose(falco_plugin_build: BuildPlugin) -> None:
            events = falco_plugin_build("countdown.py:MyPlugin").events(open_params="1", fields=["countdown.value"])
            assert events[0].fields["countdown.value"] == 7
    '''))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "assert 0 == 7" in proc.stdout
