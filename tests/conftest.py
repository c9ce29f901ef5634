"""The fixtures of the test suite; what they use lives in tests/support."""

from __future__ import annotations

import pytest
import support
from support import Built, Host, Lib


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``built("counter.py:Counter")`` builds a plugin of tests/plugins (or any target) once."""
    return support.built_factory(tmp_path_factory.mktemp("plugins"))


@pytest.fixture(scope="session")
def lib() -> Lib:
    """``lib("test_src")`` compiles tests/cplugins/test_src.c (or bench/c_reference/NAME.c) once."""
    return support.lib_factory()


@pytest.fixture
def host() -> Host:
    """``host("run", "--json", "-p", lib, ...)`` runs the host binary and parses its output."""
    return support.host
