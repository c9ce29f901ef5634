"""Event types and the required event schema version: declared, derived, or decided at init
(docs/internals/plugin-api-facts.md: Init, Event schema version), through real .so files in our host."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import CURL, PLUGINS, Built, Host, needs_captures

from falco_plugin._tooling.build import BuildError, build
from falco_plugin.event import EVENT_MAX, PPME_SYSCALL_OPEN_X
from falco_plugin.testing import Run

PORTS = "libsinsp_ports.py"
OPEN_X = PPME_SYSCALL_OPEN_X.CODE


def init_of(run: Run, name: str) -> dict[str, Any]:
    inits = [i for i in run.inits if i["plugin"] == name]
    assert len(inits) == 1, run
    return inits[0]


def run_sample(host: Host, built: Built, config: str, *extra: str) -> Run:
    return host("run", "--json", "--show-init", *extra, "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "2",
                "-p", built(f"{PORTS}:SamplePluginExtract"), "-c", config)


def test_event_types_from_the_config_at_init(host: Host, built: Built) -> None:
    # libsinsp's plugin_extract_compatibility: no types -> plugin events only; "322,402" -> both
    run = run_sample(host, built, "", "--fields", "sample.hello")
    assert run.returncode == 0, run
    assert init_of(run, "sample_plugin_extract")["extract_event_types"] == [322]
    assert [e.fields for e in run.events] == [{"sample.hello": "hello world"}] * 2
    run = run_sample(host, built, "322,402")
    assert run.returncode == 0, run
    assert init_of(run, "sample_plugin_extract")["extract_event_types"] == [322, 402]


def test_event_types_decided_at_init_exclude_plugin_events(host: Host, built: Built) -> None:
    run = run_sample(host, built, "402", "--fields", "sample.hello")
    assert run.returncode == 0, run
    assert init_of(run, "sample_plugin_extract")["extract_event_types"] == [402]
    assert [e.fields for e in run.events] == [{"sample.hello": None}] * 2


def test_a_bad_config_fails_init_with_the_plugins_message(host: Host, built: Built) -> None:
    run = run_sample(host, built, "abc")
    assert run.returncode == 1
    assert "could not initialize plugin: ValueError: invalid init config string: abc," in run.stderr
    assert "libsinsp_ports.py:" in run.stderr


def test_host_default_declares_zero_types_and_the_host_applies_its_default(host: Host, built: Built) -> None:
    run = host("run", "--json", "--show-init", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "2",
               "-p", built("decided.py:HostDefault"), "--fields", "host_default.parsed")
    assert run.returncode == 0, run
    init = init_of(run, "host_default")
    assert (init["extract_event_types_declared"], init["parse_event_types_declared"]) == (0, 0)
    assert init["extract_event_types"] == init["parse_event_types"] == [322]  # libsinsp's default for "sample"
    assert [e.fields for e in run.events] == [{"host_default.parsed": [322]}, {"host_default.parsed": [322, 322]}]
    info = json.loads(host("info", built("decided.py:HostDefault")).stdout)
    assert "plugin_get_extract_event_types" in info["symbols"]
    # () still means every type, declared as such
    every = host("run", "--json", "--show-init", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1",
                 "-p", built("decided.py:AllTypes"))
    assert init_of(every, "all_types")["extract_event_types_declared"] == EVENT_MAX


def test_host_default_is_refused_where_the_default_is_every_type(tmp_path: object) -> None:
    with pytest.raises(BuildError, match=r"HostDefaultSyscall.EXTRACT_EVENT_TYPES is HOST_DEFAULT_EVENT_TYPES, "
                       r"but the sources are \['syscall'\]: the host's default there is every event type"):
        build(f"{PLUGINS}/decided.py:HostDefaultSyscall", f"{tmp_path}/x.so")


def test_sample_extract_declares_zero_types_without_config(host: Host, built: Built) -> None:
    # libsinsp's plugin_extract.cpp answers no types when its config lists none; so does the port
    run = run_sample(host, built, "", "--fields", "sample.hello")
    assert init_of(run, "sample_plugin_extract")["extract_event_types_declared"] == 0
    assert init_of(run, "sample_plugin_extract")["extract_event_types"] == [322]


def test_empty_event_types_mean_every_type(host: Host, built: Built) -> None:
    run = host("run", "--json", "--show-init", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1",
               "-p", built("decided.py:AllTypes"), "--fields", "all.type")
    assert run.returncode == 0, run
    assert init_of(run, "all_types")["extract_event_types"] == list(range(EVENT_MAX))
    assert [e.fields for e in run.events] == [{"all.type": 322}]
    # a source other than syscall: libsinsp's default would be plugin events only, so the
    # schema version is derived from every type (not only 322)
    assert init_of(run, "all_types")["required_event_schema_version"] == "4.0.0"


@needs_captures
def test_types_and_schema_version_decided_by_the_initialized_plugin(host: Host, built: Built) -> None:
    lib = built("decided.py:AtInit")
    cfg = json.dumps({"types": [OPEN_X, 322], "schema_version": "4.2.0"})
    run = host("replay", "--json", "--show-init", "--capture", CURL, "-n", "1", "-p", lib, "-c", cfg)
    assert run.returncode == 0, run
    init = init_of(run, "at_init")
    assert init["extract_event_types"] == init["parse_event_types"] == [OPEN_X, 322]
    assert init["required_event_schema_version"] == "4.2.0"
    # none in the config: the typed-event default, and None means "3.0.0" to the host
    run = host("replay", "--json", "--show-init", "--capture", CURL, "-n", "1", "-p", lib, "-c", "{}")
    init = init_of(run, "at_init")
    assert init["extract_event_types"] == init["parse_event_types"] == [OPEN_X]
    assert init["has_required_event_schema_version"] is True
    assert init["required_event_schema_version"] is None
    # empty list: every type
    run = host("replay", "--json", "--show-init", "--capture", CURL, "-n", "1", "-p", lib, "-c", '{"types": []}')
    assert init_of(run, "at_init")["parse_event_types"] == list(range(EVENT_MAX))


@needs_captures
def test_schema_version_derived_at_init_from_the_types_decided_then(host: Host, built: Built) -> None:
    lib = built("decided.py:TypesAtInitOnly")
    run = host("replay", "--json", "--show-init", "--capture", CURL, "-n", "1", "-p", lib, "-c", "322")
    assert init_of(run, "types_at_init")["required_event_schema_version"] is None  # plugin events only
    run = host("replay", "--json", "--show-init", "--capture", CURL, "-n", "1", "-p", lib, "-c", f"322,{OPEN_X}")
    assert init_of(run, "types_at_init")["required_event_schema_version"] == "4.0.0"


@needs_captures
def test_a_bad_schema_version_at_init_names_the_method(host: Host, built: Built) -> None:
    cfg = json.dumps({"schema_version": "4.x"})
    run = host("replay", "--capture", CURL, "-n", "1", "-p", built("decided.py:AtInit"), "-c", cfg)
    assert run.returncode == 1
    assert "AtInit.required_event_schema_version() (at decided.py:" in run.stderr
    assert "must be 'MAJOR.MINOR.PATCH' or None, got '4.x'" in run.stderr


@needs_captures
def test_bad_event_types_at_init_name_the_method(host: Host, built: Built) -> None:
    run = host("replay", "--capture", CURL, "-n", "1", "-p", built("decided.py:AtInit"), "-c", '{"types": [70000]}')
    assert run.returncode == 1
    assert "AtInit.extract_event_types() (at decided.py:" in run.stderr
    assert "70000 is not an event type code" in run.stderr


@needs_captures
@pytest.mark.parametrize(
    ("engine", "why"),
    [
        ("4.0.0", "driver schema minor version is less than the requested one"),
        ("4.1.1", "driver schema patch version is less than the requested one"),
        ("5.3.0", "major versions disagree"),
    ],
)
def test_engine_rejects_a_newer_required_schema(host: Host, built: Built, engine: str, why: str) -> None:
    # majors equal, engine minor >= required, with equal minors engine patch >= required
    run = host("replay", "--capture", CURL, "-n", "1", "--engine-schema-version", engine,
               "-p", built("decided.py:Requires41"))
    assert run.returncode == 1
    assert (f"plugin requires_41: required event schema version '4.1.2' not compatible with the driver "
            f"schema version '{engine}': {why}") in run.stderr


@needs_captures
def test_engine_accepts_a_covered_schema(host: Host, built: Built) -> None:
    for engine in ("4.1.2", "4.5.1"):
        run = host("replay", "--capture", CURL, "-n", "1", "--engine-schema-version", engine,
                   "-p", built("decided.py:Requires41"))
        assert run.returncode == 0, run


@needs_captures
def test_no_symbol_means_3_0_0_which_a_4x_driver_refuses(host: Host, built: Built) -> None:
    lib = built("decided.py:NoSchemaVersion")
    info = json.loads(host("info", lib).stdout)
    assert "plugin_get_required_event_schema_version" not in info["symbols"]
    run = host("replay", "--capture", CURL, "-n", "1", "--engine-schema-version", "4.5.1", "-p", lib)
    assert run.returncode == 1
    assert "required event schema version '3.0.0' not compatible with the driver schema version '4.5.1': " \
           "major versions disagree" in run.stderr
    # an engine that reports no schema version (a capture file, a plugin source) checks nothing
    assert host("replay", "--capture", CURL, "-n", "1", "-p", lib).returncode == 0


def test_plugins_of_plugin_events_only_are_not_checked(host: Host, built: Built) -> None:
    # only plugins whose parse or extract codes include a code other than 322
    lib = built("decided.py:PluginEventsOnly")
    assert json.loads(host("info", lib).stdout)["required_event_schema_version"] == "9.0.0"
    run = host("run", "--engine-schema-version", "4.5.1", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1",
               "-p", lib)
    assert run.returncode == 0, run


def test_default_schema_version_only_for_syscall_events(host: Host, built: Built) -> None:
    typed = json.loads(host("info", built("typed_events.py:SyscallAndAsync")).stdout)
    assert typed["required_event_schema_version"] == "4.0.0"
    plain = json.loads(host("info", built("typed_events.py:TypedFields")).stdout)  # plugin events only
    assert plain["required_event_schema_version"] is None
    assert "plugin_get_required_event_schema_version" not in plain["symbols"]
    # decided at init: exported, NULL before init (the state may be NULL)
    at_init = json.loads(host("info", built(f"{PORTS}:SamplePluginExtract")).stdout)
    assert "plugin_get_required_event_schema_version" in at_init["symbols"]
    assert at_init["required_event_schema_version"] is None


def test_build_rejects_a_malformed_constant(tmp_path: object) -> None:
    from pathlib import Path

    src = Path(str(tmp_path)) / "bad_schema.py"
    src.write_text(
        "from falco_plugin import Event, ExtractPlugin, Plugin, field\n"
        "class Bad(Plugin, ExtractPlugin):\n"
        "    NAME = 'bad'\n    PLUGIN_VERSION = '0.1.0'\n    DESCRIPTION = 'd'\n    CONTACT = 'c'\n"
        "    EXTRACT_EVENT_SOURCES = ['x']\n    REQUIRED_EVENT_SCHEMA_VERSION = '4'\n"
        "    @field('bad.f', desc='d')\n    def f(self, event: Event) -> int:\n        return 1\n"
    )
    with pytest.raises(BuildError, match=r"Bad.REQUIRED_EVENT_SCHEMA_VERSION must be 'MAJOR.MINOR.PATCH' or None"):
        build(f"{src}:Bad", Path(str(tmp_path)) / "libbad.so")
