"""The test host: ``falco-plugin-host``, a C program that loads a plugin ``.so`` the way
libsinsp/Falco does and drives it (``info``, ``run``, ``bench``).

It is built from ``host/*.c`` with the system C compiler on first use and cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .cc import build_cached, c_source_dir, digest

HOST_NAME = "falco-plugin-host"


def _abi_flags() -> list[str]:
    """``-I`` for our ABI header, plus its hash so that cached builds follow its changes."""
    shim = c_source_dir("shim")
    return [f"-I{shim}", f"-DFPH_ABI_DIGEST={digest([shim / 'plugin_abi.h'])}"]


def host_binary() -> Path:
    """Path of the compiled ``falco-plugin-host`` (built once per source content), or the binary named
    by the environment variable ``FALCO_PLUGIN_HOST`` (e.g. a sanitizer build)."""
    override = os.environ.get("FALCO_PLUGIN_HOST")
    if override:
        return Path(override)
    sources = sorted(c_source_dir("host").glob("*.c"))
    flags = [
        "-std=gnu11",
        "-O2",
        *_abi_flags(),
        "-pthread",
        # libraries before the sources on build_cached's command line: keep them linked
        "-Wl,--no-as-needed",
        "-ldl",
        "-lm",
        "-lz",
    ]
    return build_cached("host", sources, HOST_NAME, flags)


def compile_c_plugin(source: Path, out: Path | None = None) -> Path:
    """Compile a single-file plain-C plugin into a cached ``lib<stem>.so``; copy it to ``out`` if given."""
    source = Path(source).resolve()
    flags = ["-std=gnu11", "-shared", "-fPIC", "-O2", *_abi_flags()]
    built = build_cached("cplugin", [source], f"lib{source.stem}.so", flags)
    if out is None:
        return built
    out = Path(out)
    shutil.copy2(built, out)
    return out


def run_host(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``falco-plugin-host`` with ``args`` (text mode, output captured, 120 s timeout by default)."""
    kw.setdefault("timeout", 120)
    if "stdout" not in kw and "stderr" not in kw:
        kw.setdefault("capture_output", True)
    return subprocess.run([str(host_binary()), *args], text=True, check=kw.pop("check", False), **kw)
