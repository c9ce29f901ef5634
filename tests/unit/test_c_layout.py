"""The shape of the C sources: no hub files. Every C file of ``shim/`` and ``host/`` stays under
1000 lines and ``host/main.c`` (the command dispatch) under 300; ``tools/c_callgraph.py``
reports which files call which (run it when moving code between files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT

C_FILES = sorted([*(ROOT / "shim").glob("*.[ch]"), *(ROOT / "host").glob("*.[ch]")])


@pytest.mark.parametrize("path", C_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_c_file_over_1000_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 1000, f"{path}: {lines} lines; split it along its sections"


def test_host_main_is_dispatch_only() -> None:
    lines = len((ROOT / "host" / "main.c").read_text().splitlines())
    assert lines < 300, f"host/main.c: {lines} lines; utilities go to util.c, options to cli.c"
