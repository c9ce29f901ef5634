"""authlog's tests: in-process unit tests of its methods (make_event), then the real .so in the
host (falco_plugin_build). Run them with coverage of the code that runs inside the .so:

    pytest --cov=authlog examples/authlog/test_authlog.py    # with coverage's patch = ["subprocess"]
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from authlog import ALERT, AuthLog, Config

from falco_plugin.testing import BuildPlugin, PluginError, make_event

HERE = Path(__file__).resolve().parent
TARGET = f"{HERE / 'authlog.py'}:AuthLog"
LOG = """\
Dec  7 10:00:01 box sshd[101]: Failed password for invalid user admin from 203.0.113.5 port 4242 ssh2
Dec  7 10:00:02 box sshd[101]: Failed password for root from 203.0.113.5 port 4243 ssh2
Dec  7 10:00:03 box sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id
Dec  7 10:00:04 box sshd[102]: Accepted publickey for bob from 2001:db8::7 port 5050 ssh2
Dec  7 10:00:05 box CRON[103]: pam_unix(cron:session): session opened for user root
not a syslog line
"""
FIELDS = ["authlog.program", "authlog.user", "authlog.failed", "authlog.ip", "authlog.command"]


# -- in-process: the methods called directly, with events made by make_event

def line(text: str) -> bytes:
    return text.encode()


def test_fields_of_one_line_in_process() -> None:
    plugin = AuthLog(Config(threshold=2))
    event = make_event(line(LOG.splitlines()[0]), ts=1, source="authlog")
    assert plugin.user(event) == "admin" and plugin.failed(event) is True
    assert plugin.ip(event) == ipaddress.ip_address("203.0.113.5")
    assert plugin.command(event) is None
    sudo = make_event(line(LOG.splitlines()[2]), ts=2, source="authlog")
    assert plugin.user(sudo) == "alice" and plugin.command(sudo) == "/usr/bin/id" and plugin.failed(sudo) is None
    assert plugin.program([line(t) for t in LOG.splitlines()]) == ["sshd", "sshd", "sudo", "sshd", "CRON", None]
    alert = make_event(b"203.0.113.5", async_name=ALERT)
    assert plugin.ip(alert) == ipaddress.ip_address("203.0.113.5")


def test_failures_are_counted_in_process() -> None:
    plugin = AuthLog(Config(threshold=2))
    for text in LOG.splitlines():
        plugin.count_failure(line(text))
    assert plugin.failures["203.0.113.5"] == 2 and plugin.alerts.get_nowait() == "203.0.113.5"


# -- the real .so in the host

@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "auth.log"
    path.write_text(LOG)
    return path


def test_the_lines_with_their_fields(falco_plugin_build: BuildPlugin, log: Path) -> None:
    plugin = falco_plugin_build(TARGET, config={"batch": 2})
    events = plugin.events(open_params=str(log), fields=FIELDS)
    assert [e.fields["authlog.program"] for e in events] == ["sshd", "sshd", "sudo", "sshd", "CRON", None]
    assert [e.fields["authlog.user"] for e in events] == ["admin", "root", "alice", "bob", None, None]
    assert events[1].fields["authlog.failed"] is True and events[3].fields["authlog.failed"] is False
    assert events[3].fields["authlog.ip"] == ipaddress.ip_address("2001:db8::7")
    assert events[2].fields["authlog.command"] == "/usr/bin/id"


def test_a_brute_force_alert(falco_plugin_build: BuildPlugin, log: Path) -> None:
    plugin = falco_plugin_build(TARGET, config={"threshold": 2, "path": str(log), "follow": True})
    run = plugin.run(duration=0.5, fields=["authlog.ip"])
    alerts = [e for e in run.events if e.async_name == ALERT]
    assert [e.fields["authlog.ip"] for e in alerts] == [ipaddress.ip_address("203.0.113.5")]


def test_a_bad_config_names_every_problem(falco_plugin_build: BuildPlugin) -> None:
    plugin = falco_plugin_build(TARGET)
    with pytest.raises(PluginError) as failed:
        plugin.run(config={"threshold": 0, "bogus": 1})
    assert "threshold" in str(failed.value) and "bogus" in str(failed.value)
