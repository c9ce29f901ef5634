"""What the tests share: the paths, the shared reference data, building plugins and running them in
the host. ``tests/conftest.py`` turns the factories into fixtures; test files import the rest from
here (``from support import CAPTURES, Built, Host``)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin._tooling.build import build
from falco_plugin._tooling.host import compile_c_plugin, host_binary, run_host

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
PLUGINS = TESTS / "plugins"  # the SDK (Python) plugins the tests build
CPLUGINS = TESTS / "cplugins"  # the plain-C plugins the host tests compile
C_REFERENCE = ROOT / "bench" / "c_reference"

# The reference data beside the checkout (captures, event schema, k8saudit rules); not part of the
# repository. FALCO_PLUGIN_SHARED points elsewhere (or nowhere, to see the tests skip).
SHARED = Path(os.environ.get("FALCO_PLUGIN_SHARED", str(ROOT.parent / "shared")))
CAPTURES = SHARED / "captures"
CURL = CAPTURES / "curl_google.scap"
IPV6 = CAPTURES / "single_ipv6_conn.scap"
CAPTURE_FILES = [CURL, IPV6]


def shared_missing(*paths: Path) -> str | None:
    """The skip message when one of ``paths`` (under SHARED) is missing, else None."""
    missing = [p for p in paths if not p.exists()]
    if not missing:
        return None
    return (f"needs the shared reference data {missing[0]} (not in the repository; set FALCO_PLUGIN_SHARED "
            "to the directory holding captures/, event-schema/, k8saudit/)")


def needs_shared(*paths: Path) -> pytest.MarkDecorator:
    """A skip mark for tests that read ``paths`` of the shared reference data."""
    reason = shared_missing(*paths)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def shared(path: Path) -> Path:
    """``path`` (under SHARED), or skip the running test with the one message naming it."""
    reason = shared_missing(path)
    if reason is not None:
        pytest.skip(reason)
    return path


needs_captures = needs_shared(*CAPTURE_FILES)


# -- building -------------------------------------------------------------------------------------

Built = Callable[[str], Path]
Lib = Callable[[str], str]


def built_factory(out: Path) -> Built:
    """``built("counter.py:Counter")`` builds a plugin of tests/plugins (or any target) once, into ``out``."""
    cache: dict[str, Path] = {}

    def _build(target: str) -> Path:
        if target not in cache:
            path, cls = target.rsplit(":", 1)
            if not path.startswith("/"):
                path = str(PLUGINS / path)
            cache[target] = build(f"{path}:{cls}", out / f"lib_{Path(path).stem}_{cls}.so")[0]
        return cache[target]

    return _build


def lib_factory() -> Lib:
    """``lib("test_src")``: the path of tests/cplugins/test_src.c (or bench/c_reference/NAME.c) compiled."""
    host_binary()  # build it once, up front
    cache: dict[str, str] = {}

    def _lib(name: str) -> str:
        if name not in cache:
            reference = C_REFERENCE / f"{name}.c"
            cache[name] = str(compile_c_plugin(reference if reference.exists() else CPLUGINS / f"{name}.c"))
        return cache[name]

    return _lib


# -- host runs ------------------------------------------------------------------------------------

UINT64_MAX = 2**64 - 1  # a tid or index the plugin left unset
TEXT_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"  # a timestamp in the host's text output: UTC with ns


class HostRun:
    """The outcome of one host run, with its JSON lines split into events and summaries."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.proc = proc
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.events: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        self.inits: list[dict[str, Any]] = []  # with --show-init
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                continue
            obj = json.loads(line)
            if "summary" in obj:
                self.summaries.append(obj["summary"])
            elif "init" in obj:
                self.inits.append(obj["init"])
            else:
                self.events.append(obj)

    def payloads(self, source: str | None = None) -> list[bytes]:
        return [bytes.fromhex(e["payload_hex"]) for e in self.events if source in (None, e["source"])]

    def __repr__(self) -> str:
        return f"<HostRun rc={self.returncode}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}>"


Host = Callable[..., HostRun]


def run(*args: str | Path, timeout: float = 120) -> HostRun:
    """``run("run", "--json", "-p", lib, ...)`` runs the host binary and parses its output."""
    return HostRun(run_host([str(a) for a in args], timeout=timeout))


def fields_of(run: HostRun) -> list[dict[str, Any]]:
    """The extracted fields of each event the run printed."""
    return [e["fields"] for e in run.events if "fields" in e]


class Out:
    """One host run: events, summaries (session/capture and per plugin), tables, log lines."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        proc = run_host(args, env=full_env, timeout=60)
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.events: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self.plugins: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        self.metrics: list[dict[str, Any]] = []
        for line in self.out.splitlines():
            if not line.startswith("{"):
                continue
            obj = json.loads(line)
            if "summary" in obj:
                s = obj["summary"]
                self.summaries.append(s)
                if s.get("kind") == "plugin":
                    self.plugins[s["plugin"]] = s
                else:
                    self.summary = s
            elif "table" in obj:
                self.tables[obj["table"]["name"]] = obj["table"]
            elif "metrics" in obj:
                self.metrics.append(obj["metrics"])
            else:
                self.events.append(obj)
        self.logs = [line for line in self.err.splitlines() if line.startswith("log ")]

    def log(self, prefix: str) -> list[str]:
        return [line[len(prefix) :] for line in self.logs if line.startswith(prefix)]

    def __repr__(self) -> str:
        return f"<Out rc={self.rc}\nstdout:\n{self.out[-3000:]}\nstderr:\n{self.err[-3000:]}>"


def host(*args: str, env: dict[str, str] | None = None) -> Out:
    return Out(list(args), env)


def replay(capture: Path, *args: str, env: dict[str, str] | None = None) -> Out:
    return host("replay", "--json", "--capture", str(capture), *args, env=env)
