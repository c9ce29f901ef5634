"""`make bench`: SDK plugins next to the plain-C reference plugin, in one host process.

Every figure comes from one invocation of our libsinsp-like host that loads both the C
reference plugin and the Python one, so the ratio means something on a noisy machine.

S1  source: ns/event for batches of 1, 64 and 512 (the C plugin; the Python plugin building
    its payloads; the Python plugin with payloads built at open, i.e. the SDK's own cost),
    cold start (dlopen to the first init returned) and RSS over 10 million events.
S2  one field per event (bench.value), S3 four fields per event (bench.value, bench.str,
    bench.div[3], bench.value again as Falco's output does): ns/event on top of S1 (payloads
    prebuilt, batch 64), each field asked in its own extract_fields call as libsinsp does,
    and with all fields in one call as other hosts may.
A   async emit: ns/event from one Python thread and from four (emit per event, and emit_many
    of 64), next to a plain-C emitter plugin (bench/c_reference/async_c.c) in the same host.
P   parse and tables over a shared capture: a no-op parse_event (ns/event), a threads-table
    entry lookup, and a field read + write pair (ns), for examples/bench/parse_bench.py next to
    bench/c_reference/parse_noop_c.c and table_rw_c.c.
K   shipping: the size of examples/dummy's tarball (falco-plugin package) and its cold start
    (dlopen to init returned, Python started from the bundle) next to the dev build's, each in
    a fresh host process, median of COLD_RUNS alternated runs after one warm-up each.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from falco_plugin.build import build  # noqa: E402
from falco_plugin.host import compile_c_plugin, run_host  # noqa: E402
from falco_plugin.package import package  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000000"))
RSS_EVENTS = int(os.environ.get("BENCH_RSS_EVENTS", "10000000"))
OUT = ROOT / "build" / "bench"


def host_bench(specs: list[tuple[Path, str, str]], *extra: str) -> list[dict[str, Any]]:
    argv = ["bench", *extra]
    for lib, config, params in specs:
        argv += ["-p", str(lib), "-c", config, "-o", params]
    proc = run_host(argv, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"host bench failed ({proc.returncode}):\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


S2_FIELDS = "bench.value"
S3_FIELDS = "bench.value,bench.str,bench.div[3],bench.value"


def extraction(c_lib: Path, py_lib: Path) -> None:
    n = str(EVENTS // 2)
    specs = [(c_lib, json.dumps({"batch": 64}), n), (py_lib, json.dumps({"batch": 64, "precompute": True}), n)]
    base = host_bench(specs)
    print(f"\nS2/S3 extraction, {int(n):,} events, ns/event on top of sourcing (one host process)")
    print(f"{'':34}{'C plugin':<14}{'Python':<14}")
    rows = [("S2: 1 field", S2_FIELDS, ()), ("S3: 4 fields, 1 per call", S3_FIELDS, ()),
            ("S3: 4 fields in one call", S3_FIELDS, ("--fields-per-call",))]
    results = {}
    for title, fields, extra in rows:
        got = host_bench(specs, "--fields", fields, *extra)
        results[title] = [got[i]["ns_per_event"] - base[i]["ns_per_event"] for i in range(2)]
        print(f"{title:34}{results[title][0]:<14.1f}{results[title][1]:<14.1f}")
    for title in ("S3: 4 fields, 1 per call", "S3: 4 fields in one call"):
        further = (results[title][1] - results["S2: 1 field"][1]) / 3
        print(f"Python, each further field ({title[4:]}): {further:.1f} ns")


ASYNC_EVENTS = int(os.environ.get("BENCH_ASYNC_EVENTS", "400000"))


def async_emit() -> None:
    c_lib = compile_c_plugin(ROOT / "bench" / "c_reference" / "async_c.c")
    py_lib, _ = build(f"{ROOT}/examples/bench/async_bench.py:AsyncBench", OUT / "libbench_async_py.so")
    rows = [
        ("plain C emitter (async_c)", c_lib, {"threads": 1}, {"threads": 4}),
        ("Python, emit()", py_lib, {"threads": 1}, {"threads": 4}),
        ("Python, emit_many() of 64", py_lib, {"threads": 1, "batch": 64}, {"threads": 4, "batch": 64}),
    ]
    argv = ["bench-async", "--events", str(ASYNC_EVENTS)]
    for _, lib, one, four in rows:
        for config in (one, four):
            argv += ["-p", str(lib), "-c", json.dumps({"events": ASYNC_EVENTS, **config})]
    proc = run_host(argv, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"host bench-async failed ({proc.returncode}):\n{proc.stderr}")
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    print(f"\nA async emit, {ASYNC_EVENTS:,} events, ns/event (one host process)")
    print(f"{'':34}{'1 thread':<14}{'4 threads':<14}")
    for i, (title, *_rest) in enumerate(rows):
        one, four = results[2 * i], results[2 * i + 1]
        print(f"{title:34}{one['ns_per_event']:<14.1f}{four['ns_per_event']:<14.1f}")


PARSE_REPEAT = int(os.environ.get("BENCH_PARSE_REPEAT", "300"))
CAPTURES = Path(os.environ.get("BENCH_CAPTURES", str(ROOT.parent / "shared" / "captures")))


def parse_tables() -> None:
    """P: parse_event per event over a shared capture, and a threads-table field read + write (ns/op)."""
    capture = CAPTURES / "curl_google.scap"
    if not capture.exists():
        print(f"\nP parse and tables: skipped ({capture} not found; set BENCH_CAPTURES)")
        return
    noop = compile_c_plugin(ROOT / "bench" / "c_reference" / "parse_noop_c.c")
    table_rw = compile_c_plugin(ROOT / "bench" / "c_reference" / "table_rw_c.c")
    py_noop, _ = build(f"{ROOT}/examples/bench/parse_bench.py:ParseNoop", OUT / "libparse_noop_py.so")
    py_rw, _ = build(f"{ROOT}/examples/bench/parse_bench.py:TableRW", OUT / "libtable_rw_py.so")
    ops = (0, 1, 10)
    argv = ["bench-parse", "--capture", str(capture), "--repeat", str(PARSE_REPEAT)]
    for lib in (noop, py_noop):
        argv += ["-p", str(lib)]
    for lib in (table_rw, py_rw):
        for k in ops:
            argv += ["-p", str(lib), "-c", json.dumps({"ops": k})]
    proc = run_host(argv, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"host bench-parse failed ({proc.returncode}):\n{proc.stderr}")
    results = [json.loads(line)["bench"] for line in proc.stdout.splitlines() if line.startswith("{")]
    events = results[0]["events"]
    print(f"\nP parse and tables, {capture.name} ({events:,} events) x {PARSE_REPEAT} passes (one host process)")
    print(f"{'':34}{'C plugin':<14}{'Python':<14}")
    print(f"{'no-op parse, ns/event':34}{results[0]['ns_per_event']:<14.1f}{results[1]['ns_per_event']:<14.1f}")
    rw = [{k: results[2 + 3 * lang + i]["ns_per_event"] for i, k in enumerate(ops)} for lang in (0, 1)]
    print(f"{'entry get+read pid, ns/event':34}{rw[0][0]:<14.1f}{rw[1][0]:<14.1f}")
    print(f"{'field read+write pair, ns':34}{(rw[0][10] - rw[0][0]) / 10:<14.1f}{(rw[1][10] - rw[1][0]) / 10:<14.1f}")


COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))


def shipping() -> None:
    import statistics
    import tarfile

    target = f"{ROOT}/examples/dummy/dummy_plugin.py:DummyPlugin"
    dev, _ = build(target, OUT / "libdummy_py.so")
    tarball = package(target, OUT / "dist").tarball
    bundle = OUT / "dist" / "extracted"
    with tarfile.open(tarball) as tar:
        tar.extractall(bundle)
    packaged = bundle / "libdummy_py.so"
    times: dict[Path, list[float]] = {dev: [], packaged: []}
    for i in range(COLD_RUNS + 1):
        for lib in (dev, packaged):
            ms = host_bench([(lib, '{"jitter": 0}', '{"maxEvents": 1}')])[0]["cold_start_ms"]
            if i:  # the first run of each warms the page cache
                times[lib].append(ms)
    cold = {lib: statistics.median(t) for lib, t in times.items()}
    print(f"\nK shipping examples/dummy (falco-plugin package), cold start median of {COLD_RUNS} fresh processes")
    print(f"tarball {tarball.name}: {tarball.stat().st_size / 2**20:.1f} MiB (target <= 25 MiB)")
    print(f"cold start, dev build:  {cold[dev]:.1f} ms")
    print(f"cold start, packaged:   {cold[packaged]:.1f} ms ({cold[packaged] / cold[dev]:.2f}x the dev build; "
          "target <= 1.3x)")


def main() -> int:
    if "--shipping" in sys.argv:  # only section K
        OUT.mkdir(parents=True, exist_ok=True)
        shipping()
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    c_lib = compile_c_plugin(ROOT / "bench" / "c_reference" / "bench_c.c")
    py_lib, _ = build(f"{ROOT}/examples/bench/bench_plugin.py:BenchPlugin", OUT / "libbench_py.so")

    batches = (1, 64, 512)
    specs = []
    for b in batches:
        specs.append((c_lib, json.dumps({"batch": b}), str(EVENTS)))
        specs.append((py_lib, json.dumps({"batch": b}), str(EVENTS)))
        specs.append((py_lib, json.dumps({"batch": b, "precompute": True}), str(EVENTS)))
    results = host_bench(specs)
    by_batch = {b: results[3 * i : 3 * i + 3] for i, b in enumerate(batches)}

    print(f"S1 source, {EVENTS:,} events of 64 bytes, ns/event (one host process)")
    print(f"{'':34}" + "".join(f"batch={b:<8}" for b in batches))
    rows = [("plain C plugin (bench_c)", 0), ("Python bench_py", 1), ("Python, payloads prebuilt", 2)]
    for title, k in rows:
        print(f"{title:34}" + "".join(f"{by_batch[b][k]['ns_per_event']:<14.1f}" for b in batches))
    overhead = {b: by_batch[b][2]["ns_per_event"] - by_batch[b][0]["ns_per_event"] for b in batches}
    print(f"{'SDK overhead (prebuilt - C)':34}" + "".join(f"{overhead[b]:<14.1f}" for b in batches))
    first_py = results[1]
    print(f"cold start (dlopen to init returned, starts Python): {first_py['cold_start_ms']:.1f} ms")
    print(f"cold start of the C plugin:                          {results[0]['cold_start_ms']:.2f} ms")

    extraction(c_lib, py_lib)

    async_emit()

    parse_tables()

    shipping()

    rss = host_bench([(py_lib, json.dumps({"batch": 64}), str(RSS_EVENTS))])[0]
    samples = rss["rss_kb_samples"]
    print(f"RSS over {RSS_EVENTS:,} events (KiB, every 1M): {samples}")
    if samples:
        print(f"RSS growth from 1M to {len(samples)}M events: {samples[-1] - samples[0]} KiB; "
              f"peak RSS {rss['peak_rss_kb']} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
