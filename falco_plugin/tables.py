"""State tables: read and write the host's tables (libsinsp's ``threads``, other plugins'
tables), and export tables of the plugin's own.

Declare the fields you use as a class, the way the Rust SDK's ``TableMetadata`` derive does;
the type hints say each field's state type. Look tables up in ``__init__`` (the only time the
host allows it), then use them in ``parse_event`` (read and write), in field methods (read
only) and in ``capture_open``/``capture_close``::

    from falco_plugin import Event, ParsePlugin, Plugin
    from falco_plugin.tables import Custom, Int64, TableEntry, Table, TablesInput, UInt64

    class Fd(TableEntry):
        name: str

    class Thread(TableEntry):
        comm: str
        pid: Int64
        file_descriptors: Table[Int64, Fd]   # a nested table
        opens: Custom[UInt64]                # a field this plugin adds to the host's table

    class Counter(Plugin, ParsePlugin):
        ...
        PARSE_EVENT_TYPES = [PPME_SYSCALL_OPENAT_2_X.CODE]
        def __init__(self, config: None, tables: TablesInput) -> None:
            self.threads = tables.get_table("threads", Int64, Thread)

        def parse_event(self, event: Event) -> None:
            thread = self.threads.get(event.tid)
            if thread is not None:
                thread.opens += 1

Untyped access works too: ``comm = threads.get_field("comm", str)`` in ``__init__``, then
``entry[comm]`` or ``entry["comm"]``. Entries are valid during the call that got them.
Misuse (a write during extraction, a wrong type, a table used outside a call) raises
:class:`TableError` or ``TypeError`` instead of touching the host's memory.

A table of the plugin's own is an :class:`ExportedTable`, a dict-like object the plugin
uses directly, registered with ``tables.add_table(table)`` in ``__init__``; fields marked
``Readonly[...]`` are read-only for others and ``Private[...]`` ones invisible to them. A field
``fds: ExportedTable[Int64, Fd]`` makes each entry hold a nested table of its own, which other
plugins read as a field of type table (like libsinsp's ``threads`` / ``file_descriptors``).
"""

from __future__ import annotations

import builtins
import enum
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:  # the C module, present only inside a plugin (typed by _shim.pyi)
    from . import _shim

__all__ = [
    "Custom",
    "ExportedTable",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Private",
    "Readonly",
    "StateType",
    "Table",
    "TableEntry",
    "TableError",
    "TablesInput",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
]


class TableError(Exception):
    """A table operation the host refused, or one the ABI does not allow at this point."""


class StateType(enum.IntEnum):
    """The type of a table key or field (``ss_plugin_state_type``)."""

    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    STRING = 9
    TABLE = 10
    BOOL = 25


Int8 = Annotated[int, StateType.INT8]
Int16 = Annotated[int, StateType.INT16]
Int32 = Annotated[int, StateType.INT32]
Int64 = Annotated[int, StateType.INT64]
UInt8 = Annotated[int, StateType.UINT8]
UInt16 = Annotated[int, StateType.UINT16]
UInt32 = Annotated[int, StateType.UINT32]
UInt64 = Annotated[int, StateType.UINT64]

_RANGES = {
    StateType.INT8: (-(2**7), 2**7 - 1), StateType.INT16: (-(2**15), 2**15 - 1),
    StateType.INT32: (-(2**31), 2**31 - 1), StateType.INT64: (-(2**63), 2**63 - 1),
    StateType.UINT8: (0, 2**8 - 1), StateType.UINT16: (0, 2**16 - 1),
    StateType.UINT32: (0, 2**32 - 1), StateType.UINT64: (0, 2**64 - 1),
}


class _Flag(enum.Enum):
    CUSTOM = "custom"
    READONLY = "readonly"
    PRIVATE = "private"


class _Marker:
    def __init__(self, flag: _Flag) -> None:
        self.flag = flag

    def __getitem__(self, hint: Any) -> Any:
        return Annotated[hint, self.flag]


#: ``Custom[UInt64]``: a field this plugin adds to an imported (host or other plugin) table.
Custom: Any = _Marker(_Flag.CUSTOM)
#: ``Readonly[UInt64]``: in an exported table, a field others may read but not write.
Readonly: Any = _Marker(_Flag.READONLY)
#: ``Private[str]``: in an exported table, a field others do not see.
Private: Any = _Marker(_Flag.PRIVATE)

K = TypeVar("K")
E = TypeVar("E")
X = TypeVar("X", bound="TableEntry")


class Table(Generic[K, E]):
    """A host table as the plugin sees it (the object is the shim's; this class types it).

    ``table.get(key)`` / ``table[key]`` / ``key in table`` / ``len(table)`` / ``for entry in
    table`` / ``table.iterate(fn)``; writers (parse, capture listening, init):
    ``create_entry()``, ``add_entry(key, entry)``, ``erase(key)`` or ``del table[key]``,
    ``clear()``. In ``__init__`` only: ``get_field(name, type)``, ``add_field(name, type)``,
    ``list_fields()``. ``host_name()`` is the name the host gives the table;
    ``last_error()`` is the host's reason for the last failure (e.g. after ``get`` returned
    None), or None::

        if threads.get(tid) is None:
            self.logger.info("no thread %d: %s", tid, threads.last_error())
    """

    name: str

    def host_name(self) -> str: ...  # type: ignore[empty-body]
    def last_error(self) -> str | None: ...

    def get(self, key: K) -> E | None: ...
    def __getitem__(self, key: K) -> E: ...  # type: ignore[empty-body]
    def __contains__(self, key: object) -> bool: ...  # type: ignore[empty-body]
    def __len__(self) -> int: ...  # type: ignore[empty-body]
    def __iter__(self) -> Iterator[E]: ...  # type: ignore[empty-body]
    def __delitem__(self, key: K) -> None: ...
    def entries(self) -> list[E]: ...  # type: ignore[empty-body]
    def iterate(self, fn: Callable[[E], object]) -> bool: ...  # type: ignore[empty-body]
    def create_entry(self) -> E: ...  # type: ignore[empty-body]
    def add_entry(self, key: K, entry: E) -> E: ...  # type: ignore[empty-body]
    def erase(self, key: K) -> None: ...
    def clear(self) -> None: ...
    def get_field(self, name: str, type: Any) -> Any: ...
    def add_field(self, name: str, type: Any) -> Any: ...
    def list_fields(self) -> list[tuple[str, int, bool]]: ...  # type: ignore[empty-body]


@dataclass(frozen=True)
class FieldSpec:
    """One declared field of a :class:`TableEntry` class."""

    name: str
    type: StateType
    flags: frozenset[_Flag]
    nested_key: StateType | None = None
    nested_entry: builtins.type[TableEntry] | None = None

    def default(self) -> Any:
        return "" if self.type is StateType.STRING else False if self.type is StateType.BOOL else 0


def state_type(hint: Any, what: str = "a table key") -> StateType:
    """The state type a type hint names: ``str``, ``bool``, ``Int64`` ... ``UInt64``."""
    if hint is str:
        return StateType.STRING
    if hint is bool:
        return StateType.BOOL
    if isinstance(hint, StateType):
        return hint
    for meta in getattr(hint, "__metadata__", ()):
        if isinstance(meta, StateType):
            return meta
    if typing.get_origin(hint) is Annotated:  # e.g. Private[str]
        return state_type(typing.get_args(hint)[0], what)
    if hint is int:
        raise TypeError(f"{what}: say which integer the table holds: Int8 ... Int64 or UInt8 ... UInt64")
    raise TypeError(f"{what}: {hint!r} is not a table type (str, bool, Int8 ... UInt64, Table[K, Entry])")


def _flags(hint: Any) -> frozenset[_Flag]:
    return frozenset(m for m in getattr(hint, "__metadata__", ()) if isinstance(m, _Flag))


class TableEntry:
    """Base of a declared set of table fields (annotations say the names and types).

    For an :class:`ExportedTable` its instances hold the values; for an imported table the
    shim hands out entries of a subclass whose attributes read and write the host's entry.
    """

    #: the declared fields, resolved on first use (forward references may not exist before)
    #: and cached per class by entry_fields
    _specs: ClassVar[tuple[FieldSpec, ...]] = ()

    def __init__(self, **values: Any) -> None:
        specs = entry_fields(type(self))
        names = {s.name for s in specs if s.type is not StateType.TABLE}
        unknown = set(values) - names
        if unknown:
            what = "no field" if unknown - {s.name for s in specs} else "a nested table, not a value, in field"
            raise TypeError(f"{type(self).__name__} has {what} {sorted(unknown)[0]!r}")
        for spec in specs:
            if spec.type is not StateType.TABLE:
                setattr(self, spec.name, values.get(spec.name, spec.default()))
            else:  # each entry holds a nested table of its own, empty at first
                assert spec.nested_key is not None and spec.nested_entry is not None
                setattr(self, spec.name, ExportedTable(spec.name, spec.nested_key, spec.nested_entry,
                                                       _schema=_nested_schema(type(self), spec)))
        self._extra: dict[str, Any] = {}

    def __repr__(self) -> str:
        shown = ", ".join(f"{s.name}={getattr(self, s.name, None)!r}" for s in entry_fields(type(self))
                          if s.type is not StateType.TABLE)
        return f"{type(self).__name__}({shown})"


def entry_fields(cls: type[TableEntry]) -> tuple[FieldSpec, ...]:
    """The declared fields of an entry class, in declaration order."""
    if cls.__dict__.get("_specs"):
        return cls._specs
    hints = typing.get_type_hints(cls, include_extras=True)
    specs = []
    for name, hint in hints.items():
        if name.startswith("_") or typing.get_origin(hint) is ClassVar:
            continue
        flags = _flags(hint)
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        if typing.get_origin(base) in (Table, ExportedTable):
            key, entry = typing.get_args(base)
            if not (isinstance(entry, type) and issubclass(entry, TableEntry)):
                raise TypeError(f"{cls.__name__}.{name}: Table[key type, entry class] (ExportedTable[...] to export)")
            specs.append(FieldSpec(name, StateType.TABLE, flags, state_type(key, f"{cls.__name__}.{name}"), entry))
        else:
            specs.append(FieldSpec(name, state_type(hint, f"{cls.__name__}.{name}"), flags))
    cls._specs = tuple(specs)
    return cls._specs


# -- imported tables (runs inside the shim) -------------------------------------------------


def _bind(ref: _shim.Table, cls: type[TableEntry]) -> None:
    """Look up (or add) the declared fields on the host table; entries get their attributes."""
    shim = sys.modules["falco_plugin._shim"]
    namespace: dict[str, Any] = {"_bound": True, "__module__": cls.__module__}
    for spec in entry_fields(cls):
        if spec.flags & {_Flag.READONLY, _Flag.PRIVATE}:
            raise TypeError(f"{cls.__name__}.{spec.name}: Readonly/Private are for exported tables")
        if _Flag.CUSTOM in spec.flags:
            accessor = ref.add_field(spec.name, int(spec.type))
        else:
            accessor = ref.get_field(spec.name, int(spec.type))
        if spec.type is StateType.TABLE:
            assert spec.nested_key is not None and spec.nested_entry is not None
            nested = ref.sample_nested(accessor, int(spec.nested_key))
            _bind(nested, spec.nested_entry)
            accessor.sub = nested
        namespace[spec.name] = accessor
    bound = type(cls.__name__, (cls, shim.Entry), namespace)
    bound.__qualname__ = cls.__qualname__
    ref.bind(bound)


#: the names of the tables plugins of this process exported through :class:`TablesInput`:
#: calls into them enter Python, so the shim gives up the GIL around them (shim/tables.c)
_PYTHON_TABLES: set[str] = set()


class TablesInput:
    """The host's tables, as ``__init__(self, config, tables)`` receives them."""

    def __init__(self, host: _shim.HostTables) -> None:
        self._host = host

    def list_tables(self) -> list[tuple[str, StateType]]:
        """The name and key type of every table the host has."""
        return [(name, StateType(key)) for name, key in self._host.list_tables()]

    @typing.overload
    def get_table(self, name: str, key: Any) -> Table[Any, Any]: ...
    @typing.overload
    def get_table(self, name: str, key: Any, entry: type[E]) -> Table[Any, E]: ...

    def get_table(self, name: str, key: Any, entry: type[Any] | None = None) -> Table[Any, Any]:
        """The table ``name`` with keys of type ``key``; with ``entry``, its declared fields
        are looked up (``Custom`` ones added) and entries are instances of that class."""
        ref = self._host.get_table(name, int(state_type(key)))
        if entry is not None:
            _bind(ref, entry)
        return typing.cast(Table[Any, Any], ref)

    def add_table(self, table: ExportedTable[Any, Any]) -> None:
        """Offer a table of the plugin's own to the host and the other plugins."""
        _PYTHON_TABLES.add(table.name)
        self._host.add_table(table)


# -- exported tables --------------------------------------------------------------------------


class ExportedTable(Generic[K, X]):
    """A table of the plugin's own: a dict of key -> entry for the plugin, and a table the host
    and other plugins can read, write (but ``Readonly`` fields) and add fields to.

    >>> class Stat(TableEntry):
    ...     comm: str
    ...     opens: Readonly[UInt64]
    >>> stats = ExportedTable("proc_stats", Int64, Stat)
    >>> stats[42] = Stat(comm="cat")
    >>> stats[42].opens += 1
    >>> stats[42]
    Stat(comm='cat', opens=1)
    """

    def __init__(self, name: str, key: Any, entry: type[X], *, _schema: _Schema | None = None) -> None:
        if not (isinstance(entry, type) and issubclass(entry, TableEntry)):
            raise TypeError("ExportedTable(name, key type, entry class): the entry class subclasses TableEntry")
        self.name = name
        self.key_type = state_type(key)
        if self.key_type is StateType.TABLE:
            raise TypeError("a table key cannot be a table")
        self.entry = entry
        # the fields others see; a nested table shares them (and the fields added to any of
        # them) with every nested table of the same field, as libsinsp's subtables do
        self._schema = _schema or _Schema(entry)
        self._entries: dict[Any, X] = {}

    @property
    def _public(self) -> list[FieldSpec]:
        return self._schema.public

    @property
    def _added(self) -> list[FieldSpec]:
        return self._schema.added

    # the plugin's side: a dict
    def __getitem__(self, key: K) -> X:
        return self._entries[key]

    def __setitem__(self, key: K, entry: X) -> None:
        self._check_key(key)
        if not isinstance(entry, self.entry):
            raise TypeError(f"table '{self.name}' holds {self.entry.__name__} entries")
        self._entries[key] = entry

    def __delitem__(self, key: K) -> None:
        del self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def get(self, key: K) -> X | None:
        return self._entries.get(key)

    def items(self) -> Iterator[tuple[K, X]]:
        return iter(self._entries.items())

    def values(self) -> Iterator[X]:
        return iter(self._entries.values())

    def setdefault(self, key: K) -> X:
        """The entry of ``key``, created with default values if missing."""
        entry = self._entries.get(key)
        if entry is None:
            self[key] = entry = self.entry()
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def added_value(self, entry: X, name: str) -> Any:
        """The value another plugin stored in a field it added to this table."""
        spec = next((s for s in self._added if s.name == name), None)
        if spec is None:
            raise KeyError(f"no field {name!r} was added to table '{self.name}'")
        return getattr(entry, "_extra", {}).get(name, spec.default())

    def _check_key(self, key: Any) -> None:
        if self.key_type is StateType.STRING:
            ok = isinstance(key, str)
        elif self.key_type is StateType.BOOL:
            ok = isinstance(key, bool)
        else:
            low, high = _RANGES[self.key_type]
            ok = isinstance(key, int) and not isinstance(key, bool) and low <= key <= high
        if not ok:
            raise TypeError(f"table '{self.name}': {key!r} is not a {self.key_type.name.lower()} key")

    # the host's side (called by the shim's vtables)
    def _fields(self) -> list[tuple[str, int, bool]]:
        return [(s.name, int(s.type), _read_only(s)) for s in self._public + self._added]

    def _field(self, name: str, type_code: int) -> tuple[int, int, bool]:
        for index, spec in enumerate(self._public + self._added):
            if spec.name == name:
                if spec.type != type_code:
                    raise TableError(f"field '{name}' has type {spec.type.name.lower()}, "
                                     f"not {StateType(type_code).name.lower()}")
                return index, int(spec.type), _read_only(spec)
        raise TableError(f"no field '{name}'")

    def _add_field(self, name: str, type_code: int) -> tuple[int, int, bool]:
        if any(s.name == name for s in entry_fields(self.entry)) and not any(
            s.name == name for s in self._public + self._added
        ):
            raise TableError(f"field '{name}' is private")
        try:
            return self._field(name, type_code)
        except TableError:
            if any(s.name == name for s in self._public + self._added):
                raise
        if StateType(type_code) is StateType.TABLE:
            raise TableError("fields added to an exported table cannot be tables")
        self._added.append(FieldSpec(name, StateType(type_code), frozenset()))
        return len(self._public) + len(self._added) - 1, type_code, False

    def _spec(self, index: int) -> FieldSpec:
        public = self._public
        return public[index] if index < len(public) else self._added[index - len(public)]

    def _read(self, entry: X, index: int) -> Any:
        spec = self._spec(index)
        if index < len(self._public):
            return getattr(entry, spec.name)
        return getattr(entry, "_extra", {}).get(spec.name, spec.default())

    def _write(self, entry: X, index: int, value: Any) -> None:
        spec = self._spec(index)
        if _read_only(spec):  # the host checks the flag it was given; this is for a host that does not
            raise TableError(f"field '{spec.name}' is read-only")
        if index < len(self._public):
            setattr(entry, spec.name, value)
        else:
            extra = entry.__dict__.setdefault("_extra", {})
            extra[spec.name] = value

    def _get(self, key: Any) -> X | None:
        return self._entries.get(key)

    def _entries_list(self) -> list[X]:
        return list(self._entries.values())

    def _create(self) -> X:
        return self.entry()

    def _add(self, key: Any, entry: X) -> X:
        self[key] = entry
        return entry

    def _erase(self, key: Any) -> None:
        if self._entries.pop(key, None) is None:
            raise TableError(f"no entry {key!r}")

    def _clear(self) -> None:
        self._entries.clear()


def _read_only(spec: FieldSpec) -> bool:
    """Others may not write the field: ``Readonly``, or a nested table (its entries they may)."""
    return _Flag.READONLY in spec.flags or spec.type is StateType.TABLE


class _Schema:
    """The fields of an exported table as others see them: the entry class's public ones, then
    those other plugins added. Nested tables of one field share one schema."""

    def __init__(self, entry: type[TableEntry]) -> None:
        specs = entry_fields(entry)
        for spec in specs:
            if _Flag.CUSTOM in spec.flags:
                raise TypeError(f"{entry.__name__}.{spec.name}: Custom is for fields added to imported tables")
        self.public = [s for s in specs if _Flag.PRIVATE not in s.flags]
        self.added: list[FieldSpec] = []


_NESTED_SCHEMAS: dict[tuple[type[TableEntry], str], _Schema] = {}


def _nested_schema(owner: type[TableEntry], spec: FieldSpec) -> _Schema:
    """The schema every nested table of ``owner.<spec.name>`` shares."""
    key = (owner, spec.name)
    schema = _NESTED_SCHEMAS.get(key)
    if schema is None:
        assert spec.nested_entry is not None
        schema = _NESTED_SCHEMAS[key] = _Schema(spec.nested_entry)
    return schema

