"""authlog: sshd and sudo lines of an auth log as Falco events, with a brute-force alert.

A source that reads an auth log (``/var/log/auth.log`` by default, or the open params' path),
one event per line; fields for the program, the user, the client address and the sudo
command; and an async ``authlog_bruteforce`` event when one address has failed to log in
``threshold`` times.

    falco-plugin build examples/authlog/authlog.py:AuthLog -o libauthlog.so
    falco-plugin run libauthlog.so --open-params /var/log/auth.log --fields authlog.program,authlog.user,authlog.ip
"""

from __future__ import annotations

import queue
import re
from collections import Counter
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from pydantic import BaseModel, ConfigDict, Field

from falco_plugin import (
    AsyncEvent,
    AsyncEventPlugin,
    AsyncHandler,
    BackgroundTask,
    BackgroundThread,
    EndOfStream,
    Event,
    ExtractPlugin,
    Plugin,
    SourceInstance,
    SourcePlugin,
    field,
    per_batch,
    per_event,
)
from falco_plugin.event import PPME_ASYNCEVENT_E, PPME_PLUGINEVENT_E

LINE = re.compile(r"^(?P<stamp>\w{3} +\d+ [\d:]{8}) (?P<host>\S+) (?P<program>[\w-]+)(?:\[\d+\])?: (?P<text>.*)$")
SSHD = re.compile(r"(?P<result>Accepted|Failed) \w+ for (?:invalid user )?(?P<user>\S+) from (?P<ip>\S+)")
SUDO = re.compile(r"^\s*(?P<user>\S+) : .*COMMAND=(?P<command>.*)$")
ALERT = "authlog_bruteforce"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = "/var/log/auth.log"
    threshold: int = Field(default=5, ge=1, description="failed logins from one address before an alert")
    batch: int = Field(default=64, ge=1, description="lines per batch")
    follow: bool = Field(default=False, description="at the end of the file, wait for more lines (tail -f)")


class Reader(SourceInstance):
    """The lines of the log, ``batch`` at a time; the failures are counted as they are read."""

    def __init__(self, plugin: AuthLog, path: str) -> None:
        self.plugin = plugin
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close()

    def next_batch(self) -> list[bytes]:
        lines = [line.rstrip(b"\n") for line in self.file.readlines(self.plugin.config.batch * 200)]
        if not lines:
            if self.plugin.config.follow:
                return []  # nothing now: Falco asks again (the shim pauses 10 ms first)
            raise EndOfStream
        for line in lines:
            self.plugin.count_failure(line)
        return lines

    def close(self) -> None:
        self.file.close()


class AuthLog(Plugin, SourcePlugin, ExtractPlugin, AsyncEventPlugin):
    NAME = "authlog"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "sshd and sudo lines of an auth log, with a brute-force alert"
    CONTACT = "https://example.com"
    PLUGIN_ID = 999
    EVENT_SOURCE = "authlog"
    ASYNC_EVENTS = (ALERT,)
    EVENT_SOURCES = ("authlog",)
    EXTRACT_EVENT_TYPES = (PPME_PLUGINEVENT_E.CODE, PPME_ASYNCEVENT_E.CODE)  # the lines and the alerts

    def __init__(self, config: Config) -> None:
        self.config = config
        self.failures: Counter[str] = Counter()
        self.alerts: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.task = BackgroundTask()
        self.thread: BackgroundThread | None = None

    def open(self, params: str) -> Reader:
        return Reader(self, params or self.config.path)

    def count_failure(self, line: bytes) -> None:
        ssh = SSHD.search(line.decode(errors="replace"))
        if ssh and ssh["result"] == "Failed":
            self.failures[ssh["ip"]] += 1
            if self.failures[ssh["ip"]] == self.config.threshold:
                self.alerts.put(ssh["ip"])

    # -- async: the alerts, sent from a thread of the plugin's own

    def start_async(self, handler: AsyncHandler) -> None:
        self.thread = self.task.spawn(0.02, lambda: self.send_alerts(handler))

    def send_alerts(self, handler: AsyncHandler) -> None:
        while not self.alerts.empty():
            handler.emit(AsyncEvent(ALERT, self.alerts.get().encode()))

    def stop_async(self) -> None:
        self.task.request_stop_and_notify()
        if self.thread is not None:
            thread, self.thread = self.thread, None
            thread.join()

    # -- fields

    @per_event
    def parsed(self, event: Event) -> dict[str, str]:
        line = LINE.match((event.payload or b"").decode(errors="replace"))
        if line is None:
            return {}
        found = SSHD.search(line["text"]) if line["program"] == "sshd" else SUDO.match(line["text"])
        return {"program": line["program"], **(found.groupdict() if found else {})}

    @per_batch
    def programs(self, payloads: Sequence[bytes]) -> list[str | None]:
        return [m["program"] if (m := LINE.match(p.decode(errors="replace"))) else None for p in payloads]

    @field("authlog.program", desc="the program that logged the line (sshd, sudo, ...)", batch=True)
    def program(self, payloads: Sequence[bytes]) -> list[str | None]:
        return self.programs(payloads)

    @field("authlog.user", desc="the user logging in, or running sudo")
    def user(self, event: Event) -> str | None:
        return self.parsed(event).get("user")

    @field("authlog.failed", desc="whether an ssh login failed")
    def failed(self, event: Event) -> bool | None:
        result = self.parsed(event).get("result")
        return None if result is None else result == "Failed"

    @field("authlog.ip", desc="the ssh client's address; for an alert, the attacker's")
    def ip(self, event: Event) -> IPv4Address | IPv6Address | None:
        if event.async_name == ALERT:
            return ip_address((event.payload or b"").decode())
        text = self.parsed(event).get("ip")
        return ip_address(text) if text else None

    @field("authlog.command", desc="the command run with sudo")
    def command(self, event: Event) -> str | None:
        return self.parsed(event).get("command")
