"""The SDK is typed for its users (py.typed): mypy --strict, run from a user's project against the
installed package, sees Plugin, the decorators and the testing helpers with their types, so it
catches a user's mistakes. The plugins of the docs, which pass it, are checked by
test_doc_examples.py (a field, a batch field, a source, async, tables, a config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import falco_plugin

MYPY = str(Path(sys.executable).with_name("mypy"))

MISTAKES = '''
from falco_plugin import Event, ExtractPlugin, Plugin, field
from falco_plugin.testing import make_event


class Mine(Plugin, ExtractPlugin):
    NAME = 3
    PLUGIN_VERSION = "0.1.0"
    DESCRIPTION = "mistakes"
    CONTACT = "https://example.com"
    EXTRACT_EVENT_SOURCES = ("lines",)

    @field("mine.n", desc="a number")
    def n(self, event: Event) -> int:
        return len(event.payload or b"")


plugin = Mine(None)
plugin.n("not an event")
make_event("text", ts=1)
'''


def test_the_package_is_typed() -> None:
    assert (Path(falco_plugin.__file__).parent / "py.typed").is_file()


def test_mypy_strict_catches_a_users_mistakes(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(MISTAKES)
    proc = subprocess.run([MYPY, "--strict", "--no-incremental", "mine.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert 'mine.py:7: error: Incompatible types in assignment (expression has type "int", base class "Plugin"' in out
    assert 'mine.py:19: error: Argument 1 to "n" of "Mine" has incompatible type "str"; expected "Event"' in out
    assert 'mine.py:20: error: Argument 1 to "make_event" has incompatible type "str"; expected "bytes"' in out
    assert "import-untyped" not in out and "Any" not in out, out
