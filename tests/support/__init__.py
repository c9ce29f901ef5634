"""What the tests share: the paths, the shared reference data, building plugins and running them in
the host. ``tests/conftest.py`` turns the factories into fixtures; test files import the rest from
here (``from support import CAPTURES, Built, Host``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin._tooling.build import build
from falco_plugin._tooling.host import compile_c_plugin, host_binary, run_host
from falco_plugin.testing import Run

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


Host = Callable[..., Run]


def host(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """``host("run", "--json", "-p", lib, ...)`` runs the host binary (``env`` added to the
    environment) and parses its output with the parser of :mod:`falco_plugin.testing`."""
    proc = run_host([str(a) for a in args], env={**os.environ, **env} if env else None, timeout=timeout)
    return Run.parse(proc)


def finished(proc: subprocess.Popen[str], out: str, err: str) -> Run:
    """The parsed output of a host run started with ``Popen``, once ``communicate`` gave ``out``, ``err``."""
    return Run.parse(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


def replay(capture: Path, *args: str | Path, env: dict[str, str] | None = None) -> Run:
    """The host's replay of ``capture`` (JSON output), with ``args`` after it."""
    return host("replay", "--json", "--capture", capture, *args, env=env)


def fields_of(run: Run) -> list[dict[str, Any]]:
    """The extracted fields of each event the run printed."""
    return [e.fields for e in run.events]


def logged(run: Run, prefix: str) -> list[str]:
    """The host log lines that start with ``prefix`` (``"info listen_c: destroy "``), without it."""
    lines = (f"{x.severity} {x.component}: {x.message}" for x in run.logs)
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


def table_dumps(run: Run) -> dict[str, dict[str, Any]]:
    """The tables of ``--dump-tables`` as the host printed them (key type, owner, fields, entries)."""
    return {r["table"]["name"]: r["table"] for r in run.records if "table" in r}


def metric_snapshots(run: Run) -> list[dict[str, Any]]:
    """Each ``--metrics`` print as the host made it (``when``: at the end or at an interval)."""
    return [r["metrics"] for r in run.records if "metrics" in r]


def falco_with_libraries(falco: str, root: Path, dest: Path) -> None:
    """Copy Falco and the shared libraries it needs that the rootfs lacks into ``dest``
    (``bin/falco``, ``lib/``): what installing a Falco package would bring."""
    (dest / "bin").mkdir(parents=True)
    (dest / "lib").mkdir()
    shutil.copy2(falco, dest / "bin" / "falco")
    ldd = subprocess.run(["ldd", falco], capture_output=True, text=True, check=True).stdout
    for line in ldd.splitlines():
        name, _, rest = line.strip().partition(" => ")
        path = rest.split(" (")[0].strip()
        if not path.startswith("/"):
            continue
        if not any((root / d / name).exists() for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu",
                                                        "usr/lib", "lib")):
            shutil.copy2(path, dest / "lib" / name)
