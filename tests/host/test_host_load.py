"""The host (falco-plugin-host) loading plain-C plugins as libsinsp does: the static answers of
``info``, the load errors (API version, symbols, capabilities, fields), usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import Lib, host

# -- info and load errors ---------------------------------------------------------------


def test_info_reports_the_static_answers(lib: Lib) -> None:
    run = host("info", lib("test_src"))
    assert run.returncode == 0, run
    info = json.loads(run.stdout)
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
    assert "init config" not in run.stderr  # info never calls init


def test_info_of_an_extraction_only_plugin(lib: Lib) -> None:
    info = json.loads(host("info", lib("ext_only")).stdout)
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
    info = host("info", lib(name))
    assert (info.returncode, info.stdout, info.stderr) == (2, "", f"error: {message}\n")
    run = host("run", "-p", lib("test_src"), "-p", lib(name))
    assert run.returncode == 2, run
    assert f"error: could not load plugin {lib(name)}: {message}" in run.stderr
    assert "init config" not in run.stderr  # nothing is inited when any load fails


def test_missing_library_is_a_load_error(tmp_path: Path) -> None:
    run = host("info", str(tmp_path / "nope.so"))
    assert run.returncode == 2 and run.stderr.startswith("error: can't load plugin dynamic library: "), run


@pytest.mark.parametrize(
    "args", [["-c", "{}"], ["-p"], [], ["-p", "x.so", "--bogus"], ["-n", "many", "-p", "x.so"]]
)
def test_usage_errors(args: list[str]) -> None:
    run = host("run", *args)
    assert run.returncode == 2 and run.stderr.startswith("error: "), run
