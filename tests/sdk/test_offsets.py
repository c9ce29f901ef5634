"""Value offsets (plugin API 3.11): located fields, {0, 0} for values not
from the event, one entry per value, and libsinsp's "Unable to extract offsets for <field>"
for a plugin that gives none. The event bytes are checked at the offsets, as libsinsp's
plugin_custom_source test does."""

from __future__ import annotations

import json

from support import Built, Host

from falco_plugin.testing import Event, Run

PORTS = "libsinsp_ports.py"


def run_words(host: Host, built: Built, fields: str, *extra: str) -> Run:
    return host("run", "--json", "--offsets", *extra, "--fields", fields,
                "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1", "-p", built("offsets.py:Words"))


def raw_event(ev: Event) -> bytes:
    # header (26) + two 4-byte lengths + the plugin id (4) + the payload: offset 38
    return b"\0" * 38 + ev.payload


def test_port_of_libsinsp_custom_source_with_offsets(host: Host, built: Built) -> None:
    run = host("run", "--json", "--offsets", "--fields", "sample.hello", "-p", built(f"{PORTS}:SamplePluginSource"),
               "-o", "1", "-p", built(f"{PORTS}:SamplePluginExtract"))
    assert run.returncode == 0, run
    (ev,) = run.events
    assert ev.type == 322 and ev.source == "sample" and ev.plugin_id == 999
    assert ev.tid == 2**64 - 1
    assert ev.fields == {"sample.hello": "hello world"}
    assert ev.offsets == {"sample.hello": [[38, 11]]}  # PLUGIN_EVENT_PAYLOAD_OFFSET, 11
    assert raw_event(ev)[38:49] == b"hello world"
    info = json.loads(host("info", built(f"{PORTS}:SamplePluginExtract")).stdout)
    # value_offsets is in the input from 3.11, and get_required_event_schema_version (3.12) is
    # exported since the event types are decided at init: the maximum over both
    assert info["required_api_version"] == "3.12.0"
    assert info["fields"][0]["addOutput"] is True


def test_one_entry_per_value_and_zero_for_plain_values(host: Host, built: Built) -> None:
    run = run_words(host, built, "words.all,words.count,words.first")
    assert run.returncode == 0, run
    (ev,) = run.events
    assert ev.fields == {"words.all": ["hello", "world"], "words.count": 2, "words.first": "hello"}
    assert ev.offsets == {"words.all": [[38, 5], [44, 5]], "words.count": [[0, 0]], "words.first": [[0, 0]]}
    raw = raw_event(ev)
    assert [raw[s:s + n] for s, n in ev.offsets["words.all"]] == [b"hello", b"world"]


def test_a_declared_offset(host: Host, built: Built) -> None:
    run = run_words(host, built, "words.head")
    assert run.returncode == 0, run
    (ev,) = run.events
    assert ev.fields == {"words.head": "hello"}
    assert ev.offsets == {"words.head": [[38, 5]]}
    assert raw_event(ev)[38:43] == b"hello"


def test_no_offsets_asked_no_offsets_given(host: Host, built: Built) -> None:
    run = run_words(host, built, "words.all")
    assert run.returncode == 0, run
    assert run.events[0].offsets == {"words.all": [[38, 5], [44, 5]]}
    run = host("run", "--json", "--fields", "words.all", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "1",
               "-p", built("offsets.py:Words"))
    assert run.events[0].offsets is None


def test_a_plugin_without_offsets(host: Host, built: Built) -> None:
    # the plugin leaves value_offsets' arrays NULL: libsinsp's test helper's message
    run = host("run", "--json", "--offsets", "--fields", "all.type", "-p", built(f"{PORTS}:SamplePluginSource"),
               "-o", "1", "-p", built("decided.py:AllTypes"))
    assert run.returncode == 0, run
    assert "Unable to extract offsets for all.type" in run.stderr
    assert run.events[0].offsets == {"all.type": None}
    assert json.loads(host("info", built("decided.py:AllTypes")).stdout)["required_api_version"] != "3.11.0"


def test_located_without_declaring_it_is_an_error_naming_the_field(host: Host, built: Built) -> None:
    run = run_words(host, built, "words.bad")
    assert run.returncode == 0, run
    assert run.events[0].fields == {"words.bad": None}
    assert "field words.bad" in run.stderr and "declare the field with @field(..., located=True)" in run.stderr
    assert "offsets.py:" in run.stderr


def test_falco_plugin_run_with_offsets_and_a_library_in_the_current_directory(built: Built) -> None:
    # a new user's `falco-plugin run libx.so` from the directory holding it (dlopen would
    # search the system's library path for a bare name)
    import subprocess
    import sys

    src, ext = built(f"{PORTS}:SamplePluginSource"), built(f"{PORTS}:SamplePluginExtract")
    proc = subprocess.run([sys.executable, "-m", "falco_plugin.cli", "run", src.name, "--open-params", "1",
                           "--plugin", ext.name, "--fields", "sample.hello", "--offsets", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=src.parent)
    assert proc.returncode == 0, proc.stderr
    (ev,) = Run.parse(proc).events
    assert ev.offsets == {"sample.hello": [[38, 11]]}


def test_a_malformed_declared_offset_is_refused(tmp_path: object) -> None:
    from pathlib import Path

    import pytest

    from falco_plugin._tooling.build import BuildError, build

    src = Path(str(tmp_path)) / "bad_offset.py"
    src.write_text(
        "from falco_plugin import Event, ExtractPlugin, Plugin, field\n"
        "class BadOffset(Plugin, ExtractPlugin):\n"
        "    NAME = 'bad_offset'\n    PLUGIN_VERSION = '0.1.0'\n    DESCRIPTION = 'd'\n    CONTACT = 'c'\n"
        "    EXTRACT_EVENT_SOURCES = ('x',)\n"
        "    @field('bad.f', desc='d', offset=(38,))\n    def f(self, event: Event) -> int:\n        return 1\n"
    )
    with pytest.raises(BuildError, match=r"BadOffset.f \(field bad.f\): offset must be \(start, length\)"):
        build(f"{src}:BadOffset", Path(str(tmp_path)) / "libbad_offset.so")
