"""Shipping: ``falco-plugin package`` tarballs run in a root with no Python at all, from any
path; several SDK plugins share one interpreter or are refused with both names; dev builds
warn about changed sources and say where an import was searched."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ROOT, Built, Host

from falco_plugin._tooling.host import host_binary
from falco_plugin._tooling.package import package
from falco_plugin.cli import main as cli_main

DUMMY = f"{ROOT}/examples/dummy/dummy_plugin.py:DummyPlugin"
FILE_NOTIFY = f"{ROOT}/examples/file_notify/file_notify.py:FileNotify"
COUNTER = f"{ROOT}/tests/plugins/counter.py:Counter"
PROBE = f"{ROOT}/tests/plugins/ship_probe.py:ShipProbe"
DUMMY_FIELDS = "dummy.value,dummy.strvalue,dummy.divisible[3]"
NOTIFY_FIELDS = "file_notify.path,file_notify.change,file_notify.old_size,file_notify.new_size,file_notify.new_hash"

# Every Python installation of the machine, this virtualenv and the source checkout.
PYTHON_PATHS = ["/root/.pyenv", "/usr/lib/python3*", "/usr/local/lib/python*", "/usr/lib/*/libpython3*",
                "/usr/bin/python*", "/usr/local/bin/python*", sys.prefix, sys.base_prefix, str(ROOT)]
# In a new mount namespace: tmpfs over each directory, /dev/null over each file; then prove
# that no Python is left before running the command.
NO_PYTHON_SCRIPT = r"""
set -e
mount --make-rprivate /
n=$1; shift
while [ "$n" -gt 0 ]; do
  if [ -d "$1" ]; then mount -t tmpfs none "$1"; else mount --bind /dev/null "$1"; fi
  shift; n=$((n - 1))
done
for p in python3 python; do
  if command -v $p >/dev/null 2>&1 && $p -c 1 >/dev/null 2>&1; then echo "a $p still runs" >&2; exit 97; fi
done
for f in /usr/lib/python3*/os.py /usr/local/lib/python3*/os.py /root/.pyenv/versions "$PWD/.venv"; do
  if [ -e "$f" ]; then echo "$f is still visible" >&2; exit 98; fi
done
exec "$@"
"""

Packaged = Callable[[str], Path]


def without_python(cmd: list[str], **kw: object) -> subprocess.Popen[str]:
    found = {os.path.realpath(p) for pattern in PYTHON_PATHS for p in glob.glob(pattern) if os.path.exists(p)}
    masks = sorted(p for p in found if not any(p.startswith(q + "/") for q in found))
    proc: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
        ["unshare", "-m", "sh", "-c", NO_PYTHON_SCRIPT, "sh", str(len(masks)), *masks, *cmd],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    return proc


def host_json(cmd: list[str], *, no_python: bool, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> list[dict[str, object]]:
    full = [str(host_binary()), "run", "--json", *cmd]
    proc = without_python(full, env=env, cwd=cwd) if no_python else subprocess.Popen(
        full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    """``packaged(target)``: the tarball of ``target``, made once per session."""
    out = tmp_path_factory.mktemp("dist")
    cache: dict[str, Path] = {}

    def _package(target: str) -> Path:
        if target not in cache:
            cache[target] = package(target, out / Path(target.split(":")[0]).stem).tarball
        return cache[target]

    return _package


def extract(tarball: Path, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(where, filter="tar") if hasattr(tarfile, "data_filter") else tar.extractall(where)
    return where


def library(bundle: Path) -> Path:
    (lib,) = bundle.glob("lib*.so")
    return lib


def dummy_fields(lib: Path, *, no_python: bool) -> list[dict[str, object]]:
    events = host_json(["--fields", DUMMY_FIELDS, "-p", str(lib), "-c", '{"jitter": 0}',
                        "-o", '{"start": 3, "maxEvents": 7}'], no_python=no_python)
    return [e["fields"] for e in events if "fields" in e]  # type: ignore[misc]


def test_tarball_layout_and_manifest(packaged: Packaged) -> None:
    tarball = packaged(DUMMY)
    assert tarball.name == f"dummy_py-0.1.0-linux-{os.uname().machine}.tar.gz"
    assert tarball.stat().st_size <= 25 * 2**20
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("dummy_py.python/MANIFEST.json"))  # type: ignore[arg-type]
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert {"libdummy_py.so", f"dummy_py.python/lib/libpython{py}.so.1.0",
            f"dummy_py.python/lib/python{py.replace('.', '')}.zip",
            "dummy_py.python/site-packages/dummy_plugin.py",
            "dummy_py.python/site-packages/falco_plugin/_runtime/__init__.py",
            "dummy_py.python/site-packages/pydantic/__init__.py"} <= names
    assert any(n.startswith(f"dummy_py.python/lib/python{py}/lib-dynload/_json.") for n in names)
    assert any(n.startswith("dummy_py.python/site-packages/pydantic_core/_pydantic_core.") for n in names)
    assert not any("/tkinter/" in n or "/idlelib/" in n or "_testcapi" in n for n in names)
    sdk = "dummy_py.python/site-packages/falco_plugin/"
    shipped_sdk = {n[len(sdk):] for n in names if n.startswith(sdk)}
    tooling = {n for n in shipped_sdk if n.split("/")[0] in ("_tooling", "_csrc", "cli.py", "testing.py")}
    assert shipped_sdk and not tooling, f"the tarball ships tooling: {sorted(tooling)}"
    assert manifest["python"]["abi"] == py
    assert {"falco-plugin", "pydantic", "pydantic-core"} <= set(manifest["distributions"])
    assert manifest["platform"]["min_glibc"].startswith("2.")
    assert manifest["files"]["libdummy_py.so"]
    api = manifest["plugin"]["required_api_version"]
    assert api.startswith("3.") and f"--requires plugin_api_version:{api} " in manifest["falco"]["falcoctl_push"]
    assert "library_path: libdummy_py.so" in manifest["falco"]["falco_yaml"]


def test_packaged_dummy_runs_without_python_like_the_dev_build(
    tmp_path: Path, packaged: Packaged, built: Built
) -> None:
    dev = dummy_fields(built(DUMMY), no_python=False)
    bundle = extract(packaged(DUMMY), tmp_path / "plugins")
    assert len(dev) == 7 and dev[0] == {"dummy.value": 3, "dummy.strvalue": "3", "dummy.divisible[3]": 1}
    assert dummy_fields(library(bundle), no_python=True) == dev


def test_packaged_dummy_still_runs_after_the_bundle_moved(tmp_path: Path, packaged: Packaged, built: Built) -> None:
    dev = dummy_fields(built(DUMMY), no_python=False)
    first = extract(packaged(DUMMY), tmp_path / "a")
    moved = tmp_path / "elsewhere" / "plugins"
    moved.parent.mkdir()
    shutil.move(str(first), moved)
    assert dummy_fields(library(moved), no_python=True) == dev


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    """Read the process's stderr until a line contains ``text``; return what was read."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline() if proc.stderr else ""
        seen.append(line)
        if not line or text in line:
            break
    return "".join(seen)


def file_notify_run(tmp_path: Path, source: Path, notify: Path, *, no_python: bool) -> list[dict[str, object]]:
    watched = tmp_path / "etc"
    shutil.rmtree(watched, ignore_errors=True)
    watched.mkdir()
    (watched / "passwd").write_text("root:x:0:0\n")
    config = json.dumps({"paths": [str(watched)], "interval": 0.05})
    cmd = [str(host_binary()), "run", "--json", "--duration", "8", "--fields", NOTIFY_FIELDS,
           "-p", str(source), "-o", "mode=idle", "-p", str(notify), "-c", config]
    proc = without_python(cmd) if no_python else subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                                   text=True)
    with proc:
        started = wait_for_line(proc, "watching 1 files under")  # Python started, first snapshot taken
        # whole files at once (a rename), so that no snapshot sees one half-written
        for name, text in (("passwd", "root:x:0:0\nmallory:x:0:0\n"), ("sudoers", "mallory ALL=(ALL) NOPASSWD: ALL\n")):
            (tmp_path / "staged").write_text(text)
            os.replace(tmp_path / "staged", watched / name)
        out, err = proc.communicate(timeout=60)
        err = started + err
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    got = [e for e in events if e.get("type") == 402]
    assert len(got) == 2, (out, err)
    return sorted(({"name": e["async_name"], **e["fields"]} for e in got), key=lambda f: str(f["file_notify.path"]))


def test_two_packaged_plugins_file_notify_and_a_source_run_without_python(
    tmp_path: Path, packaged: Packaged, built: Built
) -> None:
    dev = file_notify_run(tmp_path, built(COUNTER), built(FILE_NOTIFY), no_python=False)
    plugins = tmp_path / "plugins"
    extract(packaged(COUNTER), plugins)
    extract(packaged(FILE_NOTIFY), plugins)
    got = file_notify_run(tmp_path, plugins / "libcounter.so", plugins / "libfile_notify.so", no_python=True)
    watched = tmp_path / "etc"
    assert [(f["file_notify.path"], f["file_notify.change"]) for f in dev] == [
        (str(watched / "passwd"), "modified"), (str(watched / "sudoers"), "created")]
    assert got == dev


def test_packaged_interpreter_is_isolated(tmp_path: Path, packaged: Packaged) -> None:
    bundle = extract(packaged(PROBE), tmp_path / "plugins")
    runtime = str(bundle / "ship_probe.python")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "pydantic.py").write_text("raise SystemExit('the current directory leaked')\n")
    (cwd / "json.py").write_text("raise SystemExit('the current directory leaked')\n")
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONHOME": "/nonexistent", "PYTHONNOUSERSITE": "",
           "PYTHONSTARTUP": str(cwd / "json.py")}
    # with the machine's Python present: nothing of it, nor of the environment, is used
    events = host_json(["--fields", "probe.sys_path,probe.prefix,probe.modules", "-p", str(library(bundle))],
                       no_python=False, env=env, cwd=cwd)
    (fields,) = [e["fields"] for e in events if "fields" in e]
    paths = str(fields["probe.sys_path"]).split(os.pathsep)  # type: ignore[index]
    assert paths and all(p.startswith(runtime + "/") for p in paths), paths
    assert str(fields["probe.prefix"]).split(os.pathsep) == [runtime, runtime]  # type: ignore[index]
    assert all(m.startswith(runtime + "/") for m in str(fields["probe.modules"]).split(os.pathsep))  # type: ignore[index]


def test_a_bundle_without_its_runtime_fails_at_init(tmp_path: Path, packaged: Packaged, host: Host) -> None:
    bundle = extract(packaged(PROBE), tmp_path / "plugins")
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy2(library(bundle), lone / "libship_probe.so")
    run = host("run", "-p", lone / "libship_probe.so")
    assert run.returncode != 0
    assert f"plugin ship_probe: its Python runtime {lone}/ship_probe.python is missing" in run.stderr


def test_info_shows_the_falco_metadata(tmp_path: Path, packaged: Packaged, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = extract(packaged(PROBE), tmp_path / "plugins")
    assert cli_main(["info", str(library(bundle))]) == 0
    text = capsys.readouterr().out
    assert "Name: ship_probe" in text and "needs glibc >= 2." in text
    api = text.split("Required API version: ")[1].split()[0]
    assert ("falcoctl registry push --type plugin --version 0.2.0 --platform linux/" in text
            and f"--requires plugin_api_version:{api} " in text)
    assert "library_path: libship_probe.so" in text and "- name: ship_probe\n    type: plugin" in text
    assert cli_main(["info", "--json", str(library(bundle))]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["package"]["python"]["abi"] == f"{sys.version_info[0]}.{sys.version_info[1]}"


# -- several SDK plugins in one process -------------------------------------------------------


def other_venv(tmp_path: Path, fake: dict[str, str] | None = None) -> Path:
    """A second virtualenv of this Python that sees this one's packages through a .pth file;
    ``fake`` gives some distributions another version there (a copy with edited metadata)."""
    venv = tmp_path / "venv2"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    here = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    (site / "zz_parent.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    for module, version in (fake or {}).items():
        import importlib.metadata

        dist = importlib.metadata.distribution(module)
        shutil.copytree(Path(str(dist.locate_file(module))), site / module)
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        meta = (dist.read_text("METADATA") or "").replace(f"Version: {dist.version}", f"Version: {version}")
        (info / "METADATA").write_text(meta)
    return venv / "bin" / "python"


def build_with(python: Path, target: str, out: Path) -> Path:
    proc = subprocess.run([str(python), "-m", "falco_plugin.cli", "build", target, "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def test_dev_builds_from_two_virtualenvs_are_refused(tmp_path: Path, built: Built, host: Host) -> None:
    first = built(DUMMY)
    second = build_with(other_venv(tmp_path), PROBE, tmp_path / "libship_probe.so")
    run = host("run", "-p", first, "-o", '{"maxEvents": 1}', "-p", second)
    assert run.returncode != 0
    assert ("plugin ship_probe cannot share the Python interpreter that plugin dummy_py (loaded first) provides: "
            f"plugin ship_probe was built in the virtualenv {tmp_path / 'venv2'}, plugin dummy_py in {sys.prefix}"
            ) in run.stderr


def test_conflicting_package_versions_are_refused(tmp_path: Path, packaged: Packaged, host: Host) -> None:
    bundle = extract(packaged(DUMMY), tmp_path / "plugins")
    fake = build_with(other_venv(tmp_path, {"annotated_types": "0.0.1"}), PROBE, tmp_path / "libship_probe.so")
    run = host("run", "-p", library(bundle), "-o", '{"maxEvents": 1}', "-p", fake)
    assert run.returncode != 0
    manifest = json.loads((bundle / "dummy_py.python" / "MANIFEST.json").read_text())
    theirs = manifest["distributions"]["annotated-types"]
    assert f"annotated-types 0.0.1 in plugin ship_probe, annotated-types {theirs} in plugin dummy_py" in run.stderr


# -- dev builds -------------------------------------------------------------------------------


def test_changed_sources_are_named_when_a_dev_build_loads(tmp_path: Path, host: Host) -> None:
    src = tmp_path / "probe_copy.py"
    shutil.copy2(PROBE.split(":")[0], src)
    lib = build_with(Path(sys.executable), f"{src}:ShipProbe", tmp_path / "libprobe.so")
    clean = host("run", "-p", lib)
    assert clean.returncode == 0 and "source files changed" not in clean.stderr
    st = src.stat()  # touched, same content: its mtime differs from the build's, so it is hashed: unchanged
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched = host("run", "-p", lib)
    assert touched.returncode == 0 and "source files changed" not in touched.stderr
    src.write_text(src.read_text().replace('"probe.prefix"', '"probe.prefiX"'))  # same size, new mtime
    run = host("run", "-p", lib)
    assert run.returncode == 0
    assert "log warning ship_probe: source files changed since falco-plugin build" in run.stderr
    assert f"(build it again): {src}" in run.stderr


def test_module_not_found_at_init_names_the_searched_paths(tmp_path: Path, host: Host) -> None:
    src = tmp_path / "gone_plugin.py"
    shutil.copy2(PROBE.split(":")[0], src)
    lib = build_with(Path(sys.executable), f"{src}:ShipProbe", tmp_path / "libgone.so")
    src.unlink()
    run = host("run", "-p", lib)
    assert run.returncode != 0
    assert f"ModuleNotFoundError: No module named 'gone_plugin'; searched sys.path: {tmp_path}, " in run.stderr


def test_package_refuses_musl(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    from falco_plugin._tooling.package import PackageError

    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))  # what musl's Python reports
    with pytest.raises(PackageError, match=r"needs a glibc system: this Python \(.*\) runs on a libc other than glibc"):
        package(DUMMY, "unused")
