#!/usr/bin/env python3
"""Generate ``falco_plugin/event/_generated.py`` from the libs event schema (``event_schema.json``).

Usage::

    python tools/gen_events.py /path/to/event_schema.json [-o OUTPUT] [--check]

The output holds one Python enum per flag table, one codec per dynamic-parameter table and one
:class:`TypedEvent` subclass per event code, plus lookup tables. It is deterministic: the same
schema always gives the same bytes, so ``--check`` can tell whether the committed module is current.
This script reads only the JSON file; it does not import the package it generates.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "falco_plugin" / "event" / "_generated.py"

# Attribute names a parameter must not take: the TypedEvent header, class constants and methods.
RESERVED_ATTRS = {
    "ts",
    "tid",
    "CODE",
    "PPME",
    "NAME",
    "DIRECTION",
    "CATEGORY",
    "EVENT_FLAGS",
    "LARGE_PAYLOAD",
    "PARAMS",
    "from_raw",
    "from_bytes",
    "to_bytes",
    "to_raw",
    "to_dict",
    "values",
    "items",
    "format_params",
}
# Member names an enum must not take (Enum machinery and our EventFlags / EventEnum helpers).
RESERVED_MEMBERS = {"name", "value", "names", "known", "mro"}

FLAG_TYPES = {"PT_FLAGS8", "PT_FLAGS16", "PT_FLAGS32", "PT_MODE"}
ENUM_TYPES = {"PT_ENUMFLAGS8", "PT_ENUMFLAGS16", "PT_ENUMFLAGS32"}

# The Python type accepted and held for each parameter type (None is always allowed as well).
ANNOTATIONS = {
    "PT_NONE": "bytes",
    "PT_INT8": "int",
    "PT_INT16": "int",
    "PT_INT32": "int",
    "PT_INT64": "int",
    "PT_UINT8": "int",
    "PT_UINT16": "int",
    "PT_UINT32": "int",
    "PT_UINT64": "int",
    "PT_CHARBUF": "str",
    "PT_BYTEBUF": "bytes",
    "PT_ERRNO": "int",
    "PT_SOCKADDR": "SockAddr",
    "PT_SOCKTUPLE": "SockTuple",
    "PT_FD": "int",
    "PT_PID": "int",
    "PT_FDLIST": "Sequence[tuple[int, int]]",
    "PT_FSPATH": "str",
    "PT_SYSCALLID": "int",
    "PT_SIGTYPE": "int",
    "PT_RELTIME": "int",
    "PT_ABSTIME": "int",
    "PT_PORT": "int",
    "PT_L4PROTO": "int",
    "PT_SOCKFAMILY": "int",
    "PT_BOOL": "bool",
    "PT_IPV4ADDR": "IPv4Address",
    "PT_DYN": "DynamicValue",
    "PT_UID": "int",
    "PT_GID": "int",
    "PT_DOUBLE": "float",
    "PT_SIGSET": "int",
    "PT_CHARBUFARRAY": "Sequence[str]",
    "PT_CHARBUF_PAIR_ARRAY": "Sequence[tuple[str, str]]",
    "PT_IPV4NET": "IPv4Network",
    "PT_IPV6ADDR": "IPv6Address",
    "PT_IPV6NET": "IPv6Network",
    "PT_IPADDR": "IPv4Address | IPv6Address",
    "PT_IPNET": "IPv4Network | IPv6Network",
    "PT_FSRELPATH": "str",
    "PT_FD32": "int",
    "PT_PID32": "int",
}
IPADDRESS_NAMES = ("IPv4Address", "IPv4Network", "IPv6Address", "IPv6Network")
TYPES_NAMES = ("SockAddr", "SockTuple", "DynamicValue")


def natural_key(name: str) -> tuple[int, list[Any]]:
    """The order ruff (RUF022) wants in ``__all__``: CONSTANTS, then Classes, then the rest."""
    category = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    parts: list[Any] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return category, parts


def class_name(table: str) -> str:
    """``file_flags`` -> ``FileFlags``."""
    return "".join(part[:1].upper() + part[1:] for part in table.split("_"))


def member_name(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name) or name in RESERVED_MEMBERS:
        name = "".join(ch if ch.isalnum() else "_" for ch in name)
        if not name[:1].isalpha():
            name = "V" + name
        name += "_"
    return name


def attr_name(name: str) -> str:
    if keyword.iskeyword(name) or name in RESERVED_ATTRS or not name.isidentifier():
        return name + "_"
    return name


def table_kinds(schema: dict[str, Any]) -> dict[str, str]:
    """Whether each flag table is a flag set or an enumeration, from the parameters using it."""
    kinds: dict[str, set[str]] = {name: set() for name in schema["flag_tables"]}
    for event in schema["events"]:
        for param in event["params"]:
            table = param.get("info", {}).get("flags")
            if table is not None:
                kinds[table].add("enum" if param["type"] in ENUM_TYPES else "flags")
    result = {}
    for name, used in kinds.items():
        if len(used) > 1:
            raise SystemExit(f"flag table {name} is used both as flags and as an enumeration")
        result[name] = used.pop() if used else "flags"
    return result


def codec_expr(param: dict[str, Any], kinds: dict[str, str]) -> str:
    ptype = param["type"]
    info = param.get("info", {})
    if "flags" in info and ptype in FLAG_TYPES | ENUM_TYPES:
        table = info["flags"]
        factory = "enum_codec" if kinds[table] == "enum" else "flags_codec"
        return f'{factory}("{ptype}", {class_name(table)})'
    if "dynamic" in info:
        return str(info["dynamic"]).upper()
    if ptype not in ANNOTATIONS and ptype not in FLAG_TYPES | ENUM_TYPES:
        return f'raw_codec("{ptype}")'
    return f'CODECS["{ptype}"]'


def param_args(param: dict[str, Any], attr: str, kinds: dict[str, str]) -> list[str]:
    texts = (param["name"], attr, param["type"], param["format"])
    args = [*(f'"{text}"' for text in texts), codec_expr(param, kinds)]
    info = info_expr(param)
    if info is not None:
        args.append(info)
    return args


def annotation(param: dict[str, Any], kinds: dict[str, str]) -> str:
    ptype = param["type"]
    table = param.get("info", {}).get("flags")
    if table is not None and ptype in FLAG_TYPES | ENUM_TYPES:
        return f"{class_name(table)} | int"
    return ANNOTATIONS.get(ptype, "bytes")


def info_expr(param: dict[str, Any]) -> str | None:
    info = param.get("info", {})
    for key in ("flags", "dynamic"):
        if key in info:
            return json.dumps(info[key])
    if "dirfd_param" in info:
        return str(int(info["dirfd_param"]))
    return None


def generate(schema: dict[str, Any]) -> str:
    events = schema["events"]
    for index, event in enumerate(events):
        if event["code"] != index:
            raise SystemExit(f"event codes are not contiguous: {event['id']} has code {event['code']}")
    kinds = table_kinds(schema)
    unknown = sorted(
        {
            p["type"]
            for e in events
            for p in e["params"]
            if p["type"] not in ANNOTATIONS and p["type"] not in FLAG_TYPES | ENUM_TYPES
        }
    )
    if unknown:
        print(
            f"warning: no Python type for {', '.join(unknown)}: those parameters decode as raw bytes "
            "(add a codec in falco_plugin/event/types.py and a line in ANNOTATIONS here)",
            file=sys.stderr,
        )
    large_flag = schema["event_flags"]["EF_LARGE_PAYLOAD"]

    body: list[str] = []
    used_annotations: set[str] = set()

    body.append("# --- flag tables " + "-" * 76)
    for table, entries in schema["flag_tables"].items():
        base = "EventEnum" if kinds[table] == "enum" else "EventFlags"
        users = sorted(
            {p["type"] for e in events for p in e["params"] if p.get("info", {}).get("flags") == table}
        )
        used_by = ", ".join(users) if users else "no event parameter"
        body += ["", "", f"class {class_name(table)}({base}):"]
        body.append(f'    """Flag table ``{table}`` (used by {used_by})."""')
        body.append("")
        seen: set[str] = set()
        for entry in entries:
            name = member_name(entry["name"])
            if name in seen:
                continue
            seen.add(name)
            body.append(f"    {name} = {int(entry['value'])}")

    body += ["", "", "# --- dynamic parameter tables " + "-" * 63, ""]
    for table, entries in schema["dynamic_param_tables"].items():
        rows = ", ".join(f'({int(e["index"])}, "{e["type"]}", "{e["format"]}")' for e in entries)
        line = f'{table.upper()} = dynamic_codec("{table}", ({rows}{"," if len(entries) == 1 else ""}))'
        if len(line) <= 110:
            body.append(line)
        else:
            body.append(f"{table.upper()} = dynamic_codec(")
            body.append(f'    "{table}",')
            body.append("    (")
            for e in entries:
                body.append(f'        ({int(e["index"])}, "{e["type"]}", "{e["format"]}"),')
            body.append("    ),")
            body.append(")")

    body += ["", "", "# --- events " + "-" * 81]
    for event in events:
        ppme = event["id"]
        direction = ">" if ppme.endswith("_E") else "<"
        params = event["params"]
        attrs = [attr_name(p["name"]) for p in params]
        large = bool(event["flags_value"] & large_flag)
        kind = "enter" if direction == ">" else "exit"
        body += ["", "", f"class {ppme}(TypedEvent):"]
        summary = f"``{event['name']}`` {kind} event, code {event['code']}"
        if params:
            names = ", ".join(p["name"] for p in params)
            doc = f"{summary}: {names}."
        else:
            doc = f"{summary}, no parameters."
        if len(doc) + 10 <= 110:
            body.append(f'    """{doc}"""')
        else:
            body.append(f'    """{summary}.')
            body.append("")
            body += wrap_words(f"Parameters: {', '.join(p['name'] for p in params)}.", "    ", 110)
            body.append('    """')
        body.append("")
        if attrs:
            slots = ", ".join(f'"{a}"' for a in sorted(attrs, key=natural_key))
            slots_line = f"    __slots__ = ({slots}{',' if len(attrs) == 1 else ''})"
            if len(slots_line) <= 110:
                body.append(slots_line)
            else:
                body.append("    __slots__ = (")
                body += [f'        "{a}",' for a in sorted(attrs, key=natural_key)]
                body.append("    )")
        else:
            body.append("    __slots__ = ()")
        body.append("")
        body.append(f"    CODE = {event['code']}")
        body.append(f'    PPME = "{ppme}"')
        body.append(f'    NAME = "{event["name"]}"')
        body.append(f'    DIRECTION = "{direction}"')
        body += tuple_lines("CATEGORY", event["category"])
        body += tuple_lines("EVENT_FLAGS", event["flags"])
        body.append(f"    LARGE_PAYLOAD = {large}")
        param_lines = []
        if params:
            for p, attr in zip(params, attrs, strict=True):
                args = param_args(p, attr, kinds)
                param_lines.append(f"Param({', '.join(args)})")
        single = f"    PARAMS = ({param_lines[0]},)" if len(param_lines) == 1 else None
        if not param_lines:
            body.append("    PARAMS = ()")
        elif single is not None and len(single) <= 110:
            body.append(single)
        else:
            body.append("    PARAMS = (")
            for line, p in zip(param_lines, params, strict=True):
                if len(line) + 9 <= 110:
                    body.append(f"        {line},")
                else:
                    body.append("        Param(")
                    body += [f"            {a}," for a in param_args(p, attr_name(p["name"]), kinds)]
                    body.append("        ),")
            body.append("    )")
        if params:
            body.append("")
            annotations = [annotation(p, kinds) for p in params]
            used_annotations.update(annotations)
            for attr, ann in zip(attrs, annotations, strict=True):
                body.append(f"    {attr}: {ann} | None")
            body.append("")
            body.append("    def __init__(")
            body.append("        self,")
            for attr, ann in zip(attrs, annotations, strict=True):
                body.append(f"        {attr}: {ann} | None = None,")
            body.append("        *,")
            body.append("        ts: int | None = None,")
            body.append("        tid: int | None = None,")
            body.append("    ) -> None:")
            body.append("        TypedEvent.__init__(self, ts, tid)")
            for attr in attrs:
                body.append(f"        self.{attr} = {attr}")

    body += ["", "", "# --- lookup tables " + "-" * 74, ""]
    body.append("#: The event class of each event code, indexed by code.")
    body.append("EVENT_CLASSES: tuple[type[TypedEvent], ...] = (")
    body += [f"    {event['id']}," for event in events]
    body.append(")")
    body.append("")
    body.append("#: Event classes by ``PPME_*`` name.")
    body.append("EVENTS_BY_PPME: dict[str, type[TypedEvent]] = {cls.PPME: cls for cls in EVENT_CLASSES}")
    body.append("")
    body.append("#: Codes of the events whose parameter lengths are 4 bytes (EF_LARGE_PAYLOAD).")
    large_codes = ", ".join(str(e["code"]) for e in events if e["flags_value"] & large_flag)
    body.append(f"LARGE_PAYLOAD_CODES: frozenset[int] = frozenset({{{large_codes}}})")

    flag_classes = [class_name(t) for t in schema["flag_tables"]]
    dyn_names = [t.upper() for t in schema["dynamic_param_tables"]]
    exported = [
        "EVENT_CLASSES",
        "EVENTS_BY_PPME",
        "EVENT_MAX",
        "LARGE_PAYLOAD_CODES",
        "LIBS_COMMIT",
        "SCHEMA_VERSION",
        *dyn_names,
        *flag_classes,
        *(e["id"] for e in events),
    ]

    joined_annotations = " ".join(used_annotations)
    ip_names = [n for n in IPADDRESS_NAMES if n in joined_annotations]
    types_names = [
        "CODECS",
        *(n for n in TYPES_NAMES if n in joined_annotations),
        "EventEnum",
        "EventFlags",
        "Param",
        "TypedEvent",
        "dynamic_codec",
        "enum_codec",
        "flags_codec",
        *(["raw_codec"] if unknown else []),
    ]

    head = [
        "# Generated by tools/gen_events.py from event_schema.json: do not edit by hand.",
        f"# Schema version {schema['schema_version']}, libs commit {schema['libs_commit']}.",
        '"""Typed Falco events: one class per event code of the libs event schema (generated).',
        "",
        f"Schema version {schema['schema_version']}, {schema['event_max']} event codes. Regenerate with",
        "``python tools/gen_events.py /path/to/event_schema.json``.",
        "",
        '>>> event = PPME_SYSCALL_OPEN_E(name="/etc/hosts", flags=FileFlags.O_RDONLY, mode=0)',
        ">>> event.flags.names(), EVENT_CLASSES[event.CODE] is PPME_SYSCALL_OPEN_E",
        "(['O_RDONLY'], True)",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    if "Sequence" in joined_annotations:
        head.append("from collections.abc import Sequence")
    if ip_names:
        head.append(f"from ipaddress import {', '.join(ip_names)}")
    if "Sequence" in joined_annotations or ip_names:
        head.append("")
    head.append("from .types import (")
    head += [f"    {name}," for name in sorted(types_names, key=lambda n: (not n.isupper(), n))]
    head.append(")")
    head += ["", "__all__ = ["]
    head += [f'    "{name}",' for name in sorted(exported, key=natural_key)]
    head.append("]")
    head += [
        "",
        f'SCHEMA_VERSION = "{schema["schema_version"]}"',
        f'LIBS_COMMIT = "{schema["libs_commit"]}"',
        f"EVENT_MAX = {int(schema['event_max'])}",
        "",
        "",
    ]
    return "\n".join(head + body) + "\n"


def tuple_expr(items: list[str]) -> str:
    if not items:
        return "()"
    inner = ", ".join(f'"{item}"' for item in items)
    return f"({inner},)" if len(items) == 1 else f"({inner})"


def tuple_lines(name: str, items: list[str]) -> list[str]:
    line = f"    {name} = {tuple_expr(items)}"
    if len(line) <= 110:
        return [line]
    return [f"    {name} = (", *(f'        "{item}",' for item in items), "    )"]


def wrap_words(text: str, indent: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("schema", type=Path, help="path to event_schema.json")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="module to write")
    parser.add_argument("--check", action="store_true", help="only check that OUTPUT is up to date")
    args = parser.parse_args(argv)
    schema = json.loads(args.schema.read_text(encoding="utf-8"))
    text = generate(schema)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run: python tools/gen_events.py {args.schema}")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    counts = f"{len(schema['events'])} event classes, {len(schema['flag_tables'])} flag tables"
    print(f"wrote {args.output}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
