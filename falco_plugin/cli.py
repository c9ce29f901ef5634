"""The ``falco-plugin`` command, also run as ``python -m falco_plugin.cli`` (generated
Makefiles call it so). The commands live in :mod:`falco_plugin._tooling.cli`."""

from __future__ import annotations

import sys

from ._tooling.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
