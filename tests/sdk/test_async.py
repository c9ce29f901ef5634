"""End to end: async events from Python threads through the shim into the host."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import CPLUGINS, ROOT, TESTS, Built, Host, finished

from falco_plugin._tooling import cc as _cc
from falco_plugin._tooling.host import compile_c_plugin, host_binary
from falco_plugin.testing import Event, Run

TICKER = "async_plugins.py:Ticker"


def idle_source(built: Built) -> list[str]:
    return ["-p", str(built("counter.py:Counter")), "-o", "mode=idle"]


def run_ticker(host: Host, built: Built, config: dict[str, object], *extra: str, duration: float = 0.6) -> Run:
    return host("run", "--json", "--duration", str(duration), *extra, *idle_source(built),
                "-p", built(TICKER), "-c", json.dumps(config))


def async_events(run: Run) -> list[Event]:
    return [e for e in run.events if e.type == 402]


def test_events_from_a_background_thread_reach_the_host(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 0.01, "count": 5}, "--fields", "ticker.payload,ticker.name")
    assert run.returncode == 0, run
    events = async_events(run)
    assert [e.payload for e in events] == [b"0:0", b"0:1", b"0:2", b"0:3", b"0:4"]
    assert {e.async_name for e in events} == {"tick"}
    assert {e.plugin_id for e in events} == {999}  # the host wrote the open source's id
    assert {e.source for e in events} == {"counter"}
    assert all(e.tid == 2**64 - 1 and e.len == 42 + len("tick") + 1 + 3 for e in events)
    assert [e.fields for e in events][:2] == [
        {"ticker.payload": "0:0", "ticker.name": "tick"}, {"ticker.payload": "0:1", "ticker.name": "tick"},
    ]
    assert run.summaries[0]["async_events"] == 5


@pytest.mark.timing
def test_stop_async_returns_after_the_thread_stopped_within_an_interval(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 5.0}, duration=0.3)
    assert run.returncode == 0, run
    stopped = re.search(r"log info ticker: stopped in (\d+) ms, threads alive: 0, join errors: none", run.stderr)
    assert stopped, run.stderr
    assert int(stopped.group(1)) < 1000  # woken at once, not after the 5 s interval


def test_exception_in_the_task_surfaces_on_join_and_is_logged(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 0.005, "mode": "raise"})
    assert run.returncode == 0, run
    assert [e.payload for e in async_events(run)] == [b"0:0", b"0:1", b"0:2"]
    assert re.search(r"log error ticker: background task falco-plugin:emit failed: OSError: sensor unplugged after 3",
                     run.stderr), run.stderr
    assert "join errors: ['OSError: sensor unplugged after 3 events']" in run.stderr


def test_undeclared_name_is_refused_before_the_host(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 0.005, "mode": "undeclared"})
    assert run.returncode == 0, run
    assert async_events(run) == []
    assert "ValueError: async event 'nope' is not declared in Ticker.ASYNC_EVENTS [\"tick\", \"tock\"]" in run.stderr


def test_emit_after_the_handler_was_reset_raises(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 0.01, "count": 2})
    assert run.returncode == 0, run
    assert "late emit refused: the async event handler was taken back by the host" in run.stderr


def test_start_async_failure_is_reported(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"mode": "start_fails"})
    assert run.returncode == 1, run
    assert ("can't set async event handler for plugin ticker: start_async: PermissionError: cannot watch anything "
            "(at async_plugins.py:") in run.stderr


@pytest.mark.timing
def test_emission_from_several_threads_at_once(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 0, "count": 300, "threads": 4}, duration=1.5)
    assert run.returncode == 0, run
    payloads = [e.payload.decode() for e in async_events(run)]
    assert len(payloads) == 1200
    for t in range(4):
        mine = [int(p.split(":")[1]) for p in payloads if p.startswith(f"{t}:")]
        assert mine == list(range(300))  # every event of every thread, in its order


def test_emit_many_sends_a_batch(host: Host, built: Built) -> None:
    run = run_ticker(host, built, {"interval": 0.005, "count": 3, "mode": "batch"})
    assert [(e.async_name, e.payload) for e in async_events(run)] == [
        ("tick", b"0:0"), ("tock", b"0:0!"), ("tick", b"0:1"), ("tock", b"0:1!"), ("tick", b"0:2"), ("tock", b"0:2!"),
    ]


@pytest.mark.timing
@pytest.mark.parametrize("threads", [1, 2])
def test_no_deadlock_when_the_host_holds_its_lock_while_calling_the_plugin(
    host: Host, built: Built, threads: int
) -> None:
    # The session thread holds the lock the async handler needs while it calls next_batch
    # (which needs the GIL), and Python threads emit as fast as they can (each holds the GIL
    # until it calls the handler). If emit kept the GIL inside the host, this would hang; with
    # one emitting thread too (the only Python thread: the waiter is a host thread).
    counter = str(built("counter.py:Counter"))
    run = host("run", "--json", "--quiet", "--hold-async-lock", "--duration", "1.0",
               "-p", counter, "-o", "count=100000000,batch=4,mode=slow",
               "-p", built(TICKER), "-c", json.dumps({"interval": 0, "threads": threads}), timeout=60)
    assert run.returncode == 0, run
    summary = run.summaries[0]
    assert summary["end"] == "duration"
    assert summary["async_events"] > 100 and summary["events"] - summary["async_events"] > 100, summary


def test_start_stop_start_again_and_destroy_while_running(built: Built) -> None:
    shim = _cc.c_source_dir("shim")
    driver = _cc.build_cached("cdriver", [TESTS / "cdrivers" / "async_cycle.c"], "async_cycle",
                              [f"-I{shim}", "-O1", "-pthread", "-Wl,--no-as-needed", "-ldl"])
    lib = built(f"{ROOT}/examples/sample_async/sample_async.py:SampleAsync")
    proc = subprocess.run([str(driver), str(lib), ""], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rounds = re.findall(r"round (\d): events=(\d+) reset_rc=0 reset_ms=(\d+) quiet_after_reset=1", proc.stdout)
    assert [r[0] for r in rounds] == ["1", "2"], proc.stdout
    for _, events, reset_ms in rounds:
        assert 2 <= int(events) <= 4  # every 100 ms for 300 ms
        assert int(reset_ms) < 100  # stop_async returned within one interval
    assert "destroyed while running: quiet_after_destroy=1 malformed=0" in proc.stdout


@pytest.mark.timing
def test_sample_async_beside_a_source(host: Host, built: Built) -> None:
    lib = built(f"{ROOT}/examples/sample_async/sample_async.py:SampleAsync")
    run = host("run", "--json", "--duration", "0.55", *idle_source(built), "-p", lib)
    assert run.returncode == 0, run
    events = async_events(run)
    assert 3 <= len(events) <= 7
    assert all(e.async_name == "sample_async" and e.payload.hex() == b"hello".hex() for e in events)
    info = json.loads(host("info", lib).stdout)
    assert info["capabilities"] == ["async"] and info["async_events"] == ["sample_async"]


@pytest.mark.timing
@pytest.mark.no_sanitize  # sleeps for Python start-up, which ASan slows down
def test_file_notify_end_to_end(tmp_path: Path, built: Built) -> None:
    watched = tmp_path / "etc"
    watched.mkdir()
    (watched / "passwd").write_text("root:x:0:0\n")
    lib = built(f"{ROOT}/examples/file_notify/file_notify.py:FileNotify")
    fields = "file_notify.path,file_notify.change,file_notify.old_size,file_notify.new_size,file_notify.new_hash"
    config = json.dumps({"paths": [str(watched)], "interval": 0.05})
    cmd = [str(host_binary()), "run", "--json", "--duration", "4", "--fields", fields, *idle_source(built),
           "-p", str(lib), "-c", config]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # Python start-up (seconds on a loaded machine), then the first snapshot
            seen.append(line)
            if "watching" in line:
                break
        # each file appears whole (write beside, then rename): a watcher looking between a
        # create and its write would otherwise see an empty file, then a modification
        for name, text in (("passwd", "root:x:0:0\nmallory:x:0:0\n"), ("sudoers", "mallory ALL=(ALL) NOPASSWD: ALL\n")):
            (tmp_path / name).write_text(text)
            os.replace(tmp_path / name, watched / name)
        out, err = proc.communicate(timeout=60)
        err = "".join(seen) + err
    assert proc.returncode == 0, err
    got = [e.fields for e in finished(proc, out, err).events if e.type == 402]
    by_path = {f["file_notify.path"]: f for f in got}
    assert by_path[str(watched / "passwd")]["file_notify.change"] == "modified"
    assert by_path[str(watched / "passwd")]["file_notify.old_size"] == 11
    assert by_path[str(watched / "passwd")]["file_notify.new_size"] == 25
    assert by_path[str(watched / "sudoers")]["file_notify.change"] == "created"
    assert by_path[str(watched / "sudoers")]["file_notify.old_size"] is None
    assert str(by_path[str(watched / "sudoers")]["file_notify.new_hash"]).startswith("sha256:")


@pytest.mark.parametrize("cls", ["NoNames", "NoStop"])
def test_build_refuses_bad_async_plugins(tmp_path: Path, cls: str) -> None:
    src = tmp_path / "bad_async.py"
    src.write_text(
        "from falco_plugin import AsyncEventPlugin, Plugin\n"
        "class Meta(Plugin, AsyncEventPlugin):\n"
        "    NAME = 'bad'; PLUGIN_VERSION = '0.1.0'; DESCRIPTION = 'x'; CONTACT = 'x'\n"
        "class NoNames(Meta):\n"
        "    def start_async(self, handler): pass\n"
        "    def stop_async(self): pass\n"
        "class NoStop(Meta):\n"
        "    ASYNC_EVENTS = ['a']\n"
        "    def start_async(self, handler): pass\n"
    )
    import sys

    proc = subprocess.run([sys.executable, "-m", "falco_plugin.cli", "build", f"{src}:{cls}", "-o",
                           str(tmp_path / "lib.so")], capture_output=True, text=True)
    assert proc.returncode == 1
    expected = "must list the names" if cls == "NoNames" else "does not define stop_async()"
    assert expected in proc.stderr, proc.stderr


# --- AsyncEvent: the pure-Python class, and the shim's C class (the same behaviour) --------


def test_outside_a_plugin_async_event_is_the_python_class() -> None:
    import falco_plugin
    from falco_plugin.async_event import PyAsyncEvent

    assert falco_plugin.AsyncEvent is PyAsyncEvent


def test_python_async_event_checks_and_normalizes_values() -> None:
    from falco_plugin.async_event import PyAsyncEvent as AE

    class Name(str):
        pass

    event = AE(Name("tick"), bytearray(b"ab"), ts=True, tid=2**64 - 1)  # type: ignore[arg-type]  # converted
    assert type(event.name) is str and event.data == b"ab" and type(event.data) is bytes
    assert (event.ts, event.tid) == (1, 2**64 - 1)
    assert AE("t", memoryview(b"abcd")[::2]).data == b"ac"  # type: ignore[arg-type]
    cases: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
        ((1,), {}, TypeError, "AsyncEvent.name must be a str, not int"),
        (("t", "x"), {}, TypeError, "AsyncEvent.data must be bytes-like, not str"),
        (("t",), {"ts": -1}, ValueError, "AsyncEvent.ts must be None or an int in [0, 2**64), not -1"),
        (("t",), {"tid": 2**64}, ValueError, f"AsyncEvent.tid must be None or an int in [0, 2**64), not {2**64}"),
        (("t",), {"ts": 1.5}, TypeError, "AsyncEvent.ts must be None or an int, not float"),
    ]
    for args, kwargs, exc, message in cases:
        with pytest.raises(exc, match=re.escape(message)):
            AE(*args, **kwargs)
    event.data = bytearray(b"new")  # type: ignore[assignment]  # converted to bytes
    assert type(event.data) is bytes
    with pytest.raises(TypeError, match=re.escape("AsyncEvent.name must be a str")):
        event.name = b"tick"  # type: ignore[assignment]
    assert event.name == "tick"  # unchanged by the refused value


def test_python_async_event_repr_eq_pickle_and_bytes() -> None:
    import pickle

    from falco_plugin.async_event import PyAsyncEvent as AE

    assert repr(AE("tick", b"x", ts=5)) == "AsyncEvent('tick', b'x', ts=5)"
    assert AE("tick", b"x") == AE("tick", b"x") and AE("tick", b"x") != AE("tick", b"x", tid=1)
    assert pickle.loads(pickle.dumps(AE("tick", b"x", 1, 2))) == AE("tick", b"x", 1, 2)
    with pytest.raises(TypeError):
        hash(AE("tick"))
    raw = AE("tick", b"x", ts=5).to_bytes()
    assert raw[:8] == (5).to_bytes(8, "little") and raw[42:] == b"tick\0x"


# A plugin that checks, inside the shim, that AsyncEvent is the C class and behaves as the
# Python one on a list of cases, then emits every kind of event emit() takes.
PARITY_PLUGIN = '''
import logging
import pickle
import types

from falco_plugin import AsyncEvent, AsyncEventPlugin, BackgroundTask, Plugin
from falco_plugin.async_event import PyAsyncEvent

log = logging.getLogger(__name__)


class Name(str):
    pass


def outcome(fn):
    try:
        return ("ok", repr(fn()))
    except Exception as exc:
        return ("raise", type(exc).__name__, str(exc))


def cases(cls):
    class Tick(cls):
        def __init__(self, n):
            super().__init__("tick", n.to_bytes(2, "little"))

    def setting(attr, value):
        event = cls("tick", b"x")
        setattr(event, attr, value)
        return event

    both = {
        "basic": lambda: cls("tick", b"x"),
        "all": lambda: cls("tick", b"x", 1, 2),
        "keywords": lambda: cls(tid=2, ts=1, data=b"x", name="tick"),
        "defaults": lambda: (cls("t").data, cls("t").ts, cls("t").tid),
        "bytearray": lambda: cls("tick", bytearray(b"ab")).data,
        "strided": lambda: cls("tick", memoryview(b"abcd")[::2]).data,
        "str subclass": lambda: type(cls(Name("tick")).name).__name__,
        "bool ts": lambda: type(cls("t", ts=True).ts).__name__,
        "max": lambda: cls("t", b"", 2**64 - 1, 2**64 - 1),
        "name int": lambda: cls(1),
        "data str": lambda: cls("t", "x"),
        "data None": lambda: cls("t", None),
        "ts negative": lambda: cls("t", ts=-1),
        "tid too big": lambda: cls("t", tid=2**64),
        "ts float": lambda: cls("t", ts=1.5),
        "set name": lambda: setting("name", 2),
        "set data": lambda: type(setting("data", bytearray(b"y")).data).__name__,
        "set ts": lambda: setting("ts", 5),
        "set tid": lambda: setting("tid", -1),
        "eq": lambda: (cls("a", b"x") == cls("a", b"x"), cls("a", b"x") != cls("a", b"x", 1), cls("a") == "a"),
        "pickle": lambda: pickle.loads(pickle.dumps(cls("a", b"x", 1, 2))) == cls("a", b"x", 1, 2),
        "to_bytes": lambda: cls("tick", b"x", 5, 6).to_bytes().hex(),
        "subclass": lambda: (Tick(3), Tick(3).data, isinstance(Tick(3), cls)),
    }
    kind_only = {  # the same exception type; messages name the type differently
        "hash": lambda: hash(cls("a")),
        "del": lambda: delattr(cls("a"), "name"),
        "no args": lambda: cls(),
        "5 args": lambda: cls("a", b"", 1, 2, 3),
        "bad keyword": lambda: cls("a", x=1),
        "twice": lambda: cls("a", name="b"),
    }
    return {k: outcome(f) for k, f in both.items()} | {k: outcome(f)[:2] for k, f in kind_only.items()}


class Parity(Plugin, AsyncEventPlugin):
    NAME = "parity"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "AsyncEvent in C and in Python"
    CONTACT = "https://example.com"
    ASYNC_EVENTS = ("tick", "tock")

    def __init__(self, config: None) -> None:
        self.task = BackgroundTask()
        self.thread = None

    def start_async(self, handler):
        c, py = cases(AsyncEvent), cases(PyAsyncEvent)
        log.info("implementation: %s", "C" if AsyncEvent is not PyAsyncEvent else "Python")
        log.info("parity: %d cases, differences: %s", len(c), {k: (c[k], py[k]) for k in c if c[k] != py[k]})

        class Tick(AsyncEvent):
            def __init__(self, n):
                super().__init__("tick", n.to_bytes(2, "little"))

        def emit():
            handler.emit(AsyncEvent("tick", b"c", ts=5))
            handler.emit(PyAsyncEvent("tick", b"py"))
            handler.emit(Tick(3))
            handler.emit(types.SimpleNamespace(name="tock", data=bytearray(b"duck"), ts=None, tid=None))
            handler.emit(AsyncEvent("".join(["ti", "ck"]), b"fresh"))
            handler.emit(AsyncEvent(Name("tock"), b"str subclass"))
            handler.emit_many([AsyncEvent("tick", b"many"), PyAsyncEvent("tock", b"many py")])
            for event in (AsyncEvent("nope"), PyAsyncEvent("tic"), types.SimpleNamespace(name=1)):
                try:
                    handler.emit(event)
                except ValueError as exc:
                    log.info("refused: %s", exc)
                except TypeError as exc:
                    log.info("refused: %s", exc)
            try:
                handler.emit(AsyncEvent("tick", b"with a thread", tid=7))
            except RuntimeError as exc:
                log.info("host said: %s", exc)
            return False

        self.thread = self.task.spawn(0, emit)

    def stop_async(self):
        self.task.request_stop_and_notify()
        if self.thread is not None:
            self.thread.join()
'''


@pytest.mark.timing
@pytest.mark.parametrize("source", ["counter", "test"])
def test_in_the_shim_async_event_is_the_c_class_and_behaves_like_the_python_one(
    tmp_path: Path, host: Host, built: Built, source: str
) -> None:
    # With the Python source (loaded first), falco_plugin.AsyncEvent is the counter .so's C
    # class, which the parity .so reads as a foreign type of the same layout; with the C
    # source, it is the parity .so's own.
    (tmp_path / "parity_plugin.py").write_text(PARITY_PLUGIN)
    if source == "counter":
        src = idle_source(built)
    else:
        src = ["-p", str(compile_c_plugin(CPLUGINS / "test_src.c")), "-o", "slow:100"]
    run = host("run", "--json", "--duration", "0.6", *src, "-p", built(f"{tmp_path}/parity_plugin.py:Parity"))
    assert run.returncode == 0, run
    assert "log info parity: implementation: C" in run.stderr, run.stderr
    assert "log info parity: parity: 29 cases, differences: {}" in run.stderr, run.stderr
    events = [(e.async_name, e.payload, e.ts) for e in async_events(run)]
    assert [e[:2] for e in events] == [
        ("tick", b"c"), ("tick", b"py"), ("tick", b"\x03\x00"), ("tock", b"duck"), ("tick", b"fresh"),
        ("tock", b"str subclass"), ("tick", b"many"), ("tock", b"many py"),
    ]
    assert events[0][2] == 5 and all(e[2] > 5 for e in events[1:])  # ts None: "now"
    refused = re.findall(r"log info parity: refused: (.*)", run.stderr)
    assert refused == [
        "async event 'nope' is not declared in Parity.ASYNC_EVENTS [\"tick\", \"tock\"]",
        "async event 'tic' is not declared in Parity.ASYNC_EVENTS [\"tick\", \"tock\"]",
        "AsyncEvent.name must be a str, not int",
    ]
    assert ("log info parity: host said: the host rejected async event 'tick': async events of plugin 'parity' "
            f"can have no thread associated with open event source '{source}'") in run.stderr, run.stderr
