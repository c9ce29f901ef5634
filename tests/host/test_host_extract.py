"""The host's field extraction from plain-C plugins: arguments as the plugin sees them, value
types in JSON and text, sources and event types, field errors before the run."""

from __future__ import annotations

import pytest
from support import UINT64_MAX, Lib, host

# -- extraction --------------------------------------------------------------------------


def test_index_argument(lib: Lib) -> None:
    run = host(
        "run", "--json", "-p", lib("bench_c"), "-o", "6", "--fields", "bench.div[3],bench.value,bench.str"
    )
    assert run.returncode == 0, run
    assert [e.fields["bench.div[3]"] for e in run.events] == [0, 0, 1, 0, 0, 1]
    assert [e.fields["bench.value"] for e in run.events] == [1, 2, 3, 4, 5, 6]
    assert [e.fields["bench.str"] for e in run.events] == ["1", "2", "3", "4", "5", "6"]


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
    run = host("run", "-p", lib("bench_c"), "-o", "3", "--fields", field)
    assert run.returncode == 2, run
    assert message in run.stderr and run.stdout == ""


def test_arguments_as_the_plugin_sees_them(lib: Lib) -> None:
    fields = "test.argdump,test.argdump[0],test.argdump[7],test.argdump[07],test.argdump[abc],test.idx[4]"
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:1", "--fields", fields)
    assert run.returncode == 0, run
    assert run.events[0].fields == {
        "test.argdump": f"present=0 index={UINT64_MAX} key=(null)",
        "test.argdump[0]": "present=1 index=0 key=0",
        "test.argdump[7]": "present=1 index=7 key=7",  # isKey: the key is set even for an index
        "test.argdump[07]": f"present=1 index={UINT64_MAX} key=07",  # invalid index falls back to a key
        "test.argdump[abc]": f"present=1 index={UINT64_MAX} key=abc",
        "test.idx[4]": 4,
    }


def test_value_types_in_json_and_text(lib: Lib) -> None:
    fields = "test.list,test.flag,test.ip,test.na,test.msg,test.evtnum,test.src"
    run = host("run", "--json", "-p", lib("test_src"), "-o", "count:2", "--fields", fields)
    assert [e.fields for e in run.events] == [
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
    text = host("run", "-p", lib("test_src"), "-o", "count:1", "--fields", fields).stdout.splitlines()[0]
    assert text.endswith(
        " test.list=1,10 test.flag=true test.ip=10.0.0.1 test.na=<NA> test.msg=test event 1 test.evtnum=1 "
        "test.src=test info=to_string: test event 1"
    ), text


def test_extraction_follows_sources_and_event_types(lib: Lib) -> None:
    # ext_only extracts from source "test" only; bench_c's events get no value from it
    run = host(
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
    assert run.returncode == 0, run
    by_source = {s: [e.fields for e in run.events if e.source == s] for s in ("test", "bench_c")}
    assert by_source["test"] == [
        {"ext.len": 50, "ext.src": "test", "ext.fail": None, "test.n": n, "bench.value": None} for n in (1, 2)
    ]
    assert by_source["bench_c"] == [
        {"ext.len": None, "ext.src": None, "ext.fail": None, "test.n": None, "bench.value": n} for n in (1, 2)
    ]


def test_extract_without_res_len_is_reported(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-p", lib("ext_only"), "-c", "nores", "--fields", "ext.len")
    assert run.returncode == 1, run
    assert "extract_fields returned SUCCESS without setting res_len for ext.len" in run.stderr
    assert "summary: plugin=test_src source=test events=1 timeouts=0 end=failure" in run.stdout
