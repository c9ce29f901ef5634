"""The k8saudit webhook on loopback, through our host: single events, EventLists, bad bodies,
upstream's status codes, TLS, and the port freed at close. Every request has a timeout."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from k8saudit_cases import CRB, EXEC, POD
from support import ROOT, Built, finished

from falco_plugin._tooling.host import host_binary

K8SAUDIT = str(ROOT / "examples" / "k8saudit" / "k8saudit.py") + ":K8sAudit"
TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[str], deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def post(port: int, body: bytes, *, path: str = "/k8s-audit", method: str = "POST",
         content_type: str = "application/json", tls: bool = False) -> tuple[int, str]:
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT,
                                                                       context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def post_raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(request)
        try:
            return s.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return b""


def start(built: Built, params: str, n: int, config: dict[str, Any] | None = None) -> subprocess.Popen[str]:
    cmd = [str(host_binary()), "run", "--json", "-n", str(n), "--duration", "40", "--fields", "ka.auditid,ka.verb",
           "-p", str(built(K8SAUDIT)), "-o", params]
    if config is not None:
        cmd += ["-c", json.dumps(config)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_webhook_single_events_lists_and_bad_bodies(built: Built) -> None:
    port = free_port()
    proc = start(built, f"http://127.0.0.1:{port}/k8s-audit", n=4, config={"webhookMaxBatchSize": 20000})
    try:
        wait_listening(port, proc)
        statuses = [
            post(port, json.dumps({**POD, "auditID": "single"}).encode()),
            post(port, json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                                   "items": [{**CRB, "auditID": "list-1"}, {**EXEC, "auditID": "list-2"}]}).encode()),
            post(port, b'{"kind": "EventList", "items": [tru'),  # malformed: accepted, logged, no event
            post(port, b"{}", content_type="text/plain"),
            post(port, b"", method="GET"),
            post(port, b"{}", path="/elsewhere"),
            post(port, json.dumps({**POD, "auditID": "too-big", "pad": "x" * 30000}).encode()),
            post(port, json.dumps([{**POD, "auditID": "array"}]).encode()),
        ]
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
        proc.wait()
    assert statuses == [
        (200, ""), (200, ""), (200, ""),
        (400, "wrong Content Type\n"),
        (405, "GET method not allowed\n"),
        (404, "404 page not found\n"),
        (400, "bad request: http: request body too large\n"),
        (200, ""),
    ]
    got = finished(proc, out, err).events
    assert [e.fields["ka.auditid"] for e in got] == ["single", "list-1", "list-2", "array"]
    assert [e.fields["ka.verb"] for e in got] == ["create", "create", "create", "create"]
    assert got[0].ts == 1709633472234567000  # POD's stageTimestamp
    assert "invalid JSON" in err and "request body too large" in err
    assert '"end":"eof"' not in out  # it stopped at -n 4, the server would have gone on


def test_webhook_tls_with_upstream_pem(built: Built, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:  # tools/ensure-system-deps.sh installs it; a missing one is a broken setup
        pytest.fail("openssl is needed to make the test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    pem = tmp_path / "falco.pem"  # upstream's sslCertificate: key and certificate in one file
    pem.write_text(key.read_text() + cert.read_text())
    port = free_port()
    proc = start(built, f"https://127.0.0.1:{port}/k8s-audit", n=1, config={"sslCertificate": str(pem)})
    try:
        wait_listening(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):  # a silent client holds no one up
            plain = post_raw(port, b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP: refused
            # the one event the run waits for (-n 1): the host closes the source after it
            status = post(port, json.dumps({**POD, "auditID": "over-tls"}).encode(), tls=True)
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
        proc.wait()
    assert status == (200, "")
    assert not plain.startswith(b"HTTP/1.1 200")
    assert [e.fields["ka.auditid"] for e in finished(proc, out, err).events] == ["over-tls"], err
    assert "connection from 127.0.0.1 failed" in err


@pytest.mark.timing
def test_close_frees_the_port(tmp_path: Path) -> None:
    # The source object as the shim drives it: open twice on one port in one process.
    sys.path.insert(0, str(ROOT / "examples" / "k8saudit"))
    try:
        from k8saudit_sources import Webhook
    finally:
        sys.path.pop(0)
    port = free_port()
    for n in range(2):
        hook = Webhook("127.0.0.1", port, "/k8s-audit", certificate=None, max_batch_size=1 << 20,
                       max_event_size=1 << 18)
        assert post(port, json.dumps({**POD, "auditID": f"round-{n}"}).encode()) == (200, "")
        kept = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)  # a kept-alive client
        kept.sendall(b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert kept.recv(100).startswith(b"HTTP/1.1 404")
        deadline = time.monotonic() + TIMEOUT
        batch: list[Any] = []
        while not batch and time.monotonic() < deadline:
            batch = list(hook.next_batch())
            time.sleep(0.01)
        hook.close()
        assert [json.loads(p)["auditID"] for p, _ in batch] == [f"round-{n}"]
        kept.settimeout(TIMEOUT)
        rest = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := kept.recv(4096):  # the server ended the kept-alive connection at close
                rest += chunk
        kept.close()
        assert b"HTTP" not in rest
        with socket.socket() as s:  # nothing listens any more: the port is free
            s.settimeout(0.5)
            assert s.connect_ex(("127.0.0.1", port)) != 0
