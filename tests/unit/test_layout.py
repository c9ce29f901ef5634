"""The package layout: which part of falco_plugin may import which.

Four roles, each importing only from its own and the earlier ones:

1. the author API: the public modules (``falco_plugin``, ``base``, ``source``, ``extract``,
   ``parse``, ``async_event``, ``listen``, ``tables``, ``metrics``, ``event/``);
2. ``_spec``: what a Plugin class declares, read by the build and again at init;
3. ``_runtime``: what the shim calls inside a running plugin;
4. the tooling: ``_tooling`` (build, package, scaffold, the command line, the test host),
   plus the public ``cli`` and ``testing`` modules that front it.

A running plugin imports 1-3 only, so a packaged tarball ships 1-3 only (see
``test_package.py::test_tarball_layout_and_manifest``). Every import counts, also those inside
functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import ROOT

PACKAGE = ROOT / "falco_plugin"
ROLES = ("api", "spec", "runtime", "tooling")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def role(module: str) -> str:
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else ""
    if first == "_spec":
        return "spec"
    if first == "_runtime":
        return "runtime"
    if first in ("_tooling", "cli", "testing"):
        return "tooling"
    return "api"


def imports(path: Path, package_dir: Path = PACKAGE, top_level: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) of every falco_plugin import in a file; ``top_level``: only those
    run when the module is imported (not in functions, not under ``if TYPE_CHECKING``)."""
    this = module_name(path, package_dir)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body if top_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if node.module is None:  # from . import x: x is a module
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "falco_plugin" or name.startswith("falco_plugin.")]


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_roles_import_only_from_their_own_and_earlier_ones() -> None:
    wrong = []
    for path in sources():
        mine = ROLES.index(role(module_name(path)))
        for line, target in imports(path):
            if target == "falco_plugin":  # the package itself: the author API
                target = "falco_plugin.__init__"
            if ROLES.index(role(target)) > mine:
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                wrong.append(f"{where}: {role(module_name(path))} imports {role(target)} ({target})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("module", "expected"), [
    ("falco_plugin", "api"), ("falco_plugin.event.raw", "api"), ("falco_plugin._runtime.log", "runtime"),
    ("falco_plugin._tooling.build", "tooling"), ("falco_plugin.cli", "tooling"), ("falco_plugin.testing", "tooling"),
])
def test_roles_are_told_by_the_path(module: str, expected: str) -> None:
    assert role(module) == expected


def test_a_wrong_import_is_found(tmp_path: Path) -> None:
    """The check itself: imports of the tooling from the runtime, relative, absolute or inside a
    function, are all seen."""
    copy = tmp_path / "falco_plugin" / "_runtime" / "__init__.py"
    copy.parent.mkdir(parents=True)
    copy.write_text("from .._tooling import build\nimport falco_plugin._tooling.cc\ndef f():\n    from .. import cli\n")
    found = [t for _, t in imports(copy, tmp_path / "falco_plugin")]
    assert found == ["falco_plugin._tooling", "falco_plugin._tooling.cc", "falco_plugin.cli"]
    assert {role(t) for t in found} == {"tooling"}


def test_no_import_cycle_outside_event() -> None:
    """Module-level imports between falco_plugin modules form no cycle (event/ may have its own)."""
    modules = {module_name(p): p for p in sources()}

    def owner(target: str) -> str:
        while target not in modules:
            target = target.rpartition(".")[0]
        return target

    graph = {m: {owner(t) for _, t in imports(p, top_level=True)} - {m} for m, p in modules.items()}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for dep in sorted(graph[module]):
            if seen.get(dep) == 1:
                cycle = [*path[path.index(dep):], dep]
                if not all(m.startswith("falco_plugin.event") for m in cycle):
                    cycles.append(" -> ".join(cycle))
            elif dep not in seen:
                visit(dep, [*path, dep])
        seen[module] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)
