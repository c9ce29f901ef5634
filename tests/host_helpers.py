"""Helpers for the tests of the host's tables, parsing, replay, listening and metrics
(tests/test_host_tables.py, tests/test_host_listen.py): compiled C plugins and host runs with
their JSON lines sorted out."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from falco_plugin._tooling.host import compile_c_plugin, host_binary, run_host

ROOT = Path(__file__).resolve().parent.parent
CPLUGINS = Path(__file__).resolve().parent / "cplugins"
CAPTURES = Path(os.environ.get("FPH_CAPTURES", str(ROOT.parent / "shared" / "captures")))
CURL = CAPTURES / "curl_google.scap"
IPV6 = CAPTURES / "single_ipv6_conn.scap"

Lib = Callable[[str], str]


def lib_factory() -> Lib:
    """``lib("tbl_ext")``: the path of tests/cplugins/tbl_ext.c (or bench/c_reference/NAME.c) compiled."""
    host_binary()
    cache: dict[str, str] = {}

    def _lib(name: str) -> str:
        if name not in cache:
            reference = ROOT / "bench" / "c_reference" / f"{name}.c"
            cache[name] = str(compile_c_plugin(reference if reference.exists() else CPLUGINS / f"{name}.c"))
        return cache[name]

    return _lib


class Out:
    """One host run: events, summaries (session/capture and per plugin), tables, log lines."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        proc = run_host(args, env=full_env, timeout=60)
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.events: list[dict[str, Any]] = []
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
