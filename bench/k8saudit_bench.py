"""`make bench`, section K: events/s of examples/k8saudit replaying a JSON-lines audit file in our
host, sourcing alone and with every ``ka.*`` field that upstream's rules use extracted from every
event (each field in its own extract_fields call, as libsinsp asks).

The file repeats the realistic events of tests/examples/k8saudit_cases.py (Pods, bindings, roles,
configmaps, exec, anonymous requests, services), stamped apart, ``BENCH_K8S_EVENTS`` of them.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "examples"))

from k8saudit_cases import CASES  # noqa: E402

from falco_plugin._tooling.build import build  # noqa: E402
from falco_plugin._tooling.host import run_host  # noqa: E402

EVENTS = int(os.environ.get("BENCH_K8S_EVENTS", "100000"))
OUT = ROOT / "build" / "bench"
RULES = ROOT.parent / "shared" / "k8saudit" / "k8s_audit_rules.yaml"


def rules_fields() -> list[str]:
    """Every distinct ``ka.*`` field (with its argument) that the upstream rules file names."""
    text = RULES.read_text()
    found = re.findall(r"\b(ka\.[A-Za-z_.]*[A-Za-z_](?:\[[^\]]*\])?)", text)
    return sorted(set(found))


def audit_file(path: Path, n: int) -> Path:
    events = [event for _, event, _ in CASES]
    with path.open("w") as f:
        for i in range(n):
            e = dict(events[i % len(events)])
            e["auditID"] = f"bench-{i}"
            s, ns = divmod(1_700_000_000_000_000_000 + i * 1000, 10**9)
            e["stageTimestamp"] = f"2023-11-14T22:13:{s % 60:02d}.{ns:09d}Z"
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    return path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench(lib: Path, params: str, fields: list[str]) -> dict[str, float]:
    """The host's figures, plus ``cpu_ns_per_event``: the host process's CPU time (user + system,
    start-up included) per event, which a machine busy with other work inflates less than wall time."""
    argv = ["bench", "-p", str(lib), "-c", "{}", "-o", params]
    if fields:
        argv[1:1] = ["--fields", ",".join(fields)]
    before = cpu_seconds()
    proc = run_host(argv, timeout=1800)
    cpu = cpu_seconds() - before
    if proc.returncode != 0:
        raise SystemExit(f"host bench failed ({proc.returncode}):\n{proc.stderr}")
    result: dict[str, float] = next(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))
    result["cpu_ns_per_event"] = cpu * 1e9 / EVENTS
    return result


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    lib, _ = build(f"{ROOT}/examples/k8saudit/k8saudit.py:K8sAudit", OUT / "libk8saudit.so")
    data = audit_file(OUT / "k8saudit-bench.jsonl", EVENTS)
    fields = rules_fields()
    size = data.stat().st_size / EVENTS
    print(f"\nK k8saudit file replay, {EVENTS:,} audit events ({size:.0f} bytes each on average), one host process")
    source = bench(lib, str(data), [])
    every = bench(lib, str(data), fields)
    print(f"{'':40}{'wall':>22}{'CPU time':>24}")
    for title, r in (("sourcing only", source), (f"+ the rules' {len(fields)} ka.* fields", every)):
        wall, cpu = r["ns_per_event"], r["cpu_ns_per_event"]
        print(f"{title:40}{wall / 1000:>7.1f} us {1e9 / wall:>8,.0f} ev/s"
              f"{cpu / 1000:>9.1f} us {1e9 / cpu:>8,.0f} ev/s")
    per_field = (every["cpu_ns_per_event"] - source["cpu_ns_per_event"]) / len(fields)
    print(f"per field extracted (one call each, CPU time): {per_field:.0f} ns; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
