"""The test host (falco-plugin-host) against plain-C plugins: loading rules, config schema
validation, next_batch semantics, extraction, threads, bench. The C plugins are in
tests/cplugins (test_src.c documents its misbehaviours) and bench/c_reference."""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin._tooling.host import compile_c_plugin, host_binary, run_host

ROOT = Path(__file__).resolve().parent.parent
CPLUGINS = Path(__file__).resolve().parent / "cplugins"
UINT64_MAX = 2**64 - 1
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"  # text mode: UTC with ns

Lib = Callable[[str], str]


@pytest.fixture(scope="session")
def lib() -> Lib:
    """``lib("test_src")`` is the path of the compiled tests/cplugins/test_src.c (or bench_c, async_c)."""
    host_binary()  # build it once, up front
    cache: dict[str, str] = {}

    def _lib(name: str) -> str:
        if name not in cache:
            reference = ROOT / "bench" / "c_reference" / f"{name}.c"
            src = reference if name in ("bench_c", "async_c") else CPLUGINS / f"{name}.c"
            cache[name] = str(compile_c_plugin(src))
        return cache[name]

    return _lib


class Run:
    """One host run; JSON lines split into events and summaries."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        proc = run_host(args, env=env, timeout=60)
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.events: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        for line in self.out.splitlines():
            if line.startswith("{"):
                obj = json.loads(line)
                (self.summaries if "summary" in obj else self.events).append(obj.get("summary", obj))

    def __repr__(self) -> str:
        return f"<Run rc={self.rc}\nstdout:\n{self.out[-2000:]}\nstderr:\n{self.err[-2000:]}>"


def invoke(*args: str, env: dict[str, str] | None = None) -> Run:
    return Run(list(args), env)


# -- info and load errors ---------------------------------------------------------------


def test_info_reports_the_static_answers(lib: Lib) -> None:
    run = invoke("info", lib("test_src"))
    assert run.rc == 0, run
    info = json.loads(run.out)
    assert info["path"] == lib("test_src")
    assert (info["name"], info["version"], info["required_api_version"]) == ("test_src", "1.2.3", "3.3.0")
    assert info["description"] == "test source plugin"
    assert info["contact"] == "falco-plugin tests"
    assert info["capabilities"] == ["sourcing", "extraction"]
    assert (info["id"], info["event_source"]) == (999, "test")
    assert info["init_schema_type"] == "json"
    assert info["init_schema"]["properties"]["count"] == {"type": "integer", "minimum": 1}
    assert [f["name"] for f in info["fields"]][:3] == ["test.n", "test.msg", "test.idx"]
    assert info["fields"][2]["arg"] == {"isIndex": True, "isRequired": True}
    assert info["extract_event_sources"] is None  # symbol not exported
    assert info["async_events"] is None and info["parse_event_sources"] is None
    assert "plugin_next_batch" in info["symbols"] and "plugin_parse_event" not in info["symbols"]
    assert "init config" not in run.err  # info never calls init


def test_info_of_an_extraction_only_plugin(lib: Lib) -> None:
    info = json.loads(invoke("info", lib("ext_only")).out)
    assert info["capabilities"] == ["extraction"]
    assert (info["id"], info["event_source"]) == (0, "")
    assert info["extract_event_sources"] == ["test"]  # the empty string is dropped
    assert info["init_schema_type"] == "none" and info["init_schema"] is None


LOAD_ERRORS = [
    (
        "bad_api",
        "plugin required API version '2.0.0' not compatible with the framework's API version "
        "'3.12.0': major versions disagree",
    ),
    (
        "high_minor",
        "plugin required API version '3.13.0' not compatible with the framework's API version "
        "'3.12.0': framework's minor is less than the requested one",
    ),
    ("missing_symbol", "required symbol not implemented: 'get_contact'"),
    (
        "broken_source",
        "broken plugin capabilities: must implement all of 'plugin_open', 'plugin_close', "
        "and 'plugin_next_batch' (event sourcing)",
    ),
    (
        "broken_id",
        "broken plugin capabilities: must implement both 'plugin_get_id' and "
        "'plugin_get_event_source' or neither (event sourcing)",
    ),
    ("no_caps", "plugin does not implement any capability"),
    ("syscall_source", "plugin can't implement the reserved event source 'syscall'"),
    ("field_nodesc", "error in plugin field_nodesc: field JSON entry has no desc"),
    (
        "empty_fields",
        "error in plugin empty_fields: plugins with extraction capability must export at least one field",
    ),
    ("bad_version", "plugin provided an invalid version string: '1.x'"),
]


@pytest.mark.parametrize(("name", "message"), LOAD_ERRORS)
def test_load_errors(lib: Lib, name: str, message: str) -> None:
    info = invoke("info", lib(name))
    assert (info.rc, info.out, info.err) == (2, "", f"error: {message}\n")
    run = invoke("run", "-p", lib("test_src"), "-p", lib(name))
    assert run.rc == 2, run
    assert f"error: could not load plugin {lib(name)}: {message}" in run.err
    assert "init config" not in run.err  # nothing is inited when any load fails


def test_missing_library_is_a_load_error(tmp_path: Path) -> None:
    run = invoke("info", str(tmp_path / "nope.so"))
    assert run.rc == 2 and run.err.startswith("error: can't load plugin dynamic library: "), run


@pytest.mark.parametrize(
    "args", [["-c", "{}"], ["-p"], [], ["-p", "x.so", "--bogus"], ["-n", "many", "-p", "x.so"]]
)
def test_usage_errors(args: list[str]) -> None:
    run = invoke("run", *args)
    assert run.rc == 2 and run.err.startswith("error: "), run


# -- init config and init ---------------------------------------------------------------


def test_valid_config_reaches_init(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-c", '{"count": 2}')
    assert run.rc == 0, run
    assert 'log info test_src: init config={"count": 2}' in run.err  # log_fn, component NULL
    assert len(run.events) == 2


def test_empty_config_becomes_an_empty_object_with_a_schema(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"))
    assert run.rc == 0, run
    assert "log info test_src: init config={} tid=" in run.err
    assert len(run.events) == 3  # the plugin's default count


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"count": 0}', "In <root>[count], field 'count' must be >= 1, got 0"),
        ('{"count": "x"}', "In <root>[count], field 'count' must be of type integer, got string"),
        ('{"count": 2, "bogus": 1}', "In <root>[bogus], field 'bogus' is not allowed"),
        # every problem among the config's keys at once (libsinsp reports the first only)
        ('{"count": 0, "bogus": 1}',
         "In <root>[count], field 'count' must be >= 1, got 0; In <root>[bogus], field 'bogus' is not allowed"),
        ("[1]", "In <root>, the config must be of type object, got array"),
    ],
)
def test_invalid_config_names_the_field_and_skips_init(lib: Lib, config: str, message: str) -> None:
    run = invoke("run", "-p", lib("test_src"), "-c", config)
    assert run.rc == 1, run
    assert f"error: error in plugin test_src init config: {message}" in run.err
    assert "init config=" not in run.err and run.out == ""


def test_config_that_is_not_json(lib: Lib) -> None:
    run = invoke("run", "-p", lib("test_src"), "-c", "count=3")
    assert run.rc == 1 and "error in plugin test_src: init config is not a valid json: " in run.err, run
    run = invoke("run", "-p", lib("test_src"), "-c", '{\n  "count": 3,\n  "x": tru\n}')
    assert "init config is not a valid json: invalid literal at line 3, column 8 (offset 23)" in run.err, run


SCHEMA: dict[str, Any] = {
    "$defs": {
        "Inner": {
            "type": "object",
            "properties": {"x": {"type": "integer", "exclusiveMaximum": 10}},
            "required": ["x"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "mode": {"enum": ["a", "b"]},
        "opt": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "inner": {"$ref": "#/$defs/Inner"},
        "ratio": {"type": "number", "maximum": 1},
        "flag": {"const": True},
        "kind": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "both": {"allOf": [{"type": "integer"}, {"minimum": 5}]},
        "multi": {"type": ["integer", "string"]},
        "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "maxItems": 2},
    },
    "required": ["name"],
    "additionalProperties": False,
}

# (config, a word the error must contain when the config is invalid)
SCHEMA_CASES: list[tuple[Any, str]] = [
    ({"name": "ab"}, ""),
    ({}, "name"),
    ({"name": "a"}, "name"),
    ({"name": "abcdef"}, "name"),
    ({"name": "ab", "mode": "b"}, ""),
    ({"name": "ab", "mode": "c"}, "mode"),
    ({"name": "ab", "opt": None}, ""),
    ({"name": "ab", "opt": 3}, ""),
    ({"name": "ab", "opt": -1}, "opt"),
    ({"name": "ab", "opt": "3"}, "opt"),
    ({"name": "ab", "tags": ["x"]}, ""),
    ({"name": "ab", "tags": []}, "tags"),
    ({"name": "ab", "tags": ["x", "y", "z"]}, "tags"),
    ({"name": "ab", "tags": ["x", 1]}, "tags[1]"),
    ({"name": "ab", "inner": {"x": 9}}, ""),
    ({"name": "ab", "inner": {"x": 10}}, "inner.x"),
    ({"name": "ab", "inner": {}}, "inner.x"),
    ({"name": "ab", "inner": {"x": 1, "y": 2}}, "inner.y"),
    ({"name": "ab", "ratio": 1}, ""),
    ({"name": "ab", "ratio": 0.5}, ""),
    ({"name": "ab", "ratio": 1.5}, "ratio"),
    ({"name": "ab", "flag": True}, ""),
    ({"name": "ab", "flag": False}, "flag"),
    ({"name": "ab", "kind": 1}, ""),
    ({"name": "ab", "kind": 1.5}, "kind"),
    ({"name": "ab", "both": 5}, ""),
    ({"name": "ab", "both": 4}, "both"),
    ({"name": "ab", "multi": "s"}, ""),
    ({"name": "ab", "multi": True}, "multi"),
    ({"name": "ab", "extra": {"k": 1}}, ""),
    ({"name": "ab", "extra": {"k": "v"}}, "extra.k"),
    ({"name": "ab", "unknown": 1}, "unknown"),
    ({"name": "ab", "opt": 2.0}, ""),
    ({"name": "ab", "pair": [1, "x"]}, ""),
    ({"name": "ab", "pair": ["x", 1]}, "pair[0]"),
]


@pytest.mark.parametrize(("config", "word"), SCHEMA_CASES)
def test_schema_validation_agrees_with_jsonschema(lib: Lib, config: Any, word: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    valid = jsonschema.Draft202012Validator(SCHEMA).is_valid(config)
    assert valid == (word == ""), "the case table is wrong"
    env = {**os.environ, "FPH_SCHEMA": json.dumps(SCHEMA)}
    run = invoke("run", "-p", lib("schema_env"), "-c", json.dumps(config), env=env)
    if valid:
        assert run.rc == 0, run
        assert f"init config={json.dumps(config)}" in run.err
    else:
        assert run.rc == 1, run
        assert re.search(
            rf"error in plugin schema_env init config: In <root>\S*, .*'{re.escape(word)}'", run.err
        ), run
        assert "init config=" not in run.err


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("fail", "error: could not initialize plugin: init failed on purpose"),
        (
            "null",
            "error: could not initialize plugin: plugin handle or 'get_last_error' function not defined",
        ),
        ("norc", "error: could not initialize plugin:  (init did not write rc)"),
    ],
)
def test_init_failures(lib: Lib, config: str, message: str) -> None:
    run = invoke("run", "-p", lib("test_src"), "-p", lib("ext_only"), "-c", config)
    assert run.rc == 1, run
    assert message in run.err
    assert "open mode" not in run.err  # no session after a failed init
    assert "log debug test_src: destroy" in run.err  # earlier states are destroyed
    # a state returned with the failure is destroyed too (log_fn with its own component)
    assert ("log warning ext_only-component: destroy" in run.err) == (config != "null")


# -- sessions: next_batch semantics ------------------------------------------------------


def test_text_output_format(lib: Lib) -> None:
    run = invoke("run", "-p", lib("test_src"), "-o", "count:2", "--fields", "test.n,test.na")
    assert run.rc == 0, run
    lines = run.out.splitlines()
    assert len(lines) == 3, run
    for i, line in enumerate(lines[:2], 1):
        assert re.fullmatch(
            rf"#{i} \[test\] ts={TS} tid={UINT64_MAX} len=50 payload=test event {i} test.n={i} test.na=<NA> "
            rf"info=to_string: test event {i}",
            line,
        ), line
    assert lines[2] == (
        "summary: plugin=test_src source=test events=2 timeouts=0 end=eof async_events=0 async_dropped=0"
    )


def test_binary_payload_is_escaped_in_text_and_hex_in_json(lib: Lib) -> None:
    run = invoke("run", "-p", lib("bench_c"), "-o", "1")
    assert "len=102 payload=\\x01" + "\\x00" * 63 + "\n" in run.out, run
    run = invoke("run", "--json", "-p", lib("bench_c"), "-o", "258")
    assert run.events[257]["payload_hex"] == "0201" + "00" * 62
    assert run.events[0]["info"] is None  # bench_c has no event_to_string


def test_json_event_shape_and_host_patches(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "count:1")
    assert run.rc == 0, run
    (event,) = run.events
    assert set(event) == {
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
    assert (event["evtnum"], event["source"], event["plugin"]) == (1, "test", "test_src")
    assert (event["type"], event["plugin_id"], event["len"]) == (322, 999, 50)
    assert bytes.fromhex(event["payload_hex"]) == b"test event 1"
    assert event["tid"] == UINT64_MAX
    assert abs(event["ts"] / 1e9 - time.time()) < 60  # UINT64_MAX became "now"
    assert event["info"] == "to_string: test event 1"
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
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "ts:2")
    assert [(e["ts"], e["tid"]) for e in run.events] == [(12345, UINT64_MAX)] * 2, run


def test_plugin_id_zero_is_filled_in(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "id0:2")
    assert run.rc == 0, run
    assert [e["plugin_id"] for e in run.events] == [999, 999]


def test_success_with_zero_events_is_an_error(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "zero")
    assert run.rc == 1, run
    assert "error: unexpected 0 size event returned by plugin test_src" in run.err
    assert run.summaries[0]["end"] == "failure"
    assert "close h=set" in run.err


def test_event_with_another_plugin_id_is_an_error(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "badid")
    assert run.rc == 1, run
    assert (
        "error: unexpected plugin ID in plugin event: plugin='test_src', expected_id=999, actual_id=12345"
        in run.err
    )
    assert run.events == []


def test_non_plugin_event_from_a_plugin_with_an_id_is_an_error(lib: Lib) -> None:
    run = invoke("run", "-p", lib("test_src"), "-o", "badtype")
    assert run.rc == 1 and "error: malformed plugin event produced by plugin: 'test_src'" in run.err, run


def test_failure_delivers_the_batch_first(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "fail")
    assert run.rc == 1, run
    assert [e["evtnum"] for e in run.events] == [1, 2]
    assert "error: boom after 2 events" in run.err
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
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "timeout3")
    assert run.rc == 0, run
    assert len(run.events) == 2
    assert (run.summaries[0]["timeouts"], run.summaries[0]["end"]) == (3, "eof")


def test_events_returned_with_eof_are_delivered(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "eofbatch:5")
    assert run.rc == 0, run
    assert [e["evtnum"] for e in run.events] == [1, 2, 3, 4, 5]
    assert run.summaries[0]["end"] == "eof"


def test_open_failure_still_closes(lib: Lib) -> None:
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "openfail")
    assert run.rc == 1, run
    assert "error: test_src: open failed: cannot open: openfail" in run.err
    assert "log debug test_src: close h=null" in run.err
    assert run.summaries[0]["end"] == "open_failed"
    assert run.err.index("close h=null") < run.err.index("test_src: destroy")


def test_event_limit(lib: Lib) -> None:
    run = invoke("run", "--json", "-n", "4", "-p", lib("bench_c"), "-o", "1000")
    assert run.rc == 0, run
    assert [bytes.fromhex(e["payload_hex"])[0] for e in run.events] == [1, 2, 3, 4]
    assert run.summaries[0]["end"] == "limit"


def test_duration(lib: Lib) -> None:
    run = invoke("run", "--json", "--duration", "0.15", "-p", lib("test_src"), "-o", "slow:100")
    assert run.rc == 0, run
    assert run.summaries[0]["end"] == "duration"
    assert 2 <= len(run.events) <= 10


def test_quiet_prints_only_the_summary(lib: Lib) -> None:
    run = invoke("run", "--quiet", "-p", lib("bench_c"), "-o", "100")
    assert run.out == (
        "summary: plugin=bench_c source=bench_c events=100 timeouts=0 end=eof async_events=0 async_dropped=0\n"
    ), run


def test_nothing_to_run_without_a_source(lib: Lib) -> None:
    run = invoke("run", "-p", lib("ext_only"))
    assert run.rc == 2 and "no plugin with the event sourcing capability" in run.err, run


# -- extraction --------------------------------------------------------------------------


def test_index_argument(lib: Lib) -> None:
    run = invoke(
        "run", "--json", "-p", lib("bench_c"), "-o", "6", "--fields", "bench.div[3],bench.value,bench.str"
    )
    assert run.rc == 0, run
    assert [e["fields"]["bench.div[3]"] for e in run.events] == [0, 0, 1, 0, 0, 1]
    assert [e["fields"]["bench.value"] for e in run.events] == [1, 2, 3, 4, 5, 6]
    assert [e["fields"]["bench.str"] for e in run.events] == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("bench.div", "error: field bench.div requires an argument"),
        ("bench.div[01]", "error: field bench.div has an invalid index argument '01'"),
        ("bench.div[x]", "error: field bench.div has an invalid index argument 'x'"),
        ("bench.div[-1]", "error: field bench.div has an invalid index argument '-1'"),
        ("bench.value[1]", "error: field bench.value does not accept an argument"),
        ("bench.nope", "error: unknown field bench.nope"),
        ("bench.div[3", "error: invalid field bench.div[3"),
    ],
)
def test_field_errors_before_the_run(lib: Lib, field: str, message: str) -> None:
    run = invoke("run", "-p", lib("bench_c"), "-o", "3", "--fields", field)
    assert run.rc == 2, run
    assert message in run.err and run.out == ""


def test_arguments_as_the_plugin_sees_them(lib: Lib) -> None:
    fields = "test.argdump,test.argdump[0],test.argdump[7],test.argdump[07],test.argdump[abc],test.idx[4]"
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "count:1", "--fields", fields)
    assert run.rc == 0, run
    assert run.events[0]["fields"] == {
        "test.argdump": f"present=0 index={UINT64_MAX} key=(null)",
        "test.argdump[0]": "present=1 index=0 key=0",
        "test.argdump[7]": "present=1 index=7 key=7",  # isKey: the key is set even for an index
        "test.argdump[07]": f"present=1 index={UINT64_MAX} key=07",  # invalid index falls back to a key
        "test.argdump[abc]": f"present=1 index={UINT64_MAX} key=abc",
        "test.idx[4]": 4,
    }


def test_value_types_in_json_and_text(lib: Lib) -> None:
    fields = "test.list,test.flag,test.ip,test.na,test.msg,test.evtnum,test.src"
    run = invoke("run", "--json", "-p", lib("test_src"), "-o", "count:2", "--fields", fields)
    assert [e["fields"] for e in run.events] == [
        {
            "test.list": [n, n * 10],
            "test.flag": n == 1,
            "test.ip": f"10.0.0.{n}",
            "test.na": None,
            "test.msg": f"test event {n}",
            "test.evtnum": n,
            "test.src": "test",
        }
        for n in (1, 2)
    ], run
    text = invoke("run", "-p", lib("test_src"), "-o", "count:1", "--fields", fields).out.splitlines()[0]
    assert text.endswith(
        " test.list=1,10 test.flag=true test.ip=10.0.0.1 test.na=<NA> test.msg=test event 1 test.evtnum=1 "
        "test.src=test info=to_string: test event 1"
    ), text


def test_extraction_follows_sources_and_event_types(lib: Lib) -> None:
    # ext_only extracts from source "test" only; bench_c's events get no value from it
    run = invoke(
        "run",
        "--json",
        "-p",
        lib("test_src"),
        "-o",
        "count:2",
        "-p",
        lib("bench_c"),
        "-o",
        "2",
        "-p",
        lib("ext_only"),
        "--fields",
        "ext.len,ext.src,ext.fail,test.n,bench.value",
    )
    assert run.rc == 0, run
    by_source = {s: [e["fields"] for e in run.events if e["source"] == s] for s in ("test", "bench_c")}
    assert by_source["test"] == [
        {"ext.len": 50, "ext.src": "test", "ext.fail": None, "test.n": n, "bench.value": None} for n in (1, 2)
    ]
    assert by_source["bench_c"] == [
        {"ext.len": None, "ext.src": None, "ext.fail": None, "test.n": None, "bench.value": n} for n in (1, 2)
    ]


def test_extract_without_res_len_is_reported(lib: Lib) -> None:
    run = invoke("run", "-p", lib("test_src"), "-p", lib("ext_only"), "-c", "nores", "--fields", "ext.len")
    assert run.rc == 1, run
    assert "extract_fields returned SUCCESS without setting res_len for ext.len" in run.err
    assert "summary: plugin=test_src source=test events=1 timeouts=0 end=failure" in run.out


# -- several sessions ------------------------------------------------------------------


def test_sessions_run_at_once_on_their_own_threads(lib: Lib) -> None:
    src = lib("test_src")
    run = invoke(
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
    assert run.rc == 0, run
    assert sorted((s["plugin"], s["events"], s["end"]) for s in run.summaries) == [
        ("bench_c", 7, "eof"),
        ("test_src", 5, "eof"),
        ("test_src", 6, "eof"),
    ]
    a = [e for e in run.events if e["fields"]["test.count"] == 5]
    b = [e for e in run.events if e["fields"]["test.count"] == 6]
    assert [e["evtnum"] for e in a] == [1, 2, 3, 4, 5] and [e["evtnum"] for e in b] == [1, 2, 3, 4, 5, 6]
    assert [e["fields"]["bench.value"] for e in run.events if e["source"] == "bench_c"] == list(range(1, 8))
    # the two slow sessions overlap in time (20 ms per event each)
    assert a[0]["ts"] < b[-1]["ts"] and b[0]["ts"] < a[-1]["ts"]
    # each on its own thread, neither the one that ran init (as in Falco)
    init_tids = set(re.findall(r"init config=\S+ tid=(\d+)", run.err))
    tids_a = {e["fields"]["test.tid"] for e in a}
    tids_b = {e["fields"]["test.tid"] for e in b}
    assert len(tids_a) == len(tids_b) == 1 and tids_a != tids_b
    assert not ({str(t) for t in tids_a | tids_b} & init_tids)
    # every line is whole
    assert all(line.startswith("{") and line.endswith("}") for line in run.out.splitlines())


def test_single_session_runs_on_the_main_thread(lib: Lib) -> None:
    run = invoke("run", "--json", "--fields", "test.tid", "-p", lib("test_src"), "-o", "count:1")
    (init_tid,) = re.findall(r"init config=\S+ tid=(\d+)", run.err)
    assert run.events[0]["fields"]["test.tid"] == int(init_tid)


# -- bench ----------------------------------------------------------------------------


def test_bench_output(lib: Lib) -> None:
    bench_c = lib("bench_c")
    run = invoke(
        "bench",
        "--fields",
        "bench.value,bench.str,bench.div[3]",
        "-p",
        bench_c,
        "-o",
        "20000",
        "-p",
        bench_c,
        "-c",
        '{"batch": 7}',
        "-o",
        "1000",
    )
    assert run.rc == 0, run
    results = [json.loads(line) for line in run.out.splitlines()]
    assert [set(r) for r in results] == [
        {
            "plugin",
            "events",
            "batches",
            "timeouts",
            "ns_per_event",
            "cpu_ns_per_event",
            "cold_start_ms",
            "rss_before_load_kb",
            "rss_after_init_kb",
            "rss_kb_samples",
            "peak_rss_kb",
        }
    ] * 2
    assert [(r["plugin"], r["events"], r["batches"]) for r in results] == [
        ("bench_c", 20000, math.ceil(20000 / 64)),
        ("bench_c", 1000, math.ceil(1000 / 7)),
    ]
    for r in results:
        assert r["ns_per_event"] > 0 and r["cold_start_ms"] > 0 and r["peak_rss_kb"] > 0
        assert r["cpu_ns_per_event"] > 0
        assert 0 < r["rss_before_load_kb"] <= r["rss_after_init_kb"] <= r["peak_rss_kb"]
        assert r["rss_kb_samples"] == []  # one sample per 1,000,000 events


def test_bench_work_mode_touches_memory_between_events(lib: Lib) -> None:
    """--work-kib K writes K KiB of a 4 MiB ring per event: the same events, and the ring shows
    in the peak RSS (the process's own, not a parent's)."""
    bench_c = lib("bench_c")
    runs = [
        invoke("bench", "--fields", "bench.value", *extra, "-p", bench_c, "-o", "20000")
        for extra in ((), ("--work-kib", "4"))
    ]
    assert all(r.rc == 0 for r in runs), runs
    plain, work = (json.loads(r.out) for r in runs)
    assert plain["events"] == work["events"] == 20000
    # 20000 events x 4 KiB = 78 MiB written: the whole ring was touched
    assert plain["peak_rss_kb"] < 16 * 1024, plain  # the C plugin's process, not pytest's
    assert work["peak_rss_kb"] - plain["peak_rss_kb"] >= 4 * 1024 - 256, (plain, work)
    bad = invoke("bench", "--work-kib", "x", "-p", bench_c)
    assert bad.rc == 2 and "--work-kib needs a number of KiB" in bad.err, bad


def test_bench_samples_rss_every_million_events(lib: Lib) -> None:
    run = invoke("bench", "-p", lib("bench_c"), "-c", '{"batch": 512}', "-o", "2000000")
    assert run.rc == 0, run
    samples = json.loads(run.out)["rss_kb_samples"]
    assert len(samples) == 2 and all(isinstance(v, int) and v > 0 for v in samples), run


def test_bench_fields_per_call_and_event_count(lib: Lib) -> None:
    run = invoke(
        "bench",
        "--events",
        "3000",
        "--fields-per-call",
        "--fields",
        "bench.value,bench.div[2]",
        "-p",
        lib("bench_c"),
    )
    assert run.rc == 0, run
    assert json.loads(run.out)["events"] == 3000


def test_bench_field_errors(lib: Lib) -> None:
    run = invoke("bench", "--fields", "bench.div", "-p", lib("bench_c"), "-o", "10")
    assert run.rc == 2 and "requires an argument" in run.err, run


# -- async events (tests/cplugins/async_common.h documents the async plugins' modes) ---------


def async_cfg(mode: str, count: int = 3) -> str:
    return json.dumps({"mode": mode, "count": count})


def test_info_of_async_plugins(lib: Lib) -> None:
    info = json.loads(invoke("info", lib("async_src")).out)
    assert info["capabilities"] == ["extraction", "async"]
    assert (info["async_events"], info["async_event_sources"]) == (["tick", "tock"], [])
    info = json.loads(invoke("info", lib("async_both")).out)
    assert info["capabilities"] == ["sourcing", "extraction", "async"]
    assert (info["id"], info["event_source"], info["async_event_sources"]) == (996, "asrc", ["test"])


def test_async_events_are_delivered_before_the_first_fetch(lib: Lib) -> None:
    run = invoke(
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
    assert run.rc == 0, run
    a1, a2, src = run.events
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
    run = invoke(
        "run", "--fields", "async.data", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"),
        "-c", async_cfg("sync", 1),
    )
    assert run.rc == 0, run
    lines = run.out.splitlines()
    assert re.fullmatch(
        rf"#1 \[test\] ts={TS} tid={UINT64_MAX} len=53 async=tick payload=tick 1 async\.data=tick 1", lines[0]
    ), lines
    assert lines[1].startswith("#2 [test] ") and " async=" not in lines[1]
    assert lines[2].endswith(" events=2 timeouts=0 end=eof async_events=1 async_dropped=0")


def test_async_events_in_timestamp_order_and_future_ones_dropped(lib: Lib) -> None:
    run = invoke(
        "run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("order")
    )
    assert run.rc == 0, run
    asyncs = [e for e in run.events if e["type"] == 402]
    # emitted with ts 300, 100, UINT64_MAX, 200, now+1h
    assert [bytes.fromhex(e["payload_hex"]).decode() for e in asyncs] == ["o2", "o4", "o1", "o3"]
    assert [e["async_name"] for e in asyncs] == ["tock", "tock", "tick", "tick"]
    assert [e["ts"] for e in asyncs[:3]] == [100, 200, 300]
    assert abs(asyncs[3]["ts"] / 1e9 - time.time()) < 60
    assert (run.summaries[0]["async_events"], run.summaries[0]["async_dropped"]) == (4, 1)
    assert re.search(
        r"^log warning host: async event 'tick' of plugin async_src dropped: timestamp \d+ is more than 10 s "
        r"in the future$",
        run.err,
        re.M,
    ), run
    assert "emit failed" not in run.err  # a drop is still SUCCESS


def test_async_events_between_source_events_on_timeouts(lib: Lib) -> None:
    # async_both emits two "tock" from next_batch (the session thread), then returns TIMEOUT,
    # or EOF after the last source event: those two come in the final delivery
    run = invoke("run", "--json", "--fields", "async.data", "-p", lib("async_both"), "-o", "inter:3")
    assert run.rc == 0, run
    seen = [bytes.fromhex(e["payload_hex"]).decode() for e in run.events]
    assert seen == ["src 1", "tock 1", "tock 2", "src 2", "tock 3", "tock 4", "src 3", "tock 5", "tock 6"]
    assert [e["evtnum"] for e in run.events] == list(range(1, 10))
    assert {e["plugin_id"] for e in run.events} == {996}
    assert [e["fields"]["async.data"] for e in run.events[:3]] == [None, "tock 1", "tock 2"]
    assert run.summaries[0] == {
        "plugin": "async_both",
        "source": "asrc",
        "events": 9,
        "timeouts": 2,
        "end": "eof",
        "async_events": 6,
        "async_dropped": 0,
    }


def test_async_events_from_a_thread_beside_an_idle_source(lib: Lib) -> None:
    run = invoke(
        "run", "--json", "-n", "5", "--duration", "20", "-p", lib("async_both"), "-o", "idle",
        "-p", lib("async_src"), "-c", async_cfg("thread", 5),
    )
    assert run.rc == 0, run
    assert [bytes.fromhex(e["payload_hex"]).decode() for e in run.events] == [f"tick {i}" for i in range(1, 6)]
    assert {(e["source"], e["plugin_id"], e["async_name"]) for e in run.events} == {("asrc", 996, "tick")}
    assert (run.summaries[0]["end"], run.summaries[0]["events"]) == ("limit", 5)  # -n counts async events
    err = run.err
    assert err.index("async_src: set handler=null") < err.index("async_src: joined emitter: 5 accepted, 0 failed")


def test_reset_stops_and_joins_a_running_emitter(lib: Lib) -> None:
    run = invoke(
        "run", "-n", "3", "--duration", "20", "-p", lib("nodriver"), "-p", lib("async_src"), "-c", async_cfg("forever")
    )
    assert run.rc == 0, run
    assert run.out.splitlines()[-1].endswith(" end=limit async_events=3 async_dropped=0"), run
    err = run.err
    joined = re.search(r"log info async_src: joined emitter: (\d+) accepted, 0 failed", err)
    assert joined and int(joined.group(1)) >= 3, run
    # the handler stays set during the reset call: the flush from inside it gets no error
    assert "emit failed" not in err
    assert err.index("async_src: set handler=null") < joined.start() < err.index("async_src: destroy")


def test_handler_set_after_open_and_reset_after_close_on_the_main_thread(lib: Lib) -> None:
    run = invoke("run", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("sync", 1))
    assert run.rc == 0, run
    err = run.err
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
    run = invoke(
        "run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("sync", 1),
        "-p", lib("async_both"), "-c", async_cfg("sync", 2), "-o", "count:1",
    )
    assert run.rc == 0, run
    got = sorted((e["source"], e["plugin_id"], bytes.fromhex(e["payload_hex"]).decode()) for e in run.events)
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
    run = invoke("run", "--json", "-p", lib(source), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg(mode))
    assert run.rc == 0, run
    assert re.findall(r"^log error async_src: emit failed: (.*)$", run.err, re.M) == messages, run
    assert [e["type"] for e in run.events] == [322]
    if mode == "late":  # destroy sends it, after the reset
        assert run.err.index("set handler=null") < run.err.index("emit failed")


def test_a_thread_is_allowed_with_the_syscall_source(lib: Lib) -> None:
    run = invoke(
        "run", "--json", "-n", "1", "--duration", "20", "-p", lib("nodriver"), "-p", lib("async_src"),
        "-c", async_cfg("tid"),
    )
    assert run.rc == 0, run
    (event,) = run.events
    assert (event["source"], event["plugin_id"], event["tid"], event["async_name"]) == ("syscall", 0, 42, "tick")
    assert "emit failed" not in run.err


def test_set_handler_failure(lib: Lib) -> None:
    run = invoke(
        "run", "--json", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("setfail")
    )
    assert run.rc == 1, run
    assert "error: can't set async event handler for plugin async_src: refusing the handler" in run.err
    assert run.events == [] and run.summaries[0]["end"] == "open_failed"
    err = run.err
    assert err.index("can't set async") < err.index("test_src: close h=set") < err.index("set handler=null")


def test_reset_failure_is_an_error(lib: Lib) -> None:
    run = invoke("run", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("resetfail"))
    assert run.rc == 1, run
    assert "error: can't reset async event handler for plugin async_src: refusing the reset" in run.err
    assert " end=eof " in run.out


def test_full_queue_drops_with_one_warning(lib: Lib) -> None:
    run = invoke(
        "run", "--quiet", "-p", lib("test_src"), "-o", "count:1", "-p", lib("async_src"), "-c", async_cfg("sync", 5000)
    )
    assert run.rc == 0, run
    assert run.out.endswith(" events=4097 timeouts=0 end=eof async_events=4096 async_dropped=904\n"), run
    assert run.err.count("log warning host: async event queue is full\n") == 1
    assert "emit failed" not in run.err  # dropped events still get SUCCESS


def test_bench_async_output(lib: Lib) -> None:
    async_c = lib("async_c")
    run = invoke(
        "bench-async", "--events", "20000", "-p", async_c, "-c", '{"events": 20000, "threads": 1}',
        "-p", async_c, "-c", '{"events": 20000, "threads": 4}', "-p", async_c,
    )
    assert run.rc == 0, run
    results = [json.loads(line) for line in run.out.splitlines()]
    assert [set(r) for r in results] == [{"plugin", "events", "ns_per_event", "dropped"}] * 3
    assert [(r["plugin"], r["events"], r["dropped"]) for r in results] == [("async_c", 20000, 0)] * 3
    assert all(r["ns_per_event"] > 0 for r in results)


def test_bench_async_errors(lib: Lib) -> None:
    run = invoke("bench-async", "--events", "10", "-p", lib("test_src"))
    assert run.rc == 2 and "plugin test_src has no async events capability" in run.err, run
    run = invoke("bench-async", "--events", "10", "-p", lib("async_src"), "-c", async_cfg("setfail"))
    assert run.rc == 1 and "can't set async event handler for plugin async_src: refusing the handler" in run.err
