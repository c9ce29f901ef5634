"""A cached Debian minbase root filesystem (``debootstrap --variant=minbase``), and running in it.

Built once per suite (and list of extra packages) under ``/var/cache/falco-plugin/rootfs``
(``$FALCO_PLUGIN_ROOTFS_CACHE`` overrides), outside any checkout, and reused by every later run
and by CI on the same machine. The build goes to a temporary directory that is renamed into
place only when debootstrap succeeded, under a lock, so a killed or concurrent run never leaves
or sees a half-built tree. Callers never write into the cache: :func:`run_in` starts the
command in an overlay of it (a fresh upper layer per call) inside ``unshare -m``.

It needs root (debootstrap, chroot, mounts) and the Debian archive; when either is missing
:func:`rootfs` raises :class:`RootfsUnavailable` with one sentence saying why, which a test
turns into a skip.

From Python (``sys.path`` holding ``tools/``)::

    import rootfs
    path = rootfs.rootfs("bookworm")              # Path('/var/cache/falco-plugin/rootfs/bookworm-minbase')
    rootfs.run_in(path, ["cat", "/etc/debian_version"], binds={"/tmp/x": "/opt/x"})
    subprocess.Popen(rootfs.chroot_command(path, upper_dir, cmd, binds), env=rootfs.clean_env())

From a shell::

    python3 tools/rootfs.py bookworm              # builds if needed, prints the path
    python3 tools/rootfs.py forky --include ca-certificates
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"


class RootfsUnavailable(RuntimeError):
    """No rootfs can be built here (not root, no debootstrap, archive unreachable)."""


def cache_root() -> Path:
    return Path(os.environ.get("FALCO_PLUGIN_ROOTFS_CACHE", "/var/cache/falco-plugin/rootfs"))


def cache_name(suite: str, include: Sequence[str] = ()) -> str:
    """``bookworm-minbase``, or ``bookworm-minbase-<hash>`` with extra packages."""
    if not include:
        return f"{suite}-minbase"
    return f"{suite}-minbase-" + hashlib.sha256(" ".join(sorted(include)).encode()).hexdigest()[:10]


def rootfs(suite: str = "bookworm", include: Sequence[str] = (), mirror: str = MIRROR) -> Path:
    """The path of a Debian ``suite`` minbase rootfs (plus ``include`` packages), built on first use."""
    dest = cache_root() / cache_name(suite, include)
    if (dest / ".complete").exists():
        return dest
    if os.geteuid() != 0:
        raise RootfsUnavailable(f"building the Debian {suite} rootfs needs root (debootstrap, chroot)")
    debootstrap = shutil.which("debootstrap") or _install_debootstrap()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same tree: wait for it
        if (dest / ".complete").exists():
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        cmd = [debootstrap, "--variant=minbase", *([f"--include={','.join(include)}"] if include else []),
               suite, str(tmp), mirror, *_script(suite)]
        print(f"building the Debian {suite} minbase rootfs in {dest} (once, about 2 minutes)", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            log = tmp / "debootstrap/debootstrap.log"
            detail = log.read_text()[-1500:] if log.exists() else (proc.stdout + proc.stderr)[-1500:]
            shutil.rmtree(tmp, ignore_errors=True)
            raise RootfsUnavailable(f"debootstrap {suite} from {mirror} failed (is the Debian archive reachable?): "
                                    f"{detail.strip().splitlines()[-1] if detail.strip() else proc.returncode}")
        (tmp / ".complete").write_text(" ".join(cmd) + "\n")
        if dest.exists():
            shutil.rmtree(dest)  # a tree without .complete: left by a build of an older version of this file
        os.rename(tmp, dest)
    return dest


def _script(suite: str) -> list[str]:
    """The sid script for a suite this debootstrap has none for: bookworm's knows no ``forky``,
    and testing's layout is unstable's (Debian's own scripts/testing is a link to sid)."""
    scripts = Path("/usr/share/debootstrap/scripts")
    if (scripts / suite).exists() or not (scripts / "sid").exists():
        return []
    return [str(scripts / "sid")]


def _install_debootstrap() -> str:
    # the project's installer: it runs apt-get update first (a fresh machine has no package lists)
    proc = subprocess.run(["bash", str(Path(__file__).with_name("ensure-system-deps.sh")), sys.executable,
                           "debootstrap"], capture_output=True, text=True)
    path = shutil.which("debootstrap")
    if not path:
        raise RootfsUnavailable(f"debootstrap is not installed and apt-get could not install it: "
                                f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return path


# Inside the new mount namespace: an overlay of the cache (writes go to a throw-away upper
# layer), /proc, /dev, a tmpfs /tmp, the bind mounts, then chroot. Loopback networking is the
# host's own (no network namespace), so a server the test starts on 127.0.0.1 is reachable.
_SETUP = r"""
set -e
root="$1"; upper="$2"; shift 2
mkdir -p "$upper/u" "$upper/w" "$upper/m"
mount -t overlay overlay -o "lowerdir=$root,upperdir=$upper/u,workdir=$upper/w" "$upper/m"
m="$upper/m"
mount -t proc proc "$m/proc"
mount --rbind /dev "$m/dev"
mount -t tmpfs tmpfs "$m/tmp"
while [ "$1" != "--" ]; do
  mkdir -p "$m$2"; mount --bind "$1" "$m$2"; shift 2
done
shift
exec chroot "$m" "$@"
"""


def chroot_command(root: Path, upper: str | os.PathLike[str], cmd: Sequence[str],
                   binds: Mapping[str | os.PathLike[str], str] | None = None) -> list[str]:
    """The command line that runs ``cmd`` chrooted in an overlay of ``root`` inside ``unshare -m``
    with /proc mounted; ``upper`` is an empty directory for the overlay's writable layer (its
    writes vanish with it), ``binds`` maps host paths to paths inside (``{"/tmp/out": "/opt/out"}``)."""
    pairs: list[str] = []
    for src, inside in (binds or {}).items():
        pairs += [str(src), inside]
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", _SETUP, "sh", str(root), str(upper),
            *pairs, "--", *cmd]


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (empty by default) with a minimal PATH: nothing of the caller's environment leaks in."""
    environment = dict(env) if env is not None else {}
    environment.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return environment


def run_in(root: Path, cmd: Sequence[str], binds: Mapping[str | os.PathLike[str], str] | None = None,
           env: Mapping[str, str] | None = None, timeout: float = 300, input: str | None = None,
           ) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` chrooted in an overlay of ``root`` (see :func:`chroot_command`); wait for it.

    ``env`` replaces the environment (a minimal PATH by default). For a process to talk to
    while it runs, use ``subprocess.Popen(chroot_command(...), env=clean_env())``.
    """
    with tempfile.TemporaryDirectory(prefix="falco-plugin-chroot-") as upper:
        return subprocess.run(chroot_command(root, upper, cmd, binds), capture_output=True, text=True,
                              env=clean_env(env), timeout=timeout, input=input)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Build (once) and print the path of a cached Debian minbase rootfs")
    parser.add_argument("suite", nargs="?", default="bookworm")
    parser.add_argument("--include", default="", help="extra packages, comma-separated (a separate cache)")
    args = parser.parse_args(argv)
    try:
        print(rootfs(args.suite, [p for p in args.include.split(",") if p]))
    except RootfsUnavailable as exc:
        print(f"rootfs: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
