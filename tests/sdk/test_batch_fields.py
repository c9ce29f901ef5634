"""End to end: fields computed per batch (@field(batch=True)) through real .so files
and the host: the values, one Python call per batch and field, errors, and the per-event path
for events that are not part of the plugin's current batch."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, Built, Host, fields_of

from falco_plugin._tooling.host import host_binary
from falco_plugin.event.raw import PluginEvent
from falco_plugin.event.scap import build_capture

BATCHED = "batch_fields.py:Batched"
VALUES = ("batched.n,batched.size,batched.str,batched.tags,batched.ip,batched.even,batched.odd,batched.div[3],"
          "batched.key[k]")


def expected(v: int, size: int) -> dict[str, object]:
    ip = f"10.0.0.{v}" if v % 2 else str(ipaddress.ip_address(f"2001:db8::{v:x}"))
    return {
        "batched.n": v, "batched.size": size, "batched.str": f"n={v}",
        "batched.tags": [f"t{i}" for i in range(v % 4)] or None,  # an empty list is res_len 0: no value
        "batched.ip": ip, "batched.even": v % 2 == 0, "batched.odd": v if v % 2 else None,
        "batched.div[3]": int(v % 3 == 0), "batched.key[k]": f"k:{v}",
    }


def test_every_field_type_per_batch(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", VALUES, "-p", built(BATCHED), "-o", "10,4")
    assert run.returncode == 0, run
    sizes = [4] * 8 + [2] * 2  # batches of 4, 4 and 2: each method got its whole batch
    assert fields_of(run) == [expected(v, size) for v, size in zip(range(1, 11), sizes, strict=True)]


def test_python_is_called_once_per_batch_and_field(host: Host, built: Built) -> None:
    fields = "batched.n,batched.ncalls,batched.div[2],batched.decodes,batched.n,batched.div[2]"
    run = host("run", "--json", "--fields", fields, "-p", built(BATCHED), "-o", "12,5")
    assert run.returncode == 0, run
    got = fields_of(run)
    assert [f["batched.n"] for f in got] == list(range(1, 13))
    # batched.n is computed once for the 5 events of a batch (not once per event, not per request)
    assert [f["batched.ncalls"] for f in got] == [1] * 5 + [2] * 5 + [3] * 2
    # every batch field of a batch shares the one decode of per_batch
    assert [f["batched.decodes"] for f in got] == [1] * 5 + [2] * 5 + [3] * 2
    assert [f["batched.div[2]"] for f in got] == [int(v % 2 == 0) for v in range(1, 13)]


def test_events_outside_the_batch_take_the_per_event_path(host: Host, built: Built, tmp_path: Path) -> None:
    # a capture of the plugin's events, replayed: the events live in the host's memory (our host
    # replays captures as the syscall source, which BatchedAnywhere extracts from too)
    capture = tmp_path / "batched.scap"
    capture.write_bytes(build_capture([PluginEvent(988, str(v).encode(), ts=v).to_bytes() for v in range(1, 7)]))
    anywhere = built("batch_fields.py:BatchedAnywhere")
    run = host("replay", "--json", "--fields", VALUES, "--capture", capture, "-p", anywhere)
    assert run.returncode == 0, run
    assert fields_of(run) == [expected(v, 1) for v in range(1, 7)]  # a batch of one per event


def test_other_sources_events_take_the_per_event_path(host: Host, built: Built) -> None:
    # BatchedAnywhere extracts on the counter source too: in the same run, its own events come
    # from its batches, the counter plugin's events (batches of 3 in another plugin's buffer)
    # one at a time
    run = host("run", "--json", "--fields", "batched.size", "-p", built("counter.py:Counter"), "-o",
               "count=3,batch=3", "-p", built("batch_fields.py:BatchedAnywhere"), "-o", "4,2")
    assert run.returncode == 0, run
    by_source: dict[str, list[int]] = {}
    for event in run.events:
        by_source.setdefault(event.source, []).append(event.fields["batched.size"])
    assert by_source == {"counter": [1, 1, 1], "batched_any": [2, 2, 2, 2]}, run


def test_a_raising_batch_gives_no_value_for_its_events_and_is_logged_once(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "batched.boom,batched.n", "-p", built(BATCHED), "-o", "9,2")
    assert run.returncode == 0, run
    # the batch (3, 4) has no value; the batches before and after have theirs
    assert [f["batched.boom"] for f in fields_of(run)] == [1, 2, None, None, 5, 6, 7, 8, 9]
    boom = [line for line in run.stderr.splitlines() if "ZeroDivisionError" in line]
    assert len(boom) == 1, run.stderr
    assert "field batched.boom: ZeroDivisionError: boom in a batch of 2 (at batch_fields.py:" in boom[0]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("batched.short", "Batched.short (batch field batched.short) must return a list of one value per event: "
         "got 2 values for 3 events (at batch_fields.py:"),
        ("batched.badvalue", "value 1 of the batch: an integer is required (in Batched.badvalue (at batch_fields.py:"),
    ],
)
def test_batch_methods_returning_what_the_field_cannot_hold(host: Host, built: Built, field: str, message: str) -> None:
    run = host("run", "--json", "--fields", f"{field},batched.n", "-p", built(BATCHED), "-o", "3,3")
    assert run.returncode == 0, run
    assert [f[field] for f in fields_of(run)] == [None] * 3
    assert [f["batched.n"] for f in fields_of(run)] == [1, 2, 3]
    logged = [line for line in run.stderr.splitlines() if f"field {field}:" in line]
    assert len(logged) == 1, run.stderr
    assert message in logged[0], logged[0]
    assert "batch_fields.py:" in logged[0]  # where the method is


def test_a_plugin_without_configuration_or_typed_events_loads_neither(host: Host, built: Built) -> None:
    # footprint: pydantic only for a configuration model, the event schema only for typed events
    run = host("run", "--json", "--fields", "batched.heavy", "-p", built(BATCHED), "-o", "1,1")
    assert run.returncode == 0, run
    assert fields_of(run) == [{"batched.heavy": "none"}]


BAD = '''
from collections.abc import Sequence
from falco_plugin import ExtractPlugin, Plugin, field
from falco_plugin.event import PPME_SYSCALL_OPEN_X

class Meta(Plugin, ExtractPlugin):
    NAME = "bad"; PLUGIN_VERSION = "0.1.0"; DESCRIPTION = "x"; CONTACT = "x"
    EXTRACT_EVENT_SOURCES = ["x"]

class NotAList(Meta):
    @field("bad.f", desc="x", batch=True)
    def f(self, payloads: Sequence[bytes]) -> int:
        return 1

class Typed(Meta):
    @field("bad.f", desc="x", batch=True)
    def f(self, payloads: PPME_SYSCALL_OPEN_X) -> list[int]:
        return [1]

class Located(Meta):
    @field("bad.f", desc="x", batch=True, located=True)
    def f(self, payloads: Sequence[bytes]) -> list[int]:
        return [1]
'''


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        ("NotAList", "a batch field returns one value per event: annotate it as list[...]"),
        ("Typed", "a batch field takes the batch's payloads, not typed events"),
        ("Located", "a batch field cannot be located"),
    ],
)
def test_build_refuses_bad_batch_fields(tmp_path: Path, cls: str, message: str) -> None:
    src = tmp_path / "badbatch.py"
    src.write_text(BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "falco_plugin.cli", "build", f"{src}:{cls}", "-o", str(tmp_path / "lib.so")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr


def test_bench_batch_example_gives_the_values_of_bench_py(host: Host, built: Built) -> None:
    fields = "bench.value,bench.str,bench.div[3],bench.div[0]"
    examples = ROOT / "examples" / "bench"
    runs = [host("run", "--json", "--fields", fields, "-p", built(f"{examples}/{target}"), "-c", '{"batch": 7}',
                 "-o", "30") for target in ("bench_plugin.py:BenchPlugin", "bench_batch.py:BenchBatchPlugin")]
    assert all(r.returncode == 0 for r in runs), runs
    assert fields_of(runs[0]) == fields_of(runs[1])
    assert [f["bench.value"] for f in fields_of(runs[1])] == list(range(1, 31))


@pytest.mark.timing
@pytest.mark.parametrize(("field", "all_before"), [("gil_hog.batch", True), ("gil_hog.event", False)])
def test_batch_values_are_answered_without_the_gil(built: Built, field: str, all_before: bool) -> None:
    # While a Python thread holds the GIL for 4 s, the host gets the batch values of all 50,000
    # events of the batch (no GIL needed); with a per-event field (the control) the host waits
    # for the GIL, so most events come after the hog is done.
    cmd = [str(host_binary()), "run", "--json", "--fields", field, "-p", str(built("batch_fields.py:GilHog"))]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert "hog done" in lines, proc.stdout
    printed = [line for line in lines[: lines.index("hog done")] if line.startswith('{"evtnum"')]
    assert len(printed) == 50_000 if all_before else len(printed) < 25_000, (len(printed), proc.stdout[-2000:])
    assert len([line for line in lines if line.startswith('{"evtnum"')]) == 50_000


@pytest.mark.parametrize(("kind", "same", "type_name"), [("list", 1, "bytes"), ("tuple", 1, "bytes"),
                                                         ("bytearray", 0, "bytes")])
def test_event_payload_is_the_object_next_batch_returned(host: Host, built: Built, kind: str, same: int,
                                                         type_name: str) -> None:
    # a bytes payload of the plugin's own batch is handed back as it is, not copied (a bytearray,
    # which the plugin could change, is copied); the plugin refilling its own list after
    # next_batch returned changes neither what the per-event fields nor what the batch fields see
    run = host("run", "--json", "--fields", "kept.same,kept.type,kept.n,kept.bn", "-p", built("batch_fields.py:Kept"),
               "-o", f"6,3,{kind}")
    assert run.returncode == 0, run
    assert fields_of(run) == [{"kept.same": same, "kept.type": type_name, "kept.n": v, "kept.bn": v}
                              for v in range(1, 7)]


def test_batch_values_that_are_not_plain_ints_are_converted_one_by_one(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "kept.mixed", "-p", built("batch_fields.py:Kept"), "-o", "6,3,list")
    assert run.returncode == 0, run
    assert [f["kept.mixed"] for f in fields_of(run)] == [7, 2, 1, 7, 5, 1]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("kept.huge", "value 1 of the batch: int too big to convert (in Kept.huge (at batch_fields.py:"),
        ("kept.nul", "value 0 of the batch: a string field cannot contain a NUL character ('\\0') "
         "(in Kept.nul (at batch_fields.py:"),
    ],
)
def test_a_bad_value_among_plain_ones_is_reported_with_its_position(host: Host, built: Built, field: str,
                                                                    message: str) -> None:
    run = host("run", "--json", "--fields", f"{field},kept.n", "-p", built("batch_fields.py:Kept"), "-o", "4,2,list")
    assert run.returncode == 0, run
    assert [f[field] for f in fields_of(run)] == [None] * 4
    assert [f["kept.n"] for f in fields_of(run)] == [1, 2, 3, 4]
    logged = [line for line in run.stderr.splitlines() if f"field {field}:" in line]
    assert len(logged) == 1, run.stderr
    assert message in logged[0], logged[0]


def test_async_events_take_the_per_event_path(host: Host, built: Built) -> None:
    # the plugin's own async events live in the host's memory, not in the plugin's batch: each is
    # extracted with a batch of its one payload, among the plugin's batch events
    run = host("run", "--json", "--fields", "batched.n,batched.size", "-p", built("batch_fields.py:BatchedAsync"),
               "-o", "4,2")
    assert run.returncode == 0, run
    by_type: dict[int, list[dict[str, object]]] = {}
    for event in run.events:
        by_type.setdefault(int(event.type), []).append(event.fields)
    assert by_type[322] == [{"batched.n": v, "batched.size": 2} for v in range(1, 5)]
    assert by_type[402] == [{"batched.n": v, "batched.size": 1} for v in (100, 101, 102)]
