"""`make bench`: SDK plugins next to the plain-C reference plugin, in one host process.

Every figure comes from one invocation of our libsinsp-like host that loads both the C
reference plugin and the Python one, so the ratio means something on a noisy machine.

S1  source: ns/event for batches of 1, 64 and 512 (the C plugin; the Python plugin building
    its payloads; the Python plugin with payloads built at open, i.e. the SDK's own cost).
S2  one field per event (bench.value), S3 four fields per event (bench.value, bench.str,
    bench.div[3], bench.value again as Falco's output does), each field asked in its own
    extract_fields call as libsinsp does: for the C plugin, bench_py (per-event fields) and
    bench_batch_py (the same fields with batch=True), payloads prebuilt, batch 64, with the
    ratio to C and the cost per extraction (S3 - S1) / 4 (S3 asks four fields). Twice:
    in a tight loop, and with --work-kib (the host writes a few KiB per event between events,
    as Falco's own work evicts the caches a tight loop keeps warm).
I   instructions: the S1/S2/S3 runs of the C plugin, bench_py and bench_batch_py counted by
    valgrind's callgrind (instructions per event, INSTR_EVENTS events): the same figures
    whatever else the machine is doing, so the ratios can be compared between runs.
    Then the vectorized batch fields: bench_vector_py (stdlib) and bench_numpy_py (numpy, if
    installed), which return packed values and decode the batch's contiguous buffer.
A   async emit: ns/event from one Python thread and from four (emit per event, and emit_many
    of 64), next to a plain-C emitter plugin (bench/c_reference/async_c.c) in the same host.
P   parse and tables over a shared capture: a no-op parse_event (ns/event), a threads-table
    entry lookup, and a field read + write pair (ns), for examples/bench/parse_bench.py next to
    bench/c_reference/parse_noop_c.c and table_rw_c.c; then the same in instructions, counted
    by callgrind inside the host's parse_all (repeatable where timings on a shared machine
    are not).
K   shipping: the size of examples/dummy's tarball (falco-plugin package) and its cold start
    (dlopen to init returned, Python started from the bundle) next to the dev build's, each in
    a fresh host process, median of COLD_RUNS alternated runs after one warm-up each.
M   footprint: peak RSS (VmHWM) and cold start (dlopen to init returned) of each plugin, medians
    of COLD_RUNS fresh host processes each (S3 fields, batch 64), the interpreter's share (a bare
    `python -I -S`, then what each import adds), and RSS every 1M events over a long run (a leak
    shows as growth).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from falco_plugin._tooling.build import build  # noqa: E402
from falco_plugin._tooling.host import compile_c_plugin, run_host  # noqa: E402
from falco_plugin._tooling.package import package  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000000"))
# S1/S2/S3 figures are the host process's CPU time per event (every thread): on a shared
# machine the wall time also counts other processes. BENCH_CLOCK=wall gives wall time.
CLOCK = "ns_per_event" if os.environ.get("BENCH_CLOCK") == "wall" else "cpu_ns_per_event"
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
WORK_KIB = os.environ.get("BENCH_WORK_KIB", "2")


def ratio(value: float, c: float) -> str:
    return f"{value / c:.2f}x" if c > 0 else "-"


def extraction(c_lib: Path, py_lib: Path, batch_lib: Path) -> None:
    n = str(EVENTS // 2)
    prebuilt = json.dumps({"batch": 64, "precompute": True})
    specs = [(c_lib, json.dumps({"batch": 64}), n), (py_lib, prebuilt, n), (batch_lib, prebuilt, n)]
    for title, work in (("tight loop", ()), (f"--work-kib {WORK_KIB} between events", ("--work-kib", WORK_KIB))):
        s1 = [r[CLOCK] for r in host_bench(specs, *work)]
        s2 = [r[CLOCK] for r in host_bench(specs, "--fields", S2_FIELDS, *work)]
        s3 = [r[CLOCK] for r in host_bench(specs, "--fields", S3_FIELDS, *work)]
        print(f"\nS1/S2/S3, {int(n):,} events, {CLOCK}, one field per call ({title}; one host process)")
        print(f"{'':34}{'C plugin':<12}{'bench_py':<12}{'ratio':<10}{'batch_py':<12}{'ratio':<10}")
        rows = [("S1: sourcing (prebuilt)", s1), ("S2: 1 field", s2), ("S3: 4 fields", s3),
                ("S2 - S1", [b - a for a, b in zip(s1, s2, strict=True)]),
                ("per extraction (S3 - S1) / 4", [(b - a) / 4 for a, b in zip(s1, s3, strict=True)])]
        for label, v in rows:
            print(f"{label:34}{v[0]:<12.1f}{v[1]:<12.1f}{ratio(v[1], v[0]):<10}{v[2]:<12.1f}{ratio(v[2], v[0]):<10}")
    got = host_bench(specs[:2], "--fields", S3_FIELDS, "--fields-per-call")
    base = host_bench(specs[:2])
    print("S3 with the 4 fields in one extract_fields call, ns/event on top of S1: "
          f"C {got[0][CLOCK] - base[0][CLOCK]:.1f}, bench_py {got[1][CLOCK] - base[1][CLOCK]:.1f}")


INSTR_EVENTS = int(os.environ.get("BENCH_INSTR_EVENTS", "40000"))


def callgrind(*argv: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run ``argv`` under valgrind's callgrind: the instructions it counted, and the run.
    ``FileNotFoundError`` without valgrind; ``SystemExit`` with its output when the run fails."""
    import re
    import shutil

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise FileNotFoundError("valgrind")
    proc = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                          capture_output=True, text=True, timeout=1800)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {argv[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return int(found.group(1)), proc


def instructions_per_event(lib: Path, config: str, *extra: str) -> float:
    """Instructions the host process runs per event (start-up included, so compare differences)."""
    from falco_plugin._tooling.host import host_binary

    count, _ = callgrind(str(host_binary()), "bench", "-p", str(lib), "-c", config, "-o", str(INSTR_EVENTS), *extra)
    return count / INSTR_EVENTS


def instructions(c_lib: Path, py_lib: Path, batch_lib: Path) -> None:
    prebuilt = json.dumps({"batch": 64, "precompute": True})
    plugins = [(c_lib, json.dumps({"batch": 64})), (py_lib, prebuilt), (batch_lib, prebuilt)]
    for lib, config in plugins[1:]:  # warm-up: a first run may still compile .pyc files, which counts
        host_bench([(lib, config, "1")])
    try:
        runs = [[instructions_per_event(lib, config, *fields) for fields in ((), ("--fields", S2_FIELDS),
                                                                              ("--fields", S3_FIELDS))]
                for lib, config in plugins]
    except FileNotFoundError:
        print("\nI instructions: skipped (valgrind not found)")
        return
    print(f"\nI instructions per event (callgrind, {INSTR_EVENTS:,} events, tight loop; start-up cancels out)")
    print(f"{'':34}{'C plugin':<12}{'bench_py':<12}{'ratio':<10}{'batch_py':<12}{'ratio':<10}")
    rows = [("S2 - S1: 1 field", [s2 - s1 for s1, s2, _ in runs]),
            ("per extraction (S3 - S1) / 4", [(s3 - s1) / 4 for s1, _, s3 in runs])]
    for label, v in rows:
        print(f"{label:34}{v[0]:<12.0f}{v[1]:<12.0f}{ratio(v[1], v[0]):<10}{v[2]:<12.0f}{ratio(v[2], v[0]):<10}")


def vectorized_instructions(c_lib: Path) -> None:
    """Section I, vectorized batch fields: bench_vector_py (stdlib: packed values, the batch's
    contiguous buffer) and bench_numpy_py (numpy, when installed), next to the C plugin."""
    import importlib.util

    prebuilt = json.dumps({"batch": 64, "precompute": True})
    plugins = [("C plugin", c_lib, json.dumps({"batch": 64}))]
    plugins.append(("bench_vector_py (stdlib)", build(f"{ROOT}/examples/bench/bench_vector.py:BenchVectorPlugin",
                                                      OUT / "libbench_vector_py.so")[0], prebuilt))
    if importlib.util.find_spec("numpy") is None:
        print("\nI bench_numpy_py: skipped (numpy is not installed: pip install numpy)")
    else:
        plugins.append(("bench_numpy_py (numpy)", build(f"{ROOT}/examples/bench/bench_numpy.py:BenchNumpyPlugin",
                                                        OUT / "libbench_numpy_py.so")[0], prebuilt))
    for _, lib, config in plugins[1:]:  # warm-up, as instructions() does
        host_bench([(lib, config, "1")])
    try:
        runs = [[instructions_per_event(lib, config, *fields) for fields in ((), ("--fields", S2_FIELDS),
                                                                              ("--fields", S3_FIELDS))]
                for _, lib, config in plugins]
    except FileNotFoundError:
        print("\nI vectorized batch fields: skipped (valgrind not found)")
        return
    print(f"\nI vectorized batch fields, instructions per event (callgrind, {INSTR_EVENTS:,} events)")
    print(f"{'':34}{'S2 - S1':<12}{'ratio':<10}{'per extraction':<16}{'ratio':<10}")
    c_s2, c_ext = runs[0][1] - runs[0][0], (runs[0][2] - runs[0][0]) / 4
    for (title, _, _), (s1, s2, s3) in zip(plugins, runs, strict=True):
        ext = (s3 - s1) / 4
        print(f"{title:34}{s2 - s1:<12.0f}{ratio(s2 - s1, c_s2):<10}{ext:<16.0f}{ratio(ext, c_ext):<10}")


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
    try:
        counted = {(lib, k): parse_instructions(lib, k, capture) for lib in (noop, py_noop) for k in (None,)}
        counted |= {(lib, k): parse_instructions(lib, k, capture) for lib in (table_rw, py_rw) for k in (0, 10)}
    except FileNotFoundError:
        print("instructions: skipped (valgrind not found)")
        return
    print(f"instructions per event in parse_all (callgrind, {PARSE_INSTR_PASSES} passes and the warm-up)")
    print(f"{'no-op parse, per event':34}{counted[noop, None]:<14.0f}{counted[py_noop, None]:<14.0f}")
    print(f"{'entry get+read pid, per event':34}{counted[table_rw, 0]:<14.0f}{counted[py_rw, 0]:<14.0f}")
    pair = [(counted[lib, 10] - counted[lib, 0]) / 10 for lib in (table_rw, py_rw)]
    print(f"{'field read+write pair':34}{pair[0]:<14.0f}{pair[1]:<14.0f}")


PARSE_INSTR_PASSES = int(os.environ.get("BENCH_PARSE_INSTR_PASSES", "5"))


def parse_instructions(lib: Path, ops: int | None, capture: Path) -> float:
    """Instructions per event of one plugin's parse_event in bench-parse, counted by callgrind
    inside the host's parse_all only (start-up and the host's own loop are not counted; the
    warm-up pass is, as one pass more)."""
    from falco_plugin._tooling.host import host_binary

    argv = ["--collect-atstart=no", "--toggle-collect=parse_all", str(host_binary()), "bench-parse", "--capture",
            str(capture), "--repeat", str(PARSE_INSTR_PASSES), "-p", str(lib)]
    if ops is not None:
        argv += ["-c", json.dumps({"ops": ops})]
    count, proc = callgrind(*argv)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")][-1]["bench"]["events"]
    return count / ((PARSE_INSTR_PASSES + 1) * events)


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
FOOTPRINT_EVENTS = int(os.environ.get("BENCH_FOOTPRINT_EVENTS", "1000000"))

IMPORT_STEPS = """
import sys
sys.path[:0] = sys.argv[1].split(":")
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
steps = [("bare interpreter (python -I -S)", "")]
steps += [("+ " + m, m) for m in sys.argv[2:]]
for label, module in steps:
    if module:
        __import__(module)
    print(label, rss())
"""


def footprint(c_lib: Path, py_lib: Path, batch_lib: Path) -> None:
    """M: peak RSS and cold start per plugin, medians of fresh host processes, and the interpreter's share."""
    import statistics

    n = str(FOOTPRINT_EVENTS)
    rows = [("plain C plugin (bench_c)", c_lib), ("bench_py", py_lib), ("bench_batch_py", batch_lib)]
    runs: list[list[dict[str, Any]]] = [[] for _ in rows]
    for i in range(COLD_RUNS + 1):  # alternated; the first round warms the page cache
        for k, (_, lib) in enumerate(rows):
            r = host_bench([(lib, json.dumps({"batch": 64}), n)], "--fields", S3_FIELDS)[0]
            if i:
                runs[k].append(r)
    keys = ("peak_rss_kb", "rss_after_init_kb", "cold_start_ms", "rss_before_load_kb")
    results = [{key: statistics.median(r[key] for r in rs) for key in keys} for rs in runs]
    c = results[0]
    print(f"\nM footprint, S3 fields over {int(n):,} events, medians of {COLD_RUNS} fresh host processes per plugin")
    print(f"{'':34}{'peak RSS MiB':<14}{'ratio':<10}{'after init MiB':<16}{'cold start ms':<15}{'minus C':<10}")
    for (title, _), r in zip(rows, results, strict=True):
        print(f"{title:34}{r['peak_rss_kb'] / 1024:<14.1f}{ratio(r['peak_rss_kb'], c['peak_rss_kb']):<10}"
              f"{r['rss_after_init_kb'] / 1024:<16.1f}{r['cold_start_ms']:<15.1f}"
              f"{r['cold_start_ms'] - c['cold_start_ms']:<10.1f}")
    before = c["rss_before_load_kb"]
    python_share = results[1]["rss_after_init_kb"] - before
    print(f"host process before loading a plugin: {before / 1024:.1f} MiB; bench_py's init adds "
          f"{python_share / 1024:.1f} MiB (libpython, the interpreter, the SDK runtime and the plugin)")
    modules = ["falco_plugin._runtime", "bench_plugin", "pydantic", "falco_plugin.event"]
    # -S keeps site-packages out of the bare figure; they are added before the first import
    paths = ":".join([str(ROOT), str(ROOT / "examples" / "bench"), *(p for p in sys.path if "site-packages" in p)])
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", IMPORT_STEPS, paths, *modules], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        print(f"interpreter share: not measured ({proc.stderr.strip()[-200:]})")
        return
    print("interpreter share (VmRSS of a separate python process, MiB; bench_py imports only the first two):")
    last = 0
    for line in proc.stdout.splitlines():
        label, kb = line.rsplit(" ", 1)
        if last:
            print(f"  {label:44}{int(kb) / 1024:7.1f}  (+{(int(kb) - last) / 1024:.1f})")
        else:
            print(f"  {label:44}{int(kb) / 1024:7.1f}  (of which the interpreter itself, less a bare C "
                  f"process like the host's: {(int(kb) - before) / 1024:.1f})")
        last = int(kb)


def main() -> int:
    if "--shipping" in sys.argv:  # only section K
        OUT.mkdir(parents=True, exist_ok=True)
        shipping()
        return 0
    if "--parse" in sys.argv:  # only section P
        OUT.mkdir(parents=True, exist_ok=True)
        parse_tables()
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    c_lib = compile_c_plugin(ROOT / "bench" / "c_reference" / "bench_c.c")
    py_lib, _ = build(f"{ROOT}/examples/bench/bench_plugin.py:BenchPlugin", OUT / "libbench_py.so")
    batch_lib, _ = build(f"{ROOT}/examples/bench/bench_batch.py:BenchBatchPlugin", OUT / "libbench_batch_py.so")
    if "--footprint" in sys.argv:  # only section M
        footprint(c_lib, py_lib, batch_lib)
        return 0
    if "--instructions" in sys.argv:  # only section I
        instructions(c_lib, py_lib, batch_lib)
        vectorized_instructions(c_lib)
        return 0

    batches = (1, 64, 512)
    specs = []
    for b in batches:
        specs.append((c_lib, json.dumps({"batch": b}), str(EVENTS)))
        specs.append((py_lib, json.dumps({"batch": b}), str(EVENTS)))
        specs.append((py_lib, json.dumps({"batch": b, "precompute": True}), str(EVENTS)))
    results = host_bench(specs)
    by_batch = {b: results[3 * i : 3 * i + 3] for i, b in enumerate(batches)}

    print(f"S1 source, {EVENTS:,} events of 64 bytes, {CLOCK} (one host process)")
    print(f"{'':34}" + "".join(f"batch={b:<8}" for b in batches))
    rows = [("plain C plugin (bench_c)", 0), ("Python bench_py", 1), ("Python, payloads prebuilt", 2)]
    for title, k in rows:
        print(f"{title:34}" + "".join(f"{by_batch[b][k][CLOCK]:<14.1f}" for b in batches))
    print(f"{'bench_py / C':34}" + "".join(
        f"{ratio(by_batch[b][1][CLOCK], by_batch[b][0][CLOCK]):<14}" for b in batches))
    overhead = {b: by_batch[b][2][CLOCK] - by_batch[b][0][CLOCK] for b in batches}
    print(f"{'SDK overhead (prebuilt - C)':34}" + "".join(f"{overhead[b]:<14.1f}" for b in batches))

    extraction(c_lib, py_lib, batch_lib)

    instructions(c_lib, py_lib, batch_lib)
    vectorized_instructions(c_lib)

    async_emit()

    parse_tables()

    shipping()

    footprint(c_lib, py_lib, batch_lib)

    for title, lib in (("bench_py", py_lib), ("bench_batch_py", batch_lib)):
        rss = host_bench([(lib, json.dumps({"batch": 64}), str(RSS_EVENTS))], "--fields", S3_FIELDS)[0]
        samples = rss["rss_kb_samples"]
        print(f"RSS of {title}, S3 fields, over {RSS_EVENTS:,} events (KiB, every 1M): {samples}")
        if samples:
            print(f"  growth from 1M to {len(samples)}M events: {samples[-1] - samples[0]} KiB; "
                  f"peak RSS {rss['peak_rss_kb']} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
