"""Finding our C sources and compiling them with the system C compiler.

The C sources (``shim/`` and ``host/``) sit beside the package in a source checkout and
inside it (``falco_plugin/_csrc``) in a wheel.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

WARNINGS = ["-Wall", "-Wextra", "-Werror"]
CFLAGS_ENV = "FALCO_PLUGIN_CFLAGS"


class CompileError(RuntimeError):
    """The C compiler failed; the message carries its output."""


def c_source_dir(name: str) -> Path:
    """The directory of our C sources called ``name`` ("shim" or "host")."""
    here = Path(__file__).resolve().parent.parent  # the falco_plugin package
    for candidate in (here / "_csrc" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"falco_plugin: C sources '{name}' not found next to {here}")


def cache_dir() -> Path:
    """Where built helpers (the host, test plugins) are cached."""
    base = os.environ.get("FALCO_PLUGIN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "falco-plugin"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise CompileError("no C compiler found: install gcc (apt-get install gcc) or set CC")
    return cc


def extra_cflags() -> list[str]:
    """C flags appended to every compilation (plugins, host, test plugins), from the environment
    variable ``FALCO_PLUGIN_CFLAGS``; ``make sanitize`` sets ``-fsanitize=address,undefined`` there.

    ::

        FALCO_PLUGIN_CFLAGS="-g -O0" falco-plugin build myplugin.py:MyPlugin
    """
    return shlex.split(os.environ.get(CFLAGS_ENV, ""))


def run_compiler(args: Sequence[str], cflags: Sequence[str] = ()) -> None:
    """Run the C compiler on ``args`` with ``cflags`` and ``extra_cflags()`` last (they win)."""
    cmd = [compiler(), *args, *cflags, *extra_cflags()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(f"C compilation failed: {' '.join(cmd)}\n{proc.stderr}{proc.stdout}")


def digest(paths: Sequence[Path], extra: Sequence[str] = ()) -> str:
    """A short hash of files' contents and extra strings, to key cached builds."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


def build_cached(kind: str, sources: Sequence[Path], out_name: str, flags: Sequence[str]) -> Path:
    """Compile ``sources`` into the cache once per content hash; return the output path."""
    headers = [p for s in sources for p in s.parent.glob("*.h")]
    key = digest([*sources, *set(headers)], [*flags, *extra_cflags(), compiler()])
    out_dir = cache_dir() / f"{kind}-{key}"
    out = out_dir / out_name
    if not out.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{out_name}.{os.getpid()}"
        run_compiler([*WARNINGS, *flags, *map(str, sources), "-o", str(tmp)])
        os.replace(tmp, out)
    return out
