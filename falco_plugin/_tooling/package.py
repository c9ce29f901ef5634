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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from .._runtime.environment import build_info, canonical
from ..base import PluginDefinitionError
from .build import BuildError, compile_plugin, libpython, load_plugin_class, plugin_spec, runtime_dir_name
from .cc import cache_dir
from .elfbundle import BundleError, bundle_libraries, check_resolved, debian_origin, find_patchelf, min_glibc
from .shipping import (
    IndexPlugin,
    Metadata,
    SnippetPlugin,
    artifact_ref,
    dedupe,
    falco_yaml,
    find_pyproject,
    helm_values,
    index_entries,
    parse_maintainer,
    project_metadata,
)

__all__ = ["Options", "PackageError", "PackageResult", "manifest_of", "min_glibc", "package"]

# Not shipped: tests, GUI and teaching modules, installers, build-time files.
STDLIB_EXCLUDED = {
    "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "venv", "pydoc_data",
    "site-packages", "dist-packages", "lib-dynload", "__pycache__", "turtle.py", "__phello__", "__hello__.py",
}
# Not shipped either: test modules, and the terminal and legacy modules whose libraries a plugin
# inside Falco has no use for (readline and gdbm are GPL, curses and nis bring four more).
DYNLOAD_EXCLUDED_PREFIXES = ("_test", "_ctypes_test", "xxlimited", "_xxtestfuzz", "_tkinter", "xxsubtype",
                             "readline", "_curses", "_dbm", "_gdbm", "nis", "spwd", "ossaudiodev")
FALCOCTL_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class PackageError(RuntimeError):
    """The plugin could not be packaged; the message says why."""


@dataclass
class PackageResult:
    tarball: Path
    falco_yaml: Path
    index_yaml: Path | None  # None when a falcoctl field is missing (see ``missing``)
    manifest: dict[str, Any]
    values_yaml: Path | None = None  # the Helm chart values, with the index
    missing: list[str] = field(default_factory=list)  # falcoctl fields not known, and what fills each


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


def copy_dynload(dest: Path) -> dict[Path, Path]:
    """Copy the standard library's extension modules; return {copy: original}."""
    src = Path(sysconfig.get_config_var("DESTSHARED") or Path(sysconfig.get_paths()["platstdlib"]) / "lib-dynload")
    dest.mkdir(parents=True)
    origins = {}
    for so in sorted(src.glob("*.so")):
        if not dynload_excluded(so.name):
            shutil.copy2(so, dest / so.name)
            origins[dest / so.name] = so
    return origins


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


def dynload_excluded(name: str) -> bool:
    return name.startswith(DYNLOAD_EXCLUDED_PREFIXES)


# -- Falco-side metadata ------------------------------------------------------------------


def falcoctl_arch() -> str:
    machine = platform.machine()
    return FALCOCTL_ARCH.get(machine, machine)


def tarball_name(bundle: str, version: str) -> str:
    return f"{bundle}-{version}-linux-{platform.machine()}.tar.gz"


def open_doc(cls: type) -> str:
    """The first line of the plugin's own ``open`` docstring (what its open params are), if any."""
    from ..source import SourcePlugin

    method = getattr(cls, "open", None)
    if method is None or method is getattr(SourcePlugin, "open", None):
        return ""
    return (method.__doc__ or "").strip().split("\n")[0]  # its own, not SourcePlugin's


def open_example(cls: type) -> str:
    """The first suggestion of the plugin's own ``list_open_params``, if it has one that needs no init."""
    from ..source import SourcePlugin

    method = getattr(cls, "list_open_params", None)
    if method is None or method is getattr(SourcePlugin, "list_open_params", None):
        return ""
    try:
        params = method(object.__new__(cls))
        return str(params[0].value) if params else ""
    except Exception:  # it needs its init: then the comment alone explains the open params
        return ""


def manifest_of(library: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The MANIFEST.json of the bundle next to a packaged ``libNAME.so`` (None for a dev build)."""
    lib = Path(library).resolve()
    name = lib.name.removeprefix("lib").removesuffix(".so")
    candidates = [lib.parent / runtime_dir_name(name) / "MANIFEST.json",
                  *sorted(lib.parent.glob("*.python/MANIFEST.json"))]
    for path in candidates:
        if path.is_file():
            manifest: dict[str, Any] = json.loads(path.read_text())
            if name in [p["name"] for p in manifest.get("plugins", [manifest.get("plugin", {})])]:
                return manifest
    return None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def writable_dir(out: Path) -> Path:
    """``out``, created if needed; PackageError unless files can be written there."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PackageError(f"cannot create the output directory {out}: {exc.strerror}") from None
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise PackageError(f"the output directory {out} is not writable: choose another with -o")
    return out


@dataclass
class Options:
    """What ``package`` takes besides the targets (the CLI's options)."""

    requirements: str | os.PathLike[str] | None = None
    dev: bool = False  # allow PLUGIN_ID 999
    name: str = ""  # the bundle's name for several plugins (default: their names joined by "-")
    registry: str = ""
    repository: str = ""
    license: str = ""
    maintainers: list[str] = field(default_factory=list)
    home: str = ""
    sources: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    pyproject: str | os.PathLike[str] | None = None


def metadata_for(opts: Options, first_root: Path) -> Metadata:
    pyproject = Path(opts.pyproject) if opts.pyproject else find_pyproject(first_root)
    meta = project_metadata(pyproject)
    meta.registry = opts.registry or meta.registry
    meta.repository = opts.repository or meta.repository
    meta.license = opts.license or meta.license
    meta.maintainers = [parse_maintainer(m) for m in opts.maintainers] or meta.maintainers
    meta.home = opts.home or meta.home
    meta.sources = opts.sources or meta.sources
    meta.keywords = dedupe([*meta.keywords, *opts.keywords])
    return meta


def package(targets: str | list[str], out_dir: str | os.PathLike[str] = ".",
            requirements: str | os.PathLike[str] | None = None, options: Options | None = None) -> PackageResult:
    """Package ``targets`` ("module:Class" or "file.py:Class", one or several) into one tarball
    in ``out_dir``: one ``.so`` per plugin, one Python runtime and its libraries for all."""
    opts = options or Options()
    if requirements is not None:
        opts.requirements = requirements
    targets = [targets] if isinstance(targets, str) else list(targets)
    if not targets:
        raise PackageError("nothing to package: name at least one MODULE:CLASS")
    check_glibc()
    loaded = []
    for target in targets:
        try:
            cls, roots = load_plugin_class(target)
            spec = plugin_spec(cls, roots)
        except (BuildError, PluginDefinitionError) as exc:
            raise PackageError(str(exc)) from exc
        if spec.plugin_id == 999 and not opts.dev:
            raise PackageError(
                f"plugin {spec.name} ({target}) has PLUGIN_ID 999, the id reserved for development: Falco refuses two "
                "loaded plugins with one id, so a shipped plugin needs its own, registered in falcosecurity/plugins "
                "(registry.yaml). Register one, or pass --dev to package it for development anyway")
        loaded.append((target, cls, roots, spec))
    names = [spec.name for *_, spec in loaded]
    if len(set(names)) != len(names):
        raise PackageError(f"two targets are the same plugin: {', '.join(names)}")
    bundle = names[0] if len(names) == 1 else (opts.name or "-".join(names))
    runtime_name = runtime_dir_name(bundle)
    out = writable_dir(Path(out_dir))

    own: dict[str, Path] = {}
    dist_names: set[str] = set()
    for target, _cls, roots, spec in loaded:
        mine, dists_here = split_closure(import_closure(spec.module, roots))
        dist_names |= dists_here
        for entry in mine:
            other = own.setdefault(entry.name, entry)
            if other != entry:
                raise PackageError(f"{target}: its module {entry} and {other} would both be site-packages/"
                                   f"{entry.name} in one bundle: rename one, or package them apart")
    dists = with_dependencies(dist_names, read_requirements(Path(opts.requirements)) if opts.requirements else [])
    sdk = importlib.metadata.distribution("falco-plugin")
    versions = {"falco-plugin": sdk.version, **{k: d.version for k, d in dists.items()}}
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lib = libpython()
    first_spec = loaded[0][3]
    # several plugins: the tarball carries the highest of their versions
    version = max((s.version for *_, s in loaded), key=Version) if len(loaded) > 1 else first_spec.version
    tarball = out / tarball_name(bundle, version)
    meta = metadata_for(opts, Path(loaded[0][2][0]) if loaded[0][2] else Path.cwd())
    with tempfile.TemporaryDirectory(prefix="falco-plugin-package-") as tmp:
        stage = Path(tmp)
        runtime = stage / runtime_name
        (runtime / "lib").mkdir(parents=True)
        site = runtime / "site-packages"
        site.mkdir()
        plugin_libs = []
        for _target, _cls, _roots, spec in loaded:
            plugin_libs.append(compile_plugin(spec, stage / f"lib{spec.name}.so",
                                              build_info(spec.name, packaged=True, distributions=versions),
                                              packaged=True, runtime_dir=runtime_name))
        origins: dict[Path, Path] = {}
        shutil.copy2(lib, runtime / "lib" / lib.name)
        origins[runtime / "lib" / lib.name] = lib
        stdlib_zip(runtime / "lib" / f"python{py.replace('.', '')}.zip")
        origins.update(copy_dynload(runtime / "lib" / f"python{py}" / "lib-dynload"))
        copy_sdk(site)
        for name, entry in sorted(own.items()):
            if entry.is_dir():
                shutil.copytree(entry, site / name, ignore=ignore_caches)
            else:
                shutil.copy2(entry, site / name)
        for dist in dists.values():
            copy_distribution(dist, site)
        compileall.compile_dir(str(site), quiet=1, workers=1,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        strip([p for p in elf_files(stage) if p not in plugin_libs])
        try:
            bundled = bundle_libraries(stage, runtime / "lib", origins, find_patchelf())
            unresolved = check_resolved(stage)
        except BundleError as exc:
            raise PackageError(str(exc)) from None
        if unresolved:
            raise PackageError("the bundle is not self-contained; these libraries resolve neither inside it nor to "
                               "glibc:\n  " + "\n  ".join(unresolved))
        libraries = []
        licenses = runtime / "licenses"
        for b in bundled:
            origin = debian_origin(b.source)
            copyright_file = Path(origin.get("copyright") or "/nonexistent")
            if copyright_file.is_file():
                licenses.mkdir(exist_ok=True)
                shutil.copy2(copyright_file, licenses / f"{origin['package'].split(':')[0]}.copyright")
            libraries.append({"soname": b.soname, "file": str(b.dest.relative_to(stage)), "from": str(b.source),
                              "needed_by": sorted(set(b.needed_by)), **origin})
        binaries = elf_files(stage)
        snippet = falco_yaml([SnippetPlugin(spec.name, spec.init_schema, "sourcing" in spec.capabilities,
                                            open_doc(cls), open_example(cls)) for _t, cls, _r, spec in loaded])
        index_plugins = [IndexPlugin(spec.name, spec.version, spec.description, spec.event_source)
                         for *_, spec in loaded]
        if not meta.home:
            meta.home = next((s.contact for *_, s in loaded if s.contact.startswith(("https://", "http://"))), "")
        missing = meta.missing()
        push = [] if not (meta.registry and meta.repository) else [
            f"falcoctl registry push --type plugin --version {spec.version} --platform linux/{falcoctl_arch()} "
            f"--requires plugin_api_version:{spec.required_api_version} "
            f"{artifact_ref(meta, spec.name, spec.version)} {tarball.name}" for *_, spec in loaded]
        falco_meta: dict[str, Any] = {"falco_yaml": snippet, "falcoctl_push": "\n".join(push),
                      "index_yaml": "" if missing else index_entries(index_plugins, meta), "missing": missing}
        plugins_meta = [{"name": spec.name, "version": spec.version, "library": f"lib{spec.name}.so",
                         "required_api_version": spec.required_api_version, "capabilities": spec.capabilities,
                         "plugin_id": spec.plugin_id} for *_, spec in loaded]
        manifest = {
            "format": 2,
            "plugin": plugins_meta[0],
            "plugins": plugins_meta,
            "python": {"version": platform.python_version(), "abi": py, "library": lib.name},
            "distributions": versions,
            "libraries": libraries,
            "platform": {"os": "linux", "arch": platform.machine(), "libc": "glibc",
                         "min_glibc": min_glibc(binaries), "system_libraries": []},
            "falco": falco_meta,
            "files": {str(p.relative_to(stage)): sha256(p) for p in sorted(stage.rglob("*")) if p.is_file()},
        }
        (runtime / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        tmp_tar = tarball.with_name(f".{tarball.name}.{os.getpid()}")
        with tarfile.open(tmp_tar, "w:gz", compresslevel=6) as tar:
            for path in [*plugin_libs, runtime]:
                tar.add(path, arcname=path.name, filter=_normalize)
        os.replace(tmp_tar, tarball)
    falco_yaml_path = out / f"{bundle}.falco.yaml"
    falco_yaml_path.write_text(snippet)
    index_yaml = out / f"{bundle}.index.yaml"
    values_yaml = out / f"{bundle}.values.yaml"
    for stale in (index_yaml, values_yaml):
        stale.unlink(missing_ok=True)  # never leave one from an earlier run that no longer matches
    if not missing:
        index_yaml.write_text(falco_meta["index_yaml"])
        only_sources = all("sourcing" in s.capabilities and s.event_source not in ("", "syscall") for *_, s in loaded)
        values_yaml.write_text(helm_values(index_plugins, meta, snippet, only_sources, values_yaml.name))
    return PackageResult(tarball, falco_yaml_path, index_yaml if not missing else None,
                         manifest, values_yaml if not missing else None, missing)


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
