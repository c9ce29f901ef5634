"""``falco-plugin new``: a plugin project that builds, tests and packages right away.

    falco-plugin new myplugin --capabilities source,extract,parse,async,listen
    cd myplugin && make test

The project: ``pyproject.toml``, the plugin package (a class with a pydantic config), tests
written with :mod:`falco_plugin.testing`, a ``falco.yaml`` snippet, a rules file, a README and
a Makefile (``build``, ``test``, ``lint``, ``package``). The Makefile finds the project's Python
itself: the active virtualenv, else ``.venv`` in the project or its parent folder (``make
PYTHON=...`` for another one with the SDK installed); no path of this machine is written into it.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._spec.plugin import PLUGIN_NAME_RE

__all__ = ["CAPABILITIES", "ScaffoldError", "new_project"]

CAPABILITIES = ("source", "extract", "parse", "async", "listen")


class ScaffoldError(ValueError):
    """The project cannot be created; the message says why."""


def class_name(name: str) -> str:
    """``my-plugin`` -> ``MyPlugin``."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part) + "Plugin"


def is_virtualenv(path: Path) -> bool:
    """Whether ``path`` is a virtualenv (``python -m venv`` and virtualenv write ``pyvenv.cfg``)."""
    return path.is_dir() and (path / "pyvenv.cfg").is_file()


def new_project(name: str, capabilities: list[str], directory: Path | None = None) -> Path:
    """Write the project of plugin ``name`` into ``directory`` (default ``./NAME``); return it."""
    if not PLUGIN_NAME_RE.match(name):
        raise ScaffoldError(f"invalid plugin name {name!r}: lowercase letters, digits, '_' and '-', "
                            "starting with a letter")
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown or not capabilities:
        raise ScaffoldError(f"unknown capabilities {unknown}: choose from {','.join(CAPABILITIES)}" if unknown
                            else "give at least one capability")
    caps = set(capabilities)
    root = Path(directory) if directory is not None else Path(name)
    if root.exists():
        others = sorted(p.name for p in root.iterdir() if not is_virtualenv(p))
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise ScaffoldError(f"{root} exists and is not empty ({shown}): give a new folder, or one that holds "
                                "only a virtualenv (e.g. .venv)")
    package = name.replace("-", "_")
    files = {
        "pyproject.toml": _pyproject(name, package),
        f"{package}/__init__.py": f'"""The {name} Falco plugin."""\n',
        f"{package}/plugin.py": _plugin(name, caps),
        "tests/test_plugin.py": _tests(name, package, caps),
        "falco.yaml": _falco_yaml(name, caps),
        f"rules/{package}_rules.yaml": _rules(name, caps),
        "README.md": _readme(name, package, caps),
        "Makefile": _makefile(name, package),
        ".gitignore": ".venv/\nbuild/\ndist/\n__pycache__/\n.pytest_cache/\n.mypy_cache/\n.ruff_cache/\n.coverage*\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _pyproject(name: str, package: str) -> str:
    return f'''[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "0.1.0"
description = "The {name} Falco plugin, written with falco-plugin"
requires-python = ">=3.11"
dependencies = ["falco-plugin", "pydantic>=2,<3"]

[project.optional-dependencies]
test = ["falco-plugin[testing]"]

[tool.hatch.build.targets.wheel]
packages = ["{package}"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.coverage.run]
# pytest --cov={package}: measure the plugin's code inside the .so too (in the host's interpreter)
patch = ["subprocess"]

[tool.ruff]
line-length = 120

[tool.mypy]
strict = true
files = ["{package}", "tests"]
'''


def _plugin(name: str, caps: set[str]) -> str:
    cls = class_name(name)
    source = "source" in caps
    bases = ["Plugin"]
    imports = {"Plugin"}
    for cap, base in (("source", "SourcePlugin"), ("extract", "ExtractPlugin"), ("parse", "ParsePlugin"),
                      ("async", "AsyncEventPlugin"), ("listen", "CaptureListenPlugin")):
        if cap in caps:
            bases.append(base)
            imports.add(base)
    header = [f'"""{name}: a Falco plugin written in Python with falco-plugin.', ""]
    body: list[str] = []
    extra_imports: list[str] = []
    config = ["    model_config = ConfigDict(extra=\"forbid\")  # an unknown key in falco.yaml is an error", ""]
    if source:
        imports |= {"EndOfStream", "SourceInstance"}
        config += ["    # events per session; 0: none, the source stays open until the capture stops",
                   "    count: int = Field(default=10, ge=0)"]
        header.append(f"Its source ``{name}`` produces JSON events ``{{\"n\": 0}}``, ``{{\"n\": 1}}``, ...")
        body += [
            "",
            f"class {cls[:-6] or 'My'}Instance(SourceInstance):",
            "    def __init__(self, count: int) -> None:",
            "        self.n = 0",
            "        self.count = count",
            "",
            "    def next_batch(self) -> list[bytes]:",
            "        if self.count == 0:",
            "            return []  # nothing now: the host asks again after a pause",
            "        if self.n >= self.count:",
            "            raise EndOfStream",
            "        self.n += 1",
            '        return [json.dumps({"n": self.n - 1}).encode()]',
        ]
        extra_imports.append("import json")
    if "async" in caps:
        imports |= {"AsyncEvent", "AsyncHandler", "BackgroundTask", "BackgroundThread"}
        config += ['    interval: float = Field(default=1.0, gt=0, description="seconds between two heartbeats")']
        header.append(f"It emits an async event ``{name}`` (a heartbeat) every ``interval`` seconds.")
    if not source and ({"extract", "parse"} & caps):
        header.append("It reads the ``open`` syscall exits of Falco's ``syscall`` source.")
    if len(config) == 2:
        config.append('    greeting: str = Field(default="hello", description="logged at start")')
    header += ['"""', ""]

    event_type = "Event" if source else "PPME_SYSCALL_OPEN_X"
    if source and ({"extract", "parse"} & caps):
        imports.add("Event")
    if not source and ({"extract", "parse"} & caps):
        extra_imports.append("from falco_plugin.event import PPME_SYSCALL_OPEN_X")
    if "extract" in caps:
        imports.add("field")
    if "parse" in caps:
        imports.add("Metric")
    if "listen" in caps:
        imports.add("CaptureListen")

    lines = [*header, "from __future__ import annotations", ""]
    lines += sorted(i for i in extra_imports if i.startswith("import "))
    lines += ["import logging", ""]
    names = sorted(imports, key=lambda n: (n[0].islower(), n))
    lines += ["from falco_plugin import (", *(f"    {n}," for n in names), ")"]
    lines += [i for i in extra_imports if i.startswith("from ")]
    lines += ["from pydantic import BaseModel, ConfigDict, Field"]
    lines += ["", "log = logging.getLogger(__name__)", "", "", "class Config(BaseModel):",
              '    """The init config of the plugin (init_config in falco.yaml)."""', "",
              *config, ""]
    lines += body
    lines += ["", "", f"class {cls}({', '.join(bases)}):",
              f'    NAME = "{name}"', '    PLUGIN_VERSION = "0.1.0"',
              f'    DESCRIPTION = "the {name} plugin"', '    CONTACT = "https://example.com"']
    if source:
        lines += ["    PLUGIN_ID = 999  # reserved for development: register an id before you ship",
                  f'    EVENT_SOURCE = "{name}"']
    elif "extract" in caps:
        lines += ['    EXTRACT_EVENT_SOURCES = ("syscall",)']
    if "async" in caps:
        lines += [f'    ASYNC_EVENTS = ("{name}",)', "    EVENT_SOURCES = ()  # inject into every source"]
    lines += ["", "    def __init__(self, config: Config) -> None:", "        self.config = config",
              "        self.seen = 0"]
    if "async" in caps:
        lines += ["        self.beats = 0", "        self.task = BackgroundTask()",
                  "        self.thread: BackgroundThread | None = None"]
    if "greeting" in "".join(config):
        lines += ['        log.info("%s from %s", config.greeting, self.NAME)']
    if source:
        lines += ["", f"    def open(self, params: str) -> {cls[:-6] or 'My'}Instance:",
                  f"        return {cls[:-6] or 'My'}Instance(self.config.count)"]
    if "parse" in caps:
        lines += ["", f"    def parse_event(self, event: {event_type}) -> None:",
                  "        self.seen += 1  # state lives here (or in tables): fields only read it", "",
                  "    def get_metrics(self) -> list[Metric]:", '        return [Metric("events_seen", self.seen)]']
    if "extract" in caps:
        if source:
            lines += ["", f'    @field("{name}.n", desc="the number in the event")',
                      "    def n(self, event: Event) -> int | None:",
                      '        value = json.loads(event.payload or b"{}").get("n")',
                      "        return int(value) if value is not None else None"]
        else:
            lines += ["", f'    @field("{name}.path", desc="the file the open call opened")',
                      "    def path(self, event: PPME_SYSCALL_OPEN_X) -> str | None:",
                      "        return str(event.name) if event.name is not None else None"]
        if "parse" in caps:
            lines += ["", f'    @field("{name}.seen", desc="events parsed so far")',
                      f"    def seen_so_far(self, event: {event_type}) -> int:", "        return self.seen"]
    if "async" in caps:
        lines += ["", "    def start_async(self, handler: AsyncHandler) -> None:",
                  "        self.thread = self.task.spawn(self.config.interval, lambda: self.beat(handler))", "",
                  "    def beat(self, handler: AsyncHandler) -> None:",
                  f'        handler.emit(AsyncEvent("{name}", b"beat"))', "        self.beats += 1", "",
                  "    def stop_async(self) -> None:", "        self.task.request_stop_and_notify()",
                  "        if self.thread is not None:", "            thread, self.thread = self.thread, None",
                  "            thread.join()", "", "    def dump_state(self, handler: AsyncHandler) -> None:",
                  f'        handler.emit(AsyncEvent("{name}", f"beats={{self.beats}}".encode()))']
    if "listen" in caps:
        lines += ["", "    def capture_open(self, listen: CaptureListen) -> None:",
                  '        log.info("capture opened")', "",
                  "    def capture_close(self, listen: CaptureListen) -> None:",
                  '        log.info("capture closed")']
    return "\n".join(lines) + "\n"


def _tests(name: str, package: str, caps: set[str]) -> str:
    cls = class_name(name)
    source = "source" in caps
    target = f"{package}.plugin:{cls}"
    lines = [f'"""Tests of {name}: the real .so, built once per session, driven through the SDK\'s host, and',
             'its rules in a real Falco (skipped when there is none: set FALCO=/path/to/falco)."""', "",
             "from __future__ import annotations", "", "from pathlib import Path", "", "import pytest"]
    if not source and ({"extract", "parse", "listen"} & caps):
        lines += ["from falco_plugin.event import PPME_SYSCALL_OPEN_X"]
    lines += ["from falco_plugin.testing import BuildPlugin, BuiltPlugin, PluginError", "",
              f'TARGET = "{target}"',
              f'RULES = Path(__file__).resolve().parents[1] / "rules" / "{package}_rules.yaml"', "", "",
              "@pytest.fixture(scope=\"session\")",
              "def plugin(falco_plugin_build: BuildPlugin) -> BuiltPlugin:",
              "    return falco_plugin_build(TARGET)", "", "",
              "def test_info(plugin: BuiltPlugin) -> None:", "    info = plugin.info()",
              f'    assert info["name"] == "{name}"', ""]
    opens = ("    events = [PPME_SYSCALL_OPEN_X(fd=3, name=\"/etc/passwd\", flags=1, mode=0, dev=0, ts=1, tid=7),\n"
             "              PPME_SYSCALL_OPEN_X(fd=4, name=\"/etc/hosts\", flags=1, mode=0, dev=0, ts=2, tid=7)]")
    if source:
        fields = [f'"{name}.n"'] if "extract" in caps else []
        if "extract" in caps and "parse" in caps:
            fields.append(f'"{name}.seen"')
        lines += ["", "def test_source(plugin: BuiltPlugin) -> None:",
                  f"    events = plugin.with_config({{\"count\": 3}}).events(fields=[{', '.join(fields)}])",
                  *(["    events = [e for e in events if e.async_name is None]  # not the heartbeats"]
                    if "async" in caps else []),
                  "    assert [e.payload for e in events] == [b'{\"n\": 0}', b'{\"n\": 1}', b'{\"n\": 2}']"]
        if "extract" in caps:
            lines += [f'    assert [e.fields["{name}.n"] for e in events] == [0, 1, 2]']
        if "extract" in caps and "parse" in caps:
            lines += [f'    assert [e.fields["{name}.seen"] for e in events] == [1, 2, 3]  # parsed before extraction']
        if "parse" in caps:
            lines += ["", "", "def test_metrics(plugin: BuiltPlugin) -> None:",
                      "    run = plugin.with_config({\"count\": 4}).run(metrics=True)",
                      '    assert run.metrics["events_seen"] == 4']
        if "listen" in caps:
            lines += ["", "", "def test_capture_listening(plugin: BuiltPlugin) -> None:",
                      "    run = plugin.run()",
                      '    assert run.log("info")[-2:] == ["capture opened", "capture closed"]']
    else:
        if "extract" in caps:
            lines += ["", "def test_field_on_synthetic_events(plugin: BuiltPlugin) -> None:", opens,
                      f'    assert [f["{name}.path"] for f in plugin.extract(events, ["{name}.path"])] == '
                      '["/etc/passwd", "/etc/hosts"]']
        if "parse" in caps:
            lines += ["", "", "def test_parse_and_metrics(plugin: BuiltPlugin) -> None:", opens,
                      "    run = plugin.feed(events, metrics=True)", '    assert run.metrics["events_seen"] == 2']
        if "listen" in caps:
            lines += ["", "", "def test_capture_listening(plugin: BuiltPlugin) -> None:",
                      "    run = plugin.feed([PPME_SYSCALL_OPEN_X(fd=3, name=\"/x\", flags=1, mode=0, dev=0, ts=1,"
                      " tid=7)])",
                      '    assert run.log("info")[-2:] == ["capture opened", "capture closed"]']
    if "async" in caps:
        lines += ["", "", "def test_async_heartbeats_and_dump_state(plugin: BuiltPlugin) -> None:",
                  "    config = {\"interval\": 0.1" + (", \"count\": 0}" if source else "}"),
                  "    run = plugin.async_events(timeout=0.5, config=config, dump_state=True)",
                  f'    assert len(run.events) >= 2 and {{e.async_name for e in run.events}} == {{"{name}"}}',
                  "    # the state at the end: every beat, even one emitted as the session stopped",
                  '    assert int(run.dumped[0].payload.removeprefix(b"beats=")) >= len(run.events)']
    lines += ["", "", *_falco_test(name, caps)]
    bad = '{"count": -1}' if source else '{"interval": 0}' if "async" in caps else '{"greeting": 5}'
    lines += ["", "", "def test_a_bad_config_is_refused(plugin: BuiltPlugin) -> None:",
              "    with pytest.raises(PluginError, match=\"init config\"):",
              (f"        plugin.with_config({bad}).run()" if source else
               f"        plugin.with_config({bad}).async_events(timeout=0.1)" if "async" in caps else
               f"        plugin.with_config({bad}).feed([])"),
              "    with pytest.raises(PluginError, match=\"is not allowed\"):  # extra=\"forbid\"",
              ("        plugin.with_config({\"no_such_key\": 1}).run()" if source else
               "        plugin.with_config({\"no_such_key\": 1}).async_events(timeout=0.1)" if "async" in caps else
               "        plugin.with_config({\"no_such_key\": 1}).feed([])")]
    return "\n".join(lines) + "\n"


def _falco_test(name: str, caps: set[str]) -> list[str]:
    """A test of the rules file in a real Falco: the rule fires where Falco has events for it
    (the plugin's own source, or its async events); else Falco loads the plugin and the rules."""
    head = ["def test_rules_in_a_real_falco(plugin: BuiltPlugin) -> None:"]
    if "source" in caps:
        run = ['    alerts = plugin.with_config({"count": 3}).falco_alerts(RULES)',
               f'    assert [a["rule"] for a in alerts] == ["{name} event"] * 3']
        if "extract" in caps:
            run.append(f'    assert [int(a["output_fields"]["{name}.n"]) for a in alerts] == [0, 1, 2]')
        return head + run
    if "async" in caps:
        return [*head, '    alerts = plugin.with_config({"interval": 0.1}).falco_alerts(RULES, alerts=1, duration=10)',
                f'    assert [a["rule"] for a in alerts] == ["{name} event"]']
    return [*head, "    # no driver here, so no syscall events: Falco loads the plugin and compiles the rules",
            "    assert plugin.in_falco(RULES, duration=1).alerts == []"]


def _falco_yaml(name: str, caps: set[str]) -> str:
    config = ["count: 100"] if "source" in caps else []
    if "async" in caps:
        config.append("interval: 5")
    open_params = '\n    open_params: ""' if "source" in caps else ""
    # never an empty map: Falco turns `init_config: {}` into JSON null, which the schema refuses
    init_config = f"\n    init_config: {{{', '.join(config)}}}" if config else ""
    return f'''# Merge into /etc/falco/falco.yaml (or a file in /etc/falco/config.d/).
load_plugins: [{name}]
plugins:
  - name: {name}
    library_path: /usr/share/falco/plugins/lib{name}.so{init_config}{open_params}
rules_files:
  - /etc/falco/rules.d/{name.replace("-", "_")}_rules.yaml
'''


def _rules(name: str, caps: set[str]) -> str:
    if "source" in caps:
        cond = f"{name}.n >= 0" if "extract" in caps else f"evt.pluginname = {name}"
        out = f"%{name}.n" if "extract" in caps else "%evt.plugininfo"
        source = name
    elif "async" in caps:
        # in Falco an async event's evt.type is its name, never "asyncevent": match evt.asynctype
        cond, out, source = f"evt.asynctype = {name}", "%evt.asynctype", "syscall"
    elif "extract" in caps:
        cond, out, source = f"evt.type = open and {name}.path startswith /etc/", f"%{name}.path", "syscall"
    else:
        return f"# {name} has no fields or events for rules: add rules when it has.\n[]\n"
    return f'''- rule: {name} event
  desc: an example rule on the {name} plugin's events
  condition: {cond}
  output: "{name}: {out}"
  priority: NOTICE
  source: {source}
'''


def _readme(name: str, package: str, caps: set[str]) -> str:
    return f'''# {name}

A Falco plugin written in Python with [falco-plugin](https://github.com/falcosecurity).
Capabilities: {", ".join(sorted(caps))}.

```sh
make build     # build/lib{name}.so
make test      # the tests in tests/, with falco_plugin.testing (the real .so in the SDK's host; the
               # rules in a real Falco when one is found: FALCO=/path/to/falco, else skipped)
make lint      # ruff and mypy --strict
make package   # dist/: the .so with what it needs, to copy next to Falco
```

The Makefile uses the active virtualenv, else `.venv` here or in the parent folder; it needs
`falco-plugin[testing]` installed there. `pytest --cov={package}` reports the plugin's coverage,
including the code that ran inside the `.so`.

The plugin is `{package}/plugin.py`; its config model is `Config` (unknown keys are refused).
`falco.yaml` has the lines to load it, `rules/` an example rule.
'''


def _makefile(name: str, package: str) -> str:
    target = f"{package}.plugin:{class_name(name)}"
    return f'''# build, test, lint and package the {name} plugin with falco-plugin.
# The project's Python: the active virtualenv, else .venv here or in the parent folder, else
# python3 (make PYTHON=... for another one). It needs falco-plugin[testing] installed.
PYTHON ?= $(firstword $(wildcard $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python) .venv/bin/python \\
	../.venv/bin/python) python3)
FALCO_PLUGIN ?= $(PYTHON) -m falco_plugin.cli
TARGET := {target}

.PHONY: build test lint package clean check-python

build: build/lib{name}.so

build/lib{name}.so: {package}/*.py | check-python
\t@mkdir -p build
\t$(FALCO_PLUGIN) build $(TARGET) -o $@

test: check-python
\t$(PYTHON) -m pytest -q

lint: check-python
\t$(PYTHON) -m ruff check .
\t$(PYTHON) -m mypy

package: check-python
\t$(FALCO_PLUGIN) package $(TARGET) -o dist

check-python:
\t@$(PYTHON) -c "import falco_plugin" 2>/dev/null || {{ echo "$(PYTHON) has no falco-plugin:" \\
\t\t"activate the virtualenv you installed it in, or make PYTHON=/path/to/venv/bin/python"; exit 1; }}

clean:
\trm -rf build dist .pytest_cache .mypy_cache .ruff_cache
'''
