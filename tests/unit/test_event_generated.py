"""The generated event classes: they match the schema, the generator output is current, and every
one of the 454 classes round-trips generated values through bytes (hypothesis)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT, SHARED, needs_shared

from falco_plugin.event import (
    EVENT_CLASSES,
    EVENT_MAX,
    LARGE_PAYLOAD_CODES,
    DynamicValue,
    EventEnum,
    EventFlags,
    FdListEntry,
    RawEvent,
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
    TypedEvent,
    _generated,
    event_class,
)
from falco_plugin.event.types import (
    BoolCodec,
    BytesCodec,
    Codec,
    DoubleCodec,
    DynamicCodec,
    EnumCodec,
    FdListCodec,
    FlagsCodec,
    IntCodec,
    IpCodec,
    SockAddrCodec,
    SockTupleCodec,
    StringCodec,
    StringListCodec,
    StringPairsCodec,
)

SCHEMA_PATH = SHARED / "event-schema" / "event_schema.json"
needs_schema = needs_shared(SCHEMA_PATH)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@needs_schema
def test_classes_match_the_schema(schema: dict[str, Any]) -> None:
    assert EVENT_MAX == schema["event_max"] == len(EVENT_CLASSES) == 454
    assert schema["schema_version"] == _generated.SCHEMA_VERSION
    large = schema["event_flags"]["EF_LARGE_PAYLOAD"]
    for entry, cls in zip(schema["events"], EVENT_CLASSES, strict=True):
        assert entry["code"] == cls.CODE
        assert cls.PPME == entry["id"] == cls.__name__
        assert entry["name"] == cls.NAME
        assert (">" if entry["id"].endswith("_E") else "<") == cls.DIRECTION
        assert bool(entry["flags_value"] & large) == cls.LARGE_PAYLOAD
        assert list(cls.EVENT_FLAGS) == entry["flags"]
        assert [(p.name, p.ptype, p.print_format) for p in cls.PARAMS] == [
            (p["name"], p["type"], p["format"]) for p in entry["params"]
        ]
        for param in cls.PARAMS:
            assert param.codec.ptype == param.ptype
    assert {c.CODE for c in EVENT_CLASSES if c.LARGE_PAYLOAD} == set(LARGE_PAYLOAD_CODES) == {322, 324, 402}


@needs_schema
def test_flag_tables_match_the_schema(schema: dict[str, Any]) -> None:
    for table, entries in schema["flag_tables"].items():
        cls = getattr(_generated, "".join(p.capitalize() if p.islower() else p for p in table.split("_")))
        assert issubclass(cls, (EventFlags, EventEnum))
        members = {name: int(member) for name, member in cls.__members__.items()}
        for entry in entries:
            assert members[entry["name"]] == entry["value"]
    for event in EVENT_CLASSES:
        for param in event.PARAMS:
            if param.ptype.startswith("PT_ENUMFLAGS"):
                assert isinstance(param.codec, EnumCodec)
            elif param.ptype.startswith("PT_FLAGS") or param.ptype == "PT_MODE":
                assert isinstance(param.codec, FlagsCodec)


def test_parameter_attributes_do_not_shadow_the_base_class() -> None:
    reserved = set(dir(TypedEvent))
    for cls in EVENT_CLASSES:
        for param in cls.PARAMS:
            assert param.attr not in reserved, (cls.PPME, param.attr)
            assert param.attr == param.name or param.attr == param.name + "_"
    assert EVENT_CLASSES[13].PARAMS[3].attr == "tid_"  # execve's "tid" parameter vs the header tid


@needs_schema
def test_generator_output_is_current(tmp_path: Path) -> None:
    out = tmp_path / "generated.py"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_events.py"), str(SCHEMA_PATH), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == (ROOT / "falco_plugin" / "event" / "_generated.py").read_text(
        encoding="utf-8"
    ), "falco_plugin/event/_generated.py is stale: run python tools/gen_events.py <schema>"
    check = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_events.py"), str(SCHEMA_PATH), "-o", str(out), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0 and "up to date" in check.stdout


# --- hypothesis: every class round-trips --------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20), st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape"))
)
items = texts.filter(lambda t: "\0" not in t)  # array items are NUL-separated
ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
ports = st.integers(0, 65535)
# a family byte that never decodes as a structured address (those have their own strategies)
other_families = st.integers(0, 255).filter(lambda f: f not in (1, 2, 10))


def values_for(codec: Codec) -> st.SearchStrategy[Any]:
    """Values of a parameter type that survive encode/decode unchanged."""
    if isinstance(codec, (FlagsCodec, EnumCodec)):
        low, high = codec.bounds
        cls = codec.flags_class if isinstance(codec, FlagsCodec) else codec.enum_class
        return st.integers(low, high).map(cls)
    if isinstance(codec, IntCodec):
        low, high = codec.bounds
        return st.integers(low, high).map(codec.wrap)
    if isinstance(codec, BoolCodec):
        return st.booleans()
    if isinstance(codec, DoubleCodec):
        return st.floats(allow_nan=False)
    if isinstance(codec, StringCodec):
        return texts
    if isinstance(codec, BytesCodec):
        return st.binary(max_size=40)
    if isinstance(codec, StringListCodec):
        return st.lists(items, min_size=1, max_size=4)
    if isinstance(codec, StringPairsCodec):
        return st.lists(st.tuples(items, items), min_size=1, max_size=3)
    if isinstance(codec, FdListCodec):
        entry = st.builds(FdListEntry, st.integers(-(2**63), 2**63 - 1), st.integers(0, 65535))
        return st.lists(entry, max_size=4)
    if isinstance(codec, SockAddrCodec):
        return st.one_of(
            st.builds(SockAddrV4, ipv4, ports),
            st.builds(SockAddrV6, ipv6, ports),
            st.builds(SockAddrUnix, texts),
            st.builds(SockAddrOther, other_families, st.binary(max_size=20)),
        )
    if isinstance(codec, SockTupleCodec):
        pointers = st.integers(0, 2**64 - 1)
        return st.one_of(
            st.builds(SockTupleV4, ipv4, ports, ipv4, ports),
            st.builds(SockTupleV6, ipv6, ports, ipv6, ports),
            st.builds(SockTupleUnix, pointers, pointers, texts),
            st.builds(SockTupleOther, other_families, st.binary(max_size=20)),
        )
    if isinstance(codec, IpCodec):
        addresses = st.one_of(*(ipv4 if size == 4 else ipv6 for size in codec.sizes))
        return addresses.map(ipaddress.ip_network) if codec.network else addresses
    if isinstance(codec, DynamicCodec):
        choices = []
        for index, (ptype, _fmt, inner) in sorted(codec.table.items()):
            inner_values = values_for(inner)
            if not isinstance(inner, BytesCodec):
                inner_values = st.one_of(st.none(), inner_values)
            choices.append(inner_values.map(lambda v, i=index, t=ptype: DynamicValue(i, t, v)))  # type: ignore[misc]
        return st.one_of(*choices)
    raise AssertionError(f"no strategy for {codec!r}")


def events_of(cls: type[TypedEvent]) -> st.SearchStrategy[TypedEvent]:
    fields = {}
    for param in cls.PARAMS:
        values = values_for(param.codec)
        # an empty byte buffer decodes as b"", every other empty parameter as None
        fields[param.attr] = values if isinstance(param.codec, BytesCodec) else st.one_of(st.none(), values)
    headers = st.integers(0, 2**64 - 1)
    return st.builds(cls, ts=headers, tid=headers, **fields)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.PPME)
@settings(max_examples=6, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_class_round_trips(cls: type[TypedEvent], data: st.DataObject) -> None:
    event = data.draw(events_of(cls))
    encoded = event.to_bytes()
    raw = RawEvent(encoded)
    assert raw.type == cls.CODE and raw.nparams == len(cls.PARAMS)
    decoded = raw.load(cls)
    assert decoded == event
    assert decoded.to_bytes() == encoded
    again = raw.load_any()
    assert isinstance(again, cls) and type(again) is event_class(cls.CODE)
    json.dumps(decoded.to_dict())
    assert decoded.format_params().count("=") >= len(cls.PARAMS)
