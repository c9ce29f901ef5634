"""The rough edges a new user hit with the ``falco-plugin`` command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import C_REFERENCE, CAPTURES, PLUGINS, Built, needs_captures

import falco_plugin
from falco_plugin.event import PPME_SYSCALL_EXECVE_16_X, PPME_SYSCALL_EXECVE_19_X, read_capture
from falco_plugin.testing import Run

FP = str(Path(sys.executable).with_name("falco-plugin"))


def fp(*args: str | Path, cwd: str | Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FP, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_version() -> None:
    proc = fp("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "falco-plugin 0.1.0"
    assert falco_plugin.__name__ == "falco_plugin"


@needs_captures
def test_info_run_and_replay_take_a_bare_file_name(built: Built, tmp_path: Path) -> None:
    shutil.copy(built("counter.py:Counter"), tmp_path / "libcounter.so")
    info = fp("info", "libcounter.so", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "Name: counter" in info.stdout
    run = fp("run", "libcounter.so", "--open-params", "count=2", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert len([line for line in run.stdout.splitlines() if '"evtnum"' in line]) == 2
    shutil.copy(built("state.py:FdReader"), tmp_path / "libfd.so")
    shutil.copy(CAPTURES / "curl_google.scap", tmp_path / "c.scap")
    replay = fp("replay", "c.scap", "libfd.so", "-n", "3", "--json", cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert len([line for line in replay.stdout.splitlines() if '"evtnum"' in line]) == 3


def test_info_names_event_types_sources_and_async_events(built: Built) -> None:
    state = fp("info", built("state.py:FdReader"), "--json")
    assert state.returncode == 0, state.stderr
    info = json.loads(state.stdout)
    assert info["extract_event_types"] == [{"code": 3, "name": "PPME_SYSCALL_OPEN_X", "event": "open"}]
    assert info["parse_event_types"] == [{"code": 3, "name": "PPME_SYSCALL_OPEN_X", "event": "open"}]
    assert info["extract_event_sources"] == ["syscall"]
    text = fp("info", built("state.py:FdReader")).stdout
    assert "  - Field Extraction\n    sources: syscall\n    event types: PPME_SYSCALL_OPEN_X (3)\n" in text
    assert "  - Event Parsing\n    sources: " in text and "event types: PPME_SYSCALL_OPEN_X (3)" in text

    ticker = fp("info", built("async_plugins.py:Ticker"))
    assert ticker.returncode == 0, ticker.stderr
    assert "  - Async Events\n    events: tick, tock\n    into sources: all\n" in ticker.stdout
    assert "event types: PPME_ASYNCEVENT_E (402)" in ticker.stdout
    counter = fp("info", built("counter.py:Counter"))
    assert "Event Sourcing (ID=999, source='counter')" in counter.stdout


def test_info_of_a_library_not_built_by_the_sdk_has_no_event_types(tmp_path: Path) -> None:
    from falco_plugin._tooling.host import compile_c_plugin

    lib = compile_c_plugin(C_REFERENCE / "bench_c.c", tmp_path / "libc.so")
    proc = fp("info", lib, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "extract_event_types" not in json.loads(proc.stdout)


def test_a_field_failing_in_the_stdlib_points_at_the_plugins_line(built: Built) -> None:
    run = fp("run", built("rough.py:JsonFields"), "--fields", "jsonfields.a")
    assert run.returncode == 0, run.stderr
    lines = (PLUGINS / "rough.py").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "error must point" in text)
    assert re.search(rf"JSONDecodeError: Expecting value: .* \(at rough\.py:{line} in a; raised in decoder\.py:\d+\)",
                     run.stderr), run.stderr
    assert "jsonfields.a=1" in run.stdout and "jsonfields.a=<NA>" in run.stdout


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import json\nx = json.loads('{')\n",
         r"cannot import broken: JSONDecodeError: .* \(at broken\.py:2 in <module>; raised in decoder\.py:\d+\)"),
        ("def f(:\n    pass\n", r"cannot import broken: SyntaxError: .* \(at broken\.py:1\)"),
        ("import os\nimport no_such_mod\n",
         r"cannot import broken: ModuleNotFoundError: No module named 'no_such_mod' \(at broken\.py:2 in <module>\)"),
    ],
)
def test_import_errors_at_build_time_give_file_and_line(tmp_path: Path, source: str, expected: str) -> None:
    (tmp_path / "broken.py").write_text(source)
    proc = fp("build", tmp_path / "broken.py:P", "-o", tmp_path / "libp.so")
    assert proc.returncode == 1
    assert re.search(expected, proc.stderr), proc.stderr


def test_run_text_mode_prints_readable_timestamps_and_json_raw_ns(built: Built) -> None:
    lib = built("counter.py:Counter")
    text = fp("run", lib, "--open-params", "count=1").stdout
    assert re.search(r"^#1 \[counter\] ts=20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tid=", text, re.M), text
    (event,) = Run.parse(fp("run", lib, "--open-params", "count=1", "--json")).events
    assert isinstance(event.ts, int) and event.ts > 10**18


@pytest.mark.timing
def test_run_on_an_async_only_plugin_says_how_to_attach_it(built: Built) -> None:
    lib = built("async_plugins.py:Ticker")
    proc = fp("run", lib)
    assert proc.returncode == 2
    assert "no plugin with the event sourcing capability given: nothing to run" in proc.stderr
    assert "hint: ticker is an async event plugin" in proc.stderr
    assert f"falco-plugin run SOURCE.so --plugin {lib}" in proc.stderr
    # and the hint works
    counter = built("counter.py:Counter")
    both = fp("run", counter, "--open-params", "mode=idle", "--plugin", lib, "--duration", "1", "--json")
    assert '"async_name":"tick"' in both.stdout.replace(" ", ""), both.stderr


@needs_captures
def test_cannot_open_capture_says_why(built: Built, tmp_path: Path) -> None:
    lib = built("state.py:FdReader")
    missing = fp("replay", tmp_path / "nope.scap", lib)
    assert missing.returncode != 0
    assert f"cannot open capture {tmp_path / 'nope.scap'}: No such file or directory" in missing.stderr
    secret = tmp_path / "secret.scap"
    shutil.copy(CAPTURES / "curl_google.scap", secret)
    secret.chmod(0)
    # root reads everything: without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped from the
    # bounding set, so not regained at exec) it is bound by the mode like anyone else
    no_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    denied = subprocess.run([*no_override, FP, "replay", str(secret), str(lib)], capture_output=True, text=True,
                            timeout=120)
    assert denied.returncode != 0
    assert f"cannot open capture {secret}: Permission denied" in denied.stderr, denied.stderr


@needs_captures
def test_clashing_parameter_is_renamed_everywhere(built: Built) -> None:
    event = PPME_SYSCALL_EXECVE_19_X(res=0, pid=5, tid_=7, tid=1)
    assert event.tid_ == 7 and event.tid == 1
    assert " tid_=7 " in str(event) and " tid=" not in str(event)
    assert "tid_=7" in repr(event)
    assert [p.attr for p in event.PARAMS if p.name == "tid"] == ["tid_"]
    # a field reading it over a real capture: the parameter, not the header
    run = fp("replay", CAPTURES / "curl_google.scap", built("rough.py:Execs"), "--fields", "execs.tid", "--json")
    assert run.returncode == 0, run.stderr
    values = [e.fields["execs.tid"] for e in Run.parse(run).events]
    expected = [e.tid_ for c in read_capture(CAPTURES / "curl_google.scap")
                if isinstance(e := c.event.load_any(), PPME_SYSCALL_EXECVE_16_X)]
    assert expected == [17497]
    assert [v for v in values if v is not None] == expected


def test_extra_forbid_rejects_unknown_config_keys(built: Built) -> None:
    lib = built("rough.py:Strict")
    bad = fp("run", lib, "--config", '{"jiter": 5}')
    assert bad.returncode != 0
    # the schema says additionalProperties: false, so the host (like libsinsp) refuses it before init
    assert "error in plugin strict init config: In <root>[jiter], field 'jiter' is not allowed" in bad.stderr
    good = fp("run", lib, "--config", '{"jitter": 5}')
    assert good.returncode == 0 and "payload=5" in good.stdout, good.stderr

