"""The tooling: what runs on the developer's machine, never inside Falco.

``build`` (a plugin class to a ``.so``), ``package`` (a ``.so`` with its own Python),
``scaffold`` (``falco-plugin new``), ``cli`` (the ``falco-plugin`` command), ``cc`` (the C
compiler and the build cache), ``host`` (our libsinsp-like test host). A running plugin never
imports this package and a packaged tarball does not carry it (``tests/unit/test_layout.py``,
``tests/tooling/test_package.py``).
"""
