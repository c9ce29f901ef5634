"""End to end: field extraction through real .so files and the host."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import PLUGINS, ROOT, Built, Host, fields_of

from falco_plugin._tooling.build import exported_symbols

TYPED = "fields.py:Typed"


def test_info_lists_fields_with_their_properties(host: Host, built: Built) -> None:
    info = json.loads(host("info", built(TYPED)).stdout)
    assert info["capabilities"] == ["sourcing", "extraction"]
    by_name = {f["name"]: f for f in info["fields"]}
    assert [f["name"] for f in info["fields"]][:3] == ["typed.n", "typed.str", "typed.even"]
    assert by_name["typed.n"] == {
        "name": "typed.n", "type": "uint64", "desc": "the counter", "display": "Counter", "addOutput": True,
    }
    expected_types = {
        "typed.str": "string", "typed.even": "bool", "typed.age": "reltime", "typed.age_ns": "reltime",
        "typed.when": "abstime", "typed.ip": "ipaddr", "typed.net": "ipnet", "typed.tags": "string",
    }
    for name, ftype in expected_types.items():
        assert by_name[name]["type"] == ftype, name
    assert by_name["typed.tags"]["isList"] is True
    assert by_name["typed.tag"]["arg"] == {"isRequired": True, "isIndex": True, "isKey": False}
    assert by_name["typed.get"]["arg"] == {"isRequired": True, "isIndex": False, "isKey": True}
    assert by_name["typed.opt"]["arg"] == {"isRequired": False, "isIndex": True, "isKey": False}
    assert info["extract_event_sources"] == ["typed"]
    symbols = set(exported_symbols(built(TYPED)))
    assert {"plugin_get_fields", "plugin_extract_fields", "plugin_get_extract_event_types",
            "plugin_get_extract_event_sources"} <= symbols


def test_every_field_type(host: Host, built: Built) -> None:
    names = "typed.n,typed.str,typed.even,typed.age,typed.age_ns,typed.when,typed.ip,typed.net"
    run = host("run", "--json", "--fields", names, "-p", built(TYPED), "-o", "2")
    assert run.returncode == 0, run
    first, second = fields_of(run)
    assert first == {
        "typed.n": 1, "typed.str": "n=1 é", "typed.even": False, "typed.age": 1_000_005_000,
        "typed.age_ns": 1000, "typed.when": 1_704_067_201_000_000_000, "typed.ip": "10.0.0.1",
        "typed.net": "192.168.1.0",
    }
    assert second["typed.even"] is True
    assert second["typed.ip"] == "2001:db8::2"


def test_list_fields(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "typed.tags,typed.multiples", "-p", built(TYPED), "-o", "4")
    # an empty list is res_len 0, which the ABI cannot tell from "no value"
    assert [f["typed.tags"] for f in fields_of(run)] == [["t0"], ["t0", "t1"], ["t0", "t1", "t2"], None]
    assert fields_of(run)[2]["typed.multiples"] == [3, 6, 9]


def test_none_means_no_value(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "typed.maybe", "-p", built(TYPED), "-o", "4")
    assert [f["typed.maybe"] for f in fields_of(run)] == [1, None, 3, None]


def test_index_and_key_arguments(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "typed.tag[1],typed.get[ip],typed.get[nope],typed.opt,typed.opt[7]",
               "-p", built(TYPED), "-o", "3")
    assert run.returncode == 0, run
    got = fields_of(run)
    assert [f["typed.tag[1]"] for f in got] == [None, "t1", "t1"]
    assert [f["typed.get[ip]"] for f in got] == ["10.0.0.1", "2001:db8::2", "10.0.0.3"]
    assert all(f["typed.get[nope]"] is None for f in got)
    assert all(f["typed.opt"] == "none" and f["typed.opt[7]"] == "index 7" for f in got)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("typed.tag", "field typed.tag requires an argument"),
        ("typed.tag[01]", "invalid index"),
        ("typed.tag[x]", "invalid index"),
        ("typed.nope", "unknown field typed.nope"),
    ],
)
def test_malformed_arguments_are_refused_before_the_run(host: Host, built: Built, spec: str, message: str) -> None:
    run = host("run", "--fields", spec, "-p", built(TYPED), "-o", "1")
    assert run.returncode == 2
    assert message in run.stderr, run


def test_raising_field_gives_no_value_and_is_logged_once(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "typed.boom,typed.n,typed.wrong", "-p", built(TYPED), "-o", "5")
    assert run.returncode == 0, run
    assert [f["typed.n"] for f in fields_of(run)] == [1, 2, 3, 4, 5]
    assert all(f["typed.boom"] is None and f["typed.wrong"] is None for f in fields_of(run))
    boom = [line for line in run.stderr.splitlines() if "ZeroDivisionError" in line]
    assert len(boom) == 1, run.stderr
    assert "field typed.boom: ZeroDivisionError: boom on event 1 (at fields.py:" in boom[0]
    assert boom[0].startswith("log error typed:")
    wrong = [line for line in run.stderr.splitlines() if "typed.wrong" in line]
    assert len(wrong) == 1 and "TypeError" in wrong[0]
    source = (PLUGINS / "fields.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if '@field("typed.wrong"' in text)  # co_firstlineno
    # the shim found the wrong type: the message names the method's own file:line
    assert f"(at fields.py:{line} in Typed.wrong)" in wrong[0], wrong


def test_fields_of_one_event_share_one_decode(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "typed.n,typed.str,typed.tags,typed.decodes", "-p", built(TYPED),
               "-o", "3")
    # one JSON decode per event, whatever the number of fields asked (each in its own call)
    assert [f["typed.decodes"] for f in fields_of(run)] == [1, 2, 3]


def test_extract_only_plugin_on_another_plugins_source(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "reader.double,reader.source,typed.n",
               "-p", built(TYPED), "-o", "3", "-p", built("fields.py:Reader"))
    assert run.returncode == 0, run
    assert [f["reader.double"] for f in fields_of(run)] == [2, 4, 6]
    assert {f["reader.source"] for f in fields_of(run)} == {"typed"}
    info = json.loads(host("info", built("fields.py:Reader")).stdout)
    assert info["capabilities"] == ["extraction"]
    assert "plugin_open" not in set(exported_symbols(built("fields.py:Reader")))


def test_source_filtering_keeps_other_sources_away(host: Host, built: Built) -> None:
    # reader only declares the "typed" source: on the counter source it gets nothing
    run = host("run", "--json", "--fields", "reader.double", "-p", built("counter.py:Counter"), "-o", "count=2",
               "-p", built("fields.py:Reader"))
    assert run.returncode == 0, run
    assert [f["reader.double"] for f in fields_of(run)] == [None, None]


@pytest.mark.no_sanitize  # loads the .so into pytest (an ASan .so needs an ASan process)
def test_event_types_default_to_plugin_events(built: Built) -> None:
    # a static function: callable without init, as libsinsp's loader does
    lib = ctypes.CDLL(str(built(TYPED)))
    get_types = lib.plugin_get_extract_event_types
    get_types.restype = ctypes.POINTER(ctypes.c_uint16)
    count = ctypes.c_uint32(99)
    types = get_types(ctypes.byref(count), None)
    assert [types[i] for i in range(count.value)] == [322]


def test_two_states_extracting_on_two_threads(host: Host, built: Built) -> None:
    lib = built(TYPED)
    run = host("run", "--json", "--fields", "typed.n,typed.str,typed.thread",
               "-p", lib, "-o", "200", "-p", lib, "-o", "200")
    assert run.returncode == 0, run
    assert len(run.events) == 400
    for e in run.events:
        f = e.fields
        assert f["typed.str"] == f"n={f['typed.n']} é"
    assert len({e.fields["typed.thread"] for e in run.events}) == 2


def test_dummy_example_fields(host: Host, built: Built) -> None:
    lib = built(f"{ROOT}/examples/dummy/dummy_plugin.py:DummyPlugin")
    run = host("run", "--json", "--fields", "dummy.value,dummy.strvalue,dummy.divisible[3],dummy.divisible[0]",
               "-p", lib, "-c", '{"jitter": 0}', "-o", '{"start": 6, "maxEvents": 2}')
    assert run.returncode == 0, run
    assert fields_of(run) == [
        {"dummy.value": 6, "dummy.strvalue": "6", "dummy.divisible[3]": 1, "dummy.divisible[0]": None},
    ] * 2


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        ("NoFields", "without fields"),
        ("BadReturn", "cannot tell the field type from the return type"),
        ("BadName", "field names look like 'plugin.field'"),
        ("ExtractOnlyNoSources", "must set EXTRACT_EVENT_SOURCES"),
        ("ArgWithoutParam", "the method must take (self, event, arg)"),
    ],
)
def test_build_refuses_bad_field_declarations(tmp_path: Path, cls: str, message: str) -> None:
    src = tmp_path / "badfields.py"
    src.write_text(BAD_FIELDS)
    proc = subprocess.run(
        [sys.executable, "-m", "falco_plugin.cli", "build", f"{src}:{cls}", "-o", str(tmp_path / "lib.so")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr


BAD_FIELDS = '''
from falco_plugin import Event, ExtractPlugin, Index, Plugin, field

class Meta(Plugin, ExtractPlugin):
    NAME = "bad"; PLUGIN_VERSION = "0.1.0"; DESCRIPTION = "x"; CONTACT = "x"
    EXTRACT_EVENT_SOURCES = ["x"]

class NoFields(Meta):
    pass

class BadReturn(Meta):
    @field("bad.f", desc="x")
    def f(self, event: Event) -> dict:
        return {}

class BadName(Meta):
    @field("nodot", desc="x")
    def f(self, event: Event) -> int:
        return 1

class ExtractOnlyNoSources(Plugin, ExtractPlugin):
    NAME = "bad"; PLUGIN_VERSION = "0.1.0"; DESCRIPTION = "x"; CONTACT = "x"
    @field("bad.f", desc="x")
    def f(self, event: Event) -> int:
        return 1

class ArgWithoutParam(Meta):
    @field("bad.f", desc="x", arg=Index())
    def f(self, event: Event) -> int:
        return 1
'''


def extract_types_of(lib: Path) -> list[int]:
    cdll = ctypes.CDLL(str(lib))
    get_types = cdll.plugin_get_extract_event_types
    get_types.restype = ctypes.POINTER(ctypes.c_uint16)
    count = ctypes.c_uint32(99)
    types = get_types(ctypes.byref(count), None)
    return [types[i] for i in range(count.value)]


@pytest.mark.no_sanitize  # loads the .so into pytest (an ASan .so needs an ASan process)
def test_fields_over_typed_plugin_events(host: Host, built: Built) -> None:
    lib = built("typed_events.py:TypedFields")
    run = host("run", "--json", "--fields", "words.len,words.plugin_id", "-p", lib)
    assert run.returncode == 0, run
    assert fields_of(run) == [{"words.len": n, "words.plugin_id": 991} for n in (5, 2, 6)]
    assert extract_types_of(lib) == [322]


@pytest.mark.no_sanitize  # loads the .so into pytest (an ASan .so needs an ASan process)
def test_event_types_derived_from_typed_event_classes(built: Built) -> None:
    from falco_plugin.event import PPME_SYSCALL_OPEN_X

    codes = extract_types_of(built("typed_events.py:SyscallAndAsync"))
    assert codes == sorted({PPME_SYSCALL_OPEN_X.CODE, 322, 402})


PREFETCHED = "fields.py:Prefetched"


def test_prefetch_gives_the_same_values_and_logs_a_raising_field_once(host: Host, built: Built) -> None:
    # libsinsp asks one field per call; from the second event on, the shim computes the fields
    # asked of the last event during the first call. What the host gets must not change.
    run = host("run", "--json", "--fields", "pf.n,pf.odd,pf.ncalls,pf.n,pf.odd", "-p", built(PREFETCHED),
               "-o", "6")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert [f["pf.n"] for f in fields] == [1, 2, 3, 4, 5, 6]
    assert [f["pf.odd"] for f in fields] == [1, None, 3, None, 5, None]
    # @per_event (the shim's C memo): pf.n is computed once per event, prefetched or not
    assert [f["pf.ncalls"] for f in fields] == [1, 2, 3, 4, 5, 6]
    logged = [line for line in run.stderr.splitlines() if "even counter" in line]
    assert len(logged) == 1 and "field pf.odd: ValueError: even counter 2" in logged[0], run.stderr


def test_per_event_method_called_wrongly_raises_a_clear_error(host: Host, built: Built) -> None:
    run = host("run", "--json", "--fields", "pf.memo_misuse,pf.n", "-p", built(PREFETCHED), "-o", "2")
    assert run.returncode == 0, run
    assert [f["pf.memo_misuse"] for f in fields_of(run)] == [None, None]
    assert [f["pf.n"] for f in fields_of(run)] == [1, 2]
    assert "n() is a @per_event method: call it as self.n(event)" in run.stderr, run.stderr
