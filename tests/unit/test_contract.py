"""The C<->Python contract: every name the shim looks up by string exists on the Python side.

The shim's C sources (every ``shim/**/*.c`` and ``*.h``, whatever their names) are read for
the strings passed to ``PyImport_ImportModule``, ``PyObject_GetAttrString``,
``PyObject_CallMethod``, ``PyUnicode_InternFromString`` and to the shim's own wrappers around
them (``fp_runtime_call`` and any function that passes a ``const char *`` parameter on to
``PyObject_GetAttrString``). Each name must be listed in ``falco_plugin/_runtime/contract.py``,
and each name listed there must exist in Python. The names registered in ``falco_plugin._shim``
must match ``falco_plugin/_shim.pyi``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest
from support import ROOT

from falco_plugin._runtime import contract

SHIM = ROOT / "shim"
LOOKUPS = ("PyImport_ImportModule", "PyObject_GetAttrString", "PyObject_CallMethod", "PyUnicode_InternFromString")
NAME = r'"([A-Za-z_][A-Za-z0-9_.]*)"'


def c_sources() -> list[Path]:
    return sorted(p for p in SHIM.rglob("*") if p.suffix in (".c", ".h"))


def strip_comments(text: str) -> str:
    """C comments blanked, newlines kept (so line numbers stay)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


def wrappers(text: str) -> set[str]:
    """Functions that look up their ``const char *`` parameter: ``fp_runtime_call(name, ...)``."""
    found = set()
    for m in re.finditer(r"^[A-Za-z_][\w \t*]*?\b(\w+)\(([^)]*)\)\s*\{(.*?)^\}", text, flags=re.S | re.M):
        for param in re.findall(r"const char \*\s*(\w+)", m.group(2)):
            if re.search(rf"PyObject_GetAttrString\([^;]*?,\s*{param}\s*\)", m.group(3)):
                found.add(m.group(1))
    return found


def lookups() -> list[tuple[str, str, str]]:
    """(file:line, function, name) for every name the C looks up by string."""
    texts = {path: strip_comments(path.read_text()) for path in c_sources()}
    functions = set(LOOKUPS).union(*(wrappers(t) for t in texts.values()))
    call = re.compile(rf"\b({'|'.join(sorted(functions))})\s*\(([^;{{}}]*?){NAME}", re.S)
    found = []
    for path, text in texts.items():
        for m in call.finditer(text):
            if m.group(2).count("(") != m.group(2).count(")"):  # the string belongs to a nested call
                continue
            line = text.count("\n", 0, m.start(3)) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group(1), m.group(3)))
    return found


def listed_names() -> set[str]:
    names = {*contract.RUNTIME_CALLS, *contract.MODULE_ATTRIBUTES}
    for group in (contract.MODULE_ATTRIBUTES, contract.OBJECT_ATTRIBUTES):
        for values in group.values():
            names.update(values)
    return names


def resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_shim_is_read() -> None:
    found = lookups()
    functions = {f for _, f, _ in found}
    assert {"fp_runtime_call", "PyImport_ImportModule", "PyObject_GetAttrString"} <= functions, functions
    assert len([n for _, f, n in found if f == "fp_runtime_call"]) >= len(contract.RUNTIME_CALLS)


def test_every_name_the_shim_looks_up_is_in_the_contract() -> None:
    listed = listed_names()
    missing = [f"{where}: {fn}(... \"{name}\")" for where, fn, name in lookups()
               if not (name.startswith("__") and name.endswith("__")) and name not in listed]
    assert not missing, "names the shim looks up that falco_plugin/_runtime/contract.py does not list:\n" + "\n".join(
        missing)


def test_every_runtime_call_of_the_shim_is_a_runtime_call_of_the_contract() -> None:
    called = {name for _, fn, name in lookups() if fn == "fp_runtime_call"}
    assert called == set(contract.RUNTIME_CALLS)


def test_every_module_the_shim_imports_is_listed() -> None:
    imported = {name for _, fn, name in lookups() if fn == "PyImport_ImportModule"}
    assert imported <= set(contract.MODULE_ATTRIBUTES), imported - set(contract.MODULE_ATTRIBUTES)


@pytest.mark.parametrize("module", sorted(contract.MODULE_ATTRIBUTES))
def test_the_module_attributes_exist(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in contract.MODULE_ATTRIBUTES[module] if not hasattr(mod, name)]
    assert not missing, f"{module} lacks {missing}"


def test_the_runtime_calls_are_functions_of_the_runtime() -> None:
    runtime = importlib.import_module(contract.RUNTIME_MODULE)
    assert all(callable(getattr(runtime, name)) for name in contract.RUNTIME_CALLS)
    assert set(contract.RUNTIME_CALLS) <= set(runtime.__all__)


def defines(owner: type, name: str) -> bool:
    """Whether instances of ``owner`` have ``name``: a class attribute, a slot, an annotation,
    or a ``self.name = ...`` in the source of one of its classes."""
    if hasattr(owner, name):
        return True
    for cls in owner.__mro__:
        if name in getattr(cls, "__slots__", ()) or name in getattr(cls, "__annotations__", {}):
            return True
        if cls.__module__.startswith("falco_plugin") and re.search(rf"\bself\.{name}\s*[:=]", inspect.getsource(cls)):
            return True
    return False


@pytest.mark.parametrize("cls", sorted(contract.OBJECT_ATTRIBUTES))
def test_the_object_attributes_exist(cls: str) -> None:
    if cls.startswith("falco_plugin._shim."):  # only inside a plugin: checked against the stub
        stub = {c.name: c for c in stub_classes()}[cls.rpartition(".")[2]]
        names = {t.id for n in stub.body if isinstance(n, ast.AnnAssign) for t in [n.target] if isinstance(t, ast.Name)}
        names |= {n.name for n in stub.body if isinstance(n, ast.FunctionDef)}
        assert set(contract.OBJECT_ATTRIBUTES[cls]) <= names
        return
    owner = resolve(cls)
    assert isinstance(owner, type)
    missing = [name for name in contract.OBJECT_ATTRIBUTES[cls] if not defines(owner, name)]
    assert not missing, f"{cls} lacks {missing}"


def test_a_missing_name_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: a lookup through a new wrapper, in a new file of a subfolder, is found;
    a commented-out one is not."""
    shim = tmp_path / "shim" / "sub"
    shim.mkdir(parents=True)
    (shim / "new.h").write_text(
        "static PyObject *my_get(PyObject *o, const char *what)\n{\n\treturn PyObject_GetAttrString(o, what);\n}\n"
        "/* my_get(x, \"commented_out\") */\n"
        "static void f(void) { my_get(x, \"no_such_attr\"); }\n")
    monkeypatch.setattr(sys.modules[__name__], "SHIM", tmp_path / "shim")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert lookups() == [("shim/sub/new.h:6", "my_get", "no_such_attr")]
    with pytest.raises(AssertionError, match="no_such_attr"):
        test_every_name_the_shim_looks_up_is_in_the_contract()


def shim_types() -> dict[str, set[str]]:
    """By the name ``falco_plugin._shim`` registers it under: the attributes of the C type (its
    PyMethodDef, PyGetSetDef and PyMemberDef tables, dunders left out)."""
    text = "\n".join(strip_comments(p.read_text()) for p in c_sources())
    entry = r'\{\s*"(\w+)"|^\s*[A-Z_]+\((\w+),'  # {"name", ...} or a macro: FIELD(name, ...)
    array = r"^(?:static )?(?:PyMethodDef|PyGetSetDef|PyMemberDef) (\w+)\[\]\s*=\s*\{(.*?)\n\};"
    tables = {m.group(1): {a or b for a, b in re.findall(entry, m.group(2), re.M)}
              for m in re.finditer(array, text, re.S | re.M)}
    types = {}
    for m in re.finditer(r"^(?:static )?PyTypeObject (\w+)\s*=\s*\{(.*?)\n\};", text, re.S | re.M):
        slots = re.findall(r"\.tp_(?:methods|getset|members)\s*=\s*(\w+)", m.group(2))
        types[m.group(1)] = {n for slot in slots for n in tables.get(slot, ()) if not n.startswith("__")}
    for var, name in re.findall(r'PyDict_SetItemString\((\w+)\.tp_dict,\s*"(\w+)"', text):  # class attributes
        types[var].add(name)
    registered = {}
    for m in re.finditer(r'PyModule_AddObjectRef\(module,\s*"(\w+)",\s*\(PyObject \*\)&(\w+)\)', text):
        registered[m.group(1)] = types[m.group(2)]
    pairs = r"PyTypeObject \*types\[\]\s*=\s*\{([^}]*)\};\s*const char \*names\[\]\s*=\s*\{([^}]*)\}"
    for m in re.finditer(pairs, text):
        for var, name in zip(re.findall(r"&(\w+)", m.group(1)), re.findall(r'"(\w+)"', m.group(2)), strict=True):
            registered[name] = types[var]
    return registered


def stub_classes() -> list[ast.ClassDef]:
    stub = ast.parse((ROOT / "falco_plugin" / "_shim.pyi").read_text())
    return [n for n in stub.body if isinstance(n, ast.ClassDef)]


def stub_members(cls: ast.ClassDef) -> set[str]:
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    names |= {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    return {n for n in names if not n.startswith("__")}


def test_the_stub_declares_what_the_shim_registers() -> None:
    registered = shim_types()
    stub = {c.name: stub_members(c) for c in stub_classes()}
    assert set(registered) == set(stub), "falco_plugin/_shim.pyi and the C module register other types"
    assert "Table" in registered and "get" in registered["Table"]
    wrong = {name: (sorted(registered[name] - stub[name]), sorted(stub[name] - registered[name]))
             for name in registered if registered[name] != stub[name]}
    assert not wrong, f"by type: (in the C only, in the stub only): {wrong}"
