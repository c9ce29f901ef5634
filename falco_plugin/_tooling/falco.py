"""Run plugin libraries in a real Falco: find the binary, write its ``falco.yaml``, run it.

Falco is found through an explicit path, then ``$FALCO``, then ``falco`` on ``PATH``
(:func:`find_falco`). The ``falco.yaml`` (:func:`falco_yaml`) uses the ``nodriver`` engine (no
kernel driver: plugin sources, and async events into the ``syscall`` source), loads the plugins
with their init config and open params, the rules files, and prints alerts on stdout::

    >>> import falco_plugin._tooling.falco as f
    >>> spec = f.PluginSpec(Path("/p/libx.so"), "x", config='{"n": 1}', open_params="3")
    >>> print(f.falco_yaml([spec], ["/r/x_rules.yaml"], json_output=True), end="")
    engine:
      kind: nodriver
    plugins:
    - name: x
      library_path: /p/libx.so
      init_config: '{"n": 1}'
      open_params: '3'
    load_plugins:
    - x
    rules_files:
    - /r/x_rules.yaml
    watch_config_files: false
    priority: debug
    json_output: true
    json_include_output_property: true
    json_include_output_fields_property: true
    buffered_outputs: false
    stdout_output:
      enabled: true
    syslog_output:
      enabled: false
    log_stderr: true
    log_syslog: false
    log_level: info
    libs_logger:
      enabled: true
      severity: info

``falco-plugin falco`` (:func:`run_interactive`) runs it with the terminal's output;
``falco_plugin.testing`` (:func:`run_falco`) collects the alerts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FalcoNotFound",
    "FalcoRun",
    "PluginSpec",
    "falco_yaml",
    "find_falco",
    "plugin_spec",
    "run_falco",
    "run_interactive",
]

HOW_TO_GET_FALCO = """\
To get a Falco binary, any of:
  - the packages of falco.org (deb, rpm, or the tarball, whose usr/bin/falco runs in place):
    https://falco.org/docs/setup/packages/
  - the container image, with Docker: falco-plugin falco ... --docker falcosecurity/falco:latest
  - a build from source of falcosecurity/falco (it fetches falcosecurity/libs), for example
    cmake -DMINIMAL_BUILD=ON -DBUILD_DRIVER=OFF .. && make falco
then pass --falco PATH, or set FALCO=PATH, or put falco on PATH."""


class FalcoNotFound(Exception):
    """No Falco binary: the message says where we looked and how to get one."""


def find_falco(explicit: str | os.PathLike[str] | None = None) -> str:
    """The Falco binary: ``explicit``, then ``$FALCO``, then ``falco`` on ``PATH``.

    A path given explicitly or in ``$FALCO`` must be an executable; it is not replaced by
    another one when it is not (``FalcoNotFound`` says so)."""
    for value, origin in ((explicit, "--falco"), (os.environ.get("FALCO"), "$FALCO")):
        if not value:
            continue
        text = os.fspath(value)
        found = shutil.which(text) if os.sep not in text else None
        if found is None and os.path.isfile(text) and os.access(text, os.X_OK):
            found = os.path.abspath(text)
        if found is None:
            raise FalcoNotFound(f"{origin} {text}: no such executable\n{HOW_TO_GET_FALCO}")
        return found
    found = shutil.which("falco")
    if found is None:
        raise FalcoNotFound(f"no Falco binary found (looked at --falco, $FALCO and `falco` on PATH)\n"
                            f"{HOW_TO_GET_FALCO}")
    return found


@dataclass
class PluginSpec:
    """One plugin of the ``falco.yaml``: its library (absolute), name, init config and open params."""

    library: Path
    name: str
    config: str | None = None
    open_params: str | None = None
    capabilities: list[str] = field(default_factory=list)


def plugin_spec(library: str | os.PathLike[str], config: str | dict[str, Any] | None = None,
                open_params: str | None = None) -> PluginSpec:
    """Read a library's name and capabilities the way a host does (without starting Python).

    A bare file name (``libx.so``) is the file in the current directory. Raises ``ValueError``
    with the host's message when the library does not load."""
    from .cli import host_info

    path = Path(library).resolve()
    info, error = host_info(str(path))
    if info is None:
        raise ValueError(f"{library}: {error}")
    text = json.dumps(config) if isinstance(config, dict) else config
    return PluginSpec(path, info["name"], text, open_params, list(info.get("capabilities") or []))


def falco_yaml(plugins: Sequence[PluginSpec], rules: Sequence[str | os.PathLike[str]], *,
               json_output: bool = False, watch: bool = False) -> str:
    """The ``falco.yaml`` text that runs ``plugins`` with ``rules`` and prints alerts on stdout.

    The init config is written as the string Falco hands to the plugin: a YAML map would reach
    it re-encoded, and an empty map as ``null``. ``watch`` turns on ``watch_config_files``
    (Falco restarts when the config or a rules file changes)."""
    entries = []
    for p in plugins:
        entry: dict[str, Any] = {"name": p.name, "library_path": str(p.library)}
        if p.config is not None and p.config != "":
            entry["init_config"] = p.config
        if p.open_params is not None:
            entry["open_params"] = p.open_params
        entries.append(entry)
    config: dict[str, Any] = {
        "engine": {"kind": "nodriver"},
        "plugins": entries,
        "load_plugins": [p.name for p in plugins],
        "rules_files": [str(Path(r).resolve()) for r in rules],
        "watch_config_files": watch,
        "priority": "debug",
        "json_output": json_output,
        "json_include_output_property": True,
        "json_include_output_fields_property": True,
        "buffered_outputs": False,  # each alert as it fires, also into a pipe
        "stdout_output": {"enabled": True},
        "syslog_output": {"enabled": False},
        "log_stderr": True,
        "log_syslog": False,
        "log_level": "info",
        "libs_logger": {"enabled": True, "severity": "info"},  # the plugins' own log lines
    }
    return yaml.safe_dump(config, sort_keys=False)


def rule_sources(rules: Sequence[str | os.PathLike[str]]) -> set[str] | None:
    """The event sources the rules of these files are for (``syscall`` when a rule names
    none); None when that cannot be told (a directory, a file that is not YAML)."""
    sources: set[str] = set()
    for r in rules:
        try:
            items = yaml.safe_load(Path(r).read_text())
        except (OSError, yaml.YAMLError):
            return None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "rule" in item and "append" not in item and "override" not in item:
                sources.add(str(item.get("source") or "syscall"))
    return sources


def source_args(plugins: Sequence[PluginSpec], rules: Sequence[str | os.PathLike[str]],
                extra: Sequence[str]) -> list[str]:
    """``--disable-source=syscall`` when a plugin brings its own source and no rule is for
    ``syscall``: with no driver that source produces nothing and never ends, so Falco would
    not stop at the end of the plugin's events. Nothing when ``extra`` chooses sources."""
    if any(a.startswith(("--enable-source", "--disable-source")) for a in extra):
        return []
    if not any("sourcing" in p.capabilities for p in plugins):
        return []
    sources = rule_sources(rules)
    return ["--disable-source=syscall"] if sources is not None and "syscall" not in sources else []


def check_docker(image: str) -> None:
    """Raise :class:`FalcoNotFound` unless a Docker daemon answers here."""
    if shutil.which("docker") is None:
        raise FalcoNotFound(f"--docker {image}: docker is not installed\n{HOW_TO_GET_FALCO}")
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["`docker info` failed"])[-1]
        raise FalcoNotFound(f"--docker {image}: docker is not usable here: {why}\n{HOW_TO_GET_FALCO}")


def docker_command(image: str, config_dir: Path, plugins: Sequence[PluginSpec],
                   rules: Sequence[str | os.PathLike[str]]) -> list[str]:
    """``docker run`` for Falco in ``image``, with what the plugins need mounted read-only at
    the same paths: the libraries, the rules, the config and this Python (an SDK plugin that is
    not packaged loads the Python it was built with; a system Python in /usr is the image's own
    business: package such a plugin with ``falco-plugin package``)."""
    check_docker(image)
    mounts = {config_dir, Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[2]}
    mounts |= {p.library.parent for p in plugins}
    mounts |= {Path(r).resolve().parent for r in rules}
    mounts -= {Path(p) for p in ("/", "/usr", "/usr/local", "/opt", "/etc", "/var", "/tmp", "/home", "/root")}
    argv = ["docker", "run", "--rm", "-i", "--entrypoint", "falco"]
    for m in sorted(mounts):
        argv += ["-v", f"{m}:{m}:ro"]
    return [*argv, "--network", "host", image]


def _command(falco: str | None, docker: str | None, config_dir: Path, plugins: Sequence[PluginSpec],
             rules: Sequence[str | os.PathLike[str]], extra: Sequence[str]) -> list[str]:
    base = docker_command(docker, config_dir, plugins, rules) if docker else [find_falco(falco)]
    return [*base, "-c", str(config_dir / "falco.yaml"), *source_args(plugins, rules, extra), *extra]


def _write_config(config_dir: Path, plugins: Sequence[PluginSpec], rules: Sequence[str | os.PathLike[str]],
                  json_output: bool, watch: bool) -> None:
    for r in rules:
        if not Path(r).exists():
            raise FileNotFoundError(f"rules file {r}: no such file")
    (config_dir / "falco.yaml").write_text(falco_yaml(plugins, rules, json_output=json_output, watch=watch))


def run_interactive(plugins: Sequence[PluginSpec], rules: Sequence[str | os.PathLike[str]], *,
                    falco: str | None = None, docker: str | None = None, json_output: bool = False,
                    watch: bool = True, extra: Sequence[str] = ()) -> int:
    """Run Falco on the terminal's stdout/stderr (alerts and Falco's own messages verbatim)
    until it ends; SIGINT and SIGTERM are passed on to it and its exit code is returned."""
    with tempfile.TemporaryDirectory(prefix="falco-plugin-falco-") as tmp:
        config_dir = Path(tmp)
        _write_config(config_dir, plugins, rules, json_output, watch)
        argv = _command(falco, docker, config_dir, plugins, rules, extra)
        # its own session: Ctrl-C reaches us alone, and Falco gets exactly one SIGINT from us
        proc = subprocess.Popen(argv, start_new_session=True)
        forwarded: dict[signal.Signals, Any] = {}

        def forward(signum: int, _frame: Any) -> None:
            proc.send_signal(signum)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            forwarded[sig] = signal.signal(sig, forward)
        try:
            return proc.wait()
        finally:
            for signum, old in forwarded.items():
                signal.signal(signum, old)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@dataclass
class FalcoRun:
    """What one Falco run printed: alerts (JSON output, one dict each) and Falco's own lines."""

    argv: list[str]
    returncode: int
    alerts: list[dict[str, Any]]
    stdout: str
    stderr: str
    config: str

    def rules(self) -> list[str]:
        """The rule of each alert, in order."""
        return [a["rule"] for a in self.alerts]


def run_falco(plugins: Sequence[PluginSpec], rules: Sequence[str | os.PathLike[str]], *,
              falco: str | None = None, duration: float | None = None, alerts: int | None = None,
              until: Callable[[list[dict[str, Any]]], bool] | None = None, timeout: float = 120.0,
              watch: bool = False, extra: Sequence[str] = (),
              during: Callable[[subprocess.Popen[str], Path], None] | None = None) -> FalcoRun:
    """Run Falco with JSON output and collect its alerts.

    It ends when Falco exits by itself (a source plugin's events are over), or is stopped with
    SIGINT after ``duration`` seconds, or once ``alerts`` alerts came (or ``until(alerts)`` is
    true); ``timeout`` is a hard limit (then SIGKILL, and a ``TimeoutError``). ``during(proc,
    config_dir)`` runs in a thread while Falco runs (send it signals, touch its rules...).
    """
    with tempfile.TemporaryDirectory(prefix="falco-plugin-falco-") as tmp:
        config_dir = Path(tmp)
        _write_config(config_dir, plugins, rules, True, watch)
        argv = _command(falco, None, config_dir, plugins, rules, extra)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        found: list[dict[str, Any]] = []
        out_lines: list[str] = []
        err_lines: list[str] = []
        enough = threading.Event()

        def read_stdout() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out_lines.append(line)
                if line.startswith("{"):
                    found.append(json.loads(line))
                    if (alerts is not None and len(found) >= alerts) or (until is not None and until(found)):
                        enough.set()

        def read_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                err_lines.append(line)

        readers = [threading.Thread(target=read_stdout, daemon=True),
                   threading.Thread(target=read_stderr, daemon=True)]
        for t in readers:
            t.start()
        helper = None
        if during is not None:
            helper = threading.Thread(target=during, args=(proc, config_dir), daemon=True)
            helper.start()
        start = time.monotonic()
        deadline = start + timeout
        stop_at = start + duration if duration is not None else None
        stopped = False
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if not stopped and (enough.is_set() or (stop_at is not None and now >= stop_at)):
                    proc.send_signal(signal.SIGINT)
                    stopped = True
                if now >= deadline:
                    proc.kill()
                    proc.wait()
                    raise TimeoutError(f"Falco still ran after {timeout} s: {' '.join(argv)}\n"
                                       f"{''.join(err_lines)[-4000:]}")
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for t in readers:
                t.join(timeout=5)
            if helper is not None:
                helper.join(timeout=5)
        return FalcoRun(argv, proc.returncode, found, "".join(out_lines), "".join(err_lines),
                        (config_dir / "falco.yaml").read_text())
