"""``falco-plugin events``: print the events of a scap capture file, like ``sysdig -r``.

One line per event: number, time (UTC), thread id, direction, event name and parameters; or one
JSON object per line with ``--json``; or, with ``--count``, the number of events of each type.

>>> import contextlib, io, tempfile, os
>>> from falco_plugin.event.raw import PluginEvent
>>> from falco_plugin.event.scap import build_capture
>>> path = os.path.join(tempfile.mkdtemp(), "one.scap")
>>> _ = open(path, "wb").write(build_capture([PluginEvent(7, b"hi", ts=0).to_bytes()]))
>>> out = io.StringIO()
>>> with contextlib.redirect_stdout(out):
...     status = events_main([path])
>>> print(status, out.getvalue().strip())
0 1 00:00:00.000000000 -1 > pluginevent plugin_id=7 event_data=hi
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._generated import EVENT_CLASSES, EVENT_MAX, EVENTS_BY_PPME
from .scap import CaptureEvent, CaptureReader
from .types import EventError

__all__ = ["events_main", "format_event_line", "format_time"]

_INT64_SIGN = 1 << 63


def format_time(ts: int) -> str:
    """A nanosecond timestamp as UTC time of day, ``HH:MM:SS.nnnnnnnnn`` (the integer if invalid)."""
    seconds, nanos = divmod(ts, 1_000_000_000)
    try:
        clock = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ts)
    return f"{clock:%H:%M:%S}.{nanos:09d}"


def _signed(value: int) -> int:
    return value - (1 << 64) if value & _INT64_SIGN else value


def format_event_line(item: CaptureEvent) -> tuple[str, bool]:
    """The sysdig-like line of one capture event, and whether it decoded."""
    raw = item.event
    head = f"{item.number} {format_time(raw.ts)} {_signed(raw.tid)} {raw.direction} {raw.name}"
    try:
        text = raw.load_any().format_params()
    except EventError as exc:
        params = " ".join(bytes(p).hex() for p in _safe_params(raw))
        return f"{head} <undecodable: {exc}> {params}".rstrip(), False
    return (f"{head} {text}" if text else head), True


def _safe_params(raw: Any) -> Sequence[memoryview]:
    try:
        params: Sequence[memoryview] = raw.params
    except EventError:
        return ()
    return params


def _json_line(item: CaptureEvent) -> tuple[dict[str, Any], bool]:
    raw = item.event
    base: dict[str, Any] = {"num": item.number, "cpu": item.cpu}
    try:
        base.update(raw.load_any().to_dict())
    except EventError as exc:
        base.update(
            {
                "type": raw.type_name,
                "code": raw.type,
                "ts": raw.ts,
                "tid": raw.tid,
                "error": str(exc),
                "raw_params": [bytes(p).hex() for p in _safe_params(raw)],
            }
        )
        return base, False
    return base, True


def _type_filter(names: Sequence[str]) -> set[int]:
    """Event codes selected by ``--type`` values: event names (``open``) or ``PPME_*`` ids."""
    codes: set[int] = set()
    for name in names:
        if name in EVENTS_BY_PPME:
            codes.add(EVENTS_BY_PPME[name].CODE)
            continue
        matches = {cls.CODE for cls in EVENT_CLASSES if name == cls.NAME}
        if not matches:
            raise EventError(f"unknown event type {name!r} (give an event name like 'open' or a PPME_* id)")
        codes |= matches
    return codes


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="falco-plugin events",
        description="Print the events of a scap capture file (plain or gzip-compressed).",
    )
    parser.add_argument("file", help="capture file (.scap, .scap.gz)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    parser.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="NAME",
        help="only events of this type: an event name (open) or a PPME_* id; repeatable",
    )
    parser.add_argument("-n", type=int, default=None, metavar="N", help="stop after N printed events")
    parser.add_argument(
        "--count", action="store_true", help="print the number of events of each type instead of events"
    )
    return parser


def events_main(argv: list[str]) -> int:
    """Run ``falco-plugin events``; exit status 0 (ok), 1 (undecodable events, bad file) or 2 (usage)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.n is not None and args.n < 0:
        print("falco-plugin events: -n must be 0 or more", file=sys.stderr)
        return 2
    try:
        selected = _type_filter(args.type) if args.type else None
    except EventError as exc:
        print(f"falco-plugin events: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, selected, sys.stdout)
    except EventError as exc:
        sys.stdout.flush()
        print(f"falco-plugin events: {args.file}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace, selected: set[int] | None, out: TextIO) -> int:
    failures = 0
    printed = 0
    counts: collections.Counter[int] = collections.Counter()
    with CaptureReader(args.file) as capture:
        for item in capture:
            code = item.event.type
            if selected is not None and code not in selected:
                continue
            if args.n is not None and printed >= args.n:
                break
            printed += 1
            if args.count:
                counts[code] += 1
                continue
            if args.json:
                record, ok = _json_line(item)
                out.write(json.dumps(record) + "\n")
            else:
                line, ok = format_event_line(item)
                out.write(line + "\n")
            failures += not ok
        if args.count:
            _print_counts(counts, capture.event_count, selected is not None or args.n is not None, out)
    if failures:
        print(f"falco-plugin events: {failures} event(s) could not be decoded", file=sys.stderr)
        return 1
    return 0


def _print_counts(counts: collections.Counter[int], blocks: int, filtered: bool, out: TextIO) -> None:
    width = max((len(_ppme(code)) for code in counts), default=0)
    for code, number in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        name = EVENT_CLASSES[code].NAME if code < EVENT_MAX else "unknown"
        direction = "<" if code & 1 else ">"
        out.write(f"{_ppme(code):<{width}}  {direction} {name:<24} {number:>9}\n")
    total = sum(counts.values())
    scope = "selected events" if filtered else "events"
    out.write(f"total: {total} {scope}, {blocks} event blocks read, {len(counts)} types\n")


def _ppme(code: int) -> str:
    return EVENT_CLASSES[code].PPME if code < EVENT_MAX else f"UNKNOWN_{code}"
