"""file_notify: async events when watched files change, with fields for Falco rules.

Every ``interval`` seconds the plugin looks at the configured paths (files, or directories
whose direct entries are watched) and emits a ``file_notify`` async event for each change,
with a JSON payload::

    {"path": "/etc/passwd", "change": "modified", "old_size": 1021, "new_size": 1090,
     "old_hash": "sha256:...", "new_hash": "sha256:..."}

``change`` is ``created``, ``modified`` or ``deleted``. The fields ``file_notify.path``,
``file_notify.change``, ``file_notify.old_size``, ``file_notify.new_size``,
``file_notify.old_hash`` and ``file_notify.new_hash`` read those events in rules.

    falco-plugin build examples/file_notify/file_notify.py:FileNotify -o libfile_notify.so
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from falco_plugin import (
    AsyncEvent,
    AsyncEventPlugin,
    AsyncHandler,
    BackgroundTask,
    BackgroundThread,
    Event,
    ExtractPlugin,
    Plugin,
    field,
    per_event,
)
from falco_plugin.event import PPME_ASYNCEVENT_E

log = logging.getLogger(__name__)
EVENT_NAME = "file_notify"


class FileNotifyConfig(BaseModel):
    paths: list[str] = Field(min_length=1, description="Files, or directories whose entries are watched",
                             examples=[["/etc/passwd", "/etc/sudoers.d"]])
    interval: float = Field(default=1.0, gt=0, le=3600, description="Seconds between two looks")
    max_hash_bytes: int = Field(default=64 * 1024 * 1024, ge=0, description="Larger files are not hashed")


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    hash: str


def file_hash(path: str, limit: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                return ""
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
    except OSError:
        return ""
    return "sha256:" + h.hexdigest()


class Watcher:
    """Snapshots of the watched files, and what changed between two snapshots."""

    def __init__(self, paths: list[str], max_hash_bytes: int) -> None:
        self.paths = [os.path.abspath(p) for p in paths]
        self.max_hash_bytes = max_hash_bytes
        self.known: dict[str, FileState] = self.snapshot({})

    def files(self) -> list[str]:
        out = []
        for p in self.paths:
            if os.path.isdir(p):
                try:
                    out += [os.path.join(p, n) for n in sorted(os.listdir(p))]
                except OSError as exc:
                    log.warning("cannot list %s: %s", p, exc)
            else:
                out.append(p)
        return out

    def snapshot(self, previous: dict[str, FileState]) -> dict[str, FileState]:
        states = {}
        for path in self.files():
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            old = previous.get(path)
            if old is not None and (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
                states[path] = old  # unchanged: no need to read it again
            else:
                states[path] = FileState(st.st_size, st.st_mtime_ns, file_hash(path, self.max_hash_bytes))
        return states

    def changes(self) -> list[dict[str, Any]]:
        current = self.snapshot(self.known)
        found = []
        for path in sorted(set(self.known) | set(current)):
            old, new = self.known.get(path), current.get(path)
            if old == new or (old and new and old.hash == new.hash and old.size == new.size and old.hash):
                continue  # untouched, or touched without a change of content
            change = "created" if old is None else "deleted" if new is None else "modified"
            found.append({
                "path": path, "change": change,
                "old_size": old.size if old else None, "new_size": new.size if new else None,
                "old_hash": old.hash if old else None, "new_hash": new.hash if new else None,
            })
        self.known = current
        return found


class FileNotify(Plugin, AsyncEventPlugin, ExtractPlugin):
    NAME = "file_notify"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "Async events when watched files are created, modified or deleted"
    CONTACT = "https://github.com/falcosecurity/plugins"
    ASYNC_EVENTS = (EVENT_NAME,)
    EVENT_SOURCES = ()  # inject into whatever source is open (syscall in a usual Falco)
    EXTRACT_EVENT_SOURCES = ()  # and read its events there
    EXTRACT_EVENT_TYPES = (PPME_ASYNCEVENT_E.CODE,)  # async events only

    def __init__(self, config: FileNotifyConfig) -> None:
        self.config = config
        self.task = BackgroundTask()
        self.thread: BackgroundThread | None = None

    def start_async(self, handler: AsyncHandler) -> None:
        if self.thread is not None:
            self.stop_async()
        watcher = Watcher(self.config.paths, self.config.max_hash_bytes)
        log.info("watching %d files under %s", len(watcher.known), ", ".join(watcher.paths))

        def look() -> None:
            events = [AsyncEvent(EVENT_NAME, json.dumps(c).encode()) for c in watcher.changes()]
            if events:
                handler.emit_many(events)

        self.thread = self.task.spawn(self.config.interval, look)

    def stop_async(self) -> None:
        self.task.request_stop_and_notify()
        if self.thread is not None:
            thread, self.thread = self.thread, None
            thread.join()

    @per_event
    def change(self, event: Event) -> dict[str, Any] | None:
        if event.async_name != EVENT_NAME:
            return None
        return json.loads(event.payload or b"{}")  # type: ignore[no-any-return]

    def _get(self, event: Event, key: str) -> Any:
        record = self.change(event)
        return None if record is None else record.get(key)

    @field("file_notify.path", desc="The path of the file that changed", add_output=True)
    def path(self, event: Event) -> str | None:
        return self._get(event, "path")  # type: ignore[no-any-return]

    @field("file_notify.change", desc="created, modified or deleted", add_output=True)
    def kind(self, event: Event) -> str | None:
        return self._get(event, "change")  # type: ignore[no-any-return]

    @field("file_notify.old_size", desc="Size before the change (none if created)")
    def old_size(self, event: Event) -> int | None:
        return self._get(event, "old_size")  # type: ignore[no-any-return]

    @field("file_notify.new_size", desc="Size after the change (none if deleted)")
    def new_size(self, event: Event) -> int | None:
        return self._get(event, "new_size")  # type: ignore[no-any-return]

    @field("file_notify.old_hash", desc="sha256 of the content before the change")
    def old_hash(self, event: Event) -> str | None:
        return self._get(event, "old_hash") or None

    @field("file_notify.new_hash", desc="sha256 of the content after the change")
    def new_hash(self, event: Event) -> str | None:
        return self._get(event, "new_hash") or None
