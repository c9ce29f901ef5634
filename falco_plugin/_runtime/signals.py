"""Inside a built plugin the host owns the process's signal handlers.

The embedded interpreter installs none (``PyConfig.install_signal_handlers = 0``), and once
the shim has started Python, plugin code cannot install or change one either:
``signal.signal``, ``signal.siginterrupt``, ``faulthandler.enable`` and
``faulthandler.register`` do nothing but log a warning naming the caller's file:line, so that
Ctrl-C and Falco's own handlers keep working::

    signal.signal(signal.SIGINT, on_int)   # logs "signal.signal(SIGINT) refused at x.py:12: ..."
                                           # and returns the current handler, unchanged

Only the shim calls :func:`guard` (outside a plugin, e.g. under pytest, nothing changes).
"""

from __future__ import annotations

import faulthandler
import os
import sys
from typing import TYPE_CHECKING, Any

from . import log
from .on_import import after_import

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["guard"]

_guarded = False


def _caller() -> tuple[str, str]:
    """The module name and file:line of the code that called the refused function."""
    frame = sys._getframe(3)
    return frame.f_globals.get("__name__", ""), f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _refuse(what: str) -> None:
    module, where = _caller()
    message = (f"{what} refused at {where}: the host owns the process's signal handlers, a plugin cannot "
               "install or change one")
    names = log.attached_loggers()
    # the plugin the calling module belongs to, else every live plugin (a library called it)
    mine = [n for n in names if module == n or module.startswith(n + ".")]
    import logging  # routes the attached loggers to the host if nothing imported it yet

    for name in mine or names or [__name__]:
        logging.getLogger(name).warning(message)


def _signal_name(signum: Any) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except (ValueError, TypeError):
        return repr(signum)


def _no_signal(signum: Any, handler: Any) -> Any:
    import signal

    _refuse(f"signal.signal({_signal_name(signum)})")
    return signal.getsignal(signum)


def _no_siginterrupt(signum: Any, flag: Any) -> None:
    _refuse(f"signal.siginterrupt({_signal_name(signum)})")


def _no_faulthandler_enable(*args: Any, **kwargs: Any) -> None:
    _refuse("faulthandler.enable()")


def _no_faulthandler_register(signum: Any, *args: Any, **kwargs: Any) -> None:
    _refuse(f"faulthandler.register({_signal_name(signum)})")


def guard() -> None:
    """Replace the functions that would change the process's signal handlers (once)."""
    global _guarded
    if _guarded:
        return
    _guarded = True
    faulthandler.enable = _no_faulthandler_enable
    faulthandler.register = _no_faulthandler_register
    after_import("signal", _guard_signal)  # now if imported, else when a plugin imports it


def _guard_signal(signal: ModuleType) -> None:
    vars(signal).update(signal=_no_signal, siginterrupt=_no_siginterrupt)
