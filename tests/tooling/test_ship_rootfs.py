"""Packaged plugins in a Debian 12 minbase root (what ``debian:12-slim`` holds: no Python, no
libssl, no libsqlite3): chrooted inside ``unshare -m`` with /proc, our host copied in, one
tarball of four plugins and one runtime extracted. An HTTPS poller using the stdlib modules
that need system libraries, the k8saudit webhook over TLS, and file_notify beside a second
plugin of the same runtime each run there; events and field values are checked.

The rootfs is built once by tools/rootfs.py (debootstrap) and cached outside the checkout.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, TESTS

from falco_plugin._tooling.cli import falco_config_specs, host_run_args, parser
from falco_plugin._tooling.host import host_binary
from falco_plugin._tooling.package import Options, package
from falco_plugin._tooling.shipping import read_falco_config

sys.path.insert(0, str(ROOT / "tools"))
import rootfs

sys.path.insert(0, str(TESTS / "examples"))
from k8saudit_cases import POD

NET = f"{ROOT}/tests/plugins/net_probe.py:NetProbe"
K8SAUDIT = f"{ROOT}/examples/k8saudit/k8saudit.py:K8sAudit"
COUNTER = f"{ROOT}/tests/plugins/counter.py:Counter"
FILE_NOTIFY = f"{ROOT}/examples/file_notify/file_notify.py:FileNotify"
INSIDE = "/opt/ship"  # where the staging directory is mounted in the root
ITEMS = [("beta", "2.20"), ("alpha", "1.10"), ("gamma", "3.30")]


@dataclass
class Shipped:
    root: Path  # the cached minbase tree (never written)
    stage: Path  # bind-mounted at INSIDE: host, plugins/, certs/, the generated falco.yaml
    result: Any


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def make_certs(where: Path) -> None:
    """A CA of our own and a server certificate for 127.0.0.1 that it signs."""
    where.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=falco-plugin test CA", cwd=where)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=where)
    (where / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                   "authorityKeyIdentifier=keyid,issuer\nkeyUsage=digitalSignature,keyEncipherment\n"
                                   "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=where)
    # the k8saudit webhook's sslCertificate: key and certificate in one file, as upstream's
    (where / "falco.pem").write_text((where / "server.pem").read_text() + (where / "server.key").read_text())


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Shipped:
    try:
        root = rootfs.rootfs("bookworm")
    except rootfs.RootfsUnavailable as exc:
        pytest.skip(f"no Debian minbase rootfs: {exc}")
    stage = tmp_path_factory.mktemp("ship")
    result = package([NET, K8SAUDIT, COUNTER, FILE_NOTIFY], stage / "dist",
                     options=Options(dev=True, name="shiptest"))  # counter's id is 999
    with tarfile.open(result.tarball) as tar:
        tar.extractall(stage / "plugins", filter="tar") if hasattr(tarfile, "data_filter") else tar.extractall(
            stage / "plugins")
    shutil.copy2(host_binary(), stage / "host")
    make_certs(stage / "certs")
    return Shipped(root, stage, result)


def chroot(shipped: Shipped, upper: str, argv: list[str],
           binds: dict[str | os.PathLike[str], str] | None = None) -> list[str]:
    mounts: dict[str | os.PathLike[str], str] = {str(shipped.stage): INSIDE, **(binds or {})}
    return rootfs.chroot_command(shipped.root, upper, argv, mounts)


def host_args(shipped: Shipped, falco_yaml: Path, *extra: str) -> list[str]:
    """Our host's command line for the plugins of a falco.yaml, read as Falco reads it."""
    args = parser().parse_args(["run", "--json", *extra])
    args.falco_plugins = falco_config_specs(read_falco_config(falco_yaml, f"{INSIDE}/plugins"))
    return [f"{INSIDE}/host", *host_run_args(args)]


def snippet_with(shipped: Shipped, name: str, init: dict[str, Any] | None, open_params: str,
                 also: list[str] = ()) -> Path:  # type: ignore[assignment]
    """The falco.yaml that package wrote, with the plugin's init_config values and open_params set."""
    conf = yaml.safe_load(shipped.result.falco_yaml.read_text())
    conf["load_plugins"] = [name, *also]
    for entry in conf["plugins"]:
        if entry["name"] == name:
            entry["init_config"] = {**entry.get("init_config", {}), **(init or {})}
            entry["open_params"] = open_params
    path = shipped.stage / f"{name}.falco.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"fields"' in line]


def test_the_root_has_no_python_nor_the_libraries(shipped: Shipped) -> None:
    proc = rootfs.run_in(shipped.root, ["sh", "-c", "command -v python3; ls /usr/lib/x86_64-linux-gnu/ "
                                        "/usr/lib/aarch64-linux-gnu/ 2>/dev/null | grep -E '^lib(ssl|sqlite3)'"
                                        "; cat /etc/debian_version"])
    assert proc.stdout.strip().startswith("12."), proc  # nothing found before the version
    with tarfile.open(shipped.result.tarball) as tar:
        tops = {n.split("/")[0] for n in tar.getnames()}
    assert tops == {"shiptest.python", "libnet_probe.so", "libk8saudit.so", "libcounter.so", "libfile_notify.so"}


@pytest.fixture
def https_server(shipped: Shipped) -> Iterator[int]:
    body = ("<items>" + "".join(f'<item name="{n}" price="{p}"/>' for n, p in ITEMS) + "</items>").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/items.xml" else 404)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certs = shipped.stage / "certs"
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_https_sqlite_lzma_bz2_zlib_ctypes_decimal_uuid_expat_in_minbase(shipped: Shipped, https_server: int) -> None:
    conf = snippet_with(shipped, "net_probe", {"ca_file": f"{INSIDE}/certs/ca.pem",
                                               "url": f"https://127.0.0.1:{https_server}/items.xml"}, "")
    with tempfile.TemporaryDirectory() as upper:
        argv = chroot(shipped, upper, host_args(shipped, conf, "--fields",
                                               "net.name,net.price,net.total,net.uuid,net.strlen,net.tls"))
        proc = subprocess.run(argv, capture_output=True, text=True, env=rootfs.clean_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = [e["fields"] for e in events(proc.stdout)]
    assert [(f["net.name"], f["net.price"]) for f in got] == sorted(ITEMS)  # sqlite's order by name
    assert {f["net.total"] for f in got} == {"6.60"}  # Decimal, not 6.6000000000000005
    assert [f["net.uuid"] for f in got] == [str(uuid.uuid5(uuid.NAMESPACE_URL, n)) for n, _ in sorted(ITEMS)]
    assert [f["net.strlen"] for f in got] == [5, 4, 5]
    assert {f["net.tls"] for f in got} <= {"TLSv1.3", "TLSv1.2"}


def test_k8saudit_webhook_over_tls_in_minbase(shipped: Shipped) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = snippet_with(shipped, "k8saudit", {"sslCertificate": f"{INSIDE}/certs/falco.pem"},
                        f"https://127.0.0.1:{port}/k8s-audit")
    ctx = ssl.create_default_context(cafile=str(shipped.stage / "certs" / "ca.pem"))
    with tempfile.TemporaryDirectory() as upper:
        argv = chroot(shipped, upper, host_args(shipped, conf, "-n", "2", "--duration", "60",
                                               "--fields", "ka.auditid,ka.verb,ka.target.resource"))
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=rootfs.clean_env())
        try:
            statuses = []
            deadline = time.monotonic() + 60
            for audit_id in ("tls-1", "tls-2"):
                while True:
                    assert proc.poll() is None, proc.communicate()
                    try:
                        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
                        conn.request("POST", "/k8s-audit", body=json.dumps({**POD, "auditID": audit_id}).encode(),
                                     headers={"Content-Type": "application/json"})
                        statuses.append(conn.getresponse().status)
                        conn.close()
                        break
                    except (ConnectionRefusedError, ConnectionResetError):
                        assert time.monotonic() < deadline, "the webhook never listened"
                        time.sleep(0.1)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    assert statuses == [200, 200]
    got = [e["fields"] for e in events(out)]
    assert got == [{"ka.auditid": "tls-1", "ka.verb": "create", "ka.target.resource": "pods"},
                   {"ka.auditid": "tls-2", "ka.verb": "create", "ka.target.resource": "pods"}], err[-2000:]


def test_file_notify_beside_a_second_plugin_of_the_same_runtime_in_minbase(shipped: Shipped, tmp_path: Path) -> None:
    watched = tmp_path / "etc"
    watched.mkdir()
    (watched / "passwd").write_text("root:x:0:0\n")
    conf = snippet_with(shipped, "file_notify", {"paths": ["/opt/watch"], "interval": 0.05}, "",
                        also=["counter"])
    data = yaml.safe_load(conf.read_text())
    data["load_plugins"] = ["counter", "file_notify"]  # counter: the source; file_notify: async + fields
    for entry in data["plugins"]:
        if entry["name"] == "counter":
            entry["open_params"] = "mode=idle"
    conf.write_text(yaml.safe_dump(data))
    fields = "file_notify.path,file_notify.change,file_notify.old_size,file_notify.new_size,file_notify.new_hash"
    with tempfile.TemporaryDirectory() as upper:
        argv = chroot(shipped, upper, host_args(shipped, conf, "--duration", "8", "--fields", fields),
                      binds={str(watched): "/opt/watch"})
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=rootfs.clean_env())
        seen = []
        while True:
            line = proc.stderr.readline() if proc.stderr else ""
            seen.append(line)
            if not line or "watching 1 files under" in line:
                break
        new = {"passwd": "root:x:0:0\nmallory:x:0:0\n", "sudoers": "mallory ALL=(ALL) NOPASSWD: ALL\n"}
        for name, text in new.items():
            (tmp_path / "staged").write_text(text)
            os.replace(tmp_path / "staged", watched / name)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + err
    got = sorted((e["fields"] for e in events(out) if e.get("type") == 402), key=lambda f: str(f["file_notify.path"]))
    sha = {n: "sha256:" + hashlib.sha256(t.encode()).hexdigest() for n, t in new.items()}
    assert got == [
        {"file_notify.path": "/opt/watch/passwd", "file_notify.change": "modified", "file_notify.old_size": 11,
         "file_notify.new_size": len(new["passwd"]), "file_notify.new_hash": sha["passwd"]},
        {"file_notify.path": "/opt/watch/sudoers", "file_notify.change": "created", "file_notify.old_size": None,
         "file_notify.new_size": len(new["sudoers"]), "file_notify.new_hash": sha["sudoers"]},
    ], "".join(seen) + err[-2000:]
