"""Section F of ``make bench``: extraction in a real Falco, in instructions per event.

The same plugins as section I (the raw-C reference, ``bench_py``, ``bench_batch_py``,
``bench_vector_py`` and, with numpy, ``bench_numpy_py``) run in the Falco found through
``$FALCO`` or ``PATH`` (nodriver, the plugin as the only source), under valgrind's callgrind,
with the rules of ``bench/falco_rules`` (for the plugin's own source, SOURCE): S1 reads no
plugin field, S2 one field, S3 four distinct fields. Each scenario runs with two event
counts, and ``(N2 - N1) / (N2 - N1 events)`` cancels Falco's start-up: per extraction is
``(S3 - S1) / 4``. Skipped, saying why, without a Falco or valgrind.

    .venv/bin/python bench/falco_bench.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from falco_plugin._tooling.build import build  # noqa: E402
from falco_plugin._tooling.falco import FalcoNotFound, falco_yaml, find_falco, plugin_spec  # noqa: E402
from falco_plugin._tooling.host import compile_c_plugin  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from run import callgrind  # noqa: E402

OUT = ROOT / "build" / "bench"
RULES = ROOT / "bench" / "falco_rules"
N1 = int(os.environ.get("BENCH_FALCO_N1", "2000"))
N2 = int(os.environ.get("BENCH_FALCO_N2", "52000"))


def collected(falco: str, lib: Path, config: str, events: int, rules: Path, source: str) -> int:
    """Instructions of one whole Falco run (callgrind)."""
    with tempfile.TemporaryDirectory(prefix="falco-bench-") as tmp:
        cfg, own_rules = Path(tmp) / "falco.yaml", Path(tmp) / rules.name
        own_rules.write_text(rules.read_text().replace("SOURCE", source))
        cfg.write_text(falco_yaml([plugin_spec(lib, config, str(events))], [own_rules]))
        return callgrind(falco, "-c", str(cfg), "--disable-source=syscall")[0]


def main() -> int:
    try:
        falco = find_falco()
    except FalcoNotFound as exc:
        print(f"\nF real Falco: skipped ({str(exc).splitlines()[0]})")
        return 0
    if shutil.which("valgrind") is None:
        print("\nF real Falco: skipped (valgrind not found)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    prebuilt = json.dumps({"batch": 64, "precompute": True})
    plugins = [("raw C (bench_c)", compile_c_plugin(ROOT / "bench" / "c_reference" / "bench_c.c"),
                json.dumps({"batch": 64}), "bench_c")]
    targets = [("bench_py", "bench_plugin.py:BenchPlugin"), ("bench_batch_py", "bench_batch.py:BenchBatchPlugin"),
               ("bench_vector_py", "bench_vector.py:BenchVectorPlugin")]
    if importlib.util.find_spec("numpy") is not None:
        targets.append(("bench_numpy_py", "bench_numpy.py:BenchNumpyPlugin"))
    for title, target in targets:
        plugins.append((title, build(f"{ROOT}/examples/bench/{target}", OUT / f"lib{title}.so")[0], prebuilt, "bench"))
    print(f"\nF real Falco ({falco}), instructions per event, callgrind over the whole process, "
          f"(N{N2} - N{N1}) / {N2 - N1:,} events")
    print(f"{'':28}{'S1':>8}{'S2':>8}{'S3':>8}{'per extraction':>16}{'ratio to C':>12}")
    base = None
    for title, lib, config, source in plugins:
        per_event = []
        for scenario in ("s1", "s2", "s3"):
            rules = RULES / f"{scenario}.yaml"
            counts = [collected(falco, lib, config, n, rules, source) for n in (N1, N2)]
            per_event.append((counts[1] - counts[0]) / (N2 - N1))
        s1, s2, s3 = per_event
        extraction = (s3 - s1) / 4
        base = base or extraction
        print(f"{title:28}{s1:>8.0f}{s2:>8.0f}{s3:>8.0f}{extraction:>16.0f}{extraction / base:>11.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
