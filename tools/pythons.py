"""`make pythons`: the SDK on every supported CPython, 3.11 to 3.15.

3.11-3.13 come from pyenv (`pyenv root`/versions); 3.14 and 3.15 from Debian testing (forky),
whose packages need a newer glibc than this machine's: they run in a cached forky minbase
rootfs (tools/rootfs.py: debootstrap once, then chroot in an overlay inside ``unshare -m``)
with the checkout bind-mounted at its own path. For each version, in its own virtualenv
(.venv-pythons/X.Y, PyPI wheels), it:

- builds examples/dummy, runs it in our host and checks its values;
- packages it, extracts the tarball and runs that the same way;
- runs the core of the test suite (CORE: extraction, batch fields, sourcing, async, tables,
  reliability, footprint) with that Python.

Then it loads two plugins of two minor versions in one host, which must be refused with both
names, and runs the bundles packaged here (bookworm's glibc) unchanged in the forky rootfs.
Every version it cannot check is printed with the reason, and makes the run fail.

``--bench`` instead prints, per version: section I of `make bench` (callgrind instructions per
event, S1/S2/S3, bench_py and bench_batch_py), the dummy's tarball size and its cold start.
``--only 3.14,3.15`` limits either to some versions. Example::

    python tools/pythons.py --only 3.12 --no-core   # build, run, package, run the bundle
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import rootfs  # noqa: E402

SUPPORTED = ("3.11", "3.12", "3.13", "3.14", "3.15")
FORKY = ("3.14", "3.15")  # from Debian testing, in the rootfs
FORKY_PACKAGES = ["ca-certificates", "gcc", "libc6-dev", "make", "zlib1g-dev", "valgrind",
                  *(f"python{v}{s}" for v in FORKY for s in ("", "-dev", "-venv"))]
DUMMY = f"{ROOT}/examples/dummy/dummy_plugin.py:DummyPlugin"
EXPECTED = [{"dummy.value": 3, "dummy.divisible[3]": 1}] * 7  # a jitter of 0 keeps the start value
WORK = ROOT / "build" / "pythons"
SHARED = ROOT.parent / "shared"
HOST_CERTS = "/opt/host-certs"  # this machine's CA bundle, for pip in the rootfs (a proxy's CA too)
PIP_CACHE = Path("/var/cache/falco-plugin/pip-forky")  # wheels for the rootfs' venvs, outside the checkout

# The core of the suite, by file name and test function (whatever folder the file is in): the
# tests that go through the C API paths a new CPython may change (start, GIL and thread
# states from host threads, async emitters, table vtables, exceptions, lifetimes), a few per
# area, chosen so that a version costs about a minute of CPU; none that counts events against
# the clock (both lanes keep the two CPUs busy).
CORE = {
    "test_extract.py": ["test_every_field_type", "test_list_fields", "test_two_states_extracting_on_two_threads",
                        "test_raising_field_gives_no_value_and_is_logged_once"],
    "test_batch_fields.py": ["test_every_field_type_per_batch", "test_python_is_called_once_per_batch_and_field",
                             "test_a_raising_batch_gives_no_value_for_its_events_and_is_logged_once"],
    "test_source.py": ["test_batches_deliver_every_event_in_order", "test_exception_in_init_is_reported",
                       "test_timeouts_then_events_then_eof", "test_two_states_of_one_library_on_two_host_threads",
                       "test_two_different_sdk_plugins_in_one_process"],
    "test_async.py": ["test_events_from_a_background_thread_reach_the_host",
                      "test_emission_from_several_threads_at_once",
                      "test_start_stop_start_again_and_destroy_while_running",
                      "test_emit_many_sends_a_batch"],
    "test_state.py": ["test_parse_writes_the_threads_table_and_fields_read_it",
                      "test_an_entry_kept_past_its_call_raises",
                      "test_bad_writes_raise_and_are_logged_once",
                      "test_entries_and_every_state_type_on_the_fast_table_path"],
    "test_host_tables.py": ["test_table_reads_and_writes"],
    "test_reliability.py": ["test_list_results_are_the_shims_whatever_python_does_to_them_afterwards",
                            "test_emit_many_survives_its_list_emptied_while_it_reads_it",
                            "test_bad_batches_are_errors_that_say_what_is_wrong",
                            "test_an_embedded_nul_is_an_error_logged_once",
                            "test_plugin_code_cannot_take_signals_from_the_host"],
    "test_footprint.py": ["test_bench_plugin_init_imports_none_of_the_heavy_modules"],
}

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class Failed(RuntimeError):
    pass


def on_host(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, cwd=ROOT)


def in_forky(root: Path) -> Runner:
    """Run commands chrooted in the forky rootfs, the checkout (and ../shared) at their own paths."""
    binds = {ROOT: str(ROOT), "/etc/ssl/certs": HOST_CERTS, PIP_CACHE: "/root/.cache/pip"}
    if SHARED.is_dir():
        binds[SHARED] = str(SHARED)
    env = {"HOME": "/root", "LANG": "C.UTF-8", "PIP_CERT": f"{HOST_CERTS}/ca-certificates.crt",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "FALCO_PLUGIN_CACHE": str(WORK / "forky-cache")}

    def run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return rootfs.run_in(root, ["sh", "-c", 'cd "$0" && exec "$@"', str(ROOT), *cmd], binds=binds,
                             env=env, timeout=1800)
    return run


def sh(run: Runner, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    proc = run(cmd)
    if proc.returncode != 0:
        raise Failed(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def pyenv_pythons(wanted: Sequence[str]) -> dict[str, Path]:
    """The newest pyenv CPython of each wanted minor version: {"3.11": .../bin/python3.11}."""
    root = os.environ.get("PYENV_ROOT") or "/root/.pyenv"
    if shutil.which("pyenv"):
        proc = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        root = proc.stdout.strip() or root
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for d in sorted(Path(root, "versions").glob("3.*")):
        parts = d.name.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue  # 3.13t, 3.12-dev and the like
        minor = f"{parts[0]}.{parts[1]}"
        exe = d / "bin" / f"python{minor}"
        key = tuple(int(p) for p in parts)
        if minor in wanted and exe.is_file() and (minor not in found or key > found[minor][0]):
            found[minor] = (key, exe)
    return {m: found[m][1] for m in sorted(found)}


def venv_for(run: Runner, minor: str, python: str) -> Path:
    """.venv-pythons/X.Y with this package and pytest, (re)made when pyproject.toml changes."""
    venv = ROOT / ".venv-pythons" / minor
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        if not (venv / "bin" / "python").is_symlink():  # a link to a rootfs' Python does not resolve here
            sh(run, [python, "-m", "venv", str(venv)])
        sh(run, [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[testing]"])
        stamp.touch()
    return venv / "bin" / "python"


def core_tests() -> list[str]:
    """CORE as pytest node ids, wherever tests/ keeps the files."""
    ids = []
    for name, functions in CORE.items():
        found = sorted((ROOT / "tests").rglob(name))
        if len(found) != 1:
            raise Failed(f"core tests: {len(found)} files named tests/**/{name}; update CORE in tools/pythons.py")
        ids += [f"{found[0].relative_to(ROOT)}::{f}" for f in functions]
    return ids


def extract(tarball: Path, dest: Path) -> None:
    """Our own tarball, as a user would: plain tar semantics (3.14 defaults to the "data" filter)."""
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(dest, filter="tar")
        else:  # 3.11.2 of bookworm, before the filters
            tar.extractall(dest)


def dummy_values(run: Runner, python: Path, lib: Path) -> list[dict[str, object]]:
    proc = run([str(python), "-m", "falco_plugin.cli", "run", str(lib), "--config", '{"jitter": 0}',
                "--open-params", '{"start": 3, "maxEvents": 7}', "--fields", "dummy.value,dummy.divisible[3]",
                "--json"])
    if proc.returncode != 0:
        raise Failed(f"running {lib} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line)["fields"] for line in proc.stdout.splitlines() if '"fields"' in line]


def check(run: Runner, minor: str, python: Path, core: bool) -> Path:
    """Build, run, package, run the bundle, core tests; the extracted bundle's directory."""
    out = WORK / minor
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.monotonic()
    lib = out / "libdummy_py.so"
    sh(run, [str(python), "-m", "falco_plugin.cli", "build", DUMMY, "-o", str(lib)])
    if (got := dummy_values(run, python, lib)) != EXPECTED:
        raise Failed(f"the dev build gave {got}, not {EXPECTED}")
    sh(run, [str(python), "-m", "falco_plugin.cli", "package", DUMMY, "-o", str(out / "dist")])
    (tarball,) = (out / "dist").glob("*.tar.gz")
    extract(tarball, out / "bundle")
    if (got := dummy_values(run, python, out / "bundle" / "libdummy_py.so")) != EXPECTED:
        raise Failed(f"the packaged build gave {got}, not {EXPECTED}")
    (manifest,) = (out / "bundle").glob("*.python/MANIFEST.json")
    glibc = json.loads(manifest.read_text())["platform"]["min_glibc"]
    line = f"build, run, package ({tarball.stat().st_size / 2**20:.1f} MiB, needs glibc {glibc}), run"
    if core:
        tests = core_tests()
        proc = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra", *tests])
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if proc.returncode != 0 or " skipped" in summary:
            raise Failed(f"core tests: {summary}\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
        line += f", core tests ({summary.strip('= ')})"
    print(f"Python {minor} ({python}): {line}: ok [{time.monotonic() - start:.0f} s]", flush=True)
    return out


def two_minors(libs: dict[str, Path], pythons: dict[str, Path]) -> bool:
    """Two minor versions in one host: refused, naming both plugins."""
    from falco_plugin._tooling.host import run_host

    (a, dir_a), (b, _) = list(libs.items())[:2]
    lib_b = WORK / "libcounter.so"
    sh(on_host, [str(pythons[b]), "-m", "falco_plugin.cli", "build", f"{ROOT}/tests/plugins/counter.py:Counter",
                 "-o", str(lib_b)])
    proc = run_host(["run", "-p", str(dir_a / "libdummy_py.so"), "-o", '{"maxEvents": 1}', "-p", str(lib_b)])
    want = f"plugin counter needs Python {b}, but plugin dummy_py, loaded before it, uses Python {a}."
    if proc.returncode == 0 or want not in proc.stderr:
        print(f"Python {a} + {b} in one host: FAILED, not refused as expected:\n{proc.stderr[-2000:]}", flush=True)
        return False
    print(f"Python {a} + {b} in one host: refused ({want.strip('.')})", flush=True)
    return True


def forky_root(wanted: Sequence[str]) -> tuple[Runner | None, str]:
    try:
        return in_forky(rootfs.rootfs("forky", FORKY_PACKAGES)), ""
    except rootfs.RootfsUnavailable as exc:
        return None, f"no Debian testing (forky) rootfs for Python {', '.join(wanted)}: {exc}"


def host_lane(host: dict[str, Path], core: bool) -> tuple[int, dict[str, Path], dict[str, Path]]:
    failures, bundles, pythons = 0, {}, {}
    for minor, exe in host.items():
        try:
            pythons[minor] = venv_for(on_host, minor, str(exe))
            bundles[minor] = check(on_host, minor, pythons[minor], core)
        except Failed as exc:
            failures += 1
            print(f"Python {minor}: FAILED: {exc}", flush=True)
            if (WORK / minor / "bundle" / "libdummy_py.so").exists():  # built and packaged: still usable below
                bundles[minor] = WORK / minor
    return failures, bundles, pythons


def forky_lane(forky: list[str], core: bool) -> tuple[int, Runner | None, str, list[str]]:
    start = time.monotonic()
    run, why = forky_root(forky)
    print(f"forky rootfs: {why or 'ready'} [{time.monotonic() - start:.0f} s]", flush=True)
    failures, checked = 0, []
    for minor in forky if run else ():
        try:
            check(run, minor, venv_for(run, minor, f"/usr/bin/python{minor}"), core)  # type: ignore[arg-type]
            checked.append(minor)
        except Failed as exc:
            failures += 1
            print(f"Python {minor}: FAILED: {exc}", flush=True)
    return failures, run, why, checked


def bundles_in_forky(run: Runner, python: Path, bundles: dict[str, Path]) -> int:
    """The bundles packaged on this machine run unchanged in the rootfs (its newer glibc)."""
    failures = 0
    for minor, bundle in bundles.items():
        try:
            if (got := dummy_values(run, python, bundle / "bundle" / "libdummy_py.so")) != EXPECTED:
                raise Failed(f"it gave {got}, not {EXPECTED}")
            print(f"Python {minor} bundle packaged on this machine, run unchanged in forky: ok", flush=True)
        except Failed as exc:
            failures += 1
            print(f"Python {minor} bundle in forky: FAILED: {exc}", flush=True)
    return failures


def check_all(only: Sequence[str], core: bool) -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    PIP_CACHE.mkdir(parents=True, exist_ok=True)
    host = pyenv_pythons([v for v in only if v not in FORKY])
    forky = [v for v in only if v in FORKY]
    skipped = {v: "not installed in pyenv" for v in only if v not in FORKY and v not in host}
    print(f"Python {', '.join(only)}: {', '.join(host) or 'none'} from pyenv, {', '.join(forky) or 'none'} in a "
          f"Debian testing (forky) rootfs; the two run side by side", flush=True)
    with ThreadPoolExecutor(2) as pool:  # mostly one CPU each: compilers and one Python at a time
        host_done = pool.submit(host_lane, host, core)
        forky_done = pool.submit(forky_lane, forky, core) if forky else None
        failures, bundles, pythons = host_done.result()
        if forky_done:
            forky_failures, run, why, checked = forky_done.result()
            failures += forky_failures
            if why:
                skipped.update({v: why for v in forky})
            if run and checked:
                failures += bundles_in_forky(run, ROOT / ".venv-pythons" / checked[0] / "bin" / "python", bundles)
    if len(bundles) >= 2:
        failures += not two_minors(bundles, pythons)
    elif len([v for v in only if v not in FORKY]) >= 2:
        skipped["two minors in one host"] = "fewer than two pyenv versions checked"
    for what, why in skipped.items():
        print(f"SKIPPED {what}: {why}", flush=True)
    return 1 if failures or skipped else 0


# --- --bench ---------------------------------------------------------------------------------

def bench_one() -> None:
    """Run by each version's venv python: one JSON line of its figures."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from falco_plugin._tooling.build import build
    from falco_plugin._tooling.package import package

    out = WORK / f"bench-{sys.version_info[0]}.{sys.version_info[1]}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    figures: dict[str, object] = {"python": sys.version.split()[0]}
    prebuilt = json.dumps({"batch": 64, "precompute": True})
    for name, target in (("bench_py", "examples/bench/bench_plugin.py:BenchPlugin"),
                         ("batch_py", "examples/bench/bench_batch.py:BenchBatchPlugin")):
        lib, _ = build(f"{ROOT}/{target}", out / f"lib{name}.so")
        bench.host_bench([(lib, prebuilt, "1")])  # warm-up: .pyc files
        s1, s2, s3 = (bench.instructions_per_event(lib, prebuilt, *f)
                      for f in ((), ("--fields", bench.S2_FIELDS), ("--fields", bench.S3_FIELDS)))
        # S1 alone: twice the events, minus the first run (start-up cancels out)
        bench.INSTR_EVENTS *= 2
        s1_twice = bench.instructions_per_event(lib, prebuilt)
        bench.INSTR_EVENTS //= 2
        figures[name] = {"S1": 2 * s1_twice - s1, "S2-S1": s2 - s1, "(S3-S1)/4": (s3 - s1) / 4}
    dev, _ = build(DUMMY, out / "libdummy_py.so")
    tarball = package(DUMMY, out / "dist").tarball
    extract(tarball, out / "bundle")
    times: dict[Path, list[float]] = {dev: [], out / "bundle" / "libdummy_py.so": []}
    for i in range(bench.COLD_RUNS + 1):
        for lib in times:
            ms = bench.host_bench([(lib, '{"jitter": 0}', '{"maxEvents": 1}')])[0]["cold_start_ms"]
            if i:
                times[lib].append(ms)
    figures["tarball_mib"] = tarball.stat().st_size / 2**20
    figures["cold_dev_ms"], figures["cold_packaged_ms"] = (statistics.median(t) for t in times.values())
    print(json.dumps(figures))


def bench_all(only: Sequence[str]) -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    PIP_CACHE.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, Runner, Path]] = []
    for minor, exe in pyenv_pythons(only).items():
        runs.append((minor, on_host, venv_for(on_host, minor, str(exe))))
    forky = [v for v in only if v in FORKY]
    run, why = forky_root(forky) if forky else (None, "")
    if why:
        print(f"SKIPPED {why}", flush=True)
    for minor in forky if run else ():
        runs.append((minor, run, venv_for(run, minor, f"/usr/bin/python{minor}")))  # type: ignore[arg-type]
    rows = []
    for minor, runner, python in sorted(runs):
        proc = sh(runner, [str(python), str(ROOT / "tools" / "pythons.py"), "--bench-one"])
        rows.append((minor, json.loads(proc.stdout.strip().splitlines()[-1])))
        print(f"Python {minor}: measured", flush=True)
    print("\nPer Python: callgrind instructions per event (section I of make bench: batch 64, payloads prebuilt,"
          " 40,000 events), examples/dummy's tarball and cold start (median of fresh host processes)")
    head = (f"{'Python':<9}{'S1 py':>9}{'S2-S1 py':>10}{'/field py':>11}{'S1 batch':>10}{'S2-S1 b':>9}"
            f"{'/field b':>10}{'tarball':>10}{'cold dev':>10}{'cold pkg':>10}")
    print(head)
    for _minor, f in rows:
        py, b = f["bench_py"], f["batch_py"]
        print(f"{f['python']:<9}{py['S1']:>9.0f}{py['S2-S1']:>10.0f}{py['(S3-S1)/4']:>11.0f}{b['S1']:>10.0f}"
              f"{b['S2-S1']:>9.0f}{b['(S3-S1)/4']:>10.0f}{f['tarball_mib']:>8.1f}Mi{f['cold_dev_ms']:>8.1f}ms"
              f"{f['cold_packaged_ms']:>8.1f}ms")
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SUPPORTED), help="comma-separated minor versions")
    parser.add_argument("--no-core", action="store_true", help="leave out the core tests")
    parser.add_argument("--bench", action="store_true", help="instructions, tarball size and cold start per version")
    parser.add_argument("--bench-one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bench_one:
        bench_one()
        return 0
    only = [v for v in args.only.split(",") if v]
    if unknown := [v for v in only if v not in SUPPORTED]:
        parser.error(f"unsupported Python {', '.join(unknown)} (supported: {', '.join(SUPPORTED)})")
    return bench_all(only) if args.bench else check_all(only, not args.no_core)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
