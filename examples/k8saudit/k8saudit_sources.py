"""The k8saudit event sources: a JSON-lines file (read once, or followed), and the webhook.

Each source turns what it reads into plugin events with :func:`k8saudit_events.split_events`:
one event per audit event, stamped with its ``stageTimestamp``. What cannot be read is logged
(upstream's messages) and skipped; the stream goes on.

    >>> src = FileSource(["/var/log/kubernetes/audit.log"], max_event_size=262144)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import ssl
import sys
import threading
from collections.abc import Generator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from k8saudit_events import split_events

from falco_plugin import EndOfStream, SourceInstance
from falco_plugin.source import BatchItem

# a child of the plugin module's logger, which the SDK routes to Falco's log
log = logging.getLogger("k8saudit.sources")

BATCH = 512  # events per next_batch: enough to amortize the call, small enough for a fair host
READ_CHUNK = 1 << 20
QUEUE_DEPTH = 50  # request bodies waiting for next_batch (upstream's channel size)


#: Decoded events of the current batch by payload, for the fields (``AuditFields.audit``) to
#: take instead of decoding the same JSON again; emptied at every batch, so it stays small.
Handoff = dict[bytes, Any]

# Bodies a webhook accepted (200) but had not handed to Falco when it closed, by address: the
# next webhook opened on that address takes them first. Falco restarts (SIGHUP, a changed rules
# file) close and reopen the source in the same process, so no accepted event is lost.
CARRIED: dict[tuple[str, int, str], list[bytes]] = {}
CARRIED_LOCK = threading.Lock()


def _events_of(line: bytes, max_event_size: int, where: str, handoff: Handoff) -> list[BatchItem]:
    events, errors = split_events(line, max_event_size)
    for error in errors:
        log.warning("%s: %s", where, error)
    out: list[BatchItem] = []
    for payload, ts, decoded in events:
        handoff[payload] = decoded
        out.append((payload, ts))
    return out


class FileSource(SourceInstance):
    """Reads JSON lines from files in order, each to its end, then ends the stream."""

    def __init__(self, paths: Sequence[str], max_event_size: int, handoff: Handoff) -> None:
        self.paths = list(paths)
        self.max_event_size = max_event_size
        self.handoff = handoff
        self.lines = self._lines()
        self.done = 0

    def _lines(self) -> Generator[tuple[str, bytes], None, None]:
        for path in self.paths:
            with open(path, "rb") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield f"{path}:{n}", line

    def next_batch(self) -> list[BatchItem]:
        self.handoff.clear()
        out: list[BatchItem] = []
        for where, line in self.lines:
            out.extend(_events_of(line, self.max_event_size, where, self.handoff))
            if len(out) >= BATCH:
                return out
        raise EndOfStream(out)

    def close(self) -> None:
        self.lines.close()


def file_paths(path: str) -> list[str]:
    """A file, or the files of a directory oldest first (by modification time), as upstream opens them."""
    if not os.path.isdir(path):
        os.stat(path)  # a clear FileNotFoundError now rather than at the first batch
        return [path]
    entries = [e for e in os.scandir(path) if e.is_file()]
    return [e.path for e in sorted(entries, key=lambda e: e.stat().st_mtime_ns)]


class FileWatch(SourceInstance):
    """Follows a file from its end, like ``tail -F``: appends, rotation (a new file at the path)
    and truncation (copytruncate). Partial lines wait for their newline."""

    def __init__(self, path: str, max_event_size: int, handoff: Handoff) -> None:
        self.path = path
        self.max_event_size = max_event_size
        self.handoff = handoff
        self.file: IO[bytes] | None = None
        self.pending = b""
        self._open(at_end=True)
        assert self.file is not None
        log.info("following %s from byte %d", path, self.file.tell())

    def _open(self, at_end: bool) -> None:
        self.file = open(self.path, "rb")  # noqa: SIM115 - kept open across calls, closed in close()
        st = os.fstat(self.file.fileno())
        self.ident = (st.st_dev, st.st_ino)
        if at_end:
            self.file.seek(0, os.SEEK_END)

    def _lines(self, data: bytes, final: bool = False) -> list[BatchItem]:
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        if final and self.pending.strip():
            lines.append(self.pending)
            self.pending = b""
        out: list[BatchItem] = []
        for line in lines:
            if line.strip():
                out.extend(_events_of(line, self.max_event_size, self.path, self.handoff))
        return out

    def next_batch(self) -> list[BatchItem]:
        self.handoff.clear()
        if self.file is None:  # the path was gone at the last look
            try:
                self._open(at_end=False)
            except FileNotFoundError:
                return []
        assert self.file is not None
        data = self.file.read(READ_CHUNK)
        if data:
            return self._lines(data)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # moved away, no new file yet: the writer may still be on the old one
            return []
        if (st.st_dev, st.st_ino) != self.ident:  # rotated: finish the old file, take the new one
            out = self._lines(self.file.read(), final=True)  # what came after our last read
            self.file.close()
            self.file = None
            with contextlib.suppress(FileNotFoundError):
                self._open(at_end=False)
            return out
        if st.st_size < self.file.tell():  # truncated in place
            self.file.seek(0)
            self.pending = b""
        return []

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], source: Webhook) -> None:
        self.source = source
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("webhook: connection from %s failed: %s", client_address[0], sys.exc_info()[1])

    def drop_connections(self) -> None:
        """End the kept-alive connections too, so that nothing of the server outlives close()."""
        with self.lock:
            connections, self.connections = self.connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle kept-alive connection is closed after that long

    def setup(self) -> None:
        super().setup()  # sets the timeout, so a client that never finishes its TLS hello is dropped
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # here, on this connection's thread, not in accept()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s: " + format, self.address_string(), *args)

    def _reply(self, code: int, message: str = "") -> None:
        body = (message + "\n").encode() if message else b""
        self.send_response(code)
        if message:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self) -> None:
        if self.path.split("?", 1)[0] != self.server.source.endpoint:
            self._reply(404, "404 page not found")
        else:
            self._reply(405, f"{self.command} method not allowed")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse

    def do_POST(self) -> None:
        source = self.server.source
        if self.path.split("?", 1)[0] != source.endpoint:
            self._reply(404, "404 page not found")
            return
        if "application/json" not in self.headers.get("Content-Type", ""):
            self._reply(400, "wrong Content Type")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > source.max_batch_size:
            msg = "bad request: http: request body too large" if length > 0 else "bad request: bad Content-Length"
            log.warning("webhook: %s", msg)
            self.rfile.read(min(max(length, 0), 1 << 20))  # some of it, so that the sender reads the reply
            self.close_connection = True
            self._reply(400, msg)
            return
        body = self.rfile.read(length)
        # queued, not parsed, before the 200 (the API server does not wait for Falco's parsing):
        # what was answered 200 is in the queue, which close() carries over to a restart
        while True:
            with source.lock:
                if source.stopped.is_set():
                    self.close_connection = True
                    self._reply(503, "the source is closing")
                    return
                if source.bodies.qsize() < QUEUE_DEPTH:
                    source.bodies.put_nowait(body)
                    break
            source.drained.wait(0.1)  # a full queue holds the sender back
        self._reply(200)


class Webhook(SourceInstance):
    """An HTTP(S) server taking the API server's audit webhook POSTs on ``host:port/endpoint``.

    Bodies are queued as they come (``QUEUE_DEPTH`` at most; a full queue holds the sender back)
    and split into events on the host's thread in ``next_batch``. ``close`` stops the server and
    frees the port."""

    def __init__(self, host: str, port: int, endpoint: str, *, certificate: str | None,
                 max_batch_size: int, max_event_size: int, handoff: Handoff | None = None) -> None:
        self.endpoint = endpoint or "/"
        self.handoff: Handoff = {} if handoff is None else handoff
        self.max_batch_size = max_batch_size
        self.max_event_size = max_event_size
        self.bodies: queue.Queue[bytes] = queue.Queue()  # QUEUE_DEPTH at most from do_POST (+ carried ones)
        self.lock = threading.Lock()
        self.drained = threading.Event()
        self.stopped = threading.Event()
        self.address = (host, port, self.endpoint)
        with CARRIED_LOCK:
            for body in CARRIED.pop(self.address, []):
                self.bodies.put(body)
        self.server = _Server((host, port), self)
        if certificate is not None:
            # upstream reads key and certificate from the same PEM file
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate, certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"k8saudit-webhook:{self.port}", daemon=True)
        self.thread.start()
        log.info("webhook listening on %s://%s:%d%s", "https" if certificate else "http", host or "*", self.port,
                 self.endpoint)

    def next_batch(self) -> list[BatchItem]:
        self.handoff.clear()
        out: list[BatchItem] = []
        while len(out) < BATCH:
            try:
                body = self.bodies.get_nowait()
            except queue.Empty:
                break
            out.extend(_events_of(body, self.max_event_size, "webhook", self.handoff))
        self.drained.set()
        self.drained.clear()
        return out

    def close(self) -> None:
        with self.lock:  # after this, no handler queues a body: those still queued are carried over
            self.stopped.set()
        left = []
        while not self.bodies.empty():
            left.append(self.bodies.get_nowait())
        if left:
            with CARRIED_LOCK:
                CARRIED.setdefault(self.address, []).extend(left)
            log.info("webhook: %d accepted request(s) not yet read are kept for the next open on this address",
                     len(left))
        self.server.shutdown()
        self.server.server_close()
        self.server.drop_connections()
        self.thread.join(timeout=5)
