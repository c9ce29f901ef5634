"""BackgroundTask and the file_notify watcher, in plain Python (the end-to-end tests through
the shim and host are in test_async.py)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from support import ROOT

from falco_plugin import AsyncEvent, BackgroundTask

sys.path.insert(0, str(ROOT / "examples" / "file_notify"))
from file_notify import Watcher


@pytest.mark.timing
def test_runs_every_interval_until_stopped() -> None:
    task, ticks = BackgroundTask(), []
    thread = task.spawn(0.005, lambda: ticks.append(time.monotonic()))
    time.sleep(0.1)
    task.request_stop_and_notify()
    thread.join()
    assert 5 <= len(ticks) <= 25
    assert not thread.is_alive()


@pytest.mark.timing
def test_stop_wakes_the_thread_at_once() -> None:
    task = BackgroundTask()
    thread = task.spawn(3600, lambda: None)  # would sleep an hour between runs
    time.sleep(0.02)
    started = time.monotonic()
    task.request_stop_and_notify()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0


@pytest.mark.timing
def test_join_reraises_what_the_function_raised() -> None:
    task, calls = BackgroundTask(), []

    def fn() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("third call fails")

    thread = task.spawn(0.001, fn)
    time.sleep(0.05)
    with pytest.raises(ValueError, match="third call fails"):
        thread.join()
    assert len(calls) == 3  # the loop ended at the exception
    thread.join()  # raised once, not again


def test_returning_false_ends_the_loop() -> None:
    task, calls = BackgroundTask(), []

    def work() -> bool:
        calls.append(1)
        return len(calls) < 4

    thread = task.spawn(0.001, work)
    thread.join(timeout=5)
    assert len(calls) == 4


@pytest.mark.timing
def test_can_start_again_after_a_stop() -> None:
    task, ticks = BackgroundTask(), []
    first = task.spawn(0.001, lambda: ticks.append("a"))
    task.request_stop_and_notify()
    first.join()
    second = task.spawn(0.001, lambda: ticks.append("b"))
    time.sleep(0.03)
    assert second.is_alive()
    task.request_stop_and_notify()
    second.join()
    assert "b" in ticks


def test_threads_are_daemons() -> None:
    task = BackgroundTask()
    thread = task.spawn(3600, lambda: None)
    daemons = [t.daemon for t in threading.enumerate() if t.name.startswith("falco-plugin:")]
    assert daemons and all(daemons)
    task.request_stop_and_notify()
    thread.join()


def test_async_event_bytes_are_the_ppme_asyncevent_framing() -> None:
    data = AsyncEvent("sampleticker", b"x").to_bytes()
    assert len(data) == 56
    assert data[20:22] == (402).to_bytes(2, "little")
    assert data[42:55] == b"sampleticker\0" and data[55:] == b"x"


def test_watcher_reports_created_modified_deleted(tmp_path: Path) -> None:
    watched = tmp_path / "dir"
    watched.mkdir()
    (watched / "a").write_text("one")
    w = Watcher([str(watched)], max_hash_bytes=1 << 20)
    assert w.changes() == []
    (watched / "a").write_text("one, two")
    (watched / "b").write_text("new")
    changes = {c["path"].rsplit("/", 1)[1]: c for c in w.changes()}
    assert changes["a"]["change"] == "modified"
    assert (changes["a"]["old_size"], changes["a"]["new_size"]) == (3, 8)
    assert changes["a"]["old_hash"] != changes["a"]["new_hash"]
    assert changes["a"]["new_hash"].startswith("sha256:")
    assert changes["b"]["change"] == "created" and changes["b"]["old_size"] is None
    (watched / "b").unlink()
    [gone] = w.changes()
    assert gone["change"] == "deleted" and gone["new_size"] is None
