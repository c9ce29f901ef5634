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
from typing import Any

import pytest
import yaml
from support import ROOT, Built, Host

from falco_plugin._tooling.host import host_binary
from falco_plugin._tooling.package import Options, PackageError, package
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
            meta = Options(dev=True, registry="ghcr.io", repository="example/falco-plugins",
                           maintainers=["Test Author <test@example.com>"])  # the tests' plugins use id 999
            cache[target] = package(target, out / Path(target.split(":")[0]).stem, options=meta).tarball
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

    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))  # what musl's Python reports
    with pytest.raises(PackageError, match=r"needs a glibc system: this Python \(.*\) runs on a libc other than glibc"):
        package(DUMMY, "unused")


# -- bundled libraries, falco.yaml, falcoctl and Helm metadata --------------------------------


def falco_run(config: Path, plugins_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falco_plugin.cli", "run", "--json", "--falco-config", str(config),
                           "--plugins-dir", str(plugins_dir), *args], capture_output=True, text=True, timeout=120)


def test_bundled_libraries_are_listed_and_resolve_inside_the_bundle(tmp_path: Path, packaged: Packaged) -> None:
    from falco_plugin._tooling.elfbundle import GLIBC_FAMILY, check_resolved, elf_info

    bundle = extract(packaged(DUMMY), tmp_path / "plugins")
    manifest = json.loads((bundle / "dummy_py.python" / "MANIFEST.json").read_text())
    libs = {lib["soname"]: lib for lib in manifest["libraries"]}
    assert {"libssl.so.3", "libcrypto.so.3", "libsqlite3.so.0", "liblzma.so.5", "libbz2.so.1.0", "libffi.so.8",
            "libuuid.so.1", "libz.so.1"} <= set(libs), sorted(libs)
    assert not set(libs) & GLIBC_FAMILY
    ssl_lib = libs["libssl.so.3"]
    assert ssl_lib["file"] == "dummy_py.python/lib/libssl.so.3" and (bundle / ssl_lib["file"]).is_file()
    assert ssl_lib["package"].startswith("libssl3") and ssl_lib["source_package"] == "openssl"
    assert ssl_lib["version"] and ssl_lib["license"] and "standard module _ssl" in " ".join(ssl_lib["needed_by"])
    assert (bundle / "dummy_py.python" / "licenses" / "libssl3.copyright").is_file()
    assert check_resolved(bundle) == []
    info = elf_info(bundle / f"dummy_py.python/lib/python3.{sys.version_info[1]}/lib-dynload" / next(
        p.name for p in (bundle / f"dummy_py.python/lib/python3.{sys.version_info[1]}/lib-dynload").glob("_ssl.*")))
    assert info is not None and info.runpath == ["$ORIGIN/../.."] and not info.is_rpath


def snippet(packaged: Packaged, target: str) -> dict[str, Any]:
    tarball = packaged(target)
    name = tarball.name.split("-")[0]
    return yaml.safe_load((tarball.parent / f"{name}.falco.yaml").read_text())  # type: ignore[no-any-return]


def test_every_falco_yaml_snippet_package_writes_loads_through_falco_config(
        tmp_path: Path, packaged: Packaged) -> None:
    plugins = tmp_path / "plugins"
    for target in (DUMMY, PROBE, COUNTER, FILE_NOTIFY):
        extract(packaged(target), plugins)
        text = (packaged(target).parent / f"{snippet(packaged, target)['load_plugins'][0]}.falco.yaml").read_text()
        assert "init_config: {}" not in text and "REGISTRY" not in text
    dummy = falco_run(packaged(DUMMY).parent / "dummy_py.falco.yaml", plugins, "--fields", "dummy.value")
    assert dummy.returncode == 0, dummy.stderr
    values = [json.loads(line)["fields"]["dummy.value"] for line in dummy.stdout.splitlines() if '"fields"' in line]
    assert len(values) == 20 and values == sorted(values)  # the snippet's open_params: maxEvents 20, jitter >= 0
    probe = falco_run(packaged(PROBE).parent / "ship_probe.falco.yaml", plugins, "--fields", "probe.prefix")
    assert probe.returncode == 0 and '"probe.prefix"' in probe.stdout, probe.stderr
    # counter and file_notify as two config.d files: Falco appends their plugins and load_plugins
    merged: dict[str, list[Any]] = {"plugins": [], "load_plugins": []}
    for target in (COUNTER, FILE_NOTIFY):
        for key in merged:
            merged[key] += snippet(packaged, target)[key]
    file_notify = next(p for p in merged["plugins"] if p["name"] == "file_notify")
    assert file_notify["init_config"]["paths"] == ["/etc/passwd", "/etc/sudoers.d"]  # the model's example
    assert file_notify["init_config"]["interval"] == 1.0 and "open_params" not in file_notify
    (tmp_path / "both.yaml").write_text(yaml.safe_dump(merged))
    both = falco_run(tmp_path / "both.yaml", plugins, "--duration", "2")
    assert both.returncode == 0, both.stderr
    assert "file_notify: watching" in both.stderr
    assert len([ln for ln in both.stdout.splitlines() if '"evtnum"' in ln]) == 5  # counter's example: count=5


def test_falco_config_reads_like_falco_and_validates_like_libsinsp(tmp_path: Path, packaged: Packaged) -> None:
    plugins = extract(packaged(DUMMY), tmp_path / "plugins")
    conf = tmp_path / "falco.yaml"
    entry = "  - name: dummy_py\n    library_path: libdummy_py.so\n"
    conf.write_text(f"load_plugins: [dummy_py]\nplugins:\n{entry}    init_config: {{}}\n")  # Falco reads {} as null
    empty = falco_run(conf, plugins)
    assert empty.returncode != 0
    assert ("error in plugin dummy_py init config: In <root>, the config must be of type object, got null "
            "(libsinsp: Value type not permitted by 'type' constraint.)") in empty.stderr
    conf.write_text(f"plugins:\n{entry}    init_config:\n      jitter: '0'\n    open_params: |\n"
                    '      {"start": 7, "maxEvents": 2}\n')  # quoted '0' is the number 0 to Falco; no load_plugins
    quoted = falco_run(conf, plugins, "--fields", "dummy.value")
    assert quoted.returncode == 0, quoted.stderr
    assert [json.loads(ln)["fields"] for ln in quoted.stdout.splitlines() if '"fields"' in ln] == [
        {"dummy.value": 7}, {"dummy.value": 7}]
    conf.write_text(f"load_plugins: [dummy_py, nope]\nplugins:\n{entry}")
    missing = falco_run(conf, plugins)
    assert missing.returncode == 2
    assert "Cannot load plugin 'nope': plugin config not found for given name" in missing.stderr


def test_development_id_is_refused_unless_dev(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"plugin counter .* has PLUGIN_ID 999, the id reserved for development"
                                           r".*registered in falcosecurity/plugins.*pass --dev"):
        package(COUNTER, tmp_path)


def test_unwritable_output_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(PackageError, match=rf"cannot create the output directory {tmp_path}/file/dist: Not a dir"):
        package(DUMMY, tmp_path / "file" / "dist")


def bad_module(tmp_path: Path, *patch: str) -> Path:
    """A stage whose site-packages holds one extension module (a copy of _json), patched."""
    import sysconfig

    stage = tmp_path / "stage"
    mod = stage / "rt.python" / "site-packages" / "badpkg" / "_speed.so"
    mod.parent.mkdir(parents=True)
    (stage / "rt.python" / "lib").mkdir()
    src = next(Path(sysconfig.get_config_var("DESTSHARED")).glob("_json.*.so"))
    shutil.copy2(src, mod)
    if patch:
        from falco_plugin._tooling.elfbundle import find_patchelf

        subprocess.run([find_patchelf(), *patch, str(mod)], check=True)
    return stage


def test_bad_extension_modules_are_named_with_their_library(tmp_path: Path) -> None:
    from falco_plugin._tooling.elfbundle import BundleError, bundle_libraries, find_patchelf

    stage = bad_module(tmp_path / "a", "--add-needed", "libnotthere.so.7")
    with pytest.raises(BundleError, match=r"libnotthere\.so\.7, needed by module badpkg\._speed "
                                          r"\(site-packages/badpkg/_speed\.so\)"):
        bundle_libraries(stage, stage / "rt.python" / "lib", {}, find_patchelf())
    stage = bad_module(tmp_path / "b", "--add-needed", "libc.musl-x86_64.so.1")
    with pytest.raises(BundleError, match=r"module badpkg\._speed .* links libc\.musl-x86_64\.so\.1, a C library "
                                          r"other than glibc \(a musllinux wheel\?\)"):
        bundle_libraries(stage, stage / "rt.python" / "lib", {}, find_patchelf())
    stage = bad_module(tmp_path / "c")
    mod = stage / "rt.python" / "site-packages" / "badpkg" / "_speed.so"
    data = bytearray(mod.read_bytes())
    data[18:20] = (183 if os.uname().machine != "aarch64" else 62).to_bytes(2, "little")  # e_machine
    mod.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"module badpkg\._speed \(site-packages/badpkg/_speed\.so\) is an ELF for "
                                          r"EM_(AARCH64|X86_64) \(64-bit\), but this Python runs on"):
        bundle_libraries(stage, stage / "rt.python" / "lib", {}, find_patchelf())


# Facts of the falcosecurity/falco chart's values.yaml (charts/falco/values.yaml, master): the
# keys our values snippet sets and their types, as our own small schema. The chart has no
# values.schema.json; a key it does not know would be silently ignored by Helm, so unknown keys fail here.
CHART_VALUES = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "driver": {"type": "object", "additionalProperties": False, "properties": {"enabled": {"type": "boolean"}}},
        "collectors": {"type": "object", "additionalProperties": False,
                       "properties": {"enabled": {"type": "boolean"}}},
        "falcoctl": {"type": "object", "additionalProperties": False, "properties": {
            "artifact": {"type": "object", "additionalProperties": False, "properties": {
                "install": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
                "follow": {"type": "object", "properties": {"enabled": {"type": "boolean"}}}}},
            "config": {"type": "object", "additionalProperties": False, "properties": {
                "artifact": {"type": "object", "additionalProperties": False, "properties": {
                    "allowedTypes": {"type": "array", "items": {"enum": ["plugin", "rulesfile", "asset"]}},
                    "install": {"type": "object", "properties": {
                        "refs": {"type": "array", "items": {"type": "string"}}}},
                    "follow": {"type": "object", "properties": {
                        "refs": {"type": "array", "items": {"type": "string"}}}}}}}}}},
        "falco": {"type": "object", "additionalProperties": False, "properties": {
            "load_plugins": {"type": "array", "items": {"type": "string"}},
            "plugins": {"type": "array", "items": {
                "type": "object", "required": ["name", "library_path"], "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "library_path": {"type": "string"},
                               "init_config": {"type": ["object", "string"]}, "open_params": {"type": "string"}}}}}},
    },
}


def test_index_and_helm_values_from_options_and_the_chart(packaged: Packaged) -> None:
    import jsonschema

    tarball = packaged(DUMMY)
    index = yaml.safe_load((tarball.parent / "dummy_py.index.yaml").read_text())
    assert index == [{
        "name": "dummy_py", "type": "plugin", "registry": "ghcr.io", "repository": "example/falco-plugins/dummy_py",
        "description": "Reference plugin for documentation: a source of counters with jitter",
        "home": "https://github.com/falcosecurity/plugins", "keywords": ["dummy_py", "dummy"],
        "license": "Apache-2.0",  # this checkout's pyproject.toml, the nearest above examples/dummy
        "maintainers": [{"name": "Test Author", "email": "test@example.com"}],
        "sources": ["https://github.com/falcosecurity/plugins"],
    }]
    values = yaml.safe_load((tarball.parent / "dummy_py.values.yaml").read_text())
    jsonschema.validate(values, CHART_VALUES)
    ref = "ghcr.io/example/falco-plugins/dummy_py:0.1.0"
    assert values["falcoctl"]["config"]["artifact"]["install"]["refs"] == [ref]
    assert values["falco"]["load_plugins"] == ["dummy_py"] and values["driver"] == {"enabled": False}
    assert values["falco"]["plugins"] == snippet(packaged, DUMMY)["plugins"]
