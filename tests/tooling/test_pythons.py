"""`make pythons` (tools/pythons.py): its core test list and the support window it checks.

The per-version runs themselves are `make pythons` (CI); these keep its inputs honest when the
suite or pyproject.toml move: a renamed test would otherwise drop out of every version's run.
"""

from __future__ import annotations

import ast
import sys
import tomllib

from support import ROOT

sys.path.insert(0, str(ROOT / "tools"))

import pythons


def test_core_tests_name_existing_test_functions() -> None:
    ids = pythons.core_tests()
    assert len(ids) == sum(len(v) for v in pythons.CORE.values())
    for node in ids:
        path, function = node.split("::")
        tree = ast.parse((ROOT / path).read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert function in names, f"{node}: no such test; update CORE in tools/pythons.py"


def test_the_checked_versions_are_the_declared_support_window() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={pythons.SUPPORTED[0]}"
    declared = [c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")]
    assert declared == list(pythons.SUPPORTED)
    scaffold = (ROOT / "falco_plugin" / "_tooling" / "scaffold.py").read_text()
    assert f'requires-python = ">={pythons.SUPPORTED[0]}"' in scaffold
