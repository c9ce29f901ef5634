"""examples/k8saudit: the Python port of upstream's k8saudit, built and driven through our host.

Fields on realistic audit events (tests/k8saudit_cases.py), the field list against upstream's
table (tests/k8saudit_upstream_fields.py), the upstream rules' use of the fields, and the file
sources (plain read, directory, EventList lines, bad lines, size limit, timestamps, follow mode).
The webhook is in tests/test_k8saudit_webhook.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import support
import yaml
from k8saudit_cases import ARG_FORMS, CASES, POD, SWITCHED
from k8saudit_upstream_fields import UPSTREAM_FIELDS
from support import ROOT, SHARED, Built, Host, fields_of, finished, metric_snapshots, needs_shared

from falco_plugin._tooling.host import host_binary

K8SAUDIT = str(ROOT / "examples" / "k8saudit" / "k8saudit.py") + ":K8sAudit"
RULES = SHARED / "k8saudit" / "k8s_audit_rules.yaml"
needs_rules = needs_shared(RULES)
NAMES = [name for name, _, arg in UPSTREAM_FIELDS if arg != "Key, Required"]
ASKED = NAMES + ARG_FORMS


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items))
    return path


def run_fields(host: Host, built: Built, params: str, fields: list[str], *extra: str) -> Any:
    run = host("run", "--json", "--fields", ",".join(fields), "-p", built(K8SAUDIT), "-o", params, *extra)
    assert run.returncode == 0, run
    return run


def test_field_list_matches_upstream_table(host: Host, built: Built) -> None:
    info = json.loads(host("info", built(K8SAUDIT)).stdout)
    assert (info["name"], info["id"], info["event_source"]) == ("k8saudit", 1, "k8s_audit")
    got = {}
    for f in info["fields"]:
        arg = f.get("arg")
        kind = None
        if arg and arg["isKey"]:
            kind = "Key, Required" if arg["isRequired"] else "Key"
        elif arg and arg["isIndex"]:
            kind = "Index, Required" if arg["isRequired"] else "Index"
        got[f["name"]] = (f["type"], bool(f.get("isList")), kind)
    assert len(info["fields"]) == 100
    assert got == {name: ("string", is_list, arg) for name, is_list, arg in UPSTREAM_FIELDS}


@needs_rules
def test_version_satisfies_the_rules_requirement() -> None:
    rules = yaml.safe_load(RULES.read_text())
    required = next(r["required_plugin_versions"] for r in rules if "required_plugin_versions" in r)
    wanted = next(p["version"] for p in required if p["name"] == "k8saudit")
    src = (ROOT / "examples" / "k8saudit" / "k8saudit.py").read_text()
    ours = re.search(r'PLUGIN_VERSION = "([\d.]+)"', src)
    assert ours is not None
    have, need = (tuple(int(x) for x in v.split(".")) for v in (ours.group(1), wanted))
    assert have[0] == need[0] and have >= need  # semver-compatible, as Falco checks it


@pytest.fixture(scope="module")
def case_run(built: Built, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = write_jsonl(tmp_path_factory.mktemp("k8s") / "cases.jsonl", [event for _, event, _ in CASES])
    run = support.host("run", "--json", "--metrics", "--fields", ",".join(ASKED), "-p", built(K8SAUDIT), "-o", path)
    assert run.returncode == 0, run
    got = fields_of(run)
    assert len(got) == len(CASES)
    # one JSON parse per event for all its fields: the source's, handed over to the fields
    (metrics,) = metric_snapshots(run)
    by_name = {m["name"]: m["value"] for m in metrics["metrics"]}
    assert by_name == {"json_decodes": 0, "shared_decodes": len(CASES)}
    return got


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_every_field_on_realistic_events(case_run: list[dict[str, Any]], index: int) -> None:
    _, _, expected = CASES[index]
    got = case_run[index]
    want = {name: expected.get(name) for name in ASKED}
    wrong = {name: (got[name], want[name]) for name in ASKED if got[name] != want[name]}
    assert not wrong, f"field: (got, expected): {wrong}"


def switch_config(switch: str) -> dict[str, Any]:
    return {"hostPathFirstVolumeOnly": True} if switch == "hostPathFirstVolumeOnly" else {"corrections": {switch: True}}


@pytest.mark.parametrize("switch", sorted(SWITCHED))
def test_each_switch_changes_its_fields_only(built: Built, tmp_path: Path, case_run: list[dict[str, Any]],
                                             switch: str) -> None:
    """With one switch on, its fields give the corrected values and every other field upstream's
    (the run with every switch off is ``case_run``, checked against upstream's values above)."""
    path = write_jsonl(tmp_path / "cases.jsonl", [event for _, event, _ in CASES])
    run = support.host("run", "--json", "--fields", ",".join(ASKED), "-p", built(K8SAUDIT),
                       "-c", json.dumps(switch_config(switch)), "-o", path)
    assert run.returncode == 0, run
    got = fields_of(run)
    changed = 0
    for (name, _, expected), values, off in zip(CASES, got, case_run, strict=True):
        want = {f: expected.get(f) for f in ASKED} | SWITCHED[switch].get(name, {})
        wrong = {f: (values[f], want[f]) for f in ASKED if values[f] != want[f]}
        assert not wrong, f"{name}: field: (got, expected): {wrong}"
        changed += sum(values[f] != off[f] for f in ASKED)
    assert changed == sum(len(v) for v in SWITCHED[switch].values())  # each listed value differs from upstream's


def test_the_cases_give_every_field_a_value() -> None:
    valued = {re.sub(r"\[.*", "", k) for _, _, expected in CASES for k, v in expected.items() if v is not None}
    valued |= {re.sub(r"\[.*", "", k) for by_case in SWITCHED.values() for values in by_case.values() for k in values}
    assert valued == {name for name, _, _ in UPSTREAM_FIELDS}


LIST_OPERATORS = {"in", "intersects", "exists", "pmatch"}


@needs_rules
def test_rules_use_only_fields_we_have_with_compatible_types(host: Host, built: Built) -> None:
    info = json.loads(host("info", built(K8SAUDIT)).stdout)
    ours = {f["name"]: f for f in info["fields"]}
    rules = yaml.safe_load(RULES.read_text())
    used: list[tuple[str, str | None, str]] = []  # (field, argument, what follows)
    for item in rules:
        for key in ("condition", "output"):
            text = item.get(key) if isinstance(item, dict) else None
            if not isinstance(text, str):
                continue
            for m in re.finditer(r"%?\b(ka\.[A-Za-z_.]*[A-Za-z_])(\[([^\]]*)\])?\s*([a-z]+|[=!<>]+)?", text):
                op = m.group(4) if key == "condition" and not m.group(0).startswith("%") else "output"
                used.append((m.group(1), m.group(3), op or ""))
    assert len({u[0] for u in used}) >= 30
    for name, arg, op in used:
        assert name in ours, f"the rules use {name}, which the plugin lacks"
        f = ours[name]
        assert f["type"] == "string", name
        spec = f.get("arg")
        if arg is not None:
            assert spec, f"{name}[{arg}]: the field takes no argument"
            if spec["isIndex"]:
                assert arg.isdigit(), f"{name}[{arg}]: needs an index"
        else:
            assert not (spec and spec["isRequired"]), f"{name} needs an argument"
        if f.get("isList") and op not in ("output", ""):
            assert op in LIST_OPERATORS, f"{name} is a list: {op!r} cannot compare it"


def test_plain_file_event_lists_bad_lines_size_limit_and_timestamps(host: Host, built: Built,
                                                                    tmp_path: Path) -> None:
    one = {**POD, "auditID": "one", "stageTimestamp": "2024-03-05T10:11:12.123456789Z"}
    two = {**POD, "auditID": "two", "stageTimestamp": "2024-03-05T11:11:12+01:00"}
    big = {**POD, "auditID": "big", "padding": "x" * 5000}
    no_ts = {k: v for k, v in POD.items() if k != "stageTimestamp"}
    lines = [
        one,
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [two, big, no_ts]},
        "{not json",
        {"kind": "Status", "code": 500},
        "",
        [{**POD, "auditID": "three"}],
    ]
    path = write_jsonl(tmp_path / "audit.log", lines)
    run = run_fields(host, built, str(path), ["ka.auditid"], "-c", json.dumps({"maxEventSize": 4096}))
    assert [f["ka.auditid"] for f in fields_of(run)] == ["one", "two", "three"]
    # stageTimestamp, to the ns; "+01:00" is an hour before the same clock time in UTC
    assert [e.ts for e in run.events] == [1709633472123456789, 1709633472000000000, 1709633472234567000]
    assert run.summaries[0]["end"] == "eof"
    log = run.stderr
    assert "useAsync is accepted and ignored" in log  # upstream's default is true
    # in Falco's log, as warnings, each naming the file and line
    assert f"log warning k8saudit: {path}:2: event larger than maxEventSize: size=" in log
    assert f"log warning k8saudit: {path}:2: can't read stageTimestamp" in log
    assert f"log warning k8saudit: {path}:3: invalid JSON" in log
    assert f"log warning k8saudit: {path}:4: data not recognized as a k8s audit event" in log
    # each event's payload is its own JSON, as the json plugin (jevt.*) reads it
    assert json.loads(run.payloads()[1])["auditID"] == "two"


def test_a_directory_is_read_oldest_file_first(host: Host, built: Built, tmp_path: Path) -> None:
    for i, name in enumerate(["b.log", "a.log", "c.log"]):
        write_jsonl(tmp_path / name, [{**POD, "auditID": name}])
        os.utime(tmp_path / name, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))
    run = run_fields(host, built, str(tmp_path), ["ka.auditid"])
    assert [f["ka.auditid"] for f in fields_of(run)] == ["b.log", "a.log", "c.log"]


def test_open_errors_name_the_problem(host: Host, built: Built, tmp_path: Path) -> None:
    missing = host("run", "-p", built(K8SAUDIT), "-o", str(tmp_path / "nope.log"))
    assert missing.returncode != 0 and "No such file or directory" in missing.stderr
    scheme = host("run", "-p", built(K8SAUDIT), "-o", "ftp://example.com/audit")
    assert scheme.returncode != 0 and 'scheme "ftp" is not supported' in scheme.stderr


def test_config_keys_defaults_and_validation(host: Host, built: Built) -> None:
    info = json.loads(host("info", built(K8SAUDIT)).stdout)
    schema = info["init_schema"]
    props = schema["properties"]
    assert {k: props[k]["default"] for k in ("sslCertificate", "useAsync", "maxEventSize", "webhookMaxBatchSize")} \
        == {"sslCertificate": "/etc/falco/falco.pem", "useAsync": True, "maxEventSize": 262144,
            "webhookMaxBatchSize": 12582912}
    bad = host("run", "-p", built(K8SAUDIT), "-c", '{"maxEventSize": "big"}', "-o", "/dev/null")
    assert bad.returncode != 0 and "maxEventSize" in bad.stderr


def wait_consumed(pid: int, path: Path, deadline: float = 30.0) -> None:
    """Until process ``pid`` has read ``path`` (the file now at that path) to its end: its fd's offset."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        st = path.stat()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.stat(f"/proc/{pid}/fd/{fd}").st_ino != st.st_ino:
                    continue
                pos = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("pos:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
            if pos == st.st_size:
                return
        time.sleep(0.02)
    raise AssertionError(f"{path} not read to its end by {pid}")


@pytest.mark.timing
def test_follow_mode_reads_appends_rotation_and_truncation(built: Built, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write_jsonl(path, [{**POD, "auditID": "before-open"}])  # already there: not read
    cmd = [str(host_binary()), "run", "--json", "-n", "4", "--duration", "60", "--fields", "ka.auditid",
           "-p", str(built(K8SAUDIT)), "-o", f"file://{path}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err_lines: list[str] = []
    try:
        deadline = time.monotonic() + 30  # the plugin opens the file and goes to its end: it says so
        while not any("following" in line for line in err_lines) and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            err_lines.append(line)
        assert any(f"following {path} from byte " in line for line in err_lines), err_lines
        with path.open("a") as f:  # an append, in two writes: the line waits for its newline
            line = json.dumps({**POD, "auditID": "appended"})
            f.write(line[:100])
            f.flush()
            time.sleep(0.2)
            f.write(line[100:] + "\n")
        wait_consumed(proc.pid, path)
        path.rename(tmp_path / "audit.log.1")  # rotation: the old file's tail, then the new file
        with (tmp_path / "audit.log.1").open("a") as f:
            f.write(json.dumps({**POD, "auditID": "late-in-old"}) + "\n")
        write_jsonl(path, [{**POD, "auditID": "rotated", "padding": "x" * 500}])
        wait_consumed(proc.pid, path)  # the new file, from its start
        with path.open("w") as f:  # copytruncate: same file, shorter
            f.write(json.dumps({**POD, "auditID": "truncated"}) + "\n")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    ids = [e.fields["ka.auditid"] for e in finished(proc, out, err).events]
    assert ids == ["appended", "late-in-old", "rotated", "truncated"], (ids, "".join(err_lines) + err)


def test_standard_library_fallback_gives_the_same_events_and_strings(tmp_path: Path) -> None:
    # in a fresh interpreter where importing orjson fails, as on a machine without it
    lines = [json.dumps(e) for _, e, _ in CASES] + [json.dumps({"kind": "EventList", "items": [POD, POD]})]
    script = f"""
import json, sys
sys.modules["orjson"] = None
sys.path.insert(0, {str(ROOT / "examples" / "k8saudit")!r})
import k8saudit_events as ev
out = {{"library": ev.JSON_LIBRARY, "events": [], "texts": []}}
for line in {lines!r}:
    events, errors = ev.split_events(line.encode())
    out["events"] += [[p.decode(), ts] for p, ts, _ in events]
    out["texts"] += [ev.dumps_text(d.get("requestObject")) for _, _, d in events]
print(json.dumps(out))
"""
    sys.path.insert(0, str(ROOT / "examples" / "k8saudit"))
    try:
        import k8saudit_events as fast
    finally:
        sys.path.pop(0)
    assert fast.JSON_LIBRARY == "orjson"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    slow = json.loads(proc.stdout)
    assert slow["library"] == "json"
    events, texts = [], []
    for line in lines:
        got, _ = fast.split_events(line.encode())
        events += [[p.decode(), ts] for p, ts, _ in got]
        texts += [fast.dumps_text(d.get("requestObject")) for _, _, d in got]
    assert slow["events"] == events and len(events) == len(CASES) + 2
    assert slow["texts"] == texts


def test_the_module_examples_run() -> None:
    import doctest
    import importlib

    sys.path.insert(0, str(ROOT / "examples" / "k8saudit"))
    try:
        for name in ("k8saudit_events", "k8saudit_fields"):
            result = doctest.testmod(importlib.import_module(name))
            assert result.attempted > 0 and result.failed == 0, name
    finally:
        sys.path.pop(0)


def test_timestamps_fast_utc_form_agrees_with_the_general_one() -> None:
    sys.path.insert(0, str(ROOT / "examples" / "k8saudit"))
    try:
        import k8saudit_events as ev
    finally:
        sys.path.pop(0)
    for text in ["2024-03-05T10:11:12Z", "2024-03-05T10:11:12.1Z", "2024-03-05T10:11:12.000000001Z",
                 "1999-12-31T23:59:59.999999999Z", "2024-02-29T00:00:00.5Z", "1970-01-01T00:00:00Z"]:
        general = ev.parse_timestamp(text[:-1] + "+00:00")
        assert ev.parse_timestamp(text) == general == ev.parse_timestamp(text)  # again: the cached second
    assert ev.parse_timestamp("2024-03-05T10:11:12.5-02:30") == 1709633472_500000000 + 9000 * 10**9
    for bad in ["2024-03-05T10:11:12.Z", "2024-03-05T10:11:12.1234567890Z", "2024-03-05 10:11Z", ""]:
        with pytest.raises(ValueError, match="RFC 3339"):
            ev.parse_timestamp(bad)
