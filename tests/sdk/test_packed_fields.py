"""Vectorized batch fields end to end: batch methods returning packed values (array.array,
bytes, memoryview, numpy arrays, NUL-joined strings, lists of bytes) and reading the batch's
contiguous buffer, through real .so files and the host; and the packed returns the shim refuses,
each named with the method's file:line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from support import Built, Host, fields_of

from falco_plugin.event.raw import PluginEvent
from falco_plugin.event.scap import build_capture

PACKED = "packed_fields.py:Packed"
HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
needs_numpy = pytest.mark.skipif(not HAVE_NUMPY, reason="numpy is not installed (an optional dependency)")
N = 10


def run_fields(host: Host, built: Built, fields: str, params: str = f"{N},4") -> list[dict[str, object]]:
    run = host("run", "--json", "--fields", fields, "-p", built(PACKED), "-o", params)
    assert run.returncode == 0, run
    return fields_of(run)


@pytest.mark.parametrize("form", ["array", "bytes", "memoryview", pytest.param("numpy", marks=needs_numpy),
                                  pytest.param("numpy_i64", marks=needs_numpy)])
def test_packed_uint64_values(host: Host, built: Built, form: str) -> None:
    got = run_fields(host, built, f"packed.n[{form}]")
    assert [f[f"packed.n[{form}]"] for f in got] == list(range(1, N + 1))


@pytest.mark.parametrize("form", ["array", pytest.param("numpy", marks=needs_numpy)])
def test_packed_bool_values(host: Host, built: Built, form: str) -> None:
    got = run_fields(host, built, f"packed.even[{form}]")
    assert [f[f"packed.even[{form}]"] for f in got] == [v % 2 == 0 for v in range(1, N + 1)]


def test_packed_reltime_values(host: Host, built: Built) -> None:
    assert [f["packed.ns"] for f in run_fields(host, built, "packed.ns")] == [v * 1000 for v in range(1, N + 1)]


@pytest.mark.parametrize("form", ["joined", "joined_bytes", "bytes_list"])
def test_strings_joined_by_nul_or_as_bytes(host: Host, built: Built, form: str) -> None:
    got = run_fields(host, built, f"packed.str[{form}]")
    assert [f[f"packed.str[{form}]"] for f in got] == [f"n={v}" for v in range(1, N + 1)]


def test_joined_empty_strings_are_values(host: Host, built: Built) -> None:
    assert [f["packed.str[empty]"] for f in run_fields(host, built, "packed.str[empty]")] == [""] * N


def test_the_batch_buffer_and_offsets_match_the_payloads(host: Host, built: Built) -> None:
    assert [f["packed.consistent"] for f in run_fields(host, built, "packed.consistent")] == [1] * N


def test_packed_values_outside_the_batch_take_the_per_event_path(host: Host, built: Built, tmp_path: Path) -> None:
    # replayed from a capture, each event is a batch of one: the packed return gives its one value
    capture = tmp_path / "packed.scap"
    payloads = [v.to_bytes(8, "little") + b"x" * (v % 3) for v in range(1, 5)]
    capture.write_bytes(build_capture([PluginEvent(984, p, ts=i + 1).to_bytes() for i, p in enumerate(payloads)]))
    fields = "packed.n[array],packed.n[bytes],packed.even[array],packed.str[joined],packed.str[bytes_list]"
    run = host("replay", "--json", "--fields", fields, "--capture", capture, "-p", built(PACKED))
    assert run.returncode == 0, run
    assert fields_of(run) == [{"packed.n[array]": v, "packed.n[bytes]": v, "packed.even[array]": v % 2 == 0,
                               "packed.str[joined]": f"n={v}", "packed.str[bytes_list]": f"n={v}"}
                              for v in range(1, 5)]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("packed.n[strided]", "a batch field's buffer must be contiguous: this memoryview is not"),
        ("packed.n[float]", "a batch field's buffer must hold 8-byte unsigned integers (format 'Q', numpy uint64), "
                            "not format 'd' of 8 bytes"),
        ("packed.n[short]", "a batch field must return one value per event: got 3 for 4 events"),
        ("packed.n[negative]", "value 0 of the batch is negative (-1)"),
        ("packed.n[bytes7]", "a batch field's bytes must hold 8-byte values: 28 bytes is not a multiple of 8"),
        pytest.param("packed.n[2d]", "a batch field's buffer must be one-dimensional, not 2-dimensional",
                     marks=needs_numpy),
        ("packed.str[one_short]", "a batch field must return one value per event: got 3 for 4 events"),
        ("packed.str[words]", "a string batch field's buffer must hold bytes, not format 'I'"),
    ],
)
def test_wrong_packed_returns_are_refused_with_the_method(host: Host, built: Built, field: str, message: str) -> None:
    run = host("run", "--json", "--fields", f"{field},packed.n[array]", "-p", built(PACKED), "-o", "4,4")
    assert run.returncode == 0, run
    assert [f[field] for f in fields_of(run)] == [None] * 4  # no value, and the other field still has its own
    assert [f["packed.n[array]"] for f in fields_of(run)] == [1, 2, 3, 4]
    name = field.split("[")[0]  # the log names the field, once per field whatever the argument
    logged = [line for line in run.stderr.splitlines() if f"field {name}:" in line]
    assert len(logged) == 1, run.stderr
    assert message in logged[0], logged[0]
    assert "(in Packed." in logged[0] and "packed_fields.py:" in logged[0], logged[0]  # where the method is


def test_vectorized_bench_examples_give_the_values_of_bench_py(host: Host, built: Built) -> None:
    from support import ROOT

    fields = "bench.value,bench.str,bench.div[3],bench.div[0]"
    examples = ROOT / "examples" / "bench"
    targets = ["bench_plugin.py:BenchPlugin", "bench_vector.py:BenchVectorPlugin"]
    if HAVE_NUMPY:
        targets.append("bench_numpy.py:BenchNumpyPlugin")
    runs = [host("run", "--json", "--fields", fields, "-p", built(f"{examples}/{target}"), "-c", '{"batch": 7}',
                 "-o", "30") for target in targets]
    assert all(r.returncode == 0 for r in runs), runs
    assert all(fields_of(r) == fields_of(runs[0]) for r in runs[1:])
    assert [f["bench.value"] for f in fields_of(runs[0])] == list(range(1, 31))
