"""Which Python environment a plugin was built in, and whether plugins can share one.

Every SDK plugin of a process runs in one interpreter, started by the first plugin whose
``init`` the host calls: that plugin provides the runtime (its libpython, its standard
library and, for a dev build, its virtualenv). Each ``.so`` carries a description of the
environment it was built for (:func:`build_info`); at every ``init`` the runtime compares it
with those of the plugins already loaded and refuses a plugin that cannot work there:

- another Python minor version (caught in C before Python is entered);
- a dev build from another virtualenv than a dev build already loaded;
- a distribution present in both with different versions (``pydantic 2.7.1`` against
  ``pydantic 2.8.0``), packaged or not.

>>> a = {"plugin": "a", "python": "3.11", "mode": "packaged", "environment": "",
...      "distributions": {"pydantic": "2.7.1"}}
>>> b = dict(a, plugin="b", distributions={"pydantic": "2.8.0"})
>>> conflict(b, a)
'pydantic 2.8.0 in plugin b, pydantic 2.7.1 in plugin a'

A dev build also records its own source files and their hashes, so that loading it after
they changed logs a warning (:func:`changed_sources`).

Only ``init`` runs in the plugin's process, and it imports nothing heavy: the distributions'
versions (``importlib.metadata``) are read at build time, and a recorded source is hashed
(``hashlib``, i.e. OpenSSL) only when its size or mtime differs from the build's.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["EnvironmentConflict", "build_info", "changed_sources", "conflict", "join", "sdk_distributions"]

# The distributions the SDK's runtime itself imports: a dev build records their versions.
SDK_DISTRIBUTIONS = ("falco-plugin", "pydantic", "pydantic-core", "typing-extensions", "annotated-types")


class EnvironmentConflict(RuntimeError):
    """A plugin's environment cannot join the interpreter another plugin started."""


def file_hash(path: str | Path) -> str:
    import hashlib  # only when a source may have changed: it loads OpenSSL

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def source_record(path: str) -> list[Any]:
    """``[path, sha256, size, mtime_ns]``: what a dev build records of one of its sources."""
    st = os.stat(path)
    return [path, file_hash(path), st.st_size, st.st_mtime_ns]


def distribution_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` of the installed distributions among ``names`` (at build time)."""
    import importlib.metadata

    out = {}
    for name in names:
        try:
            out[canonical(name)] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return dict(sorted(out.items()))


def sdk_distributions() -> dict[str, str]:
    return distribution_versions(SDK_DISTRIBUTIONS)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it.

    >>> canonical("Pydantic_Core")
    'pydantic-core'
    """
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def build_info(
    plugin: str,
    *,
    packaged: bool,
    distributions: dict[str, str],
    sources: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """What a ``.so`` records of the environment it was built for (baked as JSON)."""
    return {
        "plugin": plugin,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "mode": "packaged" if packaged else "dev",
        "environment": "" if packaged else sys.prefix,
        "distributions": distributions,
        "sources": [] if packaged else [source_record(p) for p in sorted(map(str, sources))],
    }


def conflict(new: dict[str, Any], old: dict[str, Any]) -> str:
    """Why plugin ``new`` cannot join the interpreter where plugin ``old`` runs ('' if it can)."""
    a, b = new["plugin"], old["plugin"]
    if new["python"] != old["python"]:
        return f"Python {new['python']} in plugin {a}, Python {old['python']} in plugin {b}"
    if new["mode"] == old["mode"] == "dev" and new["environment"] != old["environment"]:
        return f"plugin {a} was built in the virtualenv {new['environment']}, plugin {b} in {old['environment']}"
    clashes = [
        f"{name} {version} in plugin {a}, {name} {old['distributions'][name]} in plugin {b}"
        for name, version in new["distributions"].items()
        if old["distributions"].get(name, version) != version
    ]
    return "; ".join(clashes)


_loaded: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def join(info: dict[str, Any]) -> None:
    """Record ``info`` as loaded, or raise EnvironmentConflict naming both plugins."""
    with _lock:
        for old in _loaded.values():
            why = conflict(info, old)
            if why:
                raise EnvironmentConflict(
                    f"plugin {info['plugin']} cannot share the Python interpreter that plugin {old['plugin']} "
                    f"(loaded first) provides: {why}. SDK plugins of one process run in one interpreter: "
                    "build or package them with the same Python and the same package versions"
                )
        _loaded.setdefault(info["plugin"], info)


def changed_sources(info: dict[str, Any]) -> list[str]:
    """The recorded source files of a dev build that changed (or vanished) since the build.

    A file whose size and mtime are those recorded is unchanged; any other is hashed, so that
    a file touched or rewritten with the same content does not count as changed.
    """
    changed = []
    for path, digest, *stat in info.get("sources", []):
        try:
            st = os.stat(path)
            if stat == [st.st_size, st.st_mtime_ns]:
                continue
            if file_hash(path) != digest:
                changed.append(path)
        except OSError:
            changed.append(f"{path} (missing)")
    return changed
