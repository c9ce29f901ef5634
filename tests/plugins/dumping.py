"""dump_state (libsinsp's syscall_async test plugin dumps 10 "sampleticker" events), and
async event names left for the host to check."""

from __future__ import annotations

from falco_plugin import AsyncEvent, AsyncEventPlugin, AsyncHandler, Plugin


class Dumper(Plugin, AsyncEventPlugin):
    NAME = "dumper"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "dumps its state as 10 async events"
    CONTACT = "https://example.com"
    ASYNC_EVENTS = ("sampleticker",)

    def __init__(self, config: None) -> None:
        self.dumps = 0

    def start_async(self, handler: AsyncHandler) -> None:
        pass

    def stop_async(self) -> None:
        pass

    def dump_state(self, handler: AsyncHandler) -> None:
        self.dumps += 1
        for i in range(10):
            handler.emit(AsyncEvent("sampleticker", f"dump {self.dumps} #{i}".encode(), tid=1))


class BadDumper(Dumper):
    """Leaves the name check to the host, which rejects the undeclared name."""

    NAME = "bad_dumper"
    CHECK_ASYNC_EVENT_NAMES = False

    def dump_state(self, handler: AsyncHandler) -> None:
        handler.emit(AsyncEvent("sampleticker", b"fine"))
        handler.emit(AsyncEvent("undeclared", b"rejected"))


class Unchecked(Dumper):
    """Emits an undeclared name while capturing: the host says why it is rejected."""

    NAME = "unchecked"
    CHECK_ASYNC_EVENT_NAMES = False

    def start_async(self, handler: AsyncHandler) -> None:
        try:
            handler.emit(AsyncEvent("nope", b""))
        except RuntimeError as exc:
            self.logger.warning("%s", exc)
        handler.emit(AsyncEvent("sampleticker", b"declared"))


class Checked(Unchecked):
    NAME = "checked"
    CHECK_ASYNC_EVENT_NAMES = True

    def start_async(self, handler: AsyncHandler) -> None:
        try:
            handler.emit(AsyncEvent("nope", b""))
        except ValueError as exc:
            self.logger.warning("%s", exc)
