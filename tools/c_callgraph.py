"""The call graph between the C files of a directory: which file uses a function or global
variable defined (non-static) in which other, and how many pairs of files depend on each other.

Definitions come from Universal Ctags (already a system tool here, and it knows which
definitions are ``static``); uses are the identifiers of each file once comments and strings
are stripped, with the directory's function-like and object-like macros expanded (a macro in
``host.h`` that calls ``errorf`` makes its users callers of ``errorf``). Functions in headers
(``static inline``) belong to no ``.c`` file and so make no edge. Run::

    python3 tools/c_callgraph.py host shim
"""

from __future__ import annotations

import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

IDENT = re.compile(r"[A-Za-z_]\w*")
COMMENTS_STRINGS = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(.*?)(?<!\\)$", re.M | re.S)


def identifiers(text: str) -> set[str]:
    return set(IDENT.findall(COMMENTS_STRINGS.sub(" ", text)))


def exported(files: list[Path]) -> dict[str, Path]:
    """Non-static functions and variables defined in ``files``: name -> defining file."""
    out = subprocess.run(
        ["ctags", "-x", "--kinds-C=fv", "--_xformat=%N %{file} %F", *map(str, files)],
        capture_output=True, text=True, check=True,
    ).stdout
    defs: dict[str, Path] = {}
    for line in out.splitlines():
        name, scope, path = line.split(" ", 2)
        if scope != "file":  # "file" marks a static definition
            defs[name] = Path(path)
    return defs


def macros(headers: list[Path]) -> dict[str, set[str]]:
    """Macro name -> identifiers in its body, for the macros defined in ``headers``."""
    out: dict[str, set[str]] = {}
    for h in headers:
        text = COMMENTS_STRINGS.sub(" ", h.read_text())
        for m in DEFINE.finditer(text):
            out[m.group(1)] = identifiers(m.group(2).replace("\\\n", " "))
    return out


def uses(path: Path, expand: dict[str, set[str]]) -> set[str]:
    names = identifiers(path.read_text())
    todo = [n for n in names if n in expand]
    while todo:
        for n in expand[todo.pop()]:
            if n not in names:
                names.add(n)
                if n in expand:
                    todo.append(n)
    return names


def graph(directory: Path) -> dict[Path, dict[Path, set[str]]]:
    """file -> {other file -> names of ``other`` that ``file`` uses}."""
    files = sorted(directory.glob("*.c"))
    defs = exported(files)
    expand = macros(sorted(directory.glob("*.h")))
    edges: dict[Path, dict[Path, set[str]]] = {f: {} for f in files}
    for f in files:
        for name in uses(f, expand):
            owner = defs.get(name)
            if owner is not None and owner != f:
                edges[f].setdefault(owner, set()).add(name)
    return edges


def report(directory: Path) -> None:
    edges = graph(directory)
    files = sorted(edges)
    linked = [(a, b) for a, b in combinations(files, 2) if b in edges[a] or a in edges[b]]
    mutual = [(a, b) for a, b in linked if b in edges[a] and a in edges[b]]
    lines = {f: len(f.read_text().splitlines()) for f in files}
    print(f"{directory}: {len(files)} .c files, {sum(lines.values())} lines, largest "
          f"{max(lines.values())} ({max(lines, key=lambda f: lines[f]).name})")
    print(f"  directed edges (A uses something B defines): {sum(len(e) for e in edges.values())}")
    print(f"  pairs linked in either direction: {len(linked)}")
    print(f"  pairs that call each other (both directions): {len(mutual)}")
    for a, b in mutual:
        print(f"    {a.name} <-> {b.name}: {sorted(edges[a][b])[:4]} / {sorted(edges[b][a])[:4]}")
    print("  users per file (fan-in):")
    for f in files:
        users = [g.name for g in files if f in edges[g]]
        print(f"    {f.name:20} {lines[f]:5} lines, used by {len(users):2}: {' '.join(users)}")


def main(argv: list[str]) -> int:
    for d in argv or ["host", "shim"]:
        report(Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
