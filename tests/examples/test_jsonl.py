"""examples/jsonl, tested with falco_plugin.testing."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from falco_plugin.testing import BuildPlugin, BuiltPlugin, PluginError

FIELDS = ["jsonl.value[/user/name]", "jsonl.value[/n]", "jsonl.value[/tags]", "jsonl.value[/a~1b]",
          "jsonl.value[/missing]", "jsonl.value", "jsonl.raw"]
LINES = [
    {"user": {"name": "root"}, "n": 1, "tags": ["a", "b"], "a/b": "slash"},
    {"user": {"name": "alice"}, "n": 2.5, "tags": [], "a/b": None},
]


@pytest.fixture(scope="module")
def jsonl(falco_plugin_build: BuildPlugin) -> BuiltPlugin:
    return falco_plugin_build("examples/jsonl/jsonl.py:JsonLines")


def write_lines(path: Path, lines: Sequence[object], mode: str = "w") -> None:
    with path.open(mode) as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def test_fields_from_a_file(jsonl: BuiltPlugin, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    write_lines(path, [*LINES, "not json {", ""])  # a blank line is no event
    events = jsonl.events(str(path), fields=FIELDS)
    assert [e.fields for e in events] == [
        {"jsonl.value[/user/name]": "root", "jsonl.value[/n]": "1", "jsonl.value[/tags]": '["a","b"]',
         "jsonl.value[/a~1b]": "slash", "jsonl.value[/missing]": None,
         "jsonl.value": '{"user":{"name":"root"},"n":1,"tags":["a","b"],"a/b":"slash"}',
         "jsonl.raw": json.dumps(LINES[0])},
        {"jsonl.value[/user/name]": "alice", "jsonl.value[/n]": "2.5", "jsonl.value[/tags]": "[]",
         "jsonl.value[/a~1b]": None, "jsonl.value[/missing]": None,
         "jsonl.value": '{"user":{"name":"alice"},"n":2.5,"tags":[],"a/b":null}', "jsonl.raw": json.dumps(LINES[1])},
        {**dict.fromkeys(FIELDS[:-1]), "jsonl.raw": "not json {"},
    ]
    assert events[0].info == json.dumps(LINES[0])
    assert all(e.source == "jsonl" for e in events)


def test_a_last_line_without_newline_and_a_relative_path(jsonl: BuiltPlugin, tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"n": 1}\n{"n": 2}')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        events = jsonl.events("x.jsonl", fields=["jsonl.value[/n]"])  # relative to the host's directory
    finally:
        os.chdir(cwd)
    assert [e.fields["jsonl.value[/n]"] for e in events] == ["1", "2"]


def test_standard_input(jsonl: BuiltPlugin) -> None:
    run = jsonl.run(open_params="-", fields=["jsonl.value[/user/name]"],
                    stdin="".join(json.dumps(line) + "\n" for line in LINES))
    assert [e.fields["jsonl.value[/user/name]"] for e in run.events] == ["root", "alice"]
    assert "reading standard input" in run.log("info")
    assert run.summary["end"] == "eof"


def test_many_lines_in_batches(jsonl: BuiltPlugin, tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    write_lines(path, [{"n": i} for i in range(1000)])
    events = jsonl.with_config({"batch_size": 7}).events(str(path), fields=["jsonl.value[/n]"])
    assert [e.fields["jsonl.value[/n]"] for e in events] == [str(i) for i in range(1000)]


@pytest.mark.timing
def test_follow_mode_reads_appended_lines_and_a_truncated_file(jsonl: BuiltPlugin, tmp_path: Path) -> None:
    path = tmp_path / "growing.jsonl"
    write_lines(path, [{"n": 0}])

    def writer() -> None:
        time.sleep(0.4)
        with path.open("a") as f:  # a line written in two pieces
            f.write('{"n": ')
            f.flush()
            time.sleep(0.2)
            f.write("1}\n")
        time.sleep(0.4)
        write_lines(path, [{"n": 2}])  # truncated and rewritten, as log rotation by copytruncate

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        run = jsonl.with_config({"follow": True, "poll_interval": 0.05}).run(
            open_params=str(path), fields=["jsonl.value[/n]"], duration=2.0)
    finally:
        thread.join()
    assert [e.fields["jsonl.value[/n]"] for e in run.events] == ["0", "1", "2"]
    assert any("truncated or replaced" in m for m in run.log("info"))
    assert run.summary["end"] != "eof"  # still following when the run stopped


def test_a_bad_pointer_gives_no_value_and_the_reason(jsonl: BuiltPlugin, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    write_lines(path, LINES)
    run = jsonl.run(open_params=str(path), fields=["jsonl.value[user]"])
    assert [e.fields["jsonl.value[user]"] for e in run.events] == [None, None]
    assert any("JsonPointerException: Location must start with /" in m and "jsonl.py:" in m for m in run.log())


def test_config_is_checked(jsonl: BuiltPlugin, tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="field 'folow' is not allowed"):
        jsonl.with_config({"folow": True}).run(open_params=str(tmp_path / "x"))
    with pytest.raises(PluginError, match=r"open failed: open: FileNotFoundError: .*No such file"):
        jsonl.run(open_params=str(tmp_path / "absent.jsonl"))


def test_info(jsonl: BuiltPlugin) -> None:
    info = jsonl.info()
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"jsonl.value", "jsonl.raw"}
    assert fields["jsonl.value"]["arg"] == {"isKey": True, "isIndex": False, "isRequired": False}
    assert set(info["init_schema"]["properties"]) == {"follow", "poll_interval", "batch_size", "max_line_bytes"}
