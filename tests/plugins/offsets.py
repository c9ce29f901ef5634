"""Value offsets: located list values, plain values ({0, 0}), and a misdeclared field."""

from __future__ import annotations

from falco_plugin import PLUGIN_EVENT_PAYLOAD_OFFSET, Event, ExtractPlugin, Located, Plugin, field


class Words(Plugin, ExtractPlugin):
    NAME = "words_at"
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "words of the payload and where they are"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("sample",)

    @field("words.all", desc="each word of the payload", located=True)
    def all_words(self, event: Event) -> list[Located[str]]:
        payload = (event.payload or b"").rstrip(b"\0")
        out, pos = [], 0
        for word in payload.split(b" "):
            out.append(Located.in_payload(word.decode(), pos, len(word)))
            pos += len(word) + 1
        return out

    @field("words.count", desc="how many words (not from the event bytes)")
    def count(self, event: Event) -> int:
        return len((event.payload or b"").split(b" "))

    @field("words.first", desc="the first word, located but given plainly", located=True)
    def first(self, event: Event) -> str:
        return (event.payload or b"").split(b" ")[0].decode()

    @field("words.head", desc="the payload's first 5 bytes, at a declared offset",
           offset=(PLUGIN_EVENT_PAYLOAD_OFFSET, 5))
    def head(self, event: Event) -> str:
        return (event.payload or b"")[:5].decode()

    @field("words.bad", desc="returns Located without located=True")
    def bad(self, event: Event) -> Located[str]:
        return Located("x", 0, 1)
