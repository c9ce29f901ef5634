"""The falco.yaml that ``falco-plugin package`` writes, used as written by a real Falco in a
Debian minbase root (no Python, no libssl): two plugins of one tarball, extracted into Falco's
plugin directory (relative ``library_path``), load and run; ``init_config: {}`` is refused with
the words our host quotes from libsinsp."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from support import ROOT, falco_with_libraries

from falco_plugin._tooling.package import Options, package
from falco_plugin.testing import falco_binary

DUMMY = f"{ROOT}/examples/dummy/dummy_plugin.py:DummyPlugin"
FILE_NOTIFY = f"{ROOT}/examples/file_notify/file_notify.py:FileNotify"
FALCO_OPTIONS = """
engine:
  kind: nodriver
rules_files: [/etc/ship-test/rules]
json_output: true
stdout_output: {enabled: true}
syslog_output: {enabled: false}
log_syslog: false
log_stderr: true
webserver: {enabled: false}
"""


def falco_in_root(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    """Run the Falco of this machine, with its libraries, in an overlay of the minbase root."""
    falco = falco_binary()
    sys.path.insert(0, str(ROOT / "tools"))
    import rootfs

    try:
        root = rootfs.rootfs("bookworm")
    except rootfs.RootfsUnavailable as exc:
        pytest.skip(f"needs the Debian minbase rootfs: {exc}")
    if not (tmp_path / "falco").exists():
        falco_with_libraries(falco, root, tmp_path / "falco")
    (tmp_path / "etc" / "falco.yaml").write_text(config)
    # a relative library_path is under the plugin directory Falco was built with: PREFIX/share/falco/plugins
    plugins_dir = str(Path(falco).resolve().parent.parent / "share" / "falco" / "plugins")
    binds: dict[str | os.PathLike[str], str] = {
        tmp_path / "falco": "/opt/falco-ship-test", tmp_path / "plugins": plugins_dir,
        tmp_path / "etc": "/etc/ship-test"}
    with tempfile.TemporaryDirectory() as upper:
        argv = rootfs.chroot_command(root, upper, ["/opt/falco-ship-test/bin/falco", "-c", "/etc/ship-test/falco.yaml",
                                                   "-M", "8"], binds)
        return subprocess.run(argv, capture_output=True, text=True, timeout=240,
                              env=rootfs.clean_env({"LD_LIBRARY_PATH": "/opt/falco-ship-test/lib"}))


def test_packaged_snippet_runs_in_real_falco_as_written(tmp_path: Path) -> None:
    falco_binary()  # skip early, before packaging, when there is no Falco
    result = package([DUMMY, FILE_NOTIFY], tmp_path / "dist", options=Options(name="shipsnippet"))
    with tarfile.open(result.tarball) as tar:
        tar.extractall(tmp_path / "plugins", **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))  # type: ignore[arg-type]
    (tmp_path / "etc" / "rules").mkdir(parents=True)
    (tmp_path / "etc" / "rules" / "dummy_rules.yaml").write_text((ROOT / "examples/dummy/dummy_rules.yaml").read_text())
    snippet = result.falco_yaml.read_text()
    run = falco_in_root(tmp_path, snippet + FALCO_OPTIONS)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Loaded plugin 'dummy_py@0.1.0' from file " in run.stderr
    assert "Loaded plugin 'file_notify@0.1.0' from file " in run.stderr
    assert "dummy_py: opening with start=1 maxEvents=20" in run.stderr  # the snippet's open_params
    assert "file_notify: watching 1 files under /etc/passwd, /etc/sudoers.d" in run.stderr  # its init_config
    alerts = [line for line in run.stdout.splitlines() if '"rule":"Dummy value divisible by 3"' in line]
    assert all('"dummy.value":' in a for a in alerts)

    empty = snippet.replace("    init_config:\n      jitter: 10\n", "    init_config: {}\n")
    assert empty != snippet
    refused = falco_in_root(tmp_path, empty + FALCO_OPTIONS)
    assert refused.returncode != 0
    # what our host quotes in parentheses after its own words (falco-plugin run --falco-config)
    assert ("error in plugin dummy_py init config: In <root>, Value type not permitted by 'type' constraint."
            in refused.stderr), refused.stderr[-2000:]
