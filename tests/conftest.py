"""Shared fixtures: build SDK plugins into real .so files and run them in our host."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin._tooling.build import build
from falco_plugin._tooling.host import run_host

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PLUGINS = TESTS / "plugins"
CAPTURES = ROOT.parent / "shared" / "captures"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``built("counter.py:Counter")`` builds a plugin of tests/plugins (or any target) once."""
    out = tmp_path_factory.mktemp("plugins")
    cache: dict[str, Path] = {}

    def _build(target: str) -> Path:
        if target not in cache:
            path, cls = target.rsplit(":", 1)
            if not path.startswith("/"):
                path = str(PLUGINS / path)
            cache[target] = build(f"{path}:{cls}", out / f"lib_{Path(path).stem}_{cls}.so")[0]
        return cache[target]

    return _build


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


Host = Callable[..., "HostRun"]
Built = Callable[[str], Path]


def fields_of(run: HostRun) -> list[dict[str, Any]]:
    """The extracted fields of each event the run printed."""
    return [e["fields"] for e in run.events if "fields" in e]


@pytest.fixture
def host() -> Callable[..., HostRun]:
    """``host("run", "--json", "-p", lib, ...)`` runs the host binary and parses its output."""

    def _run(*args: str | Path, timeout: float = 120) -> HostRun:
        return HostRun(run_host([str(a) for a in args], timeout=timeout))

    return _run
