"""sample_async: the async-event example of the Rust SDK, in Python.

It emits an async event named ``sample_async`` with the payload ``hello`` every 100 ms, into
whatever event source is open. Load it beside a source plugin:

    falco-plugin build examples/sample_async/sample_async.py:SampleAsync -o libsample_async.so
    falco-plugin run libdummy_py.so --plugin libsample_async.so --duration 1
"""

from __future__ import annotations

from falco_plugin import AsyncEvent, AsyncEventPlugin, AsyncHandler, BackgroundTask, BackgroundThread, Plugin


class SampleAsync(Plugin, AsyncEventPlugin):
    NAME = "sample_async"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "emits a hello every 100 ms"
    CONTACT = "https://github.com/falcosecurity/plugin-sdk-rs"
    ASYNC_EVENTS = ("sample_async",)  # the async events it may emit
    EVENT_SOURCES = ()  # attach to every event source

    def __init__(self, config: None) -> None:
        self.task = BackgroundTask()
        self.thread: BackgroundThread | None = None
        self.sent = 0

    def start_async(self, handler: AsyncHandler) -> None:
        if self.thread is not None:
            self.stop_async()
        # run every 100 ms until a stop is requested
        self.thread = self.task.spawn(0.1, lambda: self.hello(handler))

    def hello(self, handler: AsyncHandler) -> None:
        handler.emit(AsyncEvent("sample_async", b"hello"))
        self.sent += 1

    def dump_state(self, handler: AsyncHandler) -> None:
        # what a capture written now should carry about this plugin's state
        handler.emit(AsyncEvent("sample_async", f"sent {self.sent}".encode()))

    def stop_async(self) -> None:
        self.task.request_stop_and_notify()
        if self.thread is not None:
            thread, self.thread = self.thread, None
            thread.join()  # re-raises what the task raised
