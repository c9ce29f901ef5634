"""Plain Python plugin code must never make the shim hand the host freed or wrong memory, nor
wrong values (tests/plugins/reliability.py). Under `make sanitize` (host and shims built with
AddressSanitizer + UBSan) these runs also check that no byte the host reads is freed or out of
bounds."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import PLUGINS, Built, Host, fields_of

from falco_plugin import PluginDefinitionError
from falco_plugin._tooling.build import SYMBOL_API, BuildError, build, exported_symbols, plugin_spec
from falco_plugin._tooling.host import host_binary
from falco_plugin.testing import Run

RELY = "reliability.py"


def errors(stderr: str, plugin: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"log error {plugin}: ")]


def test_list_results_are_the_shims_whatever_python_does_to_them_afterwards(host: Host, built: Built) -> None:
    # sc.reset empties the lists sc.words / sc.ips returned, freeing their items, while the
    # host still holds the values (and the prefetch computes them in another order)
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "6",
               "--fields", "sc.words,sc.ips,sc.reset,sc.words,sc.ips")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert len(fields) == 6
    for n, f in enumerate(fields, 1):
        assert f["sc.words"] == ["".join([f"w{n}.{i}-"] * 40) for i in range(3)], f
        assert f["sc.ips"] == [f"10.0.{n}.0", f"10.0.{n}.1"], f
        assert f["sc.reset"] == 1
    assert errors(run.stderr, "scratch") == []


def test_reltime_is_checked_unsigned_arithmetic(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "3", "--fields", "sc.reltime")
    assert run.returncode == 0, run
    values = [f.get("sc.reltime") for f in fields_of(run)]
    assert values == [110000 * 86400 * 10**9, None, None]  # 110000 days fit in uint64, 220000 do not
    (logged,) = errors(run.stderr, "scratch")
    assert "field sc.reltime: OverflowError: a reltime field is out of range" in logged, logged
    assert "(no value; logged once per field)" in logged


def test_an_embedded_nul_is_an_error_logged_once(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "3", "--fields", "sc.nul,sc.nuls")
    assert run.returncode == 0, run
    assert all(f.get("sc.nul") is None and f.get("sc.nuls") is None for f in fields_of(run))
    logged = errors(run.stderr, "scratch")
    assert len(logged) == 2, run.stderr
    assert all("ValueError: a string field cannot contain a NUL character" in line for line in logged)
    assert any(line.startswith("log error scratch: field sc.nul: ") for line in logged)
    assert any(line.startswith("log error scratch: field sc.nuls: ") for line in logged)


def _async_run(host: Host, built: Built, mode: str) -> list[tuple[str, bytes]]:
    run = host("run", "--json", "--duration", "0.6", "-p", built("counter.py:Counter"), "-o", "mode=idle",
               "-p", built(f"{RELY}:Reentrant"), "-c", mode)
    assert run.returncode == 0, run
    assert errors(run.stderr, "reentrant") == []
    return [(str(e.async_name), e.payload) for e in run.events if e.type == 402]


def _expected_inner(i: int) -> tuple[str, bytes]:
    return ("inner", bytes([65 + i]) * 100_000)


def test_nested_emit_many_in_an_events_data_keeps_the_outer_frames(host: Host, built: Built) -> None:
    for mode in ("emit_many", "emit"):
        events = _async_run(host, built, mode)
        # each inner event is sent while the outer batch is read, then the whole outer batch
        assert events == [*map(_expected_inner, range(3)), *((("outer", f"outer-{i}".encode())) for i in range(3))]


def test_emit_many_survives_its_list_emptied_while_it_reads_it(host: Host, built: Built) -> None:
    # the first event's data empties the list: that event is sent, the loop ends cleanly
    assert _async_run(host, built, "mutate") == [_expected_inner(0), ("outer", b"outer-0")]


def test_entries_added_to_a_plugin_owned_table_stay_alive_for_iteration(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:ItemOwner"), "-o", "5", "-p", built(f"{RELY}:ItemUser"),
               "--fields", "iu.seen,iu.sum")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert [f["iu.seen"] for f in fields] == [",".join(f"{k}:item{k}-" for k in range(1, n + 1)) for n in range(1, 6)]
    assert [f["iu.sum"] for f in fields] == [1, 3, 6, 10, 15]
    assert errors(run.stderr, "item_user") == [] and errors(run.stderr, "item_owner") == []
    summary = [s for s in run.summaries if s.get("plugin") == "item_user"]
    assert all(s.get("table_entries_unreleased", 0) == 0 for s in summary), summary


# -- wrong values instead of errors, leaked exceptions ----------------------------------------


def odd(host: Host, built: Built, mode: str, *extra: str) -> Run:
    return host("run", "--json", *extra, "-p", built(f"{RELY}:Odd"), "-c", mode)


@pytest.mark.parametrize("mode", ["eof_no_init", "timeout_no_init"])
def test_an_end_or_timeout_without_events_is_reported_on_the_same_call(host: Host, built: Built, mode: str) -> None:
    run = odd(host, built, mode)
    assert run.returncode != 0, run
    assert run.summaries[0]["end"] == "failure" and run.summaries[0]["events"] == 2
    assert "next_batch: AttributeError:" in run.stderr and "'events'" in run.stderr, run.stderr
    # the exception was cleared on that call: close and destroy still ran Python normally
    assert "SystemError" not in run.stderr and "exception set" not in run.stderr, run.stderr


@pytest.mark.parametrize(("mode", "message"), [
    ("dict", "next_batch must return a list of events (bytes or (bytes, ts) pairs), not dict"),
    ("ts_negative", "next_batch: item 0: the timestamp -1 is out of range (0 to 2**64-1 ns since the epoch)"),
    ("ts_too_big", "next_batch: item 0: the timestamp 18446744073709551616 is out of range"),
    ("ts_str", "next_batch: item 0: the timestamp must be an int of ns since the epoch, not str"),
])
def test_bad_batches_are_errors_that_say_what_is_wrong(host: Host, built: Built, mode: str, message: str) -> None:
    run = odd(host, built, mode)
    assert run.returncode != 0, run
    assert run.summaries[0]["end"] == "failure" and run.summaries[0]["events"] == 2
    assert message in run.stderr, run.stderr


def test_nan_progress_is_an_error_not_undefined_behaviour(host: Host, built: Built) -> None:
    run = odd(host, built, "progress_nan", "--progress")
    assert run.returncode == 0, run
    assert run.summaries[0]["progress_pct"] == 0 and run.summaries[0]["progress_text"] == "half"
    fine = odd(host, built, "", "--progress")
    assert fine.summaries[0]["progress_pct"] == 5000 and fine.summaries[0]["progress_text"] == "half"


def test_non_finite_metrics_still_give_valid_json(host: Host, built: Built) -> None:
    run = odd(host, built, "", "--metrics")
    assert run.returncode == 0, run
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"metrics"')]  # strict JSON
    assert lines, run
    values = {m["name"]: m["value"] for m in lines[-1]["metrics"]["metrics"]}
    assert values == {"nan": "NaN", "inf": "Infinity", "minus_inf": "-Infinity", "fine": 1.5, "count": 3}


def test_an_embedded_nul_in_event_to_string_is_an_error_logged_once(host: Host, built: Built) -> None:
    run = host("run", "-p", built(f"{RELY}:Odd"), "-c", "e2s_nul")
    assert run.returncode == 0, run
    logged = errors(run.stderr, "odd")
    assert len(logged) == 1, run.stderr
    assert "event_to_string: ValueError: the text cannot contain a NUL character" in logged[0]
    assert "text" not in [line.rsplit("info=", 1)[-1] for line in run.stdout.splitlines() if "info=" in line]


def test_parse_errors_are_logged_once_per_distinct_message(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "9", "-p", built(f"{RELY}:Fussy"))
    assert run.returncode == 0, run
    # the shim's own log lines (the host also reports each failure it sees)
    logged = [line for line in errors(run.stderr, "fussy") if line.startswith("log error fussy: parse_event: ")]
    assert [line.split("case ")[1][0] for line in logged] == ["a", "b", "c"], run.stderr


# -- hangs ------------------------------------------------------------------------------------


@pytest.mark.timing
def test_plugin_code_cannot_take_signals_from_the_host(built: Built) -> None:
    lib = built(f"{RELY}:Odd")
    cmd = [str(host_binary()), "run", "--duration", "60", "-p", str(lib), "-c", "signal"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        warnings: list[str] = []
        deadline = time.monotonic() + 60
        while len(warnings) < 3 and time.monotonic() < deadline:  # init has run: the three were refused
            line = proc.stderr.readline()
            if not line:
                break
            if "refused" in line:
                warnings.append(line)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode in (130, -signal.SIGINT), proc.returncode  # Ctrl-C still stops the host
    assert [w.split(" refused at ")[0] for w in warnings] == [
        "log warning odd: signal.signal(SIGINT)", "log warning odd: signal.siginterrupt(SIGINT)",
        "log warning odd: faulthandler.enable()"]
    assert all("reliability.py:" in w and "the host owns the process's signal handlers" in w for w in warnings)


@pytest.mark.timing
def test_a_stop_async_that_does_not_return_is_reported(host: Host, built: Built) -> None:
    run = host("run", "--json", "--duration", "0.2", "-p", built("counter.py:Counter"), "-o", "mode=idle",
               "-p", built(f"{RELY}:Hang"))
    assert run.returncode == 0, run
    assert ("log warning hang: plugin hang: stop_async() has not returned after 5 s and the host is waiting for "
            "it: stop_async must stop the plugin's threads and return promptly") in run.stderr, run.stderr


# -- the required API version ------------------------------------------------------------------

# the 33 symbols of the plugin API that date from 3.0 or before; the others are in SYMBOL_API
API_3_0 = {f"plugin_{name}" for name in (
    "get_required_api_version", "get_version", "get_last_error", "get_name", "get_description", "get_contact",
    "get_init_schema", "init", "destroy", "get_id", "get_event_source", "open", "close", "next_batch",
    "get_progress", "list_open_params", "event_to_string", "get_fields", "extract_fields",
    "get_extract_event_sources", "get_extract_event_types", "get_parse_event_types", "get_parse_event_sources",
    "parse_event", "get_async_event_sources", "get_async_events", "set_async_event_handler",
)}

# what each option needs, independently of build.py's tables (no option defines set_config: 3.3, log_fn)
OPTION_MINOR = {"dump_state": 10, "metrics": 6, "tables": 5, "syscalls": 12, "add_output": 8}


def test_the_required_api_version_is_the_maximum_for_every_capability_combination() -> None:
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    import api_matrix

    seen = 0
    for i, (caps, options) in enumerate(api_matrix.combinations()):
        spec = plugin_spec(api_matrix.make(f"M{i}", caps, options), [])
        minor = max([3, *(OPTION_MINOR[o] for o in options), 7 if "capture_listening" in caps else 0])
        assert spec.required_api_version == f"3.{minor}.0", (caps, options, spec.symbols)
        unknown = set(spec.symbols) - API_3_0 - set(SYMBOL_API)
        assert not unknown, f"add {unknown} to SYMBOL_API"
        seen += 1
    assert seen == 502  # 31 capability sets, each with every subset of the options that apply to it


@pytest.mark.parametrize(("cls", "version"), [
    ("SourceOnly", "3.3.0"), ("AsyncDump", "3.10.0"), ("ExtractSyscalls", "3.12.0"), ("ListenMetrics", "3.7.0"),
    ("ParseTables", "3.5.0"),
])
def test_a_built_library_declares_what_its_exported_symbols_need(host: Host, built: Built, cls: str,
                                                                  version: str) -> None:
    lib = built(f"api_matrix.py:{cls}")
    run = host("info", lib)
    assert run.returncode == 0, run
    declared = json.loads(run.stdout)["required_api_version"]
    assert declared == version
    symbols = exported_symbols(lib)
    needed = max(SYMBOL_API.get(s, (3, 0, 0)) for s in symbols)
    assert tuple(map(int, declared.split("."))) >= needed, (declared, symbols)


def test_a_plugin_may_raise_its_required_api_version(host: Host, built: Built) -> None:
    run = host("info", built("api_matrix.py:Raised"))
    assert run.returncode == 0, run
    assert json.loads(run.stdout)["required_api_version"] == "3.11.0"  # its symbols need 3.3.0


def test_a_required_api_version_lower_than_the_symbols_need_names_the_line(tmp_path: Path) -> None:
    line = next(i for i, text in enumerate((PLUGINS / "api_matrix.py").read_text().splitlines(), 1)
                if 'REQUIRED_API_VERSION = "3.5.0"' in text)
    with pytest.raises(BuildError) as err:
        build(f"{PLUGINS}/api_matrix.py:Lowered", tmp_path / "x.so")
    assert str(err.value) == (
        f"Lowered.REQUIRED_API_VERSION = '3.5.0' (at api_matrix.py:{line}) is lower than the 3.7.0 the plugin "
        "needs (plugin_capture_close, plugin_capture_open, plugin_get_metrics): it may raise the version, never "
        "lower it: remove the constant or set it to 3.7.0 or higher")
    for bad, says in (("3.12", "must be 'MAJOR.MINOR.PATCH'"), ("3.13.0", "is not a plugin API this SDK implements "
                                                                          "(3.0.0 to 3.12.0)"),
                      ("4.0.0", "is not a plugin API")):
        cls = type("Bad", (api_matrix_module().SourceOnly,), {"REQUIRED_API_VERSION": bad})
        with pytest.raises(PluginDefinitionError, match=re.escape(says)):
            plugin_spec(cls, [])


def api_matrix_module() -> Any:
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    import api_matrix

    return api_matrix


def test_optional_symbols_are_exported_only_when_defined(host: Host, built: Built) -> None:
    common = {f"plugin_{s}" for s in ("get_required_api_version", "get_version", "get_last_error", "get_name",
                                       "get_description", "get_contact", "init", "destroy", "open", "close",
                                       "next_batch")}
    every = json.loads(host("info", built("api_matrix.py:AllOptional")).stdout)
    assert set(every["symbols"]) == common | {"plugin_get_init_schema", "plugin_set_config", "plugin_get_progress",
                                              "plugin_get_id", "plugin_get_event_source"}
    assert every["required_api_version"] == "3.4.0"  # set_config
    bare = json.loads(host("info", built("api_matrix.py:Bare")).stdout)
    assert set(bare["symbols"]) == common
    assert (bare["required_api_version"], bare["capabilities"], bare["init_schema_type"]) == ("3.3.0", ["sourcing"],
                                                                                              "none")
    # falco-plugin info lists them, as the host found them
    text = subprocess.run([sys.executable, "-m", "falco_plugin.cli", "info", built("api_matrix.py:Bare")],
                          capture_output=True, text=True, check=True).stdout
    assert f"Symbols: {', '.join(bare['symbols'])}" in text.splitlines()
    # get_progress: called, and its answer reaches the host
    run = host("run", "--json", "--progress", "-p", built("api_matrix.py:AllOptional"), "-o", "")
    assert run.returncode == 0, run
    assert '"progress_text":"2 of 2"' in run.stdout, run.stdout


def test_an_abstime_before_the_epoch_says_so(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "1", "--fields", "sc.old")
    assert run.returncode == 0, run
    assert fields_of(run) == [{"sc.old": None}]
    (logged,) = errors(run.stderr, "scratch")
    assert ("field sc.old: OverflowError: an abstime field is out of range (datetime.datetime(1900, 1, 1, 0, 0) is "
            "before 1970") in logged, logged
