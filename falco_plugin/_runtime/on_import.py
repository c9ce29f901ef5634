"""Run a function once a module is imported, whoever imports it and whenever.

The runtime uses it to set up what only plugins that use a module need (the host handler of
``logging``, the guard of ``signal``) without importing the module at every plugin's init::

    after_import("logging", lambda logging: ...)   # now if imported, else right after its import
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["after_import"]

_pending: dict[str, list[Callable[[ModuleType], None]]] = {}
_lock = threading.Lock()


def after_import(name: str, fn: Callable[[ModuleType], None]) -> None:
    """Call ``fn(module)`` now if module ``name`` is imported, else right after its import."""
    with _lock:
        if name not in sys.modules:
            _pending.setdefault(name, []).append(fn)
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            return
    fn(importlib.import_module(name))  # waits for a concurrent import of it to finish


class _Finder:
    """First on ``sys.meta_path`` while a module is awaited: its spec from the other finders,
    with a loader that runs the callbacks once the module has executed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name not in _pending:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec: ModuleSpec | None = find(name, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = cast("Loader", _ThenCall(spec.loader))
                return spec
        return None


class _ThenCall:
    """A module's own loader, then the callbacks awaiting it."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        with _lock:
            callbacks = _pending.pop(module.__name__, [])
            if not _pending:
                with contextlib.suppress(ValueError):
                    sys.meta_path.remove(_finder)
        for fn in callbacks:
            fn(module)


_finder = _Finder()
