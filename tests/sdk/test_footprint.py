"""Footprint: a plugin's init imports only what the plugin uses.

The bench plugin (examples/bench) has no config model, no typed events, no time or IP fields
and never logs; the heavy modules the SDK used to import at every init must not be loaded. A
probe plugin, loaded after it in the same host process (SDK plugins share one interpreter),
reads ``sys.modules`` right after the bench plugin's init and again while events flow.
Figures: ``make bench``, section M.
"""

from __future__ import annotations

from support import ROOT, Built, Host, fields_of

# What the SDK imported at init before (importlib.metadata pulls email, zipfile, socket, csv...;
# hashlib loads OpenSSL), and what only some plugins need (pydantic: a config model;
# falco_plugin.event: typed events; datetime: time fields; ipaddress: IP fields; logging: a
# plugin that logs; signal: a plugin that imports it (the SDK's guard is applied then);
# falco_plugin.tables: a plugin that takes tables; traceback, sysconfig: the first error message).
ABSENT = [
    "pydantic", "pydantic_core", "falco_plugin.event", "importlib.metadata", "importlib.resources",
    "email", "zipfile", "socket", "csv", "hashlib", "_hashlib", "pathlib", "shutil", "tempfile",
    "logging", "datetime", "_datetime", "ipaddress", "traceback", "sysconfig", "textwrap", "random",
    "urllib", "falco_plugin.tables", "signal",
]
WATCHED = "+".join(ABSENT)


def test_bench_plugin_init_imports_none_of_the_heavy_modules(built: Built, host: Host) -> None:
    bench = built(f"{ROOT}/examples/bench/bench_plugin.py:BenchPlugin")
    probe = built("footprint_probe.py:FootprintProbe")
    fields = f"probe.at_load[all],probe.at_load[{WATCHED}],probe.now[{WATCHED}],bench.value"
    run = host("run", "--json", "-n", "3", "-p", bench, "-c", '{"batch": 2}', "-o", "5", "-p", probe,
               "--fields", fields)
    assert run.returncode == 0, run
    got = fields_of(run)
    assert [f["bench.value"] for f in got] == [1, 2, 3]
    # the probe sees the interpreter the bench plugin's init left: its runtime and module are there
    loaded = got[0]["probe.at_load[all]"].split(",")
    assert {"falco_plugin._runtime", "falco_plugin.extract", "bench_plugin"} <= set(loaded)
    for f in got:
        assert f[f"probe.at_load[{WATCHED}]"] == "", f"imported at init: {f[f'probe.at_load[{WATCHED}]']}"
        assert f[f"probe.now[{WATCHED}]"] == "", f"imported while extracting: {f[f'probe.now[{WATCHED}]']}"


def test_the_probe_sees_a_module_a_plugin_imports(built: Built, host: Host) -> None:
    """The probe is not blind: a plugin with a pydantic config model has pydantic loaded."""
    counter = built("counter.py:Counter")
    probe = built("footprint_probe.py:FootprintProbe")
    run = host("run", "--json", "-n", "1", "-p", counter, "-o", "count=2", "-p", probe,
               "--fields", f"probe.at_load[{WATCHED}]")
    assert run.returncode == 0, run
    assert {"pydantic", "logging"} <= set(fields_of(run)[0][f"probe.at_load[{WATCHED}]"].split(","))


def test_logging_and_signal_imported_late_still_work(built: Built, host: Host) -> None:
    lib = built("footprint_probe.py:LazyLogger")
    run = host("run", "--json", "-p", lib)
    assert run.returncode == 0, run
    logs = [line for line in run.stderr.splitlines() if line.startswith("log ")]
    assert logs[:2] == [
        "log warning lazy_logger: open: logging was loaded before this import: False",
        "log info lazy_logger: open: signal was loaded before this import: False",
    ], run
    assert logs[2].startswith("log warning lazy_logger: signal.signal(SIGUSR1) refused at footprint_probe.py:"), run
    assert logs[3:] == ["log info lazy_logger: next_batch: through self.logger"], run
