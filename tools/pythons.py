"""`make pythons`: build, package and run examples/dummy with every CPython 3.10-3.13 pyenv has.

For each version found (`pyenv root`/versions, else /root/.pyenv/versions) it makes a virtualenv
in .venv-pythons/X.Y with this package installed, builds the dummy plugin, runs it in our host
(7 events with the values a jitter of 0 gives), packages it, runs the extracted tarball the same
way, and finally loads two plugins built with different minor versions in one host, which must
be refused with both names. It prints one line per version, and which versions it skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from falco_plugin._tooling.host import run_host  # noqa: E402

WANTED = ("3.10", "3.11", "3.12", "3.13")
DUMMY = f"{ROOT}/examples/dummy/dummy_plugin.py:DummyPlugin"
EXPECTED = [{"dummy.value": 3, "dummy.divisible[3]": 1}] * 7  # a jitter of 0 keeps the start value


def pyenv_versions() -> dict[str, Path]:
    """The newest installed CPython of each wanted minor version: {"3.11": .../bin/python3.11}."""
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
        if minor in WANTED and exe.is_file() and (minor not in found or key > found[minor][0]):
            found[minor] = (key, exe)
    return {m: found[m][1] for m in sorted(found)}


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc  # type: ignore[no-any-return]


def venv_for(minor: str, python: Path) -> Path:
    venv = ROOT / ".venv-pythons" / minor
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        if not (venv / "bin" / "python").exists():
            sh([str(python), "-m", "venv", str(venv)])
        sh([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "-e", str(ROOT)])
        stamp.touch()
    return venv / "bin" / "python"


def dummy_values(lib: Path) -> list[dict[str, object]]:
    proc = run_host(["run", "--json", "--fields", "dummy.value,dummy.divisible[3]", "-p", str(lib),
                     "-c", '{"jitter": 0}', "-o", '{"start": 3, "maxEvents": 7}'])
    if proc.returncode != 0:
        raise RuntimeError(f"running {lib} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line)["fields"] for line in proc.stdout.splitlines() if '"fields"' in line]


def check(minor: str, python: Path, work: Path) -> Path:
    out = work / minor
    out.mkdir()
    lib = out / "libdummy_py.so"
    sh([str(python), "-m", "falco_plugin.cli", "build", DUMMY, "-o", str(lib)])
    if dummy_values(lib) != EXPECTED:
        raise RuntimeError(f"Python {minor}: the dev build gave {dummy_values(lib)}")
    sh([str(python), "-m", "falco_plugin.cli", "package", DUMMY, "-o", str(out / "dist")])
    (tarball,) = (out / "dist").glob("*.tar.gz")
    with tarfile.open(tarball) as tar:
        tar.extractall(out / "bundle")
    if dummy_values(out / "bundle" / "libdummy_py.so") != EXPECTED:
        raise RuntimeError(f"Python {minor}: the packaged build differs")
    print(f"Python {minor} ({python}): build, run, package ({tarball.stat().st_size / 2**20:.1f} MiB), run: ok",
          flush=True)
    return lib


def main() -> int:
    versions = pyenv_versions()
    skipped = [m for m in WANTED if m not in versions]
    print(f"pyenv CPython versions found: {', '.join(versions) or 'none'}; skipped (not installed): "
          f"{', '.join(skipped) or 'none'}", flush=True)
    failures = 0
    libs: dict[str, Path] = {}
    pythons: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="falco-plugin-pythons-") as tmp:
        for minor, exe in versions.items():
            try:
                pythons[minor] = venv_for(minor, exe)
                libs[minor] = check(minor, pythons[minor], Path(tmp))
            except RuntimeError as exc:
                failures += 1
                print(f"Python {minor}: FAILED: {exc}", flush=True)
        if len(libs) >= 2:
            (a, lib_a), (b, _) = list(libs.items())[:2]
            lib_b = Path(tmp) / "libcounter.so"
            sh([str(pythons[b]), "-m", "falco_plugin.cli", "build", f"{ROOT}/tests/plugins/counter.py:Counter",
                "-o", str(lib_b)])
            proc = run_host(["run", "-p", str(lib_a), "-o", '{"maxEvents": 1}', "-p", str(lib_b)])
            want = f"plugin counter needs Python {b}, but plugin dummy_py, loaded before it, uses Python {a}."
            if proc.returncode == 0 or want not in proc.stderr:
                failures += 1
                print(f"Python {a} + {b} in one host: FAILED, not refused as expected:\n{proc.stderr[-2000:]}")
            else:
                print(f"Python {a} + {b} in one host: refused ({want.strip('.')})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
