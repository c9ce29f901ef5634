"""What ``falco-plugin package`` writes beside the tarball, and reading it back like Falco.

- ``NAME.falco.yaml``: the ``load_plugins``/``plugins`` entries Falco accepts as written: the
  config model's defaults as ``init_config`` (never an empty map: Falco turns one into JSON
  ``null``, which a schema refuses), ``open_params`` with a comment saying what they are.
- ``NAME.index.yaml``: the falcoctl index entry, from the plugin project's ``pyproject.toml``
  (``[project]`` license, authors/maintainers, urls, keywords) and the options; with nothing
  invented: a missing value is named with the field or option that fills it.
- ``NAME.values.yaml``: values for the falcosecurity/falco Helm chart (the falcoctl reference
  to install, ``falco.plugins``, ``falco.load_plugins``).

:func:`read_falco_config` reads ``plugins:`` and ``load_plugins:`` the way Falco does (a YAML
map becomes JSON with yaml-cpp's scalar rules, an empty map ``null``; relative library paths
are under Falco's plugin directory), for ``falco-plugin run --falco-config``.

    >>> yaml_to_json("init_config: {}")
    {'init_config': None}
    >>> yaml_to_json("a: {port: '8080', on: yes, name: x}")
    {'a': {'port': 8080, 'on': True, 'name': 'x'}}
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FalcoConfigError", "FalcoPlugin", "Metadata", "config_defaults", "falco_yaml", "helm_values",
           "index_entries", "project_metadata", "read_falco_config", "yaml_to_json"]

FALCO_PLUGINS_DIR = "/usr/share/falco/plugins"  # Falco's FALCO_ENGINE_PLUGINS_DIR
INT32 = (-(2**31), 2**31 - 1)


class FalcoConfigError(ValueError):
    """A falco.yaml that Falco would refuse; the message is Falco's where Falco has one."""


# -- YAML as Falco reads it ---------------------------------------------------------------

_YAML_NULL = {"", "~", "null", "Null", "NULL"}
_YAML_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_YAML_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_INT = re.compile(r"^[-+]?(0x[0-9a-fA-F]+|0o[0-7]+|[0-9]+)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _scalar(node: yaml.ScalarNode) -> Any:
    """yaml-cpp's order for a scalar: int (32-bit), double, bool, else string; quoting does not
    matter (``'8080'`` is the number 8080); a plain empty, ``~`` or ``null`` is null."""
    text = node.value
    if node.style is None and text in _YAML_NULL:
        return None
    if _INT.match(text):
        lowered = text.lower()
        base = 16 if "0x" in lowered else 8 if "0o" in lowered else 10
        value = int(lowered.replace("0x", "").replace("0o", ""), base)
        if INT32[0] <= value <= INT32[1]:
            return value
        return float(value)
    if _FLOAT.match(text) or text.lower().lstrip("+-") in (".inf", ".nan"):
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".nan", "nan").replace(".NaN", "nan"))
    if text in _YAML_TRUE:
        return True
    if text in _YAML_FALSE:
        return False
    return text


def _convert(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = {str(_convert(k)) if not isinstance(k, yaml.ScalarNode) else k.value: _convert(v) for k, v in node.value}
        return out or None  # nlohmann::json stays null when nothing is added
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v) for v in node.value] or None
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node)


def yaml_to_json(text: str) -> Any:
    """Parse YAML and convert it the way Falco converts a plugin's ``init_config`` map."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return None if node is None else _convert(node)


@dataclass
class FalcoPlugin:
    """One plugin that Falco would load from a falco.yaml."""

    name: str
    library_path: str
    init_config: str | None  # what Falco passes to init: JSON text, a string as written, or None
    open_params: str


def read_falco_config(path: str | Path, plugins_dir: str = FALCO_PLUGINS_DIR) -> list[FalcoPlugin]:
    """The plugins Falco loads from ``path``, in Falco's order (``load_plugins``'s if given)."""
    source = Path(path)
    try:
        root = yaml.compose(source.read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise FalcoConfigError(f"Error reading config file ({source}): {exc}") from None
    top = {k.value: v for k, v in root.value} if isinstance(root, yaml.MappingNode) else {}
    entries: list[FalcoPlugin] = []
    plugins_node = top.get("plugins")
    if isinstance(plugins_node, yaml.SequenceNode):
        for number, item in enumerate(plugins_node.value, 1):
            where = f"{source}:{item.start_mark.line + 1}"
            fields = {k.value: v for k, v in item.value} if isinstance(item, yaml.MappingNode) else {}
            name, lib = fields.get("name"), fields.get("library_path")
            if not isinstance(name, yaml.ScalarNode) or not name.value:
                raise FalcoConfigError(f"{where}: plugins entry {number} has no name")
            if not isinstance(lib, yaml.ScalarNode) or not lib.value:
                raise FalcoConfigError(f"{where}: plugin {name.value} has no library_path")
            library = lib.value if lib.value.startswith("/") else f"{plugins_dir.rstrip('/')}/{lib.value}"
            init = fields.get("init_config")
            config: str | None = None
            if isinstance(init, yaml.MappingNode):
                config = json.dumps(_convert(init), separators=(",", ":"))
            elif isinstance(init, yaml.ScalarNode) and not (init.style is None and init.value in _YAML_NULL):
                config = init.value
            elif init is not None and not isinstance(init, yaml.ScalarNode):
                raise FalcoConfigError(f"{where}: plugin {name.value}: init_config must be a map or a string")
            params = fields.get("open_params")
            open_params = params.value.strip() if isinstance(params, yaml.ScalarNode) and not (
                params.style is None and params.value in _YAML_NULL) else ""
            entries.append(FalcoPlugin(name.value, library, config, open_params))
    load = top.get("load_plugins")
    if load is None:
        return entries
    wanted = [v.value for v in load.value] if isinstance(load, yaml.SequenceNode) else (
        [load.value] if isinstance(load, yaml.ScalarNode) and load.value else [])
    chosen = []
    for name in wanted:
        match = next((p for p in entries if p.name == name), None)
        if match is None:
            raise FalcoConfigError(f"Cannot load plugin '{name}': plugin config not found for given name")
        chosen.append(match)
    return chosen


# -- the falco.yaml snippet ---------------------------------------------------------------


def config_defaults(schema_text: str) -> tuple[dict[str, Any], list[str]]:
    """(the value of each top-level property: its default, else for a required one its first
    example; required properties with neither).

    >>> config_defaults('{"properties": {"a": {"default": 1}, "b": {}, "c": {"examples": [[2]]}}, '
    ...                 '"required": ["b", "c"]}')
    ({'a': 1, 'c': [2]}, ['b'])
    """
    if not schema_text:
        return {}, []
    schema = json.loads(schema_text)
    props = schema.get("properties") or {}
    values = {}
    for key, prop in props.items():
        if not isinstance(prop, dict):
            continue
        if "default" in prop:
            values[key] = prop["default"]
        elif key in (schema.get("required") or []) and prop.get("examples"):
            values[key] = prop["examples"][0]
    required = [k for k in schema.get("required") or [] if k not in values]
    return values, required


def _falco_safe(value: Any) -> bool:
    """Whether Falco's YAML-to-JSON conversion gives ``value`` back (no empty map or list)."""
    if isinstance(value, dict):
        return bool(value) and all(_falco_safe(v) for v in value.values())
    if isinstance(value, list):
        return bool(value) and all(_falco_safe(v) for v in value)
    return True


@dataclass
class SnippetPlugin:
    name: str
    init_schema: str
    sourcing: bool
    open_doc: str = ""  # what the plugin's open() says about its parameters
    open_example: str = ""  # a first suggestion of list_open_params, if any


def falco_yaml(plugins: list[SnippetPlugin]) -> str:
    """The ``load_plugins``/``plugins`` entries for falco.yaml, commented, valid as written."""
    lines = [
        "# Falco loads plugins by name from load_plugins; library_path is relative to /usr/share/falco/plugins,",
        "# where the tarball is extracted. Merge into /etc/falco/falco.yaml, or drop into /etc/falco/config.d/.",
        f"load_plugins: [{', '.join(p.name for p in plugins)}]",
        "plugins:",
    ]
    for p in plugins:
        lines += [f"  - name: {p.name}", f"    library_path: lib{p.name}.so"]
        defaults, required = config_defaults(p.init_schema)
        dropped = [k for k, v in defaults.items() if not _falco_safe(v)]
        kept = {k: v for k, v in defaults.items() if k not in dropped}
        if kept:
            props = json.loads(p.init_schema).get("properties") or {}
            examples = [k for k in kept if "default" not in props.get(k, {})]
            lines.append("    # init_config: the config model's defaults (Falco passes this map to init as JSON)")
            if examples:
                lines.append(f"    # {', '.join(examples)}: required, no default: the model's example, change it")
            body = yaml.safe_dump({"init_config": kept}, sort_keys=False, default_flow_style=False)
            lines += ["    " + line for line in body.splitlines()]
        elif p.init_schema:
            lines.append("    # init_config left out: the plugin starts with its config model's defaults")
        if dropped:
            lines.append(f"    # not written: {', '.join(dropped)} (an empty default, which Falco would read as null)")
        if required:
            lines.append(f"    # required, without a default (add to init_config): {', '.join(required)}")
        if p.sourcing:
            doc = f": {p.open_doc}" if p.open_doc else ""
            lines.append(f"    # open_params: the string the plugin's open() receives{doc}")
            quoted = f"'{p.open_example}'" if "'" not in p.open_example else json.dumps(p.open_example)
            lines.append(f"    open_params: {quoted}")
    return "\n".join(lines) + "\n"


# -- falcoctl and Helm --------------------------------------------------------------------


@dataclass
class Metadata:
    """falcoctl index fields, from pyproject.toml then the options (which win)."""

    registry: str = ""
    repository: str = ""  # the artifacts' repository prefix: REPOSITORY/NAME
    license: str = ""
    maintainers: list[dict[str, str]] = field(default_factory=list)
    home: str = ""
    sources: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    pyproject: str = ""  # where the project's values came from

    def missing(self) -> list[str]:
        """One line per missing value, saying which field or option fills it."""
        where = self.pyproject or "the plugin project's pyproject.toml"
        out = []
        if not self.registry:
            out.append("registry: pass --registry (e.g. ghcr.io)")
        if not self.repository:
            out.append("repository: pass --repository (e.g. myorg/falco-plugins; the artifact is REPOSITORY/NAME)")
        if not self.license:
            out.append(f"license: set [project] license in {where}, or pass --license")
        if not self.maintainers:
            out.append(f"maintainers: set [project] authors or maintainers in {where}, "
                       "or pass --maintainer 'Name <email>'")
        if not self.home:
            out.append(f"home: set [project.urls] Homepage in {where}, or pass --home")
        return out


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[project]`` table, from ``start`` upwards."""
    for d in [start, *start.parents]:
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            with candidate.open("rb") as f:
                if "project" in tomllib.load(f):
                    return candidate
    return None


_URL_HOME = ("homepage", "home", "documentation", "docs")
_URL_SOURCE = ("repository", "source", "source code", "code")


def project_metadata(pyproject: Path | None) -> Metadata:
    """The falcoctl fields a pyproject.toml's ``[project]`` table gives."""
    meta = Metadata()
    if pyproject is None:
        return meta
    with pyproject.open("rb") as f:
        project = tomllib.load(f).get("project", {})
    meta.pyproject = str(pyproject)
    lic = project.get("license")
    meta.license = lic if isinstance(lic, str) else (lic or {}).get("text", "") if isinstance(lic, dict) else ""
    people = project.get("maintainers") or project.get("authors") or []
    meta.maintainers = [{k: str(p[k]) for k in ("name", "email") if p.get(k)} for p in people if isinstance(p, dict)]
    meta.maintainers = [m for m in meta.maintainers if m]
    urls = {str(k).lower(): str(v) for k, v in (project.get("urls") or {}).items()}
    meta.home = next((urls[k] for k in _URL_HOME if k in urls), "")
    meta.sources = [urls[k] for k in _URL_SOURCE if k in urls][:1]
    meta.keywords = [str(k) for k in project.get("keywords") or []]
    return meta


def parse_maintainer(text: str) -> dict[str, str]:
    """``'Ada <ada@example.org>'`` -> ``{"name": "Ada", "email": "ada@example.org"}``.

    >>> parse_maintainer("Ada Lovelace <ada@example.org>")
    {'name': 'Ada Lovelace', 'email': 'ada@example.org'}
    """
    m = re.match(r"^\s*(.*?)\s*<([^>]+)>\s*$", text)
    return {"name": m.group(1), "email": m.group(2)} if m else {"name": text.strip()}


def dedupe(items: list[str]) -> list[str]:
    """Keep the first of each.

    >>> dedupe(["authlog", "authlog", "logs"])
    ['authlog', 'logs']
    """
    return list(dict.fromkeys(i for i in items if i))


@dataclass
class IndexPlugin:
    name: str
    version: str
    description: str
    event_source: str


def artifact_ref(meta: Metadata, name: str, version: str = "") -> str:
    ref = f"{meta.registry}/{meta.repository.strip('/')}/{name}"
    return f"{ref}:{version}" if version else ref


def index_entries(plugins: list[IndexPlugin], meta: Metadata) -> str:
    """The falcoctl index.yaml entries (only call when ``meta.missing()`` is empty)."""
    entries = []
    for p in plugins:
        entries.append({
            "name": p.name,
            "type": "plugin",
            "registry": meta.registry,
            "repository": f"{meta.repository.strip('/')}/{p.name}",
            "description": p.description,
            "home": meta.home,
            "keywords": dedupe([p.name, p.event_source, *meta.keywords]),
            "license": meta.license,
            "maintainers": meta.maintainers,
            "sources": meta.sources or [meta.home],
        })
    return yaml.safe_dump(entries, sort_keys=False)


def helm_values(plugins: list[IndexPlugin], meta: Metadata, falco_yaml_text: str, only_sources: bool,
                filename: str) -> str:
    """Values for the falcosecurity/falco chart: falcoctl installs (and follows) the artifacts,
    falco.plugins and falco.load_plugins come from the falco.yaml snippet."""
    snippet = yaml.safe_load(falco_yaml_text)
    refs = [artifact_ref(meta, p.name, p.version) for p in plugins]
    values: dict[str, Any] = {}
    if only_sources:
        # the chart: "Always set it to false when using Falco with plugins" (no syscall source)
        values["driver"] = {"enabled": False}
        values["collectors"] = {"enabled": False}
    values["falcoctl"] = {
        "artifact": {"install": {"enabled": True}, "follow": {"enabled": True}},
        "config": {"artifact": {"allowedTypes": ["plugin", "rulesfile"],
                                "install": {"refs": refs}, "follow": {"refs": refs}}},
    }
    values["falco"] = {"plugins": snippet["plugins"], "load_plugins": snippet["load_plugins"]}
    head = (f"# helm upgrade --install falco falcosecurity/falco -f {filename} (merge with your own values);\n"
            "# falcoctl's init container installs the plugin into the plugins directory Falco reads.\n")
    return head + yaml.safe_dump(values, sort_keys=False)
