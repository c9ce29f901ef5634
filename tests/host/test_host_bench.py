"""The host's ``bench`` and ``bench-async`` commands on plain-C plugins (bench/c_reference)."""

from __future__ import annotations

import json
import math

from support import Lib, host

# -- bench ----------------------------------------------------------------------------


def test_bench_output(lib: Lib) -> None:
    bench_c = lib("bench_c")
    run = host(
        "bench",
        "--fields",
        "bench.value,bench.str,bench.div[3]",
        "-p",
        bench_c,
        "-o",
        "20000",
        "-p",
        bench_c,
        "-c",
        '{"batch": 7}',
        "-o",
        "1000",
    )
    assert run.returncode == 0, run
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [set(r) for r in results] == [
        {
            "plugin",
            "events",
            "batches",
            "timeouts",
            "ns_per_event",
            "cpu_ns_per_event",
            "cold_start_ms",
            "rss_before_load_kb",
            "rss_after_init_kb",
            "rss_kb_samples",
            "peak_rss_kb",
        }
    ] * 2
    assert [(r["plugin"], r["events"], r["batches"]) for r in results] == [
        ("bench_c", 20000, math.ceil(20000 / 64)),
        ("bench_c", 1000, math.ceil(1000 / 7)),
    ]
    for r in results:
        assert r["ns_per_event"] > 0 and r["cold_start_ms"] > 0 and r["peak_rss_kb"] > 0
        assert r["cpu_ns_per_event"] > 0
        assert 0 < r["rss_before_load_kb"] <= r["rss_after_init_kb"] <= r["peak_rss_kb"]
        assert r["rss_kb_samples"] == []  # one sample per 1,000,000 events


def test_bench_work_mode_touches_memory_between_events(lib: Lib) -> None:
    """--work-kib K writes K KiB of a 4 MiB ring per event: the same events, and the ring shows
    in the peak RSS (the process's own, not a parent's)."""
    bench_c = lib("bench_c")
    runs = [
        host("bench", "--fields", "bench.value", *extra, "-p", bench_c, "-o", "20000")
        for extra in ((), ("--work-kib", "4"))
    ]
    assert all(r.returncode == 0 for r in runs), runs
    plain, work = (json.loads(r.stdout) for r in runs)
    assert plain["events"] == work["events"] == 20000
    # 20000 events x 4 KiB = 78 MiB written: the whole ring was touched
    assert plain["peak_rss_kb"] < 16 * 1024, plain  # the C plugin's process, not pytest's
    assert work["peak_rss_kb"] - plain["peak_rss_kb"] >= 4 * 1024 - 256, (plain, work)
    bad = host("bench", "--work-kib", "x", "-p", bench_c)
    assert bad.returncode == 2 and "--work-kib needs a number of KiB" in bad.stderr, bad


def test_bench_samples_rss_every_million_events(lib: Lib) -> None:
    run = host("bench", "-p", lib("bench_c"), "-c", '{"batch": 512}', "-o", "2000000")
    assert run.returncode == 0, run
    samples = json.loads(run.stdout)["rss_kb_samples"]
    assert len(samples) == 2 and all(isinstance(v, int) and v > 0 for v in samples), run


def test_bench_fields_per_call_and_event_count(lib: Lib) -> None:
    run = host(
        "bench",
        "--events",
        "3000",
        "--fields-per-call",
        "--fields",
        "bench.value,bench.div[2]",
        "-p",
        lib("bench_c"),
    )
    assert run.returncode == 0, run
    assert json.loads(run.stdout)["events"] == 3000


def test_bench_field_errors(lib: Lib) -> None:
    run = host("bench", "--fields", "bench.div", "-p", lib("bench_c"), "-o", "10")
    assert run.returncode == 2 and "requires an argument" in run.stderr, run
