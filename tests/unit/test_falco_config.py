"""falco.yaml read as Falco reads it (falco_plugin._tooling.shipping): yaml-cpp's scalar rules,
empty collections as null, library paths under Falco's plugin directory, load_plugins order."""

from __future__ import annotations

from pathlib import Path

import pytest

from falco_plugin._tooling.shipping import (
    FalcoConfigError,
    Metadata,
    SnippetPlugin,
    config_defaults,
    dedupe,
    falco_yaml,
    read_falco_config,
    yaml_to_json,
)


@pytest.mark.parametrize(("text", "value"), [
    ("x: 12", 12), ("x: '12'", 12), ('x: "-7"', -7), ("x: 0x1f", 31), ("x: 0o17", 15), ("x: 010", 10),
    ("x: 4294967296", 4294967296.0),  # beyond int32: yaml-cpp's int fails, its double succeeds
    ("x: 1.5", 1.5), ("x: 1e3", 1000.0), ("x: yes", True), ("x: Off", False), ("x: 'on'", True),
    ("x: ~", None), ("x:", None), ("x: null", None), ("x: 'null'", "null"), ("x: hello", "hello"),
    ("x: {}", None), ("x: []", None), ("x: {a: {}}", {"a": None}), ("x: [1, {}]", [1, None]),
])
def test_yaml_scalars_and_collections_convert_like_falco(text: str, value: object) -> None:
    assert yaml_to_json(text) == {"x": value}


def test_plugins_and_load_plugins(tmp_path: Path) -> None:
    conf = tmp_path / "falco.yaml"
    conf.write_text(
        "plugins:\n"
        "  - name: a\n    library_path: liba.so\n    init_config: {}\n    open_params: '  p  '\n"
        "  - name: b\n    library_path: /abs/libb.so\n    init_config: '{\"k\": 1}'\n"
        "  - name: c\n    library_path: libc.so\n    init_config:\n      n: '5'\n      l: [x]\n"
        "  - name: d\n    library_path: libd.so\n    init_config: ~\n")
    got = read_falco_config(conf, "/plugins")
    assert [(p.name, p.library_path, p.init_config, p.open_params) for p in got] == [
        ("a", "/plugins/liba.so", "null", "p"),  # an empty map is null; open_params trimmed
        ("b", "/abs/libb.so", '{"k": 1}', ""),  # a string is passed as written
        ("c", "/plugins/libc.so", '{"n":5,"l":["x"]}', ""),
        ("d", "/plugins/libd.so", None, ""),  # null: no init config at all
    ]
    conf.write_text(conf.read_text() + "load_plugins: [c, a]\n")
    assert [p.name for p in read_falco_config(conf, "/plugins")] == ["c", "a"]
    conf.write_text(conf.read_text().replace("load_plugins: [c, a]", "load_plugins: []"))
    assert read_falco_config(conf, "/plugins") == []
    conf.write_text("plugins:\n  - name: a\nload_plugins: [a]\n")
    with pytest.raises(FalcoConfigError, match=r"falco.yaml:2: plugin a has no library_path"):
        read_falco_config(conf)


def test_snippet_never_writes_an_empty_map() -> None:
    schema = '{"type": "object", "properties": {"tags": {"type": "array", "default": []}}}'
    text = falco_yaml([SnippetPlugin("x", schema, False), SnippetPlugin("y", "", True)])
    assert "init_config" not in yaml_to_json(text)["plugins"][0]
    assert "# not written: tags (an empty default, which Falco would read as null)" in text
    assert config_defaults(schema) == ({"tags": []}, [])


def test_missing_metadata_names_what_fills_it() -> None:
    meta = Metadata(license="MIT", home="https://x", pyproject="/p/pyproject.toml")
    assert meta.missing() == [
        "registry: pass --registry (e.g. ghcr.io)",
        "repository: pass --repository (e.g. myorg/falco-plugins; the artifact is REPOSITORY/NAME)",
        "maintainers: set [project] authors or maintainers in /p/pyproject.toml, or pass --maintainer 'Name <email>'",
    ]
    assert dedupe(["authlog", "authlog", "", "logs"]) == ["authlog", "logs"]


def test_index_entry_from_pyproject(tmp_path: Path) -> None:
    from falco_plugin._tooling.shipping import IndexPlugin, find_pyproject, index_entries, project_metadata

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "authlog"\nlicense = "MIT"\nkeywords = ["auth", "authlog"]\n'
        'authors = [{name = "Ada", email = "ada@example.org"}]\n'
        '[project.urls]\nHomepage = "https://example.org/authlog"\nRepository = "https://git.example.org/authlog"\n')
    (tmp_path / "src").mkdir()
    meta = project_metadata(find_pyproject(tmp_path / "src"))
    meta.registry, meta.repository = "ghcr.io", "ada/plugins"
    assert meta.missing() == []
    entry = yaml_to_json(index_entries([IndexPlugin("authlog", "0.1.0", "auth log", "authlog")], meta))[0]
    assert entry == {"name": "authlog", "type": "plugin", "registry": "ghcr.io", "repository": "ada/plugins/authlog",
                     "description": "auth log", "home": "https://example.org/authlog",
                     "keywords": ["authlog", "auth"], "license": "MIT",
                     "maintainers": [{"name": "Ada", "email": "ada@example.org"}],
                     "sources": ["https://git.example.org/authlog"]}
