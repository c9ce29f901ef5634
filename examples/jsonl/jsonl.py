"""jsonl: JSON lines from a file or standard input as Falco events, with fields for rules.

Each line is one event (its payload is the line, without the newline). The open parameters
are the path to read, ``-`` or empty for standard input; with ``follow`` the source does not
end at the end of the file but waits for more lines (as ``tail -F``: a truncated or replaced
file is read again from its start).

    falco-plugin build examples/jsonl/jsonl.py:JsonLines -o libjsonl.so
    printf '{"user": {"name": "root"}, "n": 1}\\n' | falco-plugin run libjsonl.so \\
        --fields 'jsonl.value[/user/name],jsonl.raw'

Fields: ``jsonl.value[/json/pointer]`` is the value at an RFC 6901 JSON pointer (a string as
is, any other JSON value as compact JSON; no value when the pointer does not resolve or the
line is not JSON); without an argument, the whole document. ``jsonl.raw`` is the line.
"""

from __future__ import annotations

import json
import logging
import os
import select
from typing import Any

import jsonpointer
from pydantic import BaseModel, ConfigDict, Field

from falco_plugin import EndOfStream, Event, ExtractPlugin, Key, Plugin, SourceInstance, SourcePlugin, field, per_event

log = logging.getLogger(__name__)

_NOT_JSON = object()


class Config(BaseModel):
    """The init config (``init_config`` in falco.yaml)."""

    model_config = ConfigDict(extra="forbid")

    follow: bool = Field(default=False, description="at the end of the input, wait for more lines")
    poll_interval: float = Field(default=0.1, gt=0, le=10, description="seconds between two looks when following")
    batch_size: int = Field(default=256, ge=1, le=65536, description="lines per batch at most")
    max_line_bytes: int = Field(default=1 << 20, ge=64, description="a longer line is cut to this size")


class LineReader(SourceInstance):
    """Lines of a file descriptor, read without blocking the host longer than ``poll_interval``."""

    def __init__(self, path: str, config: Config) -> None:
        self.path = path
        self.config = config
        self.stdin = path in ("", "-")
        self.fd = 0 if self.stdin else os.open(path, os.O_RDONLY)
        self.buffer = b""
        self.position = 0
        self.eof = False

    def close(self) -> None:
        if not self.stdin:
            os.close(self.fd)

    def _reopen_if_replaced(self) -> None:
        """``tail -F``: a file truncated below what was read, or replaced, is read from the start."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away; wait for the new one
        mine = os.fstat(self.fd)
        if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino) or current.st_size < self.position:
            log.info("%s was truncated or replaced: reading it from the start", self.path)
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_RDONLY)
            self.position = 0
            self.buffer = b""

    def _read(self) -> bytes:
        if self.stdin:
            ready, _, _ = select.select([self.fd], [], [], self.config.poll_interval)
            if not ready:
                return b""
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
            return chunk
        chunk = os.read(self.fd, 1 << 16)
        self.position += len(chunk)
        if not chunk:
            self.eof = True
        return chunk

    def next_batch(self) -> list[bytes]:
        lines: list[bytes] = []
        while len(lines) < self.config.batch_size:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line, self.buffer = self.buffer[:newline], self.buffer[newline + 1 :]
                if line.strip():
                    lines.append(line[: self.config.max_line_bytes])
                continue
            if len(self.buffer) > self.config.max_line_bytes:  # a line that never ends: cut it
                lines.append(self.buffer[: self.config.max_line_bytes])
                self.buffer = b""
            if lines:
                return lines  # deliver what we have before waiting for more
            self.eof = False
            chunk = self._read()
            if chunk:
                self.buffer += chunk
                continue
            if not self.eof:
                return []  # stdin had nothing within poll_interval
            if self.config.follow and not self.stdin:
                self._reopen_if_replaced()
                return []  # nothing now: the shim pauses before the next call
            last = [self.buffer[: self.config.max_line_bytes]] if self.buffer.strip() else []
            self.buffer = b""
            raise EndOfStream(last)
        return lines


class JsonLines(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "jsonl"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "JSON lines from a file or standard input, with fields at JSON pointers"
    CONTACT = "https://github.com/falcosecurity/plugins"
    PLUGIN_ID = 999  # reserved for development: register an id before shipping
    EVENT_SOURCE = "jsonl"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pointers: dict[str, jsonpointer.JsonPointer] = {}

    def open(self, params: str) -> LineReader:
        path = params.strip()
        shown = "standard input" if path in ("", "-") else path
        log.info("reading %s%s", shown, " (following)" if self.config.follow else "")
        return LineReader(path, self.config)

    def event_to_string(self, event: Event) -> str:
        return (event.payload or b"").decode("utf-8", "replace")

    @per_event
    def document(self, event: Event) -> Any:
        try:
            return json.loads(event.payload or b"")
        except ValueError:
            return _NOT_JSON

    def pointer(self, text: str) -> jsonpointer.JsonPointer:
        pointer = self.pointers.get(text)
        if pointer is None:
            pointer = self.pointers[text] = jsonpointer.JsonPointer(text)  # raises on a bad pointer
        return pointer

    @field("jsonl.value", desc="the value at a JSON pointer (RFC 6901), e.g. jsonl.value[/user/name]",
           arg=Key())
    def value(self, event: Event, pointer: str | None) -> str | None:
        doc = self.document(event)
        if doc is _NOT_JSON:
            return None
        found = self.pointer(pointer or "").resolve(doc, _NOT_JSON)
        if found is _NOT_JSON or found is None:
            return None
        return found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))

    @field("jsonl.raw", desc="the line, as read")
    def raw(self, event: Event) -> str:
        return (event.payload or b"").decode("utf-8", "replace")
