"""Every code block of README.md and docs/ is checked: Python blocks are type-checked with
``mypy --strict`` against the installed package and run (plugin classes validated as
``falco-plugin build`` does, ``test_*.py`` blocks run with pytest, which builds the plugins they
name and drives them in the host); the README's own build and run commands are executed; YAML
blocks parse; shell blocks name only existing ``make`` targets and ``falco-plugin`` commands.

A Python block that starts with ``# file: NAME.py`` is written under that name, so that other
blocks (a test) can use it; the others get a name of their own. A YAML block that starts with
``# file: NAME.yaml`` is written too (rules a test block runs in Falco). Output is fenced as ``text``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support import ROOT

BIN = Path(sys.executable).parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
KNOWN = {"python", "sh", "yaml", "toml", "text", "dockerfile"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(lang: str | None = None) -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(Block(page, line, m.group(1), m.group(2)))
    return [b for b in found if lang is None or b.lang == lang]


def file_name(block: Block, n: int) -> str:
    first = block.code.splitlines()[0] if block.code else ""
    m = re.fullmatch(r"# (?:file: )?(\w+\.(?:py|yaml))", first)
    return m.group(1) if m else f"block_{block.page.stem.replace('-', '_')}_{n}.py"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every Python block, as the files of one project."""
    out = tmp_path_factory.mktemp("doc_examples")
    written: dict[str, Block] = {}
    named_yaml = [b for b in blocks("yaml") if b.code.startswith("# file: ")]
    for n, block in enumerate([*blocks("python"), *named_yaml]):
        name = file_name(block, n)
        if name in written and written[name].code != block.code:
            raise AssertionError(f"{block.where}: {name} is also {written[name].where}, with other code")
        written[name] = block
        (out / name).write_text(block.code)
    return out


def test_every_block_is_of_a_checked_language() -> None:
    assert blocks(), "no code blocks found"
    unknown = [f"{b.where}: ```{b.lang}" for b in blocks() if b.lang not in KNOWN]
    assert not unknown, "fence these with a language the test checks (python, sh, yaml, toml, text, dockerfile)"


def test_python_blocks_pass_mypy_strict(project: Path) -> None:
    proc = subprocess.run([str(BIN / "mypy"), "--strict", "--no-incremental", "."], cwd=project,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


VALIDATE = """
import importlib, inspect, sys
from falco_plugin import Plugin
try:
    from falco_plugin._tooling.build import plugin_spec
except ImportError:
    from falco_plugin.build import plugin_spec
checked = []
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for cls in vars(module).values():
        if inspect.isclass(cls) and issubclass(cls, Plugin) and cls.__module__ == name:
            plugin_spec(cls, sys.path)
            checked.append(cls.__name__)
print(" ".join(checked))
"""


def test_python_blocks_run_and_their_plugins_are_valid(project: Path) -> None:
    modules = sorted(p.stem for p in project.glob("*.py") if not p.name.startswith("test_"))
    proc = subprocess.run([sys.executable, "-c", VALIDATE, *modules], cwd=project, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(project)})
    assert proc.returncode == 0, proc.stderr
    checked = proc.stdout.split()
    assert {"Countdown", "MyPlugin", "Words", "Batched", "Ticker", "Heartbeat", "OpenCounter"} <= set(checked)


def test_test_blocks_pass(project: Path) -> None:
    tests = sorted(p.name for p in project.glob("test_*.py"))
    assert tests
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=project,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(project)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_the_readme_commands_run(project: Path) -> None:
    """The README's build and run lines, as a user types them (``.venv/bin/`` is this venv)."""
    readme = [b for b in blocks("sh") if b.page.name == "README.md" and "falco-plugin build" in b.code]
    assert readme
    output = ""
    for line in readme[0].code.splitlines():
        argv = shlex.split(line.split(" #")[0])
        argv[0] = str(BIN / Path(argv[0]).name)
        proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        output += proc.stdout
    assert "countdown.value=2" in output and "countdown.value=0" in output and "end=eof" in output


def test_yaml_blocks_parse() -> None:
    for block in blocks("yaml"):
        assert yaml.safe_load(block.code) is not None, block.where


def test_toml_blocks_parse() -> None:
    import tomllib

    for block in blocks("toml"):
        assert tomllib.loads(block.code), block.where


def make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))


def test_shell_blocks_name_existing_commands() -> None:
    help_text = subprocess.run([str(BIN / "falco-plugin"), "--help"], capture_output=True, text=True).stdout
    commands = set(re.search(r"\{([\w,-]+)\}", help_text).group(1).split(","))  # type: ignore[union-attr]
    targets = make_targets()
    for block in blocks("sh"):
        for line in block.code.splitlines():
            line = line.split("#")[0]
            for target in re.findall(r"\bmake ([\w-]+)", line):
                if "cd myplugin" not in line:  # the generated project's Makefile: tests/test_scaffold.py
                    assert target in targets, f"{block.where}: make {target}"
            for command in re.findall(r"falco-plugin (\w[\w-]*)", line):
                assert command in commands, f"{block.where}: falco-plugin {command}"
