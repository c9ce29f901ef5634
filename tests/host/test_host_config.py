"""The host's init config: validation against the plugin's JSON schema (agreeing with
jsonschema), errors naming the field, init failures."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from support import Lib, host

# -- init config and init ---------------------------------------------------------------


def test_valid_config_reaches_init(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"), "-c", '{"count": 2}')
    assert run.returncode == 0, run
    assert 'log info test_src: init config={"count": 2}' in run.stderr  # log_fn, component NULL
    assert len(run.events) == 2


def test_empty_config_becomes_an_empty_object_with_a_schema(lib: Lib) -> None:
    run = host("run", "--json", "-p", lib("test_src"))
    assert run.returncode == 0, run
    assert "log info test_src: init config={} tid=" in run.stderr
    assert len(run.events) == 3  # the plugin's default count


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"count": 0}', "In <root>[count], field 'count' must be >= 1, got 0"),
        ('{"count": "x"}', "In <root>[count], field 'count' must be of type integer, got string"),
        ('{"count": 2, "bogus": 1}', "In <root>[bogus], field 'bogus' is not allowed"),
        # every problem among the config's keys at once (libsinsp reports the first only)
        ('{"count": 0, "bogus": 1}',
         "In <root>[count], field 'count' must be >= 1, got 0; In <root>[bogus], field 'bogus' is not allowed"),
        ("[1]", "In <root>, the config must be of type object, got array"),
    ],
)
def test_invalid_config_names_the_field_and_skips_init(lib: Lib, config: str, message: str) -> None:
    run = host("run", "-p", lib("test_src"), "-c", config)
    assert run.returncode == 1, run
    assert f"error: error in plugin test_src init config: {message}" in run.stderr
    assert "init config=" not in run.stderr and run.stdout == ""


def test_config_that_is_not_json(lib: Lib) -> None:
    run = host("run", "-p", lib("test_src"), "-c", "count=3")
    assert run.returncode == 1 and "error in plugin test_src: init config is not a valid json: " in run.stderr, run
    run = host("run", "-p", lib("test_src"), "-c", '{\n  "count": 3,\n  "x": tru\n}')
    assert "init config is not a valid json: invalid literal at line 3, column 8 (offset 23)" in run.stderr, run


SCHEMA: dict[str, Any] = {
    "$defs": {
        "Inner": {
            "type": "object",
            "properties": {"x": {"type": "integer", "exclusiveMaximum": 10}},
            "required": ["x"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "mode": {"enum": ["a", "b"]},
        "opt": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "inner": {"$ref": "#/$defs/Inner"},
        "ratio": {"type": "number", "maximum": 1},
        "flag": {"const": True},
        "kind": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "both": {"allOf": [{"type": "integer"}, {"minimum": 5}]},
        "multi": {"type": ["integer", "string"]},
        "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "maxItems": 2},
    },
    "required": ["name"],
    "additionalProperties": False,
}

# (config, a word the error must contain when the config is invalid)
SCHEMA_CASES: list[tuple[Any, str]] = [
    ({"name": "ab"}, ""),
    ({}, "name"),
    ({"name": "a"}, "name"),
    ({"name": "abcdef"}, "name"),
    ({"name": "ab", "mode": "b"}, ""),
    ({"name": "ab", "mode": "c"}, "mode"),
    ({"name": "ab", "opt": None}, ""),
    ({"name": "ab", "opt": 3}, ""),
    ({"name": "ab", "opt": -1}, "opt"),
    ({"name": "ab", "opt": "3"}, "opt"),
    ({"name": "ab", "tags": ["x"]}, ""),
    ({"name": "ab", "tags": []}, "tags"),
    ({"name": "ab", "tags": ["x", "y", "z"]}, "tags"),
    ({"name": "ab", "tags": ["x", 1]}, "tags[1]"),
    ({"name": "ab", "inner": {"x": 9}}, ""),
    ({"name": "ab", "inner": {"x": 10}}, "inner.x"),
    ({"name": "ab", "inner": {}}, "inner.x"),
    ({"name": "ab", "inner": {"x": 1, "y": 2}}, "inner.y"),
    ({"name": "ab", "ratio": 1}, ""),
    ({"name": "ab", "ratio": 0.5}, ""),
    ({"name": "ab", "ratio": 1.5}, "ratio"),
    ({"name": "ab", "flag": True}, ""),
    ({"name": "ab", "flag": False}, "flag"),
    ({"name": "ab", "kind": 1}, ""),
    ({"name": "ab", "kind": 1.5}, "kind"),
    ({"name": "ab", "both": 5}, ""),
    ({"name": "ab", "both": 4}, "both"),
    ({"name": "ab", "multi": "s"}, ""),
    ({"name": "ab", "multi": True}, "multi"),
    ({"name": "ab", "extra": {"k": 1}}, ""),
    ({"name": "ab", "extra": {"k": "v"}}, "extra.k"),
    ({"name": "ab", "unknown": 1}, "unknown"),
    ({"name": "ab", "opt": 2.0}, ""),
    ({"name": "ab", "pair": [1, "x"]}, ""),
    ({"name": "ab", "pair": ["x", 1]}, "pair[0]"),
]


@pytest.mark.parametrize(("config", "word"), SCHEMA_CASES)
def test_schema_validation_agrees_with_jsonschema(lib: Lib, config: Any, word: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    valid = jsonschema.Draft202012Validator(SCHEMA).is_valid(config)
    assert valid == (word == ""), "the case table is wrong"
    env = {**os.environ, "FPH_SCHEMA": json.dumps(SCHEMA)}
    run = host("run", "-p", lib("schema_env"), "-c", json.dumps(config), env=env)
    if valid:
        assert run.returncode == 0, run
        assert f"init config={json.dumps(config)}" in run.stderr
    else:
        assert run.returncode == 1, run
        assert re.search(
            rf"error in plugin schema_env init config: In <root>\S*, .*'{re.escape(word)}'", run.stderr
        ), run
        assert "init config=" not in run.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("fail", "error: could not initialize plugin: init failed on purpose"),
        (
            "null",
            "error: could not initialize plugin: plugin handle or 'get_last_error' function not defined",
        ),
        ("norc", "error: could not initialize plugin:  (init did not write rc)"),
    ],
)
def test_init_failures(lib: Lib, config: str, message: str) -> None:
    run = host("run", "-p", lib("test_src"), "-p", lib("ext_only"), "-c", config)
    assert run.returncode == 1, run
    assert message in run.stderr
    assert "open mode" not in run.stderr  # no session after a failed init
    assert "log debug test_src: destroy" in run.stderr  # earlier states are destroyed
    # a state returned with the failure is destroyed too (log_fn with its own component)
    assert ("log warning ext_only-component: destroy" in run.stderr) == (config != "null")
