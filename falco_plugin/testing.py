"""Test a plugin the way Falco runs it: the real ``.so``, built once per session, in our host.

Installed as a pytest plugin (the ``pytest11`` entry point ``falco_plugin``), it gives the
``falco_plugin_build`` fixture. Nothing is mocked: the class is built with ``falco-plugin
build`` (cached by the hash of its source and of the SDK), loaded by the libsinsp-like host
(``falco-plugin-host``) and driven through the plugin API; results come back as plain Python
objects. A run that fails raises :class:`PluginError` with the plugin's own error text::

    # tests/test_myplugin.py
    from falco_plugin.event import PPME_SYSCALL_OPEN_X
    from falco_plugin.testing import BuildPlugin

    def test_counts_down(falco_plugin_build: BuildPlugin) -> None:
        plugin = falco_plugin_build("myplugin.py:MyPlugin")      # or "mypackage.module:MyPlugin"
        events = plugin.events(open_params="3", fields=["countdown.value", "countdown.divisible[2]"])
        assert [e.fields["countdown.value"] for e in events] == [2, 1, 0]
        assert events[0].fields["countdown.divisible[2]"] == 1

    def test_opens(falco_plugin_build: BuildPlugin) -> None:
        plugin = falco_plugin_build("opens.py:Opens")
        run = plugin.feed([PPME_SYSCALL_OPEN_X(fd=3, name="/etc/passwd", flags=1, mode=0, dev=0, ts=1, tid=7)],
                          fields=["opens.name"], dump_tables=True)
        assert run.events[0].fields["opens.name"] == "/etc/passwd"
        assert run.tables["threads"][7]["opens"] == 1      # a field the plugin added, read back

The same plugin in a real Falco, with a rules file: :meth:`BuiltPlugin.falco_alerts` writes a
``falco.yaml`` (the ``nodriver`` engine, the plugin, the rules, JSON output), runs Falco and
returns its alerts as dicts (``rule``, ``priority``, ``output``, ``output_fields``, ``source``).
Falco is ``$FALCO``, else ``falco`` on ``PATH``; without one the test is skipped and says how to
get one::

    def test_rule_fires(falco_plugin_build: BuildPlugin) -> None:
        plugin = falco_plugin_build("myplugin.py:MyPlugin")
        alerts = plugin.falco_alerts("myplugin_rules.yaml", open_params="3")
        assert [a["rule"] for a in alerts] == ["Countdown at zero"]
        assert alerts[0]["output_fields"]["countdown.value"] == 0

Why a subprocess and not ``cffi``: the shim embeds CPython. Loaded into the pytest process it
would join pytest's interpreter (same GIL, same ``sys.modules``, the plugin's module already
imported by the build), so the test would not see what Falco sees, and a crash in the plugin or
the shim would take the whole test session with it. The host is the program that runs plugins
for ``falco-plugin run``; the JSON it prints is cheap next to the cost of a build.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ._tooling import cc
from ._tooling.build import build, load_plugin_class
from ._tooling.falco import FalcoRun
from ._tooling.host import host_binary
from .event import RawEvent, TypedEvent
from .event.scap import build_capture

__all__ = [
    "BuildPlugin",
    "BuiltPlugin",
    "Event",
    "FalcoError",
    "FalcoRun",
    "LogLine",
    "PluginError",
    "Run",
    "UnitEvent",
    "falco_binary",
    "falco_plugin_build",
    "make_event",
]

DEFAULT_TIMEOUT = 120.0


class PluginError(AssertionError):
    """A host run failed; the message is the plugin's own error text (the host's ``error:`` lines)."""

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message)
        self.run = run


@dataclass
class Event:
    """One event the host delivered, with the fields extracted from it (None: no value)."""

    evtnum: int
    source: str
    ts: int
    tid: int
    type: int
    payload: bytes
    fields: dict[str, Any]
    plugin: str | None = None
    plugin_id: int | None = None
    async_name: str | None = None
    info: str | None = None
    name: str | None = None  # the libs event name, for syscall events of a capture
    len: int = 0  # the event's size in bytes, header included
    cpu: int | None = None  # the CPU of a capture's syscall event
    offsets: dict[str, Any] | None = None  # field -> [[start, length], ...] (run with offsets)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        return cls(
            evtnum=obj["evtnum"],
            source=obj["source"],
            ts=obj["ts"],
            tid=obj["tid"],
            type=obj["type"],
            payload=bytes.fromhex(obj.get("payload_hex", "")),
            fields=dict(obj.get("fields") or {}),
            plugin=obj.get("plugin"),
            plugin_id=obj.get("plugin_id"),
            async_name=obj.get("async_name"),
            info=obj.get("info"),
            name=obj.get("name"),
            len=obj.get("len", 0),
            cpu=obj.get("cpu"),
            offsets=obj.get("offsets"),
        )


@dataclass
class LogLine:
    """A line the plugin logged (``logging`` reaches the host's log with its severity)."""

    severity: str
    component: str
    message: str


_LOG_RE = re.compile(r"^log (\w+) ([^:]*): (.*)$")


Table = dict[Any, dict[str, Any]] | list[dict[str, Any]]


def _keyed(entries: list[dict[str, Any]]) -> Table:
    """A table's entries by key (nested tables too). The table API gives no way to read the keys
    of a table a plugin owns: those come as a list of entries."""
    rows: list[tuple[Any, dict[str, Any]]] = []
    for entry in entries:
        values = {}
        for name, value in entry.items():
            if name == "key":
                continue
            if isinstance(value, list) and all(isinstance(v, dict) and "key" in v for v in value):
                value = _keyed(value)
            values[name] = value
        rows.append((entry.get("key"), values))
    if any(key is None for key, _ in rows):
        return [values for _, values in rows]
    return dict(rows)


@dataclass(repr=False)
class Run:
    """Everything one host run printed, sorted out. ``records`` are all the JSON lines as printed;
    ``summary`` is the session's (or the capture's), ``plugins`` each plugin's by name."""

    returncode: int
    stdout: str
    stderr: str
    events: list[Event] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    inits: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    dumped: list[Event] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, proc: subprocess.CompletedProcess[str]) -> Run:
        run = cls(proc.returncode, proc.stdout, proc.stderr)
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                continue
            obj = json.loads(line)
            run.records.append(obj)
            if "summary" in obj:
                run.summaries.append(obj["summary"])
                kind = obj["summary"].get("kind")
                if kind is None:  # the session's (or capture's); not a plugin's or a dump's
                    run.summary = obj["summary"]
                elif kind == "plugin":
                    run.plugins[obj["summary"]["plugin"]] = obj["summary"]
            elif "init" in obj:
                run.inits.append(obj["init"])
            elif "table" in obj:
                run.tables[obj["table"]["name"]] = _keyed(obj["table"]["entries"])
            elif "metrics" in obj:
                run.metrics.update({m["name"]: m["value"] for m in obj["metrics"]["metrics"]})
            elif "dump" in obj:
                d = obj["dump"]
                run.dumped.append(Event(0, "", d["ts"], d["tid"], 402, bytes.fromhex(d["payload_hex"]), {},
                                        plugin=d["plugin"], async_name=d["async_name"]))
            elif "evtnum" in obj:
                run.events.append(Event.from_json(obj))
        in_error = False
        for line in proc.stderr.splitlines():
            match = _LOG_RE.match(line)
            if match:
                run.logs.append(LogLine(*match.groups()))
                in_error = False
            elif line.startswith("error: "):
                run.errors.append(line[len("error: "):])
                in_error = True
            elif in_error and not line.startswith("hint: "):
                run.errors[-1] += "\n" + line  # a message of several lines (a pydantic error)
            else:
                in_error = False
        return run

    def __repr__(self) -> str:
        return f"<Run rc={self.returncode}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}>"

    def payloads(self, source: str | None = None) -> list[bytes]:
        """The payloads of the events (of one source)."""
        return [e.payload for e in self.events if source in (None, e.source)]

    def log(self, severity: str | None = None) -> list[str]:
        """The messages logged (of one severity: ``"info"``, ``"error"``, ...)."""
        return [x.message for x in self.logs if severity in (None, x.severity)]

    def check(self) -> Run:
        if self.returncode != 0:
            text = "; ".join(self.errors) or self.stderr.strip() or f"host exited with {self.returncode}"
            raise PluginError(text, self)
        return self


Events = Iterable[bytes | RawEvent | TypedEvent]


class FalcoError(AssertionError):
    """Falco failed (bad rules, a plugin that did not load, ...); the message is Falco's own."""

    def __init__(self, message: str, run: FalcoRun) -> None:
        super().__init__(message)
        self.run = run


def falco_binary() -> str:
    """The Falco binary for tests (``$FALCO``, else ``falco`` on ``PATH``); skips the calling
    test, with where it looked and how to get one, when there is none."""
    from ._tooling.falco import FalcoNotFound, find_falco

    try:
        return find_falco()
    except FalcoNotFound as exc:
        first = str(exc).splitlines()[0]
        pytest.skip(f"needs a real Falco: {first}; get one from the falco.org packages, the "
                    "falcosecurity/falco container image or a source build, then set FALCO=PATH")


class BuiltPlugin:
    """A plugin ``.so`` and the ways to drive it through the host. Each call is one host run.

    ``config`` is the init config (a dict is sent as JSON); ``fields`` are field names with their
    argument (``"x.value[/a/b]"``); ``plugins`` are other libraries loaded beside it (paths or
    BuiltPlugin objects, with their config as ``(plugin, config)``).
    """

    def __init__(self, path: Path, config: str | dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.config = config

    def __repr__(self) -> str:
        return f"BuiltPlugin({str(self.path)!r})"

    def with_config(self, config: str | dict[str, Any]) -> BuiltPlugin:
        """The same library with another default init config."""
        return BuiltPlugin(self.path, config)

    def info(self) -> dict[str, Any]:
        """What ``falco-plugin info --json`` shows (name, capabilities, fields, event types, ...)."""
        from ._tooling.cli import host_info

        info, error = host_info(str(self.path))
        if info is None:
            raise PluginError(error, Run(2, "", error, errors=[error]))
        return info

    # -- runs -----------------------------------------------------------------------------------

    def run(
        self,
        *,
        open_params: str | None = None,
        fields: Sequence[str] = (),
        max_events: int | None = None,
        duration: float | None = None,
        config: str | dict[str, Any] | None = None,
        plugins: Sequence[Any] = (),
        dump_tables: bool = False,
        dump_state: bool = False,
        metrics: bool = False,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        stdin: str | None = None,
    ) -> Run:
        """Open this plugin's source (``falco-plugin run``) and collect what happened; ``stdin`` is
        the host's standard input (a plugin reading it gets that text)."""
        argv = ["run", "--json"]
        argv += self._common(fields, max_events, dump_tables, metrics)
        if duration is not None:
            argv += ["--duration", str(duration)]
        if dump_state:
            argv.append("--dump-state")
        argv += _plugin_args([(self, config), *plugins], open_params)
        return self._host(argv, check, timeout, stdin)

    def events(self, open_params: str | None = None, fields: Sequence[str] = (), **kw: Any) -> list[Event]:
        """The events of one session of this plugin's source, with ``fields`` extracted."""
        return self.run(open_params=open_params, fields=fields, **kw).events

    def replay(
        self,
        capture: str | os.PathLike[str],
        *,
        fields: Sequence[str] = (),
        max_events: int | None = None,
        config: str | dict[str, Any] | None = None,
        plugins: Sequence[Any] = (),
        dump_tables: bool = False,
        metrics: bool = False,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Run:
        """Feed a scap capture's events through ``parse_event`` and extraction, with the host's
        ``threads`` table filled from the capture (``falco-plugin replay``)."""
        argv = ["replay", "--json", "--capture", os.fspath(Path(capture).resolve())]
        argv += self._common(fields, max_events, dump_tables, metrics)
        argv += _plugin_args([(self, config), *plugins], None)
        return self._host(argv, check, timeout)

    def feed(self, events: Events, **kw: Any) -> Run:
        """Replay synthetic syscall events (typed events of :mod:`falco_plugin.event`, raw
        events or their bytes) as a capture: parsing, extraction and tables as for ``replay``."""
        data = build_capture(e if isinstance(e, bytes | bytearray) else e.to_bytes() for e in events)
        with tempfile.TemporaryDirectory(prefix="falco-plugin-feed-") as tmp:
            capture = Path(tmp) / "events.scap"
            capture.write_bytes(data)
            return self.replay(capture, **kw)

    def extract(self, events: Events, fields: Sequence[str], **kw: Any) -> list[dict[str, Any]]:
        """The values of ``fields`` for each synthetic event (see :meth:`feed`)."""
        return [e.fields for e in self.feed(events, fields=fields, **kw).events]

    def async_events(
        self,
        timeout: float = 1.0,
        *,
        source: BuiltPlugin | None = None,
        open_params: str | None = None,
        fields: Sequence[str] = (),
        config: str | dict[str, Any] | None = None,
        dump_state: bool = False,
    ) -> Run:
        """Attach this async plugin to a source for ``timeout`` seconds; ``run.events`` are the
        async events it emitted (``e.async_name``, ``e.payload``), ``run.dumped`` what its
        ``dump_state`` emitted at the end. The source is the plugin's own if it has one, else
        ``source``, else an idle SDK plugin (source ``testing``)."""
        argv = ["run", "--json", "--duration", str(timeout), *self._common(fields, None, False, False)]
        if dump_state:
            argv.append("--dump-state")
        if source is None and "sourcing" in self.info()["capabilities"]:
            argv += _plugin_args([(self, config)], open_params)  # into its own source
        else:
            src = source if source is not None else _idle_source()
            argv += _plugin_args([src], open_params) + _plugin_args([(self, config)], None)
        run = self._host(argv, True, timeout + DEFAULT_TIMEOUT)
        run.events = [e for e in run.events if e.async_name is not None]
        return run

    # -- in real Falco ---------------------------------------------------------------------------

    def in_falco(
        self,
        rules: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        open_params: str | None = None,
        config: str | dict[str, Any] | None = None,
        plugins: Sequence[Any] = (),
        duration: float | None = None,
        alerts: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        falco_args: Sequence[str] = (),
        check: bool = True,
    ) -> FalcoRun:
        """Run this plugin (and ``plugins`` beside it, as for :meth:`run`) in a real Falco with
        ``rules`` (a file or a list; relative paths from the current directory). Falco stops by
        itself when a source plugin's events are over, else after ``duration`` seconds or once
        ``alerts`` alerts came. Skips the test when no Falco is found (:func:`falco_binary`);
        with ``check``, a Falco that fails raises :class:`FalcoError` with its own messages."""
        from ._tooling.falco import plugin_spec, run_falco

        falco = falco_binary()
        specs = []
        for i, spec in enumerate([(self, config), *plugins]):
            plugin, cfg = spec if isinstance(spec, tuple) else (spec, None)
            if isinstance(plugin, BuiltPlugin):
                path, cfg = plugin.path, cfg if cfg is not None else plugin.config
            else:
                path = Path(plugin)
            specs.append(plugin_spec(path, cfg, open_params if i == 0 else None))
        files = [rules] if isinstance(rules, str | os.PathLike) else list(rules)
        run = run_falco(specs, files, falco=falco, duration=duration, alerts=alerts, timeout=timeout,
                        extra=falco_args)
        if check and run.returncode != 0:
            raise FalcoError(f"Falco exited with {run.returncode}:\n{run.stderr.strip()}", run)
        return run

    def falco_alerts(self, rules: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                     **kw: Any) -> list[dict[str, Any]]:
        """The alerts of a real Falco running this plugin with ``rules`` (see :meth:`in_falco`):
        one dict per alert, Falco's JSON output (``rule``, ``priority``, ``output``,
        ``output_fields``, ``source``, ``time``, ``tags``)."""
        return self.in_falco(rules, **kw).alerts

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _common(fields: Sequence[str], max_events: int | None, dump_tables: bool, metrics: bool) -> list[str]:
        argv: list[str] = []
        if fields:
            argv += ["--fields", ",".join(fields)]
        if max_events is not None:
            argv += ["-n", str(max_events)]
        if dump_tables:
            argv.append("--dump-tables")
        if metrics:
            argv.append("--metrics")
        return argv

    def _host(self, argv: list[str], check: bool, timeout: float, stdin: str | None = None) -> Run:
        proc = subprocess.run([str(host_binary()), *argv], capture_output=True, text=True, timeout=timeout,
                              input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
        run = Run.parse(proc)
        libraries = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-p"]
        _typed_addresses(run, libraries)
        return run.check() if check else run


_FIELD_TYPES: dict[str, dict[str, str]] = {}


def _typed_addresses(run: Run, libraries: Sequence[str]) -> None:
    """ipaddr values become ``ipaddress`` objects, as the plugin returned them (the host prints
    text). ipnet values stay text: the plugin API passes a network's address without its prefix."""
    types: dict[str, str] = {}
    for path in libraries:
        library = f"{path}@{os.stat(path).st_mtime_ns}"  # a rebuilt library may have other fields
        if library not in _FIELD_TYPES:
            try:
                fields = BuiltPlugin(Path(path)).info().get("fields") or []
            except PluginError:
                fields = []
            _FIELD_TYPES[library] = {f["name"]: f["type"] for f in fields if f["type"] == "ipaddr"}
        types.update(_FIELD_TYPES[library])
    if not types:
        return
    for event in run.events:
        for name, value in event.fields.items():
            if value is not None and name.split("[", 1)[0] in types:
                address = ipaddress.ip_address
                event.fields[name] = [address(v) for v in value] if isinstance(value, list) else address(value)


def _config_text(config: str | dict[str, Any] | None) -> str | None:
    return json.dumps(config) if isinstance(config, dict) else config


def _plugin_args(specs: Sequence[Any], open_params: str | None) -> list[str]:
    """``-p LIB [-c CONFIG] [-o PARAMS]`` for each spec; the first gets ``open_params``."""
    argv: list[str] = []
    for i, spec in enumerate(specs):
        plugin, config = spec if isinstance(spec, tuple) else (spec, None)
        if isinstance(plugin, BuiltPlugin):
            path, config = plugin.path, config if config is not None else plugin.config
        else:
            path = Path(plugin)
        argv += ["-p", str(Path(path).resolve())]
        text = _config_text(config)
        if text is not None:
            argv += ["-c", text]
        if i == 0 and open_params is not None:
            argv += ["-o", open_params]
    return argv


# -- in-process unit tests -----------------------------------------------------------------------


@dataclass
class UnitEvent:
    """An event for calling a field, ``parse_event`` or ``event_to_string`` method directly, in
    the test's own process (a debugger and ``breakpoint()`` work there). It has every attribute
    of :class:`falco_plugin.Event`; ``raw`` holds the event's real bytes, framed as the host
    frames them, and attributes set on it (``per_event``'s cache) live with it. Make one with
    :func:`make_event`."""

    ts: int
    source: str
    type: int
    payload: bytes | None
    async_name: str | None
    plugin_id: int | None
    raw: bytes
    tid: int = 2**64 - 1
    evtnum: int = 1


def make_event(
    payload: bytes = b"",
    ts: int = 0,
    *,
    source: str = "",
    plugin_id: int = 999,
    async_name: str | None = None,
    tid: int | None = None,
    evtnum: int = 1,
) -> UnitEvent:
    """A plugin event (``PPME_PLUGINEVENT_E``) of ``payload`` at ``ts`` (ns since the epoch),
    or, with ``async_name``, an async event (``PPME_ASYNCEVENT_E``) of that name::

        plugin = MyPlugin(Config())
        assert plugin.value(make_event((7).to_bytes(8, "little"), ts=1, source="countdown")) == 7

    >>> event = make_event(b"hello", ts=5, source="lines")
    >>> event.type, event.payload, event.ts, len(event.raw)
    (322, b'hello', 5, 43)
    >>> make_event(b"x", async_name="alert").type
    402

    A method that takes a typed event takes a typed event of :mod:`falco_plugin.event` as it is.
    """
    from .event import AsyncEvent, PluginEvent

    framed: AsyncEvent | PluginEvent
    if async_name is not None:
        framed = AsyncEvent(async_name, payload, plugin_id=plugin_id, ts=ts, tid=tid)
    else:
        framed = PluginEvent(plugin_id, payload, ts=ts, tid=tid)
    return UnitEvent(ts=ts, source=source, type=framed.CODE, payload=bytes(payload), async_name=async_name,
                     plugin_id=plugin_id, raw=framed.to_bytes(), tid=2**64 - 1 if tid is None else tid,
                     evtnum=evtnum)


# -- building, cached by source hash -------------------------------------------------------------


def _sources_of(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def source_hash(target: str) -> str:
    """The hash a build of ``target`` is cached under: the plugin's own sources (its file, or
    its top-level package), the SDK's Python and C sources, and this Python."""
    from ._runtime import plugin_root

    cls, _ = load_plugin_class(target)
    root = plugin_root(cls.__module__)
    sdk = Path(__file__).resolve().parent
    files = [*(_sources_of(Path(root)) if root else []), *_sources_of(sdk)]
    files += sorted(cc.c_source_dir("shim").glob("*"))
    h = hashlib.sha256(f"{target}\0{sys.executable}\0{sys.version}".encode())
    for path in files:
        h.update(str(path).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


class BuildPlugin:
    """``falco_plugin_build("myplugin.py:MyPlugin")`` builds (or reuses) the plugin ``.so``.

    Relative file targets are resolved against the pytest root directory. ``config`` is the
    default init config of the returned :class:`BuiltPlugin`.
    """

    def __init__(self, cache_dir: Path, rootdir: Path) -> None:
        self.cache_dir = cache_dir
        self.rootdir = rootdir
        self._built: dict[str, Path] = {}

    def __call__(self, target: str, config: str | dict[str, Any] | None = None) -> BuiltPlugin:
        where, sep, qualname = target.rpartition(":")
        if sep and (where.endswith(".py") or os.sep in where) and not os.path.isabs(where):
            target = f"{self.rootdir / where}:{qualname}"
        if target not in self._built:
            key = source_hash(target)
            out = self.cache_dir / f"lib{re.sub(r'[^A-Za-z0-9_]', '_', qualname)}-{key}.so"
            if not out.exists():
                build(target, out)
            self._built[target] = out
        return BuiltPlugin(self._built[target], config)


def _idle_source() -> BuiltPlugin:
    """An SDK source that produces nothing, for attaching async plugins (cached like the rest)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "falco-plugin" / "testing"
    cache.mkdir(parents=True, exist_ok=True)
    return BuildPlugin(cache, Path.cwd())("falco_plugin._runtime.idle_source:IdleSource")


@pytest.fixture(scope="session")
def falco_plugin_build(pytestconfig: pytest.Config) -> BuildPlugin:
    """Build plugin classes into ``.so`` files once per session, cached across sessions in the
    pytest cache directory by the hash of their sources (see :func:`source_hash`)."""
    cache = getattr(pytestconfig, "cache", None)  # None with -p no:cacheprovider
    directory = cache.mkdir("falco-plugin") if cache is not None else Path(tempfile.mkdtemp(prefix="falco-plugin-"))
    return BuildPlugin(Path(directory), Path(pytestconfig.rootpath))
