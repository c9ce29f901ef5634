"""Audit payloads to plugin events: JSON decoding, ``EventList`` splitting, timestamps, size limit.

The decoder is orjson when it is installed (the fastest well-kept JSON parser on PyPI), the
standard library otherwise; both give the same Python values::

    >>> events, errors = split_events(b'{"kind":"Event","stageTimestamp":"2024-01-02T03:04:05.123456789Z"}')
    >>> [ts for _, ts, _ in events], errors
    ([1704164645123456789], [])
"""

from __future__ import annotations

import calendar
import json
import re
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the stdlib fallback test
    orjson = None  # type: ignore[assignment]

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "Decoded", "dumps", "loads", "parse_timestamp", "split_events"]

#: Upstream's default maxEventSize (the Go SDK's default event size).
DEFAULT_MAX_EVENT_SIZE = 256 * 1024

if orjson is not None:
    loads = orjson.loads

    def dumps(value: Any) -> bytes:
        """Compact JSON, keys in their original order (what upstream's fastjson writes back)."""
        return orjson.dumps(value)

    JSON_LIBRARY = "orjson"
else:  # pragma: no cover
    loads = json.loads

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    JSON_LIBRARY = "json"


def dumps_text(value: Any) -> str:
    """The string upstream gives for a non-string JSON value (``true``, ``200``, ``{"a":1}``)."""
    return dumps(value).decode()


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))\Z"
)


_SECONDS_PREFIX = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d\Z")
_last_second: list[Any] = ["", 0]  # audit logs come in time order: one cached second saves the calendar


def parse_timestamp(text: str) -> int:
    """RFC 3339 with up to nanoseconds (Go's ``time.RFC3339Nano``) to ns since the epoch.

    >>> parse_timestamp("1970-01-01T00:00:01.5+01:00"), parse_timestamp("2024-03-05T10:11:12.000000042Z")
    (-3598500000000, 1709633472000000042)
    """
    if text[-1:] == "Z":  # the API server's form, fast: the second once, then only the fraction
        prefix, frac = text[:19], text[19:-1]
        if frac == "" or (frac[0] == "." and 1 < len(frac) <= 10 and frac[1:].isascii() and frac[1:].isdigit()):
            if prefix == _last_second[0]:
                return int(_last_second[1]) + int(frac[1:].ljust(9, "0") or 0)
            if _SECONDS_PREFIX.match(prefix):
                seconds = calendar.timegm((int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10]), int(prefix[11:13]),
                                           int(prefix[14:16]), int(prefix[17:19]), 0, 0, 0))
                _last_second[:] = [prefix, seconds * 1_000_000_000]
                return seconds * 1_000_000_000 + int(frac[1:].ljust(9, "0") or 0)
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"cannot parse {text!r} as an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    return seconds * 1_000_000_000 + int(frac.ljust(9, "0") or 0)


Decoded = tuple[bytes, int, dict[str, Any]]  # payload, stageTimestamp in ns, the decoded event


def _single(item: Any, raw: bytes | None, max_size: int, out: list[Decoded], errors: list[str]) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("stageTimestamp"), str):
        errors.append("can't read stageTimestamp")
        return
    try:
        ts = parse_timestamp(item["stageTimestamp"])
    except ValueError as exc:
        errors.append(str(exc))
        return
    data = raw if raw is not None else dumps(item)
    if len(data) > max_size:
        errors.append(f"event larger than maxEventSize: size={len(data)}")
        return
    out.append((data, ts, item))


def _collect(value: Any, raw: bytes | None, max_size: int, out: list[Decoded], errors: list[str]) -> bool:
    if isinstance(value, list):
        return all(_collect(v, None, max_size, out, errors) for v in value)
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind == "EventList" and isinstance(value.get("items"), list):
        for item in value["items"]:
            _single(item, None, max_size, out, errors)
        return True
    if kind == "Event":
        _single(value, raw, max_size, out, errors)
        return True
    errors.append("data not recognized as a k8s audit event")
    return False


def split_events(payload: bytes, max_size: int = DEFAULT_MAX_EVENT_SIZE) -> tuple[list[Decoded], list[str]]:
    """The audit events in one JSON document (an ``Event``, an ``EventList`` or an array of them).

    Returns ``(events, errors)``: ``events`` are ``(payload, stageTimestamp in ns, decoded event)``,
    one per audit event; ``errors`` are upstream's messages for what was dropped (an unreadable document,
    an event without ``stageTimestamp``, an event over ``max_size`` bytes). A single ``Event`` keeps
    its bytes; the items of a list are written back as compact JSON.
    """
    try:
        value = loads(payload)
    except ValueError as exc:
        return [], [f"invalid JSON: {exc}"]
    out: list[Decoded] = []
    errors: list[str] = []
    if not _collect(value, payload.strip(), max_size, out, errors):
        out = [] if isinstance(value, list) else out  # upstream drops a whole array on a bad element
    return out, errors
