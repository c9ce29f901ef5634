"""The real-Falco tier (``make test-falco``; also part of ``make test``): SDK plugins loaded by a
real Falco binary, with rules, and the alerts it prints. Every test skips, saying where it looked
and how to get one, when no Falco is found ($FALCO, then ``falco`` on PATH)."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, falco_with_libraries

from falco_plugin._tooling.falco import FalcoRun, PluginSpec, falco_yaml, plugin_spec, rule_sources, run_falco
from falco_plugin.testing import BuildPlugin, falco_binary

pytestmark = pytest.mark.falco

DUMMY = "examples/dummy/dummy_plugin.py:DummyPlugin"
FILE_NOTIFY = "examples/file_notify/file_notify.py:FileNotify"
SAMPLE_ASYNC = "examples/sample_async/sample_async.py:SampleAsync"
K8SAUDIT = "examples/k8saudit/k8saudit.py:K8sAudit"


def fail_with(run: FalcoRun, what: str) -> str:
    return f"{what}\n--- falco.yaml\n{run.config}--- stderr\n{run.stderr[-6000:]}--- stdout\n{run.stdout[-3000:]}"


# -- every example with rules ---------------------------------------------------------------------


def run_dummy(build: BuildPlugin, rules: Path, tmp_path: Path) -> None:
    plugin = build(DUMMY, config={"jitter": 0})
    alerts = plugin.falco_alerts(rules, open_params='{"start": 3, "maxEvents": 3}')  # Falco stops at the end
    assert [a["output_fields"]["dummy.value"] for a in alerts] == [3, 3, 3]
    assert plugin.falco_alerts(rules, open_params='{"start": 1, "maxEvents": 3}') == []
    assert {a["rule"] for a in alerts} == {"Dummy value divisible by 3"}
    assert alerts[0]["priority"] == "Notice" and alerts[0]["source"] == "dummy"
    assert alerts[0]["output"].endswith("dummy value 3 is divisible by 3 (as a string: 3)")


def run_file_notify(build: BuildPlugin, rules: Path, tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    plugin = build(FILE_NOTIFY, config={"paths": [str(watched)], "interval": 0.1})
    spec = plugin_spec(plugin.path, plugin.config)

    def create_files(proc: subprocess.Popen[str], _config: Path) -> None:
        # a file created before the plugin's first look is no change: create until one is seen
        for i in range(200):
            if proc.poll() is not None:
                return
            (watched / f"new{i}").write_text("x" * i)
            time.sleep(0.2)

    run = run_falco([spec], [rules], falco=falco_binary(), alerts=1, during=create_files, timeout=90)
    assert run.alerts, fail_with(run, "no alert")
    alert = run.alerts[0]
    assert alert["rule"] == "Watched file changed" and alert["priority"] == "Warning"
    assert alert["source"] == "syscall"
    assert alert["output_fields"]["file_notify.change"] == "created"
    assert Path(alert["output_fields"]["file_notify.path"]).parent == watched


AUTH_LOG = """\
Dec  7 10:00:01 box sshd[101]: Failed password for invalid user admin from 203.0.113.5 port 4242 ssh2
Dec  7 10:00:02 box sshd[101]: Failed password for root from 203.0.113.5 port 4243 ssh2
Dec  7 10:00:03 box sshd[102]: Accepted publickey for alice from 198.51.100.7 port 5000 ssh2
Dec  7 10:00:04 box sshd[101]: Failed password for root from 203.0.113.5 port 4244 ssh2
Dec  7 10:00:05 box sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash
"""


def run_authlog(build: BuildPlugin, rules: Path, tmp_path: Path) -> None:
    """The three rules, one of them on the plugin's async alert in its own source
    (``evt.asynctype`` on a plugin source)."""
    log = tmp_path / "auth.log"
    log.write_text(AUTH_LOG)
    plugin = build("examples/authlog/authlog.py:AuthLog", config={"threshold": 3, "follow": True})
    expected = ["SSH login failed"] * 3 + ["SSH brute force", "Sudo to a shell"]
    run = plugin.in_falco(rules, open_params=str(log), alerts=5, timeout=90)
    assert sorted(run.rules()) == sorted(expected), fail_with(run, f"alerts: {run.rules()}")
    by_rule = {a["rule"]: a for a in run.alerts}
    assert by_rule["SSH brute force"]["output_fields"]["authlog.ip"] == "203.0.113.5"
    assert by_rule["SSH brute force"]["priority"] == "Critical" and by_rule["SSH brute force"]["source"] == "authlog"
    assert by_rule["Sudo to a shell"]["output_fields"]["authlog.command"] == "/bin/bash"
    assert {a["output_fields"]["authlog.user"] for a in run.alerts if a["rule"] == "SSH login failed"} == {
        "admin", "root"}


EXAMPLES_WITH_RULES: dict[str, Callable[[BuildPlugin, Path, Path], None]] = {
    "authlog/authlog_rules.yaml": run_authlog,
    "dummy/dummy_rules.yaml": run_dummy,
    "file_notify/file_notify_rules.yaml": run_file_notify,
}


def test_every_example_with_rules_is_run_in_falco() -> None:
    found = {str(p.relative_to(ROOT / "examples")) for p in (ROOT / "examples").glob("*/*rules*.yaml")}
    assert found == set(EXAMPLES_WITH_RULES)


@pytest.mark.parametrize("rules", sorted(EXAMPLES_WITH_RULES))
def test_example_rules_fire_in_falco(rules: str, falco_plugin_build: BuildPlugin, tmp_path: Path) -> None:
    falco_binary()
    EXAMPLES_WITH_RULES[rules](falco_plugin_build, ROOT / "examples" / rules, tmp_path)


# -- two SDK plugins in one Falco -----------------------------------------------------------------

DUMMY_RULE = """
- rule: Dummy value
  desc: every dummy event
  condition: dummy.value > 0
  output: "dummy %dummy.value"
  priority: INFO
  source: dummy
"""
ASYNC_RULE = """
- rule: Sample async hello
  desc: the async events of sample_async, in the syscall source
  condition: evt.asynctype = sample_async
  output: "async %evt.asynctype"
  priority: INFO
  source: syscall
"""
TWO_RULES = DUMMY_RULE + ASYNC_RULE


def test_two_sdk_plugins_in_one_falco(falco_plugin_build: BuildPlugin, tmp_path: Path) -> None:
    falco = falco_binary()
    rules = tmp_path / "rules.yaml"
    rules.write_text(TWO_RULES)
    dummy = plugin_spec(falco_plugin_build(DUMMY).path, {"jitter": 1}, '{"start": 1, "maxEvents": 5}')
    sample = plugin_spec(falco_plugin_build(SAMPLE_ASYNC).path)

    def enough(alerts: list[dict[str, Any]]) -> bool:
        rules_seen = [a["rule"] for a in alerts]
        return rules_seen.count("Dummy value") == 5 and rules_seen.count("Sample async hello") >= 3

    run = run_falco([dummy, sample], [rules], falco=falco, until=enough, timeout=60)
    assert enough(run.alerts), fail_with(run, f"alerts: {run.rules()}")
    assert [a["output_fields"]["dummy.value"] for a in run.alerts if a["rule"] == "Dummy value"] == sorted(
        a["output_fields"]["dummy.value"] for a in run.alerts if a["rule"] == "Dummy value")
    assert all(a["output_fields"]["evt.asynctype"] == "sample_async" for a in run.alerts
               if a["rule"] == "Sample async hello")
    assert "Loaded plugin 'dummy_py@0.1.0'" in run.stderr and "Loaded plugin 'sample_async@0.1.0'" in run.stderr


# -- hot reload -----------------------------------------------------------------------------------

AUDIT_EVENT = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/pods", "verb": "create",
    "user": {"username": "alice@example.com", "groups": ["developers"]},
    "objectRef": {"resource": "pods", "namespace": "default", "name": "web", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201},
    "requestReceivedTimestamp": "2024-03-05T10:11:12.123456Z", "stageTimestamp": "2024-03-05T10:11:12.234567Z",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
    try:
        conn.request("POST", "/k8s-audit", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


RELOAD_RULES = """
- rule: Audit event
  desc: every k8s audit event
  condition: ka.verb exists
  output: "audit %ka.auditid %ka.verb"
  priority: INFO
  source: k8s_audit
- rule: Sample async hello
  desc: sample_async in the k8s_audit stream
  condition: evt.asynctype = sample_async
  output: "async %evt.asynctype"
  priority: INFO
  source: syscall
"""


@dataclass
class Poster:
    """Posts audit events with numbered ids to the webhook, one at a time, until stopped;
    remembers which ones the webhook accepted (200) and which it refused or did not answer."""

    port: int
    accepted: list[str]
    refused: int = 0
    stop: bool = False

    def loop(self) -> None:
        n = 0
        while not self.stop:
            audit_id = f"event-{n}"
            try:
                status = post(self.port, json.dumps({**AUDIT_EVENT, "auditID": audit_id}).encode())
            except OSError:
                status = 0
            if status == 200:
                self.accepted.append(audit_id)
                n += 1
            else:
                self.refused += 1
            time.sleep(0.05)


def test_hot_reload_keeps_every_event(falco_plugin_build: BuildPlugin, tmp_path: Path) -> None:
    """SIGHUP twice, then a change to the rules file (watch_config_files): Falco restarts three
    times, the k8saudit webhook rebinds its port each time, sample_async keeps emitting, and
    every audit event the webhook accepted comes out as an alert."""
    falco = falco_binary()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RELOAD_RULES)
    port = free_port()
    k8s = plugin_spec(falco_plugin_build(K8SAUDIT).path, None, f"http://127.0.0.1:{port}/k8s-audit")
    sample = plugin_spec(falco_plugin_build(SAMPLE_ASYNC).path)
    poster = Poster(port, [])
    log: list[str] = []

    def accepted_after(n: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while len(poster.accepted) < n and time.monotonic() < end:
            time.sleep(0.05)
        assert len(poster.accepted) >= n, f"the webhook accepted {len(poster.accepted)} events, not {n}"

    def drive(proc: subprocess.Popen[str], _config: Path) -> None:
        thread = threading.Thread(target=poster.loop, daemon=True)
        thread.start()
        try:
            accepted_after(5)
            for step in ("SIGHUP", "SIGHUP", "rules"):
                before = len(poster.accepted)
                if step == "SIGHUP":
                    proc.send_signal(signal.SIGHUP)
                else:
                    rules.write_text(RELOAD_RULES + "\n# changed\n")
                log.append(f"{step} after {before} accepted")
                time.sleep(1.0)
                accepted_after(before + 10)  # the webhook is back and takes events again
        except AssertionError as exc:
            log.append(str(exc))
        finally:
            poster.stop = True
            thread.join(timeout=10)
            time.sleep(1.0)  # the last accepted events reach the rules
            proc.send_signal(signal.SIGINT)

    run = run_falco([k8s, sample], [rules], falco=falco, watch=True, during=drive, timeout=150)
    restarts = run.stderr.count("SIGHUP received, restarting")  # also what a watched file change logs
    audit_ids = [a["output_fields"]["ka.auditid"] for a in run.alerts if a["rule"] == "Audit event"]
    context = fail_with(run, f"log: {log}; accepted {len(poster.accepted)}, refused {poster.refused}; "
                             f"restarts {restarts}")
    assert len(log) == 3 and all("after" in line for line in log), context
    assert restarts == 3, context
    missing = [i for i in poster.accepted if i not in audit_ids]
    assert not missing, context + f"\nlost: {missing}"
    assert sorted(set(audit_ids)) == sorted(audit_ids), context  # none twice
    asyncs = [a for a in run.alerts if a["rule"] == "Sample async hello"]
    assert len(asyncs) > 10, context
    assert run.returncode == 0, context


# -- a packaged plugin in a bare Debian, with Falco copied in ----------------------------------


def test_packaged_plugin_in_minbase_rootfs(tmp_path: Path) -> None:
    """``falco-plugin package`` of the dummy example, extracted into Falco's plugin directory
    of a Debian minbase root (no Python there), run by a real Falco copied in: its rules fire."""
    falco = falco_binary()
    sys.path.insert(0, str(ROOT / "tools"))
    import rootfs

    try:
        root = rootfs.rootfs("bookworm")
    except rootfs.RootfsUnavailable as exc:
        pytest.skip(f"needs the Debian minbase rootfs: {exc}")
    assert not (root / "usr/bin/python3").exists()
    from falco_plugin._tooling.package import package

    result = package(str(ROOT / DUMMY), tmp_path / "dist")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    with tarfile.open(result.tarball) as tar:
        tar.extractall(plugins, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))  # type: ignore[arg-type]
    falco_with_libraries(falco, root, tmp_path / "falco")
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy2(ROOT / "examples/dummy/dummy_rules.yaml", etc / "dummy_rules.yaml")
    spec = PluginSpec(Path("/usr/share/falco/plugins/libdummy_py.so"), "dummy_py", '{"jitter": 0}',
                      '{"start": 3, "maxEvents": 4}', ["sourcing", "extraction"])
    (etc / "falco.yaml").write_text(falco_yaml([spec], ["/etc/falco-test/dummy_rules.yaml"], json_output=True))
    proc = rootfs.run_in(root, ["/opt/falco/bin/falco", "-c", "/etc/falco-test/falco.yaml",
                                "--disable-source=syscall"],
                         binds={plugins: "/usr/share/falco/plugins", tmp_path / "falco": "/opt/falco",
                                etc: "/etc/falco-test"},
                         env={"LD_LIBRARY_PATH": "/opt/falco/lib"}, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    alerts = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [a["output_fields"]["dummy.value"] for a in alerts] == [3, 3, 3, 3], proc.stderr + proc.stdout
    assert "Loaded plugin 'dummy_py@0.1.0' from file /usr/share/falco/plugins/libdummy_py.so" in proc.stderr


# -- the command, and the yaml it writes ----------------------------------------------------------


def test_falco_yaml_never_writes_an_empty_map_config() -> None:
    text = falco_yaml([PluginSpec(Path("/l/libx.so"), "x", config="", open_params=None)], [])
    assert "init_config" not in text and "open_params" not in text


def test_rule_sources(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(TWO_RULES + "- list: x\n  items: []\n- rule: No source\n  condition: evt.num > 0\n"
                     "  output: x\n  desc: x\n  priority: INFO\n")
    assert rule_sources([rules]) == {"dummy", "syscall"}
    assert rule_sources([tmp_path]) is None


def test_cli_runs_falco_and_passes_on_its_exit_code(falco_plugin_build: BuildPlugin, tmp_path: Path) -> None:
    falco = falco_binary()
    lib = tmp_path / "libdummy_py.so"
    lib.write_bytes(falco_plugin_build(DUMMY).path.read_bytes())
    cli = [sys.executable, "-m", "falco_plugin.cli", "falco"]
    ok = subprocess.run([*cli, "libdummy_py.so", "--rules", str(ROOT / "examples/dummy/dummy_rules.yaml"),
                         "--config", '{"jitter": 0}', "--open-params", '{"start": 6, "maxEvents": 2}', "--json",
                         "--falco", falco], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    alerts = [json.loads(line) for line in ok.stdout.splitlines() if line.startswith("{")]
    assert [a["output_fields"]["dummy.value"] for a in alerts] == [6, 6]

    bad = tmp_path / "bad_rules.yaml"
    bad.write_text("- rule: Broken\n  desc: x\n  condition: dummy.nosuchfield = 1\n  output: x\n"
                   "  priority: INFO\n  source: dummy\n")
    failed = subprocess.run([*cli, "libdummy_py.so", "--rules", str(bad), "--falco", falco], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed
    assert "dummy.nosuchfield" in failed.stdout + failed.stderr  # Falco's own message, verbatim


def test_cli_stops_falco_on_ctrl_c(falco_plugin_build: BuildPlugin, tmp_path: Path) -> None:
    falco = falco_binary()
    lib = falco_plugin_build(SAMPLE_ASYNC).path
    rules = tmp_path / "rules.yaml"
    rules.write_text(ASYNC_RULE)
    proc = subprocess.Popen([sys.executable, "-m", "falco_plugin.cli", "falco", str(lib), "--rules", str(rules),
                             "--falco", falco], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGINT received, exiting" in err, err


def test_cli_without_falco_says_how_to_get_one(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "FALCO": ""}
    proc = subprocess.run([sys.executable, "-m", "falco_plugin.cli", "falco", "libnothing.so", "--rules", "r.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert "falco.org" in proc.stderr and "falcosecurity/falco" in proc.stderr, proc.stderr


def test_the_runner_doctests() -> None:
    import doctest

    import falco_plugin._tooling.falco

    result = doctest.testmod(falco_plugin._tooling.falco)
    assert result.attempted >= 2 and result.failed == 0
