"""A plugin that polls an HTTPS API and uses the standard modules that need system libraries
(ssl, sqlite3, lzma, bz2, zlib, ctypes, decimal, uuid, xml.parsers.expat): what a packaged
plugin must find in its own bundle inside a minimal image (tests/test_ship_rootfs.py).

The server answers an XML list of ``<item name=".." price=".."/>``; each item becomes an event
whose payload went through sqlite3 and the three compressors.
"""

from __future__ import annotations

import bz2
import ctypes
import http.client
import json
import lzma
import sqlite3
import ssl
import urllib.parse
import uuid
import xml.parsers.expat
import zlib
from decimal import Decimal

from pydantic import BaseModel

from falco_plugin import EndOfStream, Event, ExtractPlugin, Plugin, SourceInstance, SourcePlugin, field


class NetConfig(BaseModel):
    url: str = "https://127.0.0.1:8443/items.xml"
    ca_file: str = "/etc/ssl/certs/ca-certificates.crt"


def fetch(url: str, ca_file: str) -> tuple[bytes, str]:
    """The body and the TLS version of one HTTPS GET, verified against ``ca_file``."""
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context, timeout=20)
    try:
        conn.request("GET", parts.path)
        version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else None  # the socket goes at EOF
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status}")
        return response.read(), str(version)
    finally:
        conn.close()


def parse_items(body: bytes) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    parser = xml.parsers.expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "item":
            items.append((attrs["name"], attrs["price"]))

    parser.StartElementHandler = start
    parser.Parse(body, True)
    return items


class Items(SourceInstance):
    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    def next_batch(self) -> list[bytes]:
        if not self.events:
            raise EndOfStream
        batch, self.events = self.events, []
        return batch


class NetProbe(Plugin, SourcePlugin, ExtractPlugin):
    NAME = "net_probe"
    PLUGIN_VERSION = "0.3.0"
    DESCRIPTION = "polls an HTTPS API; stores, compresses and hashes what it gets"
    CONTACT = "https://example.com/net_probe"
    PLUGIN_ID = 990
    EVENT_SOURCE = "net_probe"

    def __init__(self, config: NetConfig) -> None:
        self.config = config

    def open(self, params: str) -> Items:
        """The URL to poll, or empty for the configured one."""
        body, tls = fetch(params or self.config.url, self.config.ca_file)
        db = sqlite3.connect(":memory:")
        db.execute("create table item (name text, price text)")
        db.executemany("insert into item values (?, ?)", parse_items(body))
        rows = db.execute("select name, price from item order by name").fetchall()
        total = sum((Decimal(p) for _, p in rows), Decimal("0"))
        libc = ctypes.CDLL(None)
        events = []
        for name, price in rows:
            raw = json.dumps({"name": name, "price": price, "total": str(total), "tls": tls,
                              "sqlite": sqlite3.sqlite_version}).encode()
            packed = lzma.compress(bz2.compress(zlib.compress(raw)))
            back = zlib.decompress(bz2.decompress(lzma.decompress(packed)))
            assert back == raw
            record = json.loads(back)
            record["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
            record["strlen"] = libc.strlen(name.encode())
            events.append(json.dumps(record).encode())
        return Items(events)

    def record(self, event: Event) -> dict[str, object]:
        out: dict[str, object] = json.loads(event.payload or b"{}")
        return out

    @field("net.name", desc="item name")
    def name(self, event: Event) -> str:
        return str(self.record(event)["name"])

    @field("net.price", desc="item price")
    def price(self, event: Event) -> str:
        return str(self.record(event)["price"])

    @field("net.total", desc="the sum of all prices (decimal)")
    def total(self, event: Event) -> str:
        return str(self.record(event)["total"])

    @field("net.uuid", desc="uuid5 of the name")
    def uuid(self, event: Event) -> str:
        return str(self.record(event)["uuid"])

    @field("net.strlen", desc="strlen of the name, by libc through ctypes")
    def strlen(self, event: Event) -> int:
        return int(str(self.record(event)["strlen"]))

    @field("net.tls", desc="the TLS version of the connection")
    def tls(self, event: Event) -> str:
        return str(self.record(event)["tls"])
