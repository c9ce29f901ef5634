"""The runnable examples in the event module's docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "falco_plugin.event",
    "falco_plugin.event._generated",
    "falco_plugin.event.cli",
    "falco_plugin.event.raw",
    "falco_plugin.event.scap",
    "falco_plugin.event.types",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    # only the module's own docstrings: the generated module re-exports nothing of the others
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module) if t.examples]
    if name != "falco_plugin.event._generated":
        assert tests, f"{name} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name}"
