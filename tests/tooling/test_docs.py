"""The API reference (``make docs``): built from the docstrings with mkdocs + mkdocstrings,
offline, strict: a broken reference fails the build."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import ROOT

MKDOCS = str(Path(sys.executable).with_name("mkdocs"))


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([MKDOCS, "build", "-f", str(config), "-d", str(site)], capture_output=True, text=True,
                          timeout=300, env=env)


def project_copy(tmp_path: Path) -> Path:
    """mkdocs.yml, docs/ and the griffe extension beside a link to the package."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "griffe_rest.py", tmp_path / "tools" / "griffe_rest.py")
    (tmp_path / "falco_plugin").symlink_to(ROOT / "falco_plugin")
    return tmp_path


def test_the_api_reference_builds_with_every_module(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = mkdocs_build(ROOT / "mkdocs.yml", site)
    assert proc.returncode == 0, proc.stderr
    testing = (site / "reference" / "testing" / "index.html").read_text()
    assert "falco_plugin.testing.BuiltPlugin" in testing and "falco_plugin_build" in testing
    plugin = (site / "reference" / "plugin" / "index.html").read_text()
    for attribute in ("ts", "source", "payload", "async_name", "raw"):  # Event's attributes are documented
        assert f"falco_plugin.Event.{attribute}" in plugin, attribute
    for page in ("plugin", "source", "extract", "parse", "async", "tables", "event", "testing"):
        assert (site / "reference" / page / "index.html").is_file(), page
    for page in ("getting-started", "plugin", "fields", "sources", "async", "tables", "testing", "shipping",
                 "commands", "reliability", "benchmarks", "internals"):
        assert (site / page / "index.html").is_file(), page
    internals = ("check_metadata", "parse_config", "takes_tables", "field_methods", "batch_methods", "types_at_init")
    reference = "".join(p.read_text() for p in (site / "reference").rglob("*.html"))
    assert not [name for name in internals if name in reference]  # the author API only
    readme = (ROOT / "README.md").read_text()
    assert "docs/reference/index.md" in readme and "docs/getting-started.md" in readme


def test_a_broken_reference_fails_the_build(tmp_path: Path) -> None:
    project = project_copy(tmp_path / "p")
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [`Nope`][falco_plugin.nope.Nope].\n")
    proc = mkdocs_build(project / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "Could not find cross-reference target 'falco_plugin.nope.Nope'" in proc.stderr


def test_rest_docstrings_become_markdown_code() -> None:
    spec = importlib.util.spec_from_file_location("griffe_rest", ROOT / "tools" / "griffe_rest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Use :class:`~falco_plugin.Plugin`::\n\n    x = 1\n\n    y = 2\n\nThen:\n\n>>> 1 + 1\n2\n\nEnd."
    assert module.to_markdown(text).splitlines() == [
        "Use `falco_plugin.Plugin`:", "", "```python", "x = 1", "", "y = 2", "```", "", "Then:", "",
        "```pycon", ">>> 1 + 1", "2", "```", "", "End.",
    ]
