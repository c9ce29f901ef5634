"""Routines subscribed and unsubscribed after capture_open, from parse_event, with the thread
pool kept from capture_open; subscribe refused once capture_close returned.
The same steps as libsinsp's plugin_routines test."""

from __future__ import annotations

from typing import Any

from support import Built, Host, metric_snapshots

PORTS = "libsinsp_ports.py"


def metrics_of(run: Any, plugin: str) -> dict[str, int]:
    for snapshot in metric_snapshots(run):
        if snapshot["plugin"] == plugin:
            return {m["name"].rsplit(".", 1)[-1]: m["value"] for m in snapshot["metrics"]}
    raise AssertionError(run)


def test_routines_from_parse_event_until_capture_close(host: Host, built: Built) -> None:
    run = host("run", "--json", "--metrics", "-p", built(f"{PORTS}:SamplePluginSource"), "-o", "5",
               "-p", built("routines.py:LateRoutines"))
    assert run.returncode == 0, run
    summary = next(s for s in run.summaries if s.get("plugin") == "late_routines")
    assert summary["parsed"] == 5
    assert summary["routines_subscribed"] == 2  # both subscribed in parse_event
    m = metrics_of(run, "late_routines")
    # the unsubscribed routine does not run again (a run in progress may finish)
    assert 0 < m["first_runs_at_unsubscribe"] <= m["first_runs_at_close"] <= m["first_runs_at_unsubscribe"] + 1
    assert m["second_runs"] > 0  # left subscribed: ran until the host purged the pool
    # after capture_close the kept pool refuses, with a clear message (logged by the plugin)
    assert ("after capture_close: routines can be subscribed from capture_open until capture_close "
            "returns (no capture is open)") in run.stderr
