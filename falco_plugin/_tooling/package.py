"""``falco-plugin package``: one self-contained tarball that runs where no Python is installed.

::

    falco-plugin package examples/dummy/dummy_plugin.py:DummyPlugin -o dist
    # dist/dummy_py-0.1.0-linux-x86_64.tar.gz, dist/dummy_py.falco.yaml, dist/dummy_py.index.yaml

Extracted anywhere (Falco's plugin directory, usually ``/usr/share/falco/plugins``), the
tarball holds the plugin and, next to it, its Python::

    libNAME.so                      RPATH $ORIGIN/NAME.python/lib
    NAME.python/lib/libpython3.X.so.1.0
    NAME.python/lib/python3X.zip    the standard library, trimmed, with bytecode
    NAME.python/lib/python3.X/lib-dynload/
    NAME.python/site-packages/      the plugin's modules (frozen now), falco_plugin, and the
                                    distributions of its import closure or requirements list
    NAME.python/MANIFEST.json       Python, distributions, minimum glibc, Falco metadata, hashes

The ``.so`` finds ``NAME.python`` from its own path (dladdr) and starts an isolated
interpreter from there alone; the virtualenv that packaged it is no longer needed.
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.metadata
import json
import os
import platform
import py_compile
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
from packaging.requirements import InvalidRequirement, Requirement

from .._runtime.environment import build_info, canonical
from ..base import PluginDefinitionError
from .build import BuildError, PluginSpec, compile_plugin, libpython, load_plugin_class, plugin_spec, runtime_dir_name
from .cc import cache_dir

__all__ = ["PackageError", "PackageResult", "falco_metadata", "manifest_of", "min_glibc", "package"]

# Not shipped: tests, GUI and teaching modules, installers, build-time files.
STDLIB_EXCLUDED = {
    "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "venv", "pydoc_data",
    "site-packages", "dist-packages", "lib-dynload", "__pycache__", "turtle.py", "__phello__", "__hello__.py",
}
DYNLOAD_EXCLUDED_PREFIXES = ("_test", "_ctypes_test", "xxlimited", "_xxtestfuzz", "_tkinter", "xxsubtype")
GLIBC_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "libresolv.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libnsl.so.1", "libcrypt.so.1",
}
FALCOCTL_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class PackageError(RuntimeError):
    """The plugin could not be packaged; the message says why."""


@dataclass
class PackageResult:
    tarball: Path
    falco_yaml: Path
    index_yaml: Path
    manifest: dict[str, Any]


def check_glibc() -> str:
    """The glibc version of this system, or PackageError on another libc (musl)."""
    libc, version = platform.libc_ver()
    if libc != "glibc":
        raise PackageError(
            f"falco-plugin package needs a glibc system: this Python ({sys.executable}) runs on "
            f"{libc or 'a libc other than glibc (musl?)'}. Falco's images use glibc; package on a glibc distribution "
            "(Debian, Ubuntu, Wolfi, ...) with a glibc Python"
        )
    return version


# -- what to ship ---------------------------------------------------------------------------

# What a fresh interpreter imports to load the plugin, less what it had at start-up (site's
# own imports and .pth hooks such as setuptools' _distutils_hack, which the bundle skips).
CLOSURE_SCRIPT = """
import importlib, json, sys
before = set(sys.modules)
sys.path[:0] = json.loads(sys.argv[2])
import falco_plugin._runtime
importlib.import_module(sys.argv[1])
print(json.dumps({n: getattr(m, "__file__", None) for n, m in list(sys.modules.items()) if n not in before}))
"""


def import_closure(module: str, roots: list[str]) -> dict[str, str | None]:
    """``{module name: file}`` of everything a fresh interpreter imports to load the plugin."""
    proc = subprocess.run([sys.executable, "-c", CLOSURE_SCRIPT, module, json.dumps(roots)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise PackageError(f"importing {module} in a fresh interpreter failed:\n{proc.stderr.strip()}")
    closure: dict[str, str | None] = json.loads(proc.stdout.splitlines()[-1])
    return closure


def top_level_entry(name: str, file: str) -> Path:
    """The file or package directory of ``name``'s top-level module, given ``name``'s file."""
    path = Path(file).resolve()
    depth = name.count(".") + (1 if path.name.startswith("__init__.") else 0)
    entry = path.parents[depth - 1] if depth else path
    return entry


def module_owners() -> dict[str, list[str]]:
    """``{top-level module: [distributions]}`` from every installed distribution's file list
    (Python 3.10's packages_distributions reads only top_level.txt, which flit wheels lack)."""
    owners: dict[str, list[str]] = {}
    for dist in importlib.metadata.distributions():
        tops = set()
        for rel in dist.files or []:
            if rel.parts[0] == ".." or rel.parts[0].endswith((".dist-info", ".egg-info", ".data")):
                continue
            top = rel.parts[0] if len(rel.parts) > 1 else rel.name.split(".")[0]
            tops.add(top)
        for top in tops:
            owners.setdefault(top, []).append(dist.metadata["Name"])
    return owners


def split_closure(closure: dict[str, str | None]) -> tuple[set[Path], set[str]]:
    """The plugin's own top-level modules (files or directories) and the distributions imported."""
    stdlib = [Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib")]
    sites = [Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")]
    owners = module_owners()
    own: set[Path] = set()
    dists: set[str] = set()
    for name, file in closure.items():
        top = name.split(".")[0]
        if not file or top == "falco_plugin":
            continue
        path = Path(file).resolve()
        in_site = any(path.is_relative_to(s) for s in sites)
        if not in_site and any(path.is_relative_to(s) for s in stdlib):
            continue
        if top in owners and in_site:
            dists.update(canonical(d) for d in owners[top])
        elif not in_site:
            own.add(top_level_entry(name, file))
        else:
            raise PackageError(f"module {name} ({file}) belongs to no installed distribution: cannot ship it")
    return own, dists


def read_requirements(path: Path) -> list[Requirement]:
    reqs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            reqs.append(Requirement(text))
        except InvalidRequirement as exc:
            raise PackageError(f"{path}:{number}: {exc}") from exc
    return reqs


def with_dependencies(names: set[str], requirements: list[Requirement]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions ``names`` and ``requirements`` name, and what they require."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo: list[tuple[Requirement, str]] = [(Requirement(n), "the plugin's imports") for n in sorted(names)]
    todo += [(r, "the requirements list") for r in requirements]
    while todo:
        req, why = todo.pop()
        key = canonical(req.name)
        if key in found or key == "falco-plugin":
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            raise PackageError(f"{req} (needed by {why}) is not installed in {sys.prefix}: pip install it") from None
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            raise PackageError(f"{req} (needed by {why}) does not match the installed {dist.name} {dist.version}")
        found[key] = dist
        for text in dist.requires or []:
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                todo.append((dep, f"{dist.name} {dist.version}"))
    return dict(sorted(found.items()))


# -- writing the bundle -------------------------------------------------------------------


def ignore_caches(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))]


def copy_distribution(dist: importlib.metadata.Distribution, site: Path) -> None:
    for rel in dist.files or []:
        if rel.parts[0] == ".." or "__pycache__" in rel.parts or rel.suffix in (".pyc", ".pth"):
            continue
        src = Path(str(dist.locate_file(rel)))
        if src.is_file():
            dest = site / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


#: The entries of the falco_plugin package a packaged plugin does not carry.
NOT_SHIPPED = ("_csrc", "_tooling", "cli.py", "testing.py")


def copy_sdk(site: Path) -> None:
    """falco_plugin itself, with its dist-info so versions can be compared: what a running plugin
    imports, not the tooling (build, package, the command line, the test helpers) nor the C sources."""
    pkg = Path(__file__).resolve().parent.parent
    shutil.copytree(pkg, site / "falco_plugin",
                    ignore=lambda d, n: [*ignore_caches(d, n), *(NOT_SHIPPED if Path(d) == pkg else [])])
    dist = importlib.metadata.distribution("falco-plugin")
    info = site / f"falco_plugin-{dist.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(dist.read_text("METADATA") or f"Name: falco-plugin\nVersion: {dist.version}\n")


def stdlib_zip(dest: Path) -> None:
    """The pure-Python standard library, trimmed, as .py plus unchecked-hash .pyc (so the zip
    needs no source timestamps), stored uncompressed (zipimport then needs no zlib to start;
    the tarball compresses it). Made once per Python and kept in the build cache."""
    root = Path(sysconfig.get_paths()["stdlib"])
    key = hashlib.sha256(repr((sys.version, str(root), sorted(STDLIB_EXCLUDED), 1)).encode()).hexdigest()[:16]
    cached = cache_dir() / f"stdlib-{key}" / dest.name
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp_zip = cached.with_name(f".{cached.name}.{os.getpid()}")
        write_stdlib_zip(root, tmp_zip)
        os.replace(tmp_zip, cached)
    shutil.copy2(cached, dest)


def write_stdlib_zip(root: Path, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_EXCLUDED and not d.startswith("config-"))
            for name in sorted(filenames):
                if not name.endswith(".py") or name in STDLIB_EXCLUDED:
                    continue
                rel = rel_dir / name
                zf.write(Path(dirpath) / name, str(rel))
                pyc = Path(tmp) / "m.pyc"
                try:
                    py_compile.compile(str(Path(dirpath) / name), cfile=str(pyc), dfile=str(rel), doraise=True,
                                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                except py_compile.PyCompileError:
                    continue  # a file this Python cannot compile (e.g. a template): shipped as source
                zf.write(pyc, str(rel.with_suffix(".pyc")))


def copy_dynload(dest: Path) -> None:
    src = Path(sysconfig.get_config_var("DESTSHARED") or Path(sysconfig.get_paths()["platstdlib"]) / "lib-dynload")
    dest.mkdir(parents=True)
    for so in sorted(src.glob("*.so")):
        if not so.name.startswith(DYNLOAD_EXCLUDED_PREFIXES):
            shutil.copy2(so, dest / so.name)


def strip(paths: list[Path]) -> None:
    """Drop the debug sections (libpython from pyenv is 23 MB with them, 4 MB without)."""
    tool = shutil.which("strip")
    if tool and paths:
        subprocess.run([tool, "--strip-debug", *map(str, paths)], check=True, capture_output=True)


def elf_files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and (path.suffix == ".so" or ".so." in path.name):
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(path)
    return out


def elf_needs(path: Path) -> tuple[list[str], list[str]]:
    """(DT_NEEDED sonames, GLIBC_* symbol versions referenced) of one ELF file."""
    needed: list[str] = []
    versions: list[str] = []
    with path.open("rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                needed += [str(getattr(t, "needed", "")) for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
            elif isinstance(section, GNUVerNeedSection):
                for _need, auxes in section.iter_versions():
                    versions += [a.name for a in auxes if a.name.startswith("GLIBC_")]
    return needed, versions


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def min_glibc(paths: list[Path]) -> str:
    """The lowest glibc that can load all ``paths``: their highest GLIBC_x.y symbol version."""
    found = {v.removeprefix("GLIBC_") for p in paths for v in elf_needs(p)[1]}
    found = {v for v in found if version_key(v)}
    return max(found, key=version_key) if found else ""


def system_libraries(paths: list[Path], bundled: set[str]) -> list[str]:
    """Sonames the bundle's binaries need from the system, besides glibc itself."""
    names = {n for p in paths for n in elf_needs(p)[0]}
    return sorted(n for n in names if n not in GLIBC_LIBRARIES and n not in bundled and not n.startswith("libpython"))


# -- Falco-side metadata ------------------------------------------------------------------


def falcoctl_arch() -> str:
    machine = platform.machine()
    return FALCOCTL_ARCH.get(machine, machine)


def tarball_name(spec: PluginSpec) -> str:
    return f"{spec.name}-{spec.version}-linux-{platform.machine()}.tar.gz"


def falco_metadata(spec: PluginSpec, tarball: str) -> dict[str, str]:
    """The falco.yaml entry, the falcoctl push command and the index.yaml entry of a plugin."""
    entry: dict[str, Any] = {"name": spec.name, "library_path": f"lib{spec.name}.so"}
    if spec.init_schema:
        entry["init_config"] = {}
    if "sourcing" in spec.capabilities:
        entry["open_params"] = ""
    falco_yaml = yaml.safe_dump({"load_plugins": [spec.name], "plugins": [entry]}, sort_keys=False)
    push = (f"falcoctl registry push --type plugin --version {spec.version} "
            f"--platform linux/{falcoctl_arch()} --requires plugin_api_version:{spec.required_api_version} "
            f"REGISTRY/REPOSITORY/{spec.name}:{spec.version} {tarball}")
    index = yaml.safe_dump([{
        "name": spec.name,
        "type": "plugin",
        "registry": "REGISTRY",
        "repository": f"REPOSITORY/{spec.name}",
        "description": spec.description,
        "home": spec.contact,
        "keywords": [spec.name, *([spec.event_source] if spec.event_source else [])],
        "license": "LICENSE",
        "maintainers": [{"name": "MAINTAINER", "email": "EMAIL"}],
        "sources": [spec.contact],
    }], sort_keys=False)
    return {"falco_yaml": falco_yaml, "falcoctl_push": push, "index_yaml": index}


def manifest_of(library: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The MANIFEST.json of the bundle next to a packaged ``libNAME.so`` (None for a dev build)."""
    lib = Path(library).resolve()
    name = lib.name.removeprefix("lib").removesuffix(".so")
    path = lib.parent / runtime_dir_name(name) / "MANIFEST.json"
    if not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package(target: str, out_dir: str | os.PathLike[str] = ".", requirements: str | os.PathLike[str] | None = None,
            ) -> PackageResult:
    """Package ``target`` ("module:Class" or "file.py:Class") into a tarball in ``out_dir``."""
    check_glibc()
    try:
        cls, roots = load_plugin_class(target)
        spec = plugin_spec(cls, roots)
    except (BuildError, PluginDefinitionError) as exc:
        raise PackageError(str(exc)) from exc
    own, dist_names = split_closure(import_closure(spec.module, roots))
    dists = with_dependencies(dist_names, read_requirements(Path(requirements)) if requirements else [])
    sdk = importlib.metadata.distribution("falco-plugin")
    versions = {"falco-plugin": sdk.version, **{k: d.version for k, d in dists.items()}}
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lib = libpython()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tarball = out / tarball_name(spec)
    with tempfile.TemporaryDirectory(prefix="falco-plugin-package-") as tmp:
        stage = Path(tmp)
        runtime = stage / runtime_dir_name(spec.name)
        (runtime / "lib").mkdir(parents=True)
        site = runtime / "site-packages"
        site.mkdir()
        plugin_lib = compile_plugin(spec, stage / f"lib{spec.name}.so",
                                    build_info(spec.name, packaged=True, distributions=versions), packaged=True)
        shutil.copy2(lib, runtime / "lib" / lib.name)
        stdlib_zip(runtime / "lib" / f"python{py.replace('.', '')}.zip")
        copy_dynload(runtime / "lib" / f"python{py}" / "lib-dynload")
        copy_sdk(site)
        for entry in sorted(own):
            if entry.is_dir():
                shutil.copytree(entry, site / entry.name, ignore=ignore_caches)
            else:
                shutil.copy2(entry, site / entry.name)
        for dist in dists.values():
            copy_distribution(dist, site)
        compileall.compile_dir(str(site), quiet=1, workers=1,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        binaries = elf_files(stage)
        strip([p for p in binaries if p != plugin_lib])
        meta = falco_metadata(spec, tarball.name)
        manifest = {
            "format": 1,
            "plugin": {"name": spec.name, "version": spec.version, "library": plugin_lib.name,
                       "required_api_version": spec.required_api_version, "capabilities": spec.capabilities},
            "python": {"version": platform.python_version(), "abi": py, "library": lib.name},
            "distributions": versions,
            "platform": {"os": "linux", "arch": platform.machine(), "libc": "glibc",
                         "min_glibc": min_glibc(binaries),
                         "system_libraries": system_libraries(binaries, {p.name for p in binaries})},
            "falco": meta,
            "files": {str(p.relative_to(stage)): sha256(p) for p in sorted(stage.rglob("*")) if p.is_file()},
        }
        (runtime / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        tmp_tar = tarball.with_name(f".{tarball.name}.{os.getpid()}")
        with tarfile.open(tmp_tar, "w:gz", compresslevel=9) as tar:
            for path in [plugin_lib, runtime]:
                tar.add(path, arcname=path.name, filter=_normalize)
        os.replace(tmp_tar, tarball)
    falco_yaml = out / f"{spec.name}.falco.yaml"
    falco_yaml.write_text(meta["falco_yaml"])
    index_yaml = out / f"{spec.name}.index.yaml"
    index_yaml.write_text(meta["index_yaml"])
    return PackageResult(tarball, falco_yaml, index_yaml, manifest)


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
