"""Plain Python plugin code must never make the shim hand the host freed or wrong memory, nor
wrong values (tests/plugins/reliability.py). Under `make sanitize` (host and shims built with
AddressSanitizer + UBSan) these runs also check that no byte the host reads is freed or out of
bounds."""

from __future__ import annotations

from conftest import Built, Host, fields_of

RELY = "reliability.py"


def errors(stderr: str, plugin: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"log error {plugin}: ")]


def test_list_results_are_the_shims_whatever_python_does_to_them_afterwards(host: Host, built: Built) -> None:
    # sc.reset empties the lists sc.words / sc.ips returned, freeing their items, while the
    # host still holds the values (and the prefetch computes them in another order)
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "6",
               "--fields", "sc.words,sc.ips,sc.reset,sc.words,sc.ips")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert len(fields) == 6
    for n, f in enumerate(fields, 1):
        assert f["sc.words"] == ["".join([f"w{n}.{i}-"] * 40) for i in range(3)], f
        assert f["sc.ips"] == [f"10.0.{n}.0", f"10.0.{n}.1"], f
        assert f["sc.reset"] == 1
    assert errors(run.stderr, "scratch") == []


def test_reltime_is_checked_unsigned_arithmetic(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "3", "--fields", "sc.reltime")
    assert run.returncode == 0, run
    values = [f.get("sc.reltime") for f in fields_of(run)]
    assert values == [110000 * 86400 * 10**9, None, None]  # 110000 days fit in uint64, 220000 do not
    (logged,) = errors(run.stderr, "scratch")
    assert "field sc.reltime: OverflowError: a reltime field is out of range" in logged, logged
    assert "(no value; logged once per field)" in logged


def test_an_embedded_nul_is_an_error_logged_once(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:Scratch"), "-o", "3", "--fields", "sc.nul,sc.nuls")
    assert run.returncode == 0, run
    assert all(f.get("sc.nul") is None and f.get("sc.nuls") is None for f in fields_of(run))
    logged = errors(run.stderr, "scratch")
    assert len(logged) == 2, run.stderr
    assert all("ValueError: a string field cannot contain a NUL character" in line for line in logged)
    assert any(line.startswith("log error scratch: field sc.nul: ") for line in logged)
    assert any(line.startswith("log error scratch: field sc.nuls: ") for line in logged)


def _async_run(host: Host, built: Built, mode: str) -> list[tuple[str, bytes]]:
    run = host("run", "--json", "--duration", "0.6", "-p", built("counter.py:Counter"), "-o", "mode=idle",
               "-p", built(f"{RELY}:Reentrant"), "-c", mode)
    assert run.returncode == 0, run
    assert errors(run.stderr, "reentrant") == []
    return [(str(e["async_name"]), bytes.fromhex(str(e["payload_hex"]))) for e in run.events if e["type"] == 402]


def _expected_inner(i: int) -> tuple[str, bytes]:
    return ("inner", bytes([65 + i]) * 100_000)


def test_nested_emit_many_in_an_events_data_keeps_the_outer_frames(host: Host, built: Built) -> None:
    for mode in ("emit_many", "emit"):
        events = _async_run(host, built, mode)
        # each inner event is sent while the outer batch is read, then the whole outer batch
        assert events == [*map(_expected_inner, range(3)), *((("outer", f"outer-{i}".encode())) for i in range(3))]


def test_emit_many_survives_its_list_emptied_while_it_reads_it(host: Host, built: Built) -> None:
    # the first event's data empties the list: that event is sent, the loop ends cleanly
    assert _async_run(host, built, "mutate") == [_expected_inner(0), ("outer", b"outer-0")]


def test_entries_added_to_a_plugin_owned_table_stay_alive_for_iteration(host: Host, built: Built) -> None:
    run = host("run", "--json", "-p", built(f"{RELY}:ItemOwner"), "-o", "5", "-p", built(f"{RELY}:ItemUser"),
               "--fields", "iu.seen,iu.sum")
    assert run.returncode == 0, run
    fields = fields_of(run)
    assert [f["iu.seen"] for f in fields] == [",".join(f"{k}:item{k}-" for k in range(1, n + 1)) for n in range(1, 6)]
    assert [f["iu.sum"] for f in fields] == [1, 3, 6, 10, 15]
    assert errors(run.stderr, "item_user") == [] and errors(run.stderr, "item_owner") == []
    summary = [s for s in run.summaries if s.get("plugin") == "item_user"]
    assert all(s.get("table_entries_unreleased", 0) == 0 for s in summary), summary
