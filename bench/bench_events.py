"""Event module benchmark: raw and typed decode cost per event, and a full capture scan rate.

    python bench/bench_events.py [CAPTURE ...] [--repeat N]

With no capture given, the shared captures (``../shared/captures/*.scap``) are used. For each
capture it prints, best of N runs:

- raw decode: ``RawEvent(bytes)`` (header checks) and ``RawEvent(bytes).params`` (plus the
  parameter split), in ns/event;
- typed decode: ``RawEvent(bytes).load_any()``, in ns/event;
- full scan: reading the gzip-compressed file with ``CaptureReader`` and iterating every event, in
  events/s, without and with typed decoding.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from falco_plugin.event import CaptureReader, RawEvent  # noqa: E402

DEFAULT_CAPTURES = sorted((ROOT.parent / "shared" / "captures").glob("*.scap"))


def best_ns(run: Callable[[], object], repeat: int) -> int:
    """The fastest of ``repeat`` timed runs, in ns."""
    best = None
    for _ in range(repeat):
        start = time.perf_counter_ns()
        run()
        elapsed = time.perf_counter_ns() - start
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    return best


def bench_capture(path: Path, repeat: int) -> None:
    events = [item.event.to_bytes() for item in CaptureReader(path)]
    count = len(events)
    loops = max(1, 20_000 // count)  # enough events per timed run for a stable figure

    def header_only() -> None:
        for _ in range(loops):
            for data in events:
                RawEvent(data)

    def raw_split() -> None:
        for _ in range(loops):
            for data in events:
                RawEvent(data).params  # noqa: B018 - the split is what is measured

    def typed() -> None:
        for _ in range(loops):
            for data in events:
                RawEvent(data).load_any()

    def scan() -> None:
        for _item in CaptureReader(path):
            pass

    def scan_typed() -> None:
        for item in CaptureReader(path):
            item.event.load_any()

    per_event = count * loops
    header_ns = best_ns(header_only, repeat) / per_event
    raw_ns = best_ns(raw_split, repeat) / per_event
    typed_ns = best_ns(typed, repeat) / per_event
    scan_rate = count / (best_ns(scan, repeat) / 1e9)
    scan_typed_rate = count / (best_ns(scan_typed, repeat) / 1e9)

    print(f"capture {path.name}: {count} events, {path.stat().st_size} bytes gzip-compressed")
    print(f"  raw decode (header only)         {header_ns:10.0f} ns/event")
    print(f"  raw decode (header + params)     {raw_ns:10.0f} ns/event")
    print(f"  typed decode (load_any)          {typed_ns:10.0f} ns/event")
    print(f"  full capture scan                {scan_rate:10.0f} events/s")
    print(f"  full capture scan + typed decode {scan_typed_rate:10.0f} events/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark falco_plugin.event on scap captures.")
    parser.add_argument("captures", nargs="*", type=Path, help="capture files (default: shared captures)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure; the best is kept")
    args = parser.parse_args(argv)
    captures = args.captures or DEFAULT_CAPTURES
    if not captures:
        print("no capture files found; pass one on the command line", file=sys.stderr)
        return 2
    print(f"falco_plugin.event benchmark, Python {sys.version.split()[0]}, best of {args.repeat}")
    for path in captures:
        bench_capture(path, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
